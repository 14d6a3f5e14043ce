"""The hub's contract with the protection commission (個人情報保護委員会): its audit.

The commission audits the provision log and the provision records (情報提供等記録,
番号法23条) from its own side: it reads what the hub stores and recomputes it, and
trusts only what it can check itself (the witness's cosigned checkpoint, the
Merkle tree, the signatures).  What the hub shows it:

* the log's stored rows, through :class:`myna.transparency.export.LogReader`
  (commitments and hashes: no personal data);
* for each record, the claim it makes on the log: its 照会番号 (request id),
  attempt, leaf index and the log entry its committed fields give
  (:class:`RecordClaim`).  The entry is keyed by the person's own commitment key,
  which stays at the hub: the commission learns neither who a record is about nor
  which records are about the same person, and still sees every record whose
  fields were changed, since its entry then differs from the log's;
* the records that expired at the end of their retention period
  (:class:`ExpiredClaim`), so a leaf without a record is explained or not.

:class:`myna.hub.audit.HubAudit` implements it in the hub's process;
:class:`myna.transport.audit_client.HubAuditClient` over HTTP, for the node
``ppc`` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from myna.clock import as_utc
from myna.transparency.export import LogReader, b64, unb64

#: the commission's node id on the network (its certificate's name)
COMMISSION = "ppc"


@dataclass(frozen=True)
class RecordClaim:
    """What one stored record claims of the log: its place, and the entry it commits to."""

    request_id: str
    attempt: int
    #: its leaf index (None: not appended yet)
    leaf_index: int | None
    #: a log size reached before the record existed (None once appended)
    log_from: int | None
    #: the log entry the record's stored fields give now
    leaf: bytes

    @property
    def key(self) -> tuple[str, int]:
        return self.request_id, self.attempt

    def to_json(self) -> list[Any]:
        return [self.request_id, self.attempt, self.leaf_index, self.log_from, b64(self.leaf)]

    @classmethod
    def from_json(cls, p: list[Any]) -> RecordClaim:
        return cls(str(p[0]), int(p[1]), None if p[2] is None else int(p[2]),
                   None if p[3] is None else int(p[3]), unb64(p[4]))


@dataclass(frozen=True)
class ExpiredClaim:
    """A record deleted at the end of its retention period, and the leaf it had."""

    leaf_index: int
    request_id: str
    expired_at: dt.datetime

    def to_json(self) -> list[Any]:
        return [self.leaf_index, self.request_id, self.expired_at.isoformat()]

    @classmethod
    def from_json(cls, p: list[Any]) -> ExpiredClaim:
        return cls(int(p[0]), str(p[1]), as_utc(dt.datetime.fromisoformat(str(p[2]))))


@dataclass(frozen=True)
class ClaimChunk:
    """The records and expired records whose leaf index lies in ``[start, end)``, in
    leaf order."""

    start: int
    end: int
    records: tuple[RecordClaim, ...]
    expired: tuple[ExpiredClaim, ...]

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end,
                "records": [r.to_json() for r in self.records],
                "expired": [e.to_json() for e in self.expired]}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> ClaimChunk:
        return cls(int(p["start"]), int(p["end"]),
                   tuple(RecordClaim.from_json(r) for r in p["records"]),
                   tuple(ExpiredClaim.from_json(e) for e in p["expired"]))


@dataclass(frozen=True)
class UnplacedClaims:
    """Records with no leaf inside the audited log."""

    #: records waiting for their leaf (a write a crash interrupted)
    pending: tuple[RecordClaim, ...]
    #: how many records name a leaf index below 0 or past the committed log
    outside_count: int
    #: the first of them, by leaf index
    outside: tuple[RecordClaim, ...]

    def to_json(self) -> dict[str, Any]:
        return {"pending": [r.to_json() for r in self.pending],
                "outside_count": self.outside_count,
                "outside": [r.to_json() for r in self.outside]}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> UnplacedClaims:
        return cls(tuple(RecordClaim.from_json(r) for r in p["pending"]),
                   int(p["outside_count"]),
                   tuple(RecordClaim.from_json(r) for r in p["outside"]))


class HubAuditApi(LogReader, Protocol):
    """What the commission reads at the hub for its audit (see the module docstring)."""

    def claims(self, start: int, end: int) -> ClaimChunk:
        """Records and expired records with a leaf index in ``[start, end)``."""
        ...

    def unplaced(self, size: int, limit: int = 100) -> UnplacedClaims:
        """Records waiting for a leaf, and those naming one outside ``[0, size)`` that
        no append since explains."""
        ...
