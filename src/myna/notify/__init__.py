"""番号通知 (notification of the individual number), run by J-LIS for municipalities.

Its own node (database node name ``notify``): mailing batches, letters, their
history, the card application forms (申請書ID) and alternative destinations.
This node's database necessarily holds names, individual numbers and addresses,
since it prints the letters: protect it like the registry itself.
"""
