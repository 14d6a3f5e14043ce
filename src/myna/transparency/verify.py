"""Full audit of a provision-record log (what ``myna log verify`` runs).

:func:`verify_log` reads everything back, streaming in chunks:

1. every entry's leaf hash is recomputed from its stored data and compared
   with the stored leaf hash (level-0 tiles): a difference pinpoints an
   altered entry; a missing row a removed entry; an entry whose data hashes
   to the stored leaf of *another* index is reported as reordered (swaps and
   shifts are recognised as such); expired entries (data erased by
   :meth:`~myna.transparency.service.TransparencyLog.expire`) are checked by
   their stored hash only;
2. the whole tree above the leaves is recomputed from scratch and compared
   with every stored tile, and with the root kept in the log row;
3. the root at each signed checkpoint's size is recomputed and compared with
   the checkpoint (whose signature is checked too), with every stored witness
   cosignature, and with any checkpoints given by the caller (e.g. the latest
   one the witness holds): a log smaller than a signed checkpoint was rolled
   back; a mismatching root pins the rewritten stored hashes between the last
   matching and the first mismatching checkpoint sizes.  A checkpoint fetched
   from the witness itself (``witnessed``) that the log does not reproduce is
   reported as a fork: the log is not the one the witness saw, whatever the
   log's own (replaceable) checkpoints say.

Each problem comes with a Japanese and an English message.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from myna.errors import MynaError
from myna.transparency.errors import SignatureInvalid
from myna.transparency.export import LeafChunk, LogHead, LogReader, LogStructure, StoredLog
from myna.transparency.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, range_hash
from myna.transparency.note import (
    Note,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_note,
)
from myna.transparency.service import TransparencyLog
from myna.transparency.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    expand,
    locate,
    pack_inner,
    tile_width,
)

_MISSING = object()
_UNKNOWN = bytes(HASH_SIZE)


@dataclass(frozen=True)
class Problem:
    """One finding: its kind, the entry indexes concerned, and what it means."""

    kind: str
    message_ja: str
    message_en: str
    indexes: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{self.message_ja} ({self.message_en})"


@dataclass
class VerificationReport:
    """The outcome of :func:`verify_log`."""

    log: str
    size: int
    entries_checked: int = 0
    expired: int = 0
    root: bytes = EMPTY_ROOT
    tiles_checked: int = 0
    checkpoints_checked: int = 0
    cosignatures_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def indexes(self, kind: str | None = None) -> set[int]:
        """Every entry index named by a problem (of ``kind``, if given)."""
        return {i for p in self.problems if kind in (None, p.kind) for i in p.indexes}

    def lines(self) -> list[str]:
        """The report as text lines (Japanese, then English)."""
        head = (f"記録ログ {self.log}: {self.size:,} 件、データ検査 {self.entries_checked:,} 件、"
                f"保存期間満了で消去済み {self.expired:,} 件、チェックポイント "
                f"{self.checkpoints_checked} 件、連署 {self.cosignatures_checked} 件")
        verdict = ("異常なし (no problems found)" if self.ok
                   else f"問題 {len(self.problems)} 件 ({len(self.problems)} problems)")
        return [head, verdict, *(f"- {p}" for p in self.problems)]


class Findings:
    """Collects an audit's problems into ``problems``: at most ``max_reported`` of each
    kind, and a line saying how many more there were."""

    def __init__(self, problems: list[Problem], max_reported: int) -> None:
        self.problems = problems
        self.max = max_reported
        self.counts: dict[str, int] = {}

    def add(self, kind: str, ja: str, en: str, indexes: Sequence[int] = ()) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= self.max:
            self.problems.append(Problem(kind, ja, en, tuple(indexes)))

    def more(self, kind: str, n: int) -> None:
        """``n`` further problems of ``kind``, counted but not described."""
        self.counts[kind] = self.counts.get(kind, 0) + n

    def finish(self) -> None:
        for kind, n in self.counts.items():
            if n > self.max:
                self.problems.append(Problem(
                    kind, f"（ほか {n - self.max} 件の同種の問題）",
                    f"({n - self.max} more problems of kind {kind})"))


def _runs(indexes: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs ``(first, last)`` of sorted indexes."""
    start = prev = None
    for i in indexes:
        if start is None or prev is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            yield start, prev
            start = prev = i
    if start is not None and prev is not None:
        yield start, prev


def _span(a: int, b: int) -> tuple[str, str]:
    return (f"記録 {a}", f"entry {a}") if a == b else (f"記録 {a}〜{b}", f"entries {a}..{b}")


def verify_log(
    log: TransparencyLog | LogReader, *,
    witness_keys: Mapping[str, Ed25519PublicKey | bytes] | None = None,
    trusted_checkpoints: Sequence[str] = (),
    witnessed: Sequence[str] = (),
    chunk: int = 65_536,
    max_reported: int = 100,
    progress: Callable[[int, int], None] | None = None,
    head: LogHead | None = None,
) -> VerificationReport:
    """Audit ``log`` from its stored rows; see the module docstring.

    ``log`` is the log itself (read in this process) or any :class:`LogReader`,
    e.g. the hub's log read by the protection commission over the network
    (:class:`myna.transport.audit_client.HubAuditClient`).  The audit pins the
    size committed when it starts; appends while it runs are left for the next.
    ``witness_keys`` (name → public key) check the stored cosignatures; by
    default the keys registered in the log are used.  ``trusted_checkpoints``
    are signed (possibly cosigned) checkpoints obtained elsewhere; ``witnessed``
    are cosigned checkpoints fetched from the witness (e.g.
    ``witness.latest_checkpoint(log.origin)``), whose mismatch is a fork.
    ``progress(done, size)`` is called after each chunk of entries; ``head`` pins
    the size (by default the size committed now).
    """
    reader = StoredLog(log) if isinstance(log, TransparencyLog) else log
    chunk = max(TILE_WIDTH, chunk - chunk % TILE_WIDTH)
    return _verify(reader, head or reader.head(), witness_keys, trusted_checkpoints, witnessed,
                   chunk, max_reported, progress)


def _verify(
    reader: LogReader, head: LogHead,
    witness_keys: Mapping[str, Ed25519PublicKey | bytes] | None,
    trusted: Sequence[str], witnessed: Sequence[str], chunk: int, max_reported: int,
    progress: Callable[[int, int], None] | None,
) -> VerificationReport:
    size, stored_root = head.size, head.root
    report = VerificationReport(head.name, size)
    out = Findings(report.problems, max_reported)
    structure = reader.structure(size)

    def later(cp_size: int) -> bool:
        """Appended and checkpointed after the audit pinned its size: the next audit's."""
        return size < cp_size <= structure.current_size

    cps = [(c.size, c.root, c.note) for c in structure.checkpoints if not later(c.size)]
    external: list[tuple[bool, Note]] = []
    for from_witness, texts in ((False, trusted), (True, witnessed)):
        for text in texts:
            try:
                external.append((from_witness, parse_note(text)))
            except MynaError as exc:
                out.add("checkpoint", f"外部のチェックポイントが読めません: {exc.message_ja}",
                        f"unreadable trusted checkpoint: {exc.message_en}")
    sizes: set[int] = {int(c[0]) for c in cps}
    for _from_witness, note in external:
        with contextlib.suppress(MynaError):
            sizes.add(parse_checkpoint(note.text).size)
    stash_needed = {s // TILE_WIDTH for s in sizes | {size} if 0 < s <= size and s % TILE_WIDTH}
    stash: dict[int, bytes] = {}
    batches = _Batches(out)

    # -- 1. leaves ------------------------------------------------------------
    level8: list[bytes] = []
    mismatched: dict[int, tuple[bytes, bytes]] = {}
    missing: list[int] = []
    stored_at_missing: dict[int, bytes] = {}
    erased: list[int] = []
    kept: list[int] = []
    for a in range(0, size, chunk):
        b = min(size, a + chunk)
        part = reader.leaf_chunk(size, a, b)
        data = part.data
        expired = batches.feed(part)
        first, last = a // TILE_WIDTH, (b - 1) // TILE_WIDTH
        for n in range(first, last + 1):
            want = tile_width(size, 0, n)
            blob = part.tiles.get(n)
            bottom, inner = (b"", b"") if blob is None else (blob.bottom, blob.inner)
            report.tiles_checked += 1
            if len(bottom) != want * HASH_SIZE:
                lo, hi = n * TILE_WIDTH, n * TILE_WIDTH + want - 1
                ja, en = _span(lo, hi)
                out.add("tile",
                        f"{ja} の記録時ハッシュ（階層 0 のタイル {n}）が欠けているか長さが違います",
                        f"leaf-hash tile 0/{n} for {en} is missing or has the wrong length",
                        range(lo, hi + 1) if blob is None else ())
            recomputed: list[bytes] = []
            for i in range(n * TILE_WIDTH, n * TILE_WIDTH + want):
                off = (i - n * TILE_WIDTH) * HASH_SIZE
                s = bottom[off:off + HASH_SIZE] if off + HASH_SIZE <= len(bottom) else None
                d: Any = data.get(i, _MISSING)
                r: bytes | None = None
                if d is _MISSING:
                    missing.append(i)
                    if s is not None:
                        stored_at_missing[i] = s
                elif d is None:
                    if expired(i):
                        report.expired += 1
                    else:
                        erased.append(i)
                else:
                    if expired(i):
                        kept.append(i)
                    r = leaf_hash(bytes(d))
                    report.entries_checked += 1
                    if s is not None and r != s:
                        mismatched[i] = (r, s)
                recomputed.append(s if s is not None else r if r is not None else _UNKNOWN)
            row0 = b"".join(recomputed)
            rows = expand(row0)
            if blob is not None and row0 == bottom and pack_inner(rows) != inner:
                lo, hi = n * TILE_WIDTH, n * TILE_WIDTH + want - 1
                out.add("tile",
                        f"記録 {lo}〜{hi} の上の内部ハッシュ（階層 0 のタイル {n}）が"
                        "再計算した値と一致しません",
                        f"inner node hashes of tile 0/{n} (entries {lo}..{hi}) differ "
                        "from the recomputed ones")
            if n in stash_needed:
                stash[n] = row0
            if want == TILE_WIDTH:
                level8.append(rows[TILE_HEIGHT])
        if progress:
            progress(b, size)
    batches.finish(size)
    if structure.extra_count:
        shown = ", ".join(str(i) for i in structure.extra)
        out.add("extra",
                f"木の大きさ {size} を超える番号の記録行が {structure.extra_count} 件あります"
                f"（{shown}）",
                f"{structure.extra_count} entry rows beyond the tree size {size} ({shown})",
                structure.extra)
    for lv, n in structure.unexpected_tiles:
        out.add("tile", f"木の大きさに対して余分なタイル（階層 {lv}・番号 {n}）があります",
                f"unexpected tile {lv}/{n} for the tree size")
    _classify(mismatched, missing, stored_at_missing, out)
    for lo, hi in _runs(erased):
        ja, en = _span(lo, hi)
        out.add("erased",
                f"{ja} のデータが消されていますが、保存期間満了による消去の記録がありません",
                f"{en}: data erased without an expiry record", range(lo, hi + 1))
    for lo, hi in _runs(kept):
        ja, en = _span(lo, hi)
        out.add("retention", f"{ja} は保存期間満了で消去済みのはずですがデータが残っています",
                f"{en}: expired but the data is still stored", range(lo, hi + 1))

    # -- 2. the tree above the leaves -------------------------------------------
    upper = _check_upper_tiles(structure, size, level8, out, report)
    expanded: dict[tuple[int, int], list[bytes]] = {}

    def node(level: int, index: int) -> bytes:
        tl, ti, r, pos = locate(level, index)
        rows = expanded.get((tl, ti))
        if rows is None:
            if tl == 0:
                bottom = stash.get(ti, b"")
            else:
                bottom = b"".join(upper[tl][ti * TILE_WIDTH:(ti + 1) * TILE_WIDTH])
            rows = expanded[(tl, ti)] = expand(bottom)
        return rows[r][pos * HASH_SIZE:(pos + 1) * HASH_SIZE]

    report.root = range_hash(0, size, node)
    if report.root != stored_root:
        out.add("root", "ログに保存された根ハッシュが、記録から再計算した値と一致しません",
                "the root hash stored with the log differs from the recomputed root")

    # -- 3. checkpoints, cosignatures, external checkpoints ----------------------
    keys = dict(head.witness_keys) if witness_keys is None else dict(witness_keys)
    good: list[int] = []
    bad: list[int] = []

    def compare(where_ja: str, where_en: str, cp_size: int, cp_root: bytes,
                fork: bool = False) -> None:
        if cp_size > size:
            out.add("rollback",
                    f"{where_ja}は {cp_size:,} 件ですが、ログには {size:,} 件しかありません"
                    "（記録の削除・巻き戻し" + ("、またはログの差し替え）" if fork else "）"),
                    f"{where_en} covers {cp_size} entries but the log has only {size} "
                    "(entries removed / rolled back" + (", or the log replaced)" if fork
                                                        else ")"))
            return
        if range_hash(0, cp_size, node) == cp_root:
            good.append(cp_size)
            return
        bad.append(cp_size)
        if fork:
            out.add("fork",
                    f"記録ログが分岐しています: {where_ja}（大きさ {cp_size:,}）の根ハッシュを、"
                    "このログは再現できません（ログ・データディレクトリの差し替え、"
                    "または履歴の書き換え）",
                    f"the log has forked: it does not reproduce the root of the {where_en} "
                    f"(size {cp_size}); the log or its data directory was replaced, or its "
                    "history rewritten")
        else:
            out.add("checkpoint",
                    f"{where_ja}（大きさ {cp_size:,}）の根ハッシュが、"
                    "記録から再計算した値と一致しません",
                    f"{where_en} (size {cp_size}) does not match the recomputed root")

    cosigs = [(c.size, c.witness, c.line) for c in structure.cosignatures if not later(c.size)]
    notes: dict[int, Note] = {}
    for cp_size, cp_root, text in cps:
        report.checkpoints_checked += 1
        try:
            note = parse_note(str(text))
            verify_note(note, head.public_key, head.name)
            cp = parse_checkpoint(note.text)
            if (cp.size, cp.root, cp.origin) != (int(cp_size), bytes(cp_root), head.origin):
                raise ValueError("row differs from note")
        except (MynaError, ValueError) as exc:
            msg = exc.message_ja if isinstance(exc, MynaError) else "内容が行と一致しません"
            out.add("checkpoint",
                    f"保存されたチェックポイント（大きさ {cp_size}）が正しくありません: {msg}",
                    f"stored checkpoint of size {cp_size} is invalid: {exc}")
            continue
        notes[cp.size] = note
        compare("署名済みチェックポイント", "signed checkpoint", cp.size, cp.root)
    for cp_size, witness, line in cosigs:
        report.cosignatures_checked += 1
        base = notes.get(int(cp_size))
        key = keys.get(str(witness))
        if base is None or key is None:
            out.add("cosignature",
                    f"監視者 {witness} の連署（大きさ {cp_size}）を検証できません"
                    "（対応するチェックポイントまたは監視者の公開鍵がありません）",
                    f"cannot check the cosignature by {witness} at size {cp_size} "
                    "(no checkpoint or no witness key)")
            continue
        try:
            verify_cosignature(parse_note(base.text + "\n" + str(line)), key, str(witness))
        except MynaError as exc:
            out.add("cosignature", f"監視者 {witness} の連署（大きさ {cp_size}）: {exc.message_ja}",
                    f"cosignature by {witness} at size {cp_size}: {exc.message_en}")
    for from_witness, note in external:
        report.checkpoints_checked += 1
        try:
            cp = parse_checkpoint(note.text)
            for name, key in keys.items():
                if any(s.name == name for s in note.signatures):
                    verify_cosignature(note, key, name)
                    report.cosignatures_checked += 1
        except MynaError as exc:
            out.add("checkpoint", f"外部のチェックポイントが検証できません: {exc.message_ja}",
                    f"trusted checkpoint does not verify: {exc.message_en}")
            continue
        try:
            verify_note(note, head.public_key, head.name)
            if cp.origin != head.origin:
                raise SignatureInvalid("ログの名前が違います", "another origin")
        except MynaError as exc:
            if from_witness:
                out.add("fork",
                        "記録ログが分岐しています: 監視者（個人情報保護委員会）が連署した"
                        "チェックポイントは、このログの鍵・名前で署名されたものではありません"
                        "（ログが別のものに差し替えられた疑い）",
                        "the log has forked: the checkpoint the witness cosigned was not "
                        f"signed by this log's key and origin ({exc.message_en})")
            else:
                out.add("checkpoint",
                        f"外部のチェックポイントが検証できません: {exc.message_ja}",
                        f"trusted checkpoint does not verify: {exc.message_en}")
            continue
        if from_witness:
            compare("監視者（個人情報保護委員会）が連署したチェックポイント",
                    "checkpoint cosigned by the witness", cp.size, cp.root, fork=True)
        else:
            compare("監視者が保持するチェックポイント", "trusted (witnessed) checkpoint",
                    cp.size, cp.root)
    if bad:
        first_bad = min(bad)
        lo = max((s for s in good if s < first_bad), default=0)
        out.add("range",
                f"記録時ハッシュの書き換えは 記録 {lo}〜{first_bad - 1} の範囲にあります"
                "（一致する最後のチェックポイントと一致しない最初のチェックポイントの間）",
                f"the rewritten leaf hashes lie within entries {lo}..{first_bad - 1}",
                range(lo, first_bad) if first_bad - lo <= 1000 else ())
    out.finish()
    return report


class _Batches:
    """Batch rows must tile ``[0, size)``; read chunk by chunk with the entries."""

    def __init__(self, out: Findings) -> None:
        self.out = out
        self.pos = 0

    def feed(self, part: LeafChunk) -> Callable[[int], bool]:
        """Check the batches starting in ``part``; whether an index of it has expired."""
        starts: list[int] = []
        ends: list[int] = []
        for batch in part.batches:
            if batch.first >= part.start or (part.start == 0 and batch.first < 0):
                if batch.first != self.pos:
                    self.out.add("batch",
                                 f"追記バッチの記録が連続していません（{self.pos} の次が "
                                 f"{batch.first}）",
                                 f"batch records are not contiguous ({self.pos} then "
                                 f"{batch.first})")
                self.pos = batch.first + batch.count
            if batch.expired:
                stop = batch.first + batch.count
                if starts and ends[-1] == batch.first:
                    ends[-1] = stop
                else:
                    starts.append(batch.first)
                    ends.append(stop)

        def expired(i: int) -> bool:
            k = bisect.bisect_right(starts, i) - 1
            return k >= 0 and i < ends[k]

        return expired

    def finish(self, size: int) -> None:
        if self.pos != size:
            self.out.add("batch", f"追記バッチの合計 {self.pos:,} 件がログの大きさ "
                                  f"{size:,} 件と一致しません",
                         f"batches cover {self.pos} entries but the log size is {size}")


def _classify(
    mismatched: dict[int, tuple[bytes, bytes]], missing: list[int],
    stored_at_missing: dict[int, bytes], out: Findings,
) -> None:
    """Altered, reordered (swapped, shifted, moved) and missing entries."""
    owner: dict[bytes, int] = {s: i for i, (_r, s) in mismatched.items()}
    owner.update({s: i for i, s in stored_at_missing.items()})
    moved: dict[int, int] = {}
    altered: list[int] = []
    for i, (r, _s) in sorted(mismatched.items()):
        k = owner.get(r)
        if k is not None and k != i:
            moved[i] = k
        else:
            altered.append(i)
    for lo, hi in _runs(altered):
        ja, en = _span(lo, hi)
        out.add("altered", f"{ja} の内容が記録時のハッシュと一致しません（改ざん）",
                f"{en}: data does not match the stored leaf hash (altered)", range(lo, hi + 1))
    done: set[int] = set()
    for i, k in sorted(moved.items()):
        if i in done:
            continue
        if moved.get(k) == i:
            done.update((i, k))
            out.add("reordered", f"記録 {i} と 記録 {k} が入れ替えられています（順序の改ざん）",
                    f"entries {i} and {k} were swapped (reordered)", [i, k])
            continue
        run = [i]
        while moved.get(run[-1] + 1) == run[-1] + 1 + (k - i) and run[-1] + 1 not in done:
            run.append(run[-1] + 1)
        done.update(run)
        ja, en = _span(run[0], run[-1])
        shift = k - i
        out.add("reordered",
                f"{ja} の内容は本来 記録 {run[0] + shift}〜{run[-1] + shift} のものです"
                "（並べ替え、または削除後の詰め直し）",
                f"{en} hold the data of entries {run[0] + shift}..{run[-1] + shift} "
                "(reordered, or renumbered after a deletion)", run)
    for lo, hi in _runs(missing):
        ja, en = _span(lo, hi)
        out.add("missing", f"{ja} の行がありません（削除）", f"{en} missing (deleted)",
                range(lo, hi + 1))


def _check_upper_tiles(
    structure: LogStructure, size: int, level8: list[bytes], out: Findings,
    report: VerificationReport,
) -> dict[int, list[bytes]]:
    """Recompute tile levels >= 1 from the leaves and compare with the stored ones."""
    upper: dict[int, list[bytes]] = {1: level8}
    stored = {key: (tile.bottom, tile.inner) for key, tile in structure.upper.items()}
    level = 1
    while upper[level]:
        hashes = upper[level]
        above: list[bytes] = []
        for n in range(0, (len(hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
            row0 = b"".join(hashes[n * TILE_WIDTH:(n + 1) * TILE_WIDTH])
            rows = expand(row0)
            report.tiles_checked += 1
            if stored.pop((level, n), None) != (row0, pack_inner(rows)):
                lo = n * (TILE_WIDTH ** (level + 1))
                hi = min(size, (n + 1) * (TILE_WIDTH ** (level + 1))) - 1
                out.add("tile",
                        f"内部ハッシュのタイル（階層 {level}・番号 {n}、記録 {lo}〜{hi} を覆う）が"
                        "再計算した値と一致しないか、ありません",
                        f"node-hash tile {level}/{n} (entries {lo}..{hi}) differs from the "
                        "recomputed one or is missing")
            if len(row0) == TILE_WIDTH * HASH_SIZE:
                above.append(rows[TILE_HEIGHT])
        level += 1
        upper[level] = above
    for (lv, n) in sorted(stored):
        out.add("tile", f"木の大きさに対して余分なタイル（階層 {lv}・番号 {n}）があります",
                f"unexpected tile {lv}/{n} for the tree size")
    return upper
