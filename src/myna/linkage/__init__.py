"""The contract of the information-provision network, shared by its nodes.

Message types, their canonical encoding and signatures, and the schemas of the
data items (特定個人情報) that may travel.  Nodes exchange only these.
"""
