"""What the hub shows the protection commission for its audit (:mod:`myna.contracts.audit`).

:class:`HubAudit` reads the provision log's rows (through
:class:`~myna.transparency.export.StoredLog`) and, for each stored provision
record, the claim it makes on the log: its place (leaf index) and the entry its
stored fields commit to now (:meth:`myna.hub.service.HubService.leaf`, keyed by
the person's key, which does not leave the hub).  The commission compares the two
(:func:`myna.commission.audit.audit_records`); records and leaves are read leaf
range by leaf range (``ix_records_leaf``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from myna.clock import as_utc
from myna.contracts.audit import ClaimChunk, ExpiredClaim, RecordClaim, UnplacedClaims
from myna.hub import storage as t
from myna.hub.service import HubService
from myna.transparency.export import StoredLog
from myna.transparency.service import TransparencyLog

_COLUMNS = [c for c in t.records.c if c.name != "sealed"]
_ORDER = (t.records.c.leaf_index, t.records.c.request_id, t.records.c.attempt)


class HubAudit(StoredLog):
    """:class:`myna.contracts.audit.HubAuditApi` in the hub's process."""

    def __init__(self, hub: HubService, log: TransparencyLog) -> None:
        super().__init__(log)
        self.hub = hub

    def _claim(self, row: Any) -> RecordClaim:
        entry = t.record_entry(row._mapping)
        return RecordClaim(entry.request_id, entry.attempt, entry.leaf_index, entry.log_from,
                           self.hub.leaf(entry))

    def claims(self, start: int, end: int) -> ClaimChunk:
        leaf = t.records.c.leaf_index
        with self.hub.engine.connect() as conn:
            records = tuple(self._claim(r) for r in conn.execute(
                select(*_COLUMNS).where(leaf >= start, leaf < end).order_by(*_ORDER)))
            expired = tuple(
                ExpiredClaim(int(r.leaf_index), str(r.request_id), as_utc(r.expired_at))
                for r in conn.execute(select(t.expired_records).where(
                    t.expired_records.c.leaf_index >= start,
                    t.expired_records.c.leaf_index < end)
                    .order_by(t.expired_records.c.leaf_index)))
        return ClaimChunk(start, end, records, expired)

    def unplaced(self, size: int, limit: int = 100) -> UnplacedClaims:
        leaf = t.records.c.leaf_index
        with self.hub.engine.connect() as conn:
            pending = tuple(self._claim(r) for r in conn.execute(
                select(*_COLUMNS).where(leaf.is_(None)).order_by(*_ORDER[1:])))
            rows = conn.execution_options(yield_per=1000).execute(
                select(*_COLUMNS).where(or_(leaf < 0, leaf >= size)).order_by(*_ORDER))
            # read once the records' query runs: every leaf appended before it is below
            committed = self.head().size
            count, outside = 0, list[RecordClaim]()
            for row in rows:
                index = int(row.leaf_index)
                if 0 <= index < committed:
                    continue  # appended since the audit began
                count += 1
                if len(outside) < limit:
                    outside.append(self._claim(row))
        return UnplacedClaims(pending, count, tuple(outside))
