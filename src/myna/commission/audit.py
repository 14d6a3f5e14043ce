"""The commission's audit of the hub: do the provision records match their leaves?

:func:`myna.transparency.verify.verify_log` proves that the log's entries are
intact and that its tree matches every signed and cosigned checkpoint.  It cannot
tell whether the records the hub shows to people and auditors (番号法23条) are the
ones those entries commit to.  :func:`audit_records` closes that gap: for every
record the hub reports the entry its stored fields give now (over requester,
provider, row and 事務, item, times of request and provision, result, reason and
the 不開示 flag: :func:`myna.hub.domain.record_leaf`), and the audit compares it
with the entry at the record's leaf index and with the leaf hash the tree is built
from.  It names

* every record whose committed fields no longer match its leaf (altered), whose
  leaf is missing or beyond the log, or which shares its leaf with another record;
* every record still waiting for its leaf (a crash between writing the record and
  appending the leaf, which the hub's next start repairs);
* every leaf that no record claims, unless the record was deleted at the end of its
  retention period after its leaf had been in the log for that long.

:func:`audit_hub` runs both audits, with the witness's latest cosigned checkpoint
fetched from the witness (a fork check that does not trust the hub's disk).

Findings name records by 照会番号 (request id), attempt and leaf index only, never
by anything about the person.  Everything is read through
:class:`myna.contracts.audit.HubAuditApi`, in leaf order and in chunks, so the
same audit runs beside the hub or over the network.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from myna.contracts.audit import HubAuditApi, RecordClaim
from myna.errors import MynaError, Unavailable
from myna.retention import retention_cutoff
from myna.transparency.export import LeafChunk, LogHead
from myna.transparency.merkle import HASH_SIZE, leaf_hash
from myna.transparency.tiles import TILE_WIDTH
from myna.transparency.verify import Findings, Problem, VerificationReport, verify_log
from myna.transparency.witness import WitnessApi

#: How much later than its retention limit a leaf may have been appended and still lose
#: its record to expiry: records expire by their time of request, and a request decided
#: by staff (承認待ち) gets the leaf of its final attempt when it is decided.
EXPIRY_GRACE = dt.timedelta(days=31)

Progress = Callable[[int, int], None]
#: progress bars: (label, total) → advance(n)
Bars = Callable[[str, int], Callable[[int], None]]


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


def _who(claim: RecordClaim) -> tuple[str, str]:
    return (f"照会番号 {claim.request_id}（試行 {claim.attempt}）",
            f"request {claim.request_id} attempt {claim.attempt}")


def _stored_hash(part: LeafChunk, index: int) -> bytes | None:
    tile = part.tiles.get(index // TILE_WIDTH)
    off = (index % TILE_WIDTH) * HASH_SIZE
    if tile is None or off + HASH_SIZE > len(tile.bottom):
        return None
    return tile.bottom[off:off + HASH_SIZE]


def audit_records(hub: HubAuditApi, *, head: LogHead | None = None, chunk: int = 65_536,
                  max_reported: int = 100, progress: Progress | None = None) -> RecordAudit:
    """Compare every stored record with its leaf; see the module docstring.

    ``head`` pins the log size (by default the hub's committed size now)."""
    head = head or hub.head()
    size = head.size
    audit = RecordAudit(leaves=size)
    out = Findings(audit.problems, max_reported)
    unplaced = hub.unplaced(size, limit=max_reported)
    waiting: dict[bytes, RecordClaim] = {r.leaf: r for r in unplaced.pending}
    found: dict[tuple[str, int], int] = {}
    _outside(unplaced.outside, unplaced.outside_count, size, audit, out)
    for a in range(0, size, chunk):
        b = min(size, a + chunk)
        part = hub.leaf_chunk(size, a, b)
        claims = hub.claims(a, b)
        starts = [batch.first for batch in part.batches]
        tombs = {e.leaf_index: e for e in claims.expired}
        by_leaf: dict[int, list[RecordClaim]] = {}
        for claim in claims.records:
            by_leaf.setdefault(claim.leaf_index or 0, []).append(claim)
        for i in range(a, b):
            present, data, stored = i in part.data, part.data.get(i), _stored_hash(part, i)
            here = by_leaf.get(i)
            if here:
                _check_claims(here, i, present, data, stored, out)
                audit.records += len(here)
                continue
            claimant = waiting.get(data) if data is not None else None
            if claimant is not None and i >= (claimant.log_from or 0):
                found[claimant.key] = i
                continue
            expired = tombs.get(i)
            if expired is not None:
                k = bisect.bisect_right(starts, i) - 1
                appended = part.batches[k].appended_at if k >= 0 else None
                limit = retention_cutoff(expired.expired_at, head.retention_years)
                if appended is not None and appended <= limit + EXPIRY_GRACE:
                    audit.expired += 1
                    continue
                out.add("early_expiry",
                        f"記録ログの記録 {i} の情報提供等記録"
                        f"（照会番号 {expired.request_id}）は保存期間満了として削除されて"
                        "いますが、記録ログへの追記から"
                        f"{head.retention_years}年が経っていません（期間内の削除）",
                        f"leaf {i}: its record (request {expired.request_id}) was deleted "
                        f"as expired before its {head.retention_years}-year retention period "
                        "had passed", (i,))
                continue
            out.add("leaf_without_record",
                    f"記録ログの記録 {i} に対応する情報提供等記録がありません"
                    "（記録の削除、または記録のない追記）",
                    f"leaf {i} has no provision record (record deleted, or leaf added "
                    "without one)", (i,))
        if progress:
            progress(b, size)
    for r in unplaced.pending:
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


def _outside(claims: Iterable[RecordClaim], count: int, size: int, audit: RecordAudit,
             out: Findings) -> None:
    """Records naming a leaf index below 0 or past the log."""
    shown = 0
    for claim in claims:
        shown += 1
        index = claim.leaf_index or 0
        ja, en = _who(claim)
        if index < 0:
            out.add("record_without_leaf",
                    f"{ja} の記録ログの記録番号 {index} は存在しません",
                    f"{en}: leaf index {index} does not exist")
        else:
            out.add("record_without_leaf",
                    f"{ja} の記録ログの記録番号 {index} は、記録ログ（{size:,} 件）に"
                    "ありません（ログの巻き戻しまたは記録番号の書き換え）",
                    f"{en}: leaf {index} is beyond the log's {size} entries "
                    "(log rolled back, or leaf index rewritten)", (index,))
    audit.records += count
    if count > shown:
        out.more("record_without_leaf", count - shown)


def _check_claims(claims: list[RecordClaim], index: int, present: bool, data: bytes | None,
                  stored: bytes | None, out: Findings) -> None:
    if len(claims) > 1:
        names = "、".join(_who(r)[0] for r in claims)
        out.add("leaf_shared",
                f"記録ログの記録 {index} を複数の記録が指しています（{names}）",
                f"leaf {index} is claimed by {len(claims)} records", (index,))
    for claim in claims:
        ja, en = _who(claim)
        if not present:
            out.add("record_without_leaf",
                    f"{ja} の記録ログの記録 {index} が削除されています",
                    f"{en}: its leaf {index} was deleted from the log", (index,))
        elif (data is not None and data != claim.leaf) or stored != leaf_hash(claim.leaf):
            out.add("record_altered",
                    f"{ja} の記録が記録ログの記録 {index} と一致しません"
                    "（照会機関・提供機関・事務・特定個人情報・日時・結果・理由・不開示の"
                    "いずれかが書き換えられています）",
                    f"{en} does not match its leaf {index} (requester, provider, affair, "
                    "item, times, result, reason or the non-disclosure flag was altered)",
                    (index,))


@dataclass
class HubAuditReport:
    """What :func:`audit_hub` found: the log audit, the records audit, and notes."""

    log: VerificationReport
    records: RecordAudit
    notes: list[str]
    #: the fork check could not run (the witness did not answer)
    unchecked: bool = False

    @property
    def ok(self) -> bool:
        return self.log.ok and self.records.ok and not self.unchecked

    def lines(self) -> list[str]:
        total = len(self.log.problems) + len(self.records.problems)
        verdict = ("総合: 異常なし (overall: no problems found)" if self.ok
                   else f"総合: 問題あり（{total} 件） (overall: {total} problems"
                        + ("; fork not checked)" if self.unchecked else ")"))
        return [*self.log.lines(), *self.notes, *self.records.lines(), verdict]


def _bar(bars: Bars | None, label: str, total: int) -> Progress | None:
    """A ``progress(done, size)`` callback advancing a new bar ``label``."""
    if bars is None:
        return None
    advance = bars(label, total)
    seen = [0]

    def progress(done: int, size: int) -> None:
        advance(done - seen[0])
        seen[0] = done

    return progress


def audit_hub(hub: HubAuditApi, witness: WitnessApi, *, pinned_key: str | None = None,
              chunk: int = 65_536, bars: Bars | None = None) -> HubAuditReport:
    """The commission's whole audit of the hub: the witness's latest cosigned checkpoint
    (fetched from the witness first, so it can only be older than the log), the log,
    then the records.  ``pinned_key`` is the witness's verifier key the commission
    holds; a witness answering with another is refused.  ``bars`` shows one progress
    bar per pass."""
    notes: list[str] = []
    witnessed: list[str] = []
    unchecked = False
    try:
        if pinned_key and witness.verifier_key() != pinned_key.strip():
            raise MynaError("監視者の検証鍵が指定のものと一致しません",
                            "the witness's key differs from the one given")
        head = hub.head()
        latest = witness.latest_checkpoint(head.origin)
        if latest:
            witnessed.append(latest)
        else:
            notes.append("監視者はこのログにまだ連署していません "
                         "(the witness has not cosigned this log yet)")
    except Unavailable as exc:
        unchecked = True
        notes.append(f"監視者に接続できないため、分岐は確認できませんでした: {exc.message}")
    head = hub.head()
    report = verify_log(hub, witnessed=witnessed, chunk=chunk,
                        progress=_bar(bars, "記録ログの再計算", head.size),
                        witness_keys={witness.name: witness.public_key} if witnessed else None,
                        head=head)
    records = audit_records(hub, head=head, chunk=chunk,
                            progress=_bar(bars, "情報提供等記録の照合", head.size))
    return HubAuditReport(report, records, notes, unchecked)
