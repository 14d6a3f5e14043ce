"""符号 (per-institution codes) and provision-record commitments.

A person's 符号 for institution *i* is

    link  = HMAC-SHA256(K_link, person_key)          (the hub's pseudonym)
    符号_i = Base32(HMAC-SHA256(K_code, i ‖ 0x00 ‖ link))[:32]

``person_key`` is J-LIS's stable internal key, not the number, so a number
change leaves every 符号 unchanged.  Without K_code the 符号 of two
institutions cannot be linked to each other or to ``link``.  Code conversion
looks ``link`` up from the requester's 符号 and derives the provider's.

Each provision record is committed in the log as
``SHA-256(K_person ‖ canonical(record))`` with ``K_person = HMAC(K_commit, link)``:
the leaf reveals nothing to anyone who lacks the person's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from myna.linkage.messages import canonical


class CodeDeriver:
    def __init__(self, link_key: bytes, code_key: bytes, commit_key: bytes) -> None:
        self._link = link_key
        self._code = code_key
        self._commit = commit_key

    def link(self, person_key: str) -> str:
        return hmac.new(self._link, person_key.encode(), hashlib.sha256).hexdigest()

    def code(self, institution: str, link: str) -> str:
        mac = hmac.new(self._code, institution.encode() + b"\x00" + link.encode(),
                       hashlib.sha256).digest()
        return base64.b32encode(mac).decode()[:32]

    def person_commit_key(self, link: str) -> bytes:
        return hmac.new(self._commit, link.encode(), hashlib.sha256).digest()

    def commitment(self, link: str, record: dict[str, Any]) -> bytes:
        return hashlib.sha256(self.person_commit_key(link) + canonical(record)).digest()
