"""The provision-record log (情報提供等記録, 番号法23条) and its witness.

* :mod:`.merkle` — RFC 6962 / RFC 9162 hashing, inclusion and consistency
  proofs (pure);
* :mod:`.note` — C2SP signed notes, checkpoints and cosignatures (pure);
* :mod:`.tiles` — how node hashes are grouped for storage (pure);
* :mod:`.service` — :class:`~.service.TransparencyLog`, the hub's append-only log;
* :mod:`.witness` — :class:`~.witness.Witness`, the Personal Information
  Protection Commission (個人情報保護委員会) cosigning checkpoints;
* :mod:`.verify` — :func:`~.verify.verify_log`, the full audit.
"""
