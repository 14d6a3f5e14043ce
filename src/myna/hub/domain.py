"""符号 (per-institution codes) and provision-record commitments.

A person's 符号 for institution *i* is

    link  = HMAC-SHA256(K_link, person_key)          (the hub's pseudonym)
    符号_i = Base32(HMAC-SHA256(K_code, i ‖ 0x00 ‖ link))[:32]

``person_key`` is J-LIS's stable internal key, not the number, so a number
change leaves every 符号 unchanged.  Without K_code the 符号 of two
institutions cannot be linked to each other or to ``link``.  Code conversion
looks ``link`` up from the requester's 符号 and derives the provider's.

Each provision record (番号法23条) is committed in the log as
``SHA-256(K_person ‖ canonical(committed_view(record)))`` with
``K_person = HMAC(K_commit, link)``: the leaf reveals nothing to anyone who
lacks the person's key, and :func:`record_leaf` lets the person (or the hub's
auditor, who can derive every K_person) recompute it from the record as shown.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from myna.linkage.messages import Result, canonical

#: Every field of a provision record the log leaf commits to: who asked (requester),
#: who provided (provider), under which Table 2 row and affair (事務), which item, the
#: times of request and of provision, the result and its reason (番号法23条1項), and the
#: non-disclosure flag (番号法23条2項).
COMMITTED_FIELDS = ("request_id", "attempt", "requester", "provider", "row_id", "affair",
                    "item", "requested_at", "provided_at", "result", "reason")

#: Flags: committed only when set, so that records written before a flag existed keep
#: their commitments; setting or clearing one changes the commitment all the same.
COMMITTED_FLAGS = ("undisclosed",)


def _utc_text(value: dt.datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="microseconds")


def committed_view(record: Any) -> dict[str, Any]:
    """The fields a log leaf commits to, in a form every backend reproduces exactly.

    ``record`` is a mapping (a database row) or a record object such as
    :class:`RecordEntry` or :class:`myna.contracts.hub.ProvisionRecord`.  Times become
    UTC ISO text with microseconds (SQLite hands back naive UTC, PostgreSQL aware times).
    """
    def get(key: str) -> Any:
        return record.get(key) if isinstance(record, Mapping) else getattr(record, key, None)

    out: dict[str, Any] = {}
    for key in COMMITTED_FIELDS:
        value = get(key)
        if isinstance(value, dt.datetime):
            value = _utc_text(value)
        elif isinstance(value, Enum):
            value = value.value
        out[key] = value
    for flag in COMMITTED_FLAGS:
        if get(flag):
            out[flag] = True
    return out


@dataclass(frozen=True)
class RecordEntry:
    """One provision record (番号法23条) as the hub writes and stores it: the fields its
    leaf commits to, the pseudonym that keys the commitment (``link``, None when the
    requester's 符号 was not its own), the sealed answer, and its place in the log
    (``leaf_index``, once appended; ``log_from``, a log size reached before it existed).
    """

    request_id: str
    attempt: int
    requester: str
    provider: str
    row_id: str
    affair: str
    item: str
    requested_at: dt.datetime
    result: Result
    reason: str
    provided_at: dt.datetime | None = None
    link: str | None = None
    sealed: bytes | None = None
    #: 番号法23条2項: the fact of this provision is 不開示 to the person (see Table 2).
    undisclosed: bool = False
    leaf_index: int | None = None
    log_from: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return self.request_id, self.attempt


@dataclass(frozen=True)
class RequestSeen:
    """The first time the hub saw a request id: who sent it, and a digest of what it
    asked (every later attempt under the id must ask the same)."""

    request_id: str
    requester: str
    digest: str
    first_seen: dt.datetime


@dataclass(frozen=True)
class RefusedMessage:
    """A message the hub refused, for the audit: who sent it, under which request id,
    why (never anything about a person)."""

    at: dt.datetime
    sender: str
    request_id: str | None
    reason: str


def record_leaf(record: Any, person_key_commitment: bytes) -> bytes:
    """The log entry (leaf data) of one provision record, from the person's own key.

    ``person_key_commitment`` is the key :meth:`myna.hub.service.HubService.person_commit_key`
    hands the person (via the portal).  The result is what the hub appended to the
    provision log for this record; :func:`myna.transparency.merkle.leaf_hash` of it is the
    leaf an inclusion proof proves.  Any change to any committed field, or another
    person's key, gives another value.

    >>> import datetime as dt
    >>> rec = {"request_id": "r1", "attempt": 1, "requester": "a", "provider": "b",
    ...        "row_id": "T2-0001", "affair": "児童手当の支給", "item": "地方税関係情報",
    ...        "requested_at": dt.datetime(2026, 4, 1, tzinfo=dt.UTC), "provided_at": None,
    ...        "result": "provided", "reason": "", "undisclosed": False}
    >>> key = bytes(32)
    >>> leaf = record_leaf(rec, key)
    >>> len(leaf), leaf == record_leaf(rec | {"affair": "生活保護の決定・実施"}, key)
    (32, False)
    >>> leaf == record_leaf(rec | {"undisclosed": True}, key)
    False
    """
    if len(person_key_commitment) != 32:
        raise ValueError("a person's commitment key is 32 bytes")
    return hashlib.sha256(person_key_commitment + canonical(committed_view(record))).digest()


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

    def commitment(self, link: str, record: Any) -> bytes:
        """The leaf of ``record`` for the person behind ``link`` (see :func:`record_leaf`)."""
        return record_leaf(record, self.person_commit_key(link))
