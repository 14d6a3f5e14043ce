"""Do the provision records match their leaves?  (what ``myna log verify`` adds to the log audit)

:func:`myna.transparency.verify.verify_log` proves that the log's entries are
intact and that its tree matches every signed and cosigned checkpoint.  It cannot
tell whether the records the hub shows to people and auditors (番号法23条) are the
ones those entries commit to.  :func:`audit_records` closes that gap from the
stored rows: for every record it recomputes the commitment
(:func:`myna.hub.domain.record_leaf`, over requester, provider, row and 事務,
item, times of request and provision, result, reason and the 不開示 flag) and
compares it with the entry at the record's leaf index and with the leaf hash the
tree is built from.  It names

* every record whose committed fields no longer match its leaf (altered), whose
  leaf is missing or beyond the log, or which shares its leaf with another record;
* every record still waiting for its leaf (a crash between writing the record and
  appending the leaf that the next start repairs: see :mod:`myna.hub.service`);
* every leaf that no record claims, unless the record was deleted at the end of its
  retention period (``expired_records``) after its leaf had been in the log for
  that long.

Findings name records by 照会番号 (request id), attempt and leaf index only, never
by anything about the person.  Records and leaves are read in chunks, in leaf order.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from myna.clock import as_utc
from myna.hub import storage as t
from myna.hub.domain import RecordEntry
from myna.hub.service import HubService
from myna.retention import retention_cutoff
from myna.transparency.merkle import leaf_hash
from myna.transparency.service import TransparencyLog
from myna.transparency.verify import Problem

#: How much later than its retention limit a leaf may have been appended and still lose
#: its record to expiry: records expire by their time of request, and a request decided
#: by staff (承認待ち) gets the leaf of its final attempt when it is decided.
EXPIRY_GRACE = dt.timedelta(days=31)

_COLUMNS = [c for c in t.records.c if c.name != "sealed"]


@dataclass
class RecordAudit:
    """The outcome of :func:`audit_records`."""

    records: int = 0
    leaves: int = 0
    expired: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        head = (f"情報提供等記録 {self.records:,} 件を記録ログの {self.leaves:,} 件と照合、"
                f"保存期間満了で削除済みの記録 {self.expired:,} 件")
        verdict = ("記録とログは一致 (records match the log)" if self.ok
                   else f"問題 {len(self.problems)} 件 ({len(self.problems)} problems)")
        return [head, verdict, *(f"- {p}" for p in self.problems)]


class _Out:
    def __init__(self, audit: RecordAudit, max_reported: int) -> None:
        self.audit = audit
        self.max = max_reported
        self.counts: dict[str, int] = {}

    def add(self, kind: str, ja: str, en: str, indexes: tuple[int, ...] = ()) -> None:
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if n <= self.max:
            self.audit.problems.append(Problem(kind, ja, en, indexes))

    def finish(self) -> None:
        for kind, n in self.counts.items():
            if n > self.max:
                self.audit.problems.append(Problem(
                    kind, f"（ほか {n - self.max} 件の同種の問題）",
                    f"({n - self.max} more problems of kind {kind})"))


def _who(row: RecordEntry) -> tuple[str, str]:
    return (f"照会番号 {row.request_id}（試行 {row.attempt}）",
            f"request {row.request_id} attempt {row.attempt}")


def audit_records(hub: HubService, log: TransparencyLog, *, chunk: int = 65_536,
                  max_reported: int = 100) -> RecordAudit:
    """Compare every stored record with its leaf; see the module docstring."""
    audit = RecordAudit()
    out = _Out(audit, max_reported)
    size = log.size()
    audit.leaves = size
    with hub.engine.connect() as conn:
        pending = [t.record_entry(r._mapping) for r in conn.execute(
            select(*_COLUMNS).where(t.records.c.leaf_index.is_(None)))]
    waiting: dict[bytes, RecordEntry] = {hub.leaf(r): r for r in pending}
    found: dict[tuple[str, int], int] = {}
    with hub.engine.connect() as rec_conn, hub.engine.connect() as tomb_conn:
        records = _records(rec_conn.execution_options(yield_per=1000).execute(
            select(*_COLUMNS).where(t.records.c.leaf_index.is_not(None))
            .order_by(t.records.c.leaf_index, t.records.c.request_id, t.records.c.attempt)))
        tombs = _stream(tomb_conn.execution_options(yield_per=1000).execute(
            select(t.expired_records).order_by(t.expired_records.c.leaf_index)))
        row = next(records, None)
        while row is not None and _index(row) < 0:
            audit.records += 1
            ja, en = _who(row)
            out.add("record_without_leaf",
                    f"{ja} の記録ログの記録番号 {row.leaf_index} は存在しません",
                    f"{en}: leaf index {row.leaf_index} does not exist")
            row = next(records, None)
        tomb = next(tombs, None)
        for a in range(0, size, chunk):
            b = min(size, a + chunk)
            leaves = log.leaves(a, b)
            times = log.appended_times(a, b)
            starts = [first for first, _n, _at in times]
            for i in range(a, b):
                present, data, stored = leaves[i - a]
                here: list[RecordEntry] = []
                while row is not None and row.leaf_index == i:
                    here.append(row)
                    row = next(records, None)
                while tomb is not None and tomb.leaf_index < i:
                    tomb = next(tombs, None)
                expired = tomb if tomb is not None and tomb.leaf_index == i else None
                if here:
                    _check_claims(hub, here, i, present, data, stored, out)
                    audit.records += len(here)
                    continue
                claimant = waiting.get(data) if data is not None else None
                if claimant is not None and i >= (claimant.log_from or 0):
                    found[claimant.key] = i
                    continue
                if expired is not None:
                    k = bisect.bisect_right(starts, i) - 1
                    appended = times[k][2] if k >= 0 else None
                    limit = retention_cutoff(as_utc(expired.expired_at), hub.retention_years)
                    if appended is not None and appended <= limit + EXPIRY_GRACE:
                        audit.expired += 1
                        continue
                    out.add("early_expiry",
                            f"記録ログの記録 {i} の情報提供等記録"
                            f"（照会番号 {expired.request_id}）は保存期間満了として削除されて"
                            "いますが、記録ログへの追記から"
                            f"{hub.retention_years}年が経っていません（期間内の削除）",
                            f"leaf {i}: its record (request {expired.request_id}) was deleted "
                            f"as expired before its {hub.retention_years}-year retention period "
                            "had passed", (i,))
                    continue
                out.add("leaf_without_record",
                        f"記録ログの記録 {i} に対応する情報提供等記録がありません"
                        "（記録の削除、または記録のない追記）",
                        f"leaf {i} has no provision record (record deleted, or leaf added "
                        "without one)", (i,))
        while row is not None:
            audit.records += 1
            ja, en = _who(row)
            out.add("record_without_leaf",
                    f"{ja} の記録ログの記録番号 {row.leaf_index} は、記録ログ（{size:,} 件）に"
                    "ありません（ログの巻き戻しまたは記録番号の書き換え）",
                    f"{en}: leaf {row.leaf_index} is beyond the log's {size} entries "
                    "(log rolled back, or leaf index rewritten)", (_index(row),))
            row = next(records, None)
    for r in pending:
        audit.records += 1
        ja, en = _who(r)
        index = found.get(r.key)
        if index is None:
            out.add("record_without_leaf",
                    f"{ja} の記録が記録ログに追記されていません（中断からの復旧待ち。"
                    "次回の起動か次の記録で追記されます）",
                    f"{en}: the record has no leaf yet (interrupted write; the next start "
                    "or write appends it)")
        else:
            out.add("record_unlinked",
                    f"{ja} の記録は記録ログの記録 {index} に追記済みですが、記録番号が"
                    "記録されていません（中断からの復旧待ち）",
                    f"{en}: its leaf {index} is in the log but the record does not know it "
                    "yet (interrupted write)", (index,))
    out.finish()
    return audit


def _stream(result: Any) -> Iterator[Any]:
    yield from result


def _records(result: Any) -> Iterator[RecordEntry]:
    """The stored records of a query's rows, one at a time."""
    for row in result:
        yield t.record_entry(row._mapping)


def _index(record: RecordEntry) -> int:
    """The leaf index of a record read among those that have one."""
    return -1 if record.leaf_index is None else record.leaf_index


def _check_claims(hub: HubService, rows: list[RecordEntry], index: int, present: bool,
                  data: bytes | None, stored: bytes | None, out: _Out) -> None:
    if len(rows) > 1:
        names = "、".join(_who(r)[0] for r in rows)
        out.add("leaf_shared",
                f"記録ログの記録 {index} を複数の記録が指しています（{names}）",
                f"leaf {index} is claimed by {len(rows)} records", (index,))
    for row in rows:
        ja, en = _who(row)
        expected = hub.leaf(row)
        if not present:
            out.add("record_without_leaf",
                    f"{ja} の記録ログの記録 {index} が削除されています",
                    f"{en}: its leaf {index} was deleted from the log", (index,))
        elif (data is not None and data != expected) or stored != leaf_hash(expected):
            out.add("record_altered",
                    f"{ja} の記録が記録ログの記録 {index} と一致しません"
                    "（照会機関・提供機関・事務・特定個人情報・日時・結果・理由・不開示の"
                    "いずれかが書き換えられています）",
                    f"{en} does not match its leaf {index} (requester, provider, affair, "
                    "item, times, result, reason or the non-disclosure flag was altered)",
                    (index,))
