"""The provision-record log (情報提供等記録, 番号法23条) of the hub node.

An append-only Merkle log in the style of Certificate Transparency (RFC 6962 /
RFC 9162) and Tessera: callers append opaque entries (commitments to the
records, never the plaintext), get their leaf indexes back, and anyone holding
a signed checkpoint can be given inclusion and consistency proofs.

Storage (see :mod:`.storage` and :mod:`.tiles`): each :meth:`append` is one
transaction that writes the entries, one batch row, the level-0 tiles holding
the new leaf hashes and the right edge of every tile level above; so a proof
reads about log2(n) stored hashes (three or four tiles at 10^7 leaves) and
never recomputes a subtree.  Tiles are immutable once full and only ever grow
while partial, so the in-memory tile cache can never go stale: a restart (or
another process) simply starts from the committed rows.

Durability: on SQLite the log's connections use WAL with ``synchronous=FULL``
(set when each connection opens).  ``NORMAL`` is not enough here: after a power cut it
may lose the last committed batches, and once a checkpoint covering them was
cosigned by the witness, the log would look rolled back (a fork) to it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from myna.clock import as_utc, show_time, utcnow
from myna.db import bulk_insert, durable_sqlite, migrate
from myna.errors import Conflict, NotFound, ValidationError
from myna.keys import KeyStore
from myna.retention import retention_cutoff
from myna.transparency import merkle
from myna.transparency import storage as t
from myna.transparency.errors import LogCorrupted, SignatureInvalid
from myna.transparency.note import (
    Checkpoint,
    Note,
    check_key_name,
    parse_checkpoint,
    parse_note,
    public_bytes,
    sign_note,
    verifier_key,
    verify_cosignature,
    verify_note,
)
from myna.transparency.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    extend_rows,
    locate,
    needed_width,
    pack_inner,
    tile_width,
    unpack,
)

HASH = merkle.HASH_SIZE
MAX_ENTRY_BYTES = 65_535
DEFAULT_RETENTION_YEARS = 7
TileKey = tuple[int, int]



class _Tile:
    """One tile in memory: all its rows (``rows[0]`` is the stored bottom row)."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[bytes]) -> None:
        self.rows = rows

    @property
    def bottom(self) -> bytes:
        return self.rows[0]

    @property
    def width(self) -> int:
        return len(self.rows[0]) // HASH

    def node(self, row: int, pos: int) -> bytes:
        return self.rows[row][pos * HASH:(pos + 1) * HASH]


@dataclass(frozen=True)
class LogEntry:
    """One entry: its data (None once expired), leaf hash and time of appending."""

    index: int
    data: bytes | None
    leaf_hash: bytes
    appended_at: dt.datetime
    expired_at: dt.datetime | None


# Built once so SQLAlchemy's compiled cache serves every tile read (a primary-key search).
_TILE_QUERY = select(t.tiles.c.level, t.tiles.c.idx, t.tiles.c.hashes, t.tiles.c.inner_rows).where(
    t.tiles.c.log_id == bindparam("log_id"), t.tiles.c.level == bindparam("level"),
    t.tiles.c.idx == bindparam("idx"))


class TransparencyLog:
    """An append-only, signed, verifiable log stored in its own database.

    ``name`` is the log's origin line and its note key name (e.g.
    ``hub.myna.example/provision-records``); the signing key is
    ``keys.ed25519(f"transparency/{name}")``.
    """

    def __init__(
        self, engine: Engine, keys: KeyStore, name: str,
        now: Callable[[], dt.datetime] = utcnow,
        retention_years: int = DEFAULT_RETENTION_YEARS,
        cache_tiles: int = 4096,
    ) -> None:
        check_key_name(name)
        if retention_years < 1:
            raise ValidationError("保存期間は1年以上にしてください",
                                  f"retention_years must be >= 1, not {retention_years}")
        self.engine = engine
        self.name = name
        self.origin = name
        self.now = now
        self.retention_years = retention_years
        self._key = keys.ed25519(f"transparency/{name}")
        self.public_key: Ed25519PublicKey = self._key.public_key()
        self._lock = threading.RLock()
        self._leaf_tiles: OrderedDict[TileKey, _Tile] = OrderedDict()
        self._upper_tiles: dict[TileKey, _Tile] = {}
        self._cache_limit = cache_tiles
        self._log_id: int | None = None
        self._size = 0  # the largest size known to be committed
        self._upper_loaded = False
        durable_sqlite(engine)

    # -- set-up -------------------------------------------------------------

    def create_schema(self) -> None:
        """Migrate the database and register this log (idempotent)."""
        migrate(self.engine, "myna.transparency")
        now = as_utc(self.now())
        try:
            with self.engine.begin() as conn:
                if self._find_id(conn) is None:
                    conn.execute(insert(t.logs).values(
                        name=self.name, tree_size=0, root_hash=merkle.EMPTY_ROOT,
                        created_at=now, updated_at=now))
        except IntegrityError:
            pass  # created concurrently
        with self.engine.connect() as conn:
            self._size = self._committed(conn)[0]

    def verifier_key(self) -> str:
        """The log's public key as a C2SP verifier key string (publish this)."""
        return verifier_key(self.name, self.public_key)

    def _find_id(self, conn: Connection) -> int | None:
        value = conn.execute(select(t.logs.c.log_id).where(t.logs.c.name == self.name)).scalar()
        return None if value is None else int(value)

    def _id(self, conn: Connection) -> int:
        if self._log_id is None:
            found = self._find_id(conn)
            if found is None:
                raise NotFound(
                    f"記録ログ {self.name} がありません（create_schema() で作成してください）",
                    f"log {self.name} does not exist: call create_schema() first",
                )
            self._log_id = found
        return self._log_id

    def _committed(self, conn: Connection) -> tuple[int, bytes]:
        row = conn.execute(select(t.logs.c.tree_size, t.logs.c.root_hash)
                           .where(t.logs.c.log_id == self._id(conn))).one()
        return int(row[0]), bytes(row[1])

    # -- tiles --------------------------------------------------------------

    def _cached(self, key: TileKey) -> _Tile | None:
        with self._lock:
            if key[0] > 0:
                return self._upper_tiles.get(key)
            tile = self._leaf_tiles.get(key)
            if tile is not None:
                self._leaf_tiles.move_to_end(key)
            return tile

    def _remember(self, tiles: Iterable[tuple[TileKey, _Tile]]) -> None:
        with self._lock:
            for key, tile in tiles:
                old = (self._upper_tiles if key[0] else self._leaf_tiles).get(key)
                if old is not None and old.width >= tile.width:
                    continue
                if key[0]:
                    self._upper_tiles[key] = tile
                else:
                    self._leaf_tiles[key] = tile
                    self._leaf_tiles.move_to_end(key)
            while len(self._leaf_tiles) > self._cache_limit:
                self._leaf_tiles.popitem(last=False)

    def _fetch(self, conn: Connection, keys: Iterable[TileKey]) -> dict[TileKey, _Tile]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        log_id = self._id(conn)
        rows = [row for level, idx in wanted for row in conn.execute(
            _TILE_QUERY, {"log_id": log_id, "level": level, "idx": idx}).all()]
        out: dict[TileKey, _Tile] = {}
        for level, idx, bottom, inner in rows:
            try:
                out[(int(level), int(idx))] = _Tile(unpack(bytes(bottom), bytes(inner)))
            except ValueError:
                raise LogCorrupted(
                    f"記録ログのタイル（階層 {level}・番号 {idx}）の形が壊れています",
                    f"tile {level}/{idx} is malformed",
                ) from None
        return out

    def _oracle(
        self, conn: Connection | None, overlay: dict[TileKey, _Tile] | None = None
    ) -> merkle.NodeOracle:
        """``node(level, index)`` from the overlay (uncommitted), the cache, then the database."""

        def node(level: int, index: int) -> bytes:
            tl, ti, row, pos = locate(level, index)
            need = needed_width(row, pos)
            tile = overlay.get((tl, ti)) if overlay else None
            if tile is None or tile.width < need:
                tile = self._cached((tl, ti))
            if tile is None or tile.width < need:
                if conn is None:
                    with self.engine.connect() as c:
                        got = self._fetch(c, [(tl, ti)]).get((tl, ti))
                else:
                    got = self._fetch(conn, [(tl, ti)]).get((tl, ti))
                if got is None or got.width < need:
                    raise LogCorrupted(
                        f"記録ログのタイル（階層 {tl}・番号 {ti}）が欠けています",
                        f"tile level {tl} index {ti} is missing or too short",
                    )
                tile = got
                if overlay is None:
                    self._remember([((tl, ti), tile)])
            return tile.node(row, pos)

        return node

    def _prefetch(self, leaves: Iterable[int], size: int) -> None:
        """Load (one connection, one primary-key search each) the tiles a proof needs.

        Every node of a proof is on, or a sibling of, the path from one of the
        leaves (the proven leaf, ``old - 1``, ``size - 1``) to the root, and a
        sibling always sits in the same tile as the path node.
        """
        if size <= 0:
            return
        if not self._upper_loaded:
            self._load_upper(size)
        levels = (size - 1).bit_length() // TILE_HEIGHT + 1
        missing: set[TileKey] = set()
        for leaf in set(leaves):
            for tl in range(levels):
                ti = leaf >> (TILE_HEIGHT * (tl + 1))
                width = tile_width(size, tl, ti)
                tile = self._cached((tl, ti))
                if width and (tile is None or tile.width < width):
                    missing.add((tl, ti))
        if missing:
            with self.engine.connect() as conn:
                self._remember(self._fetch(conn, missing).items())

    def _load_upper(self, size: int) -> None:
        """Load every tile above level 0 at once (1/256 of the hashes; 153 tiles at 10^7)."""
        self._upper_loaded = True
        if (size >> (2 * TILE_HEIGHT)) > self._cache_limit:
            return  # a very large log: upper tiles are read on demand instead
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tiles.c.level, t.tiles.c.idx, t.tiles.c.hashes,
                                       t.tiles.c.inner_rows)
                                .where(t.tiles.c.log_id == self._id(conn), t.tiles.c.level > 0)
                                ).all()
        try:
            self._remember(((int(r[0]), int(r[1])), _Tile(unpack(bytes(r[2]), bytes(r[3]))))
                           for r in rows)
        except ValueError:
            raise LogCorrupted("記録ログの上位タイルの形が壊れています",
                               "an upper tile is malformed") from None

    # -- reading ------------------------------------------------------------

    def size(self) -> int:
        """The committed number of entries."""
        with self.engine.connect() as conn:
            size = self._committed(conn)[0]
        self._size = max(self._size, size)
        return size

    def _resolve_size(self, size: int | None) -> int:
        if size is None or size > self._size:
            current = self.size()
            size = current if size is None else size
            if size > current:
                raise ValidationError(
                    f"木の大きさ {size} は記録数 {current} を超えています",
                    f"tree size {size} exceeds the log size {current}",
                )
        if size < 0:
            raise ValidationError(f"木の大きさが不正です: {size}", f"invalid tree size {size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The Merkle tree hash of the first ``size`` entries (default: all)."""
        size = self._resolve_size(size)
        self._prefetch([size - 1], size)
        return merkle.range_hash(0, size, self._oracle(None))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of entry ``index`` in the tree of ``size`` entries."""
        size = self._resolve_size(size)
        if not 0 <= index < size:
            raise ValidationError(
                f"記録番号 {index} は大きさ {size} の木にありません",
                f"leaf index {index} is not in a tree of size {size}",
            )
        self._prefetch([index, size - 1], size)
        return merkle.inclusion_proof(index, size, self._oracle(None))

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """Proof that the tree of ``old`` entries is a prefix of the tree of ``new``."""
        new = self._resolve_size(new)
        if not 0 <= old <= new:
            raise ValidationError(
                f"大きさ {old} から {new} への整合性は証明できません（縮小は不可）",
                f"no consistency proof from size {old} to {new}",
            )
        self._prefetch([max(old - 1, 0), new - 1], new)
        return merkle.consistency_proof(old, new, self._oracle(None))

    def entry(self, index: int) -> LogEntry:
        """The entry at ``index`` (its data is None once expired)."""
        size = self._resolve_size(None)
        if not 0 <= index < size:
            raise NotFound(f"記録番号 {index} はありません（記録数 {size}）",
                           f"no entry {index} (size {size})")
        with self.engine.connect() as conn:
            log_id = self._id(conn)
            row = conn.execute(select(t.entries.c.data).where(
                t.entries.c.log_id == log_id, t.entries.c.idx == index)).first()
            batch = conn.execute(
                select(t.batches.c.appended_at, t.batches.c.expired_at)
                .where(t.batches.c.log_id == log_id, t.batches.c.first_index <= index)
                .order_by(t.batches.c.first_index.desc()).limit(1)
            ).first()
        if row is None or batch is None:
            raise LogCorrupted(f"記録番号 {index} の行が見つかりません（改ざんの可能性）",
                               f"entry row {index} is missing")
        self._prefetch([index], size)
        leaf = self._oracle(None)(0, index)
        return LogEntry(index, None if row[0] is None else bytes(row[0]), leaf,
                        as_utc(batch[0]), None if batch[1] is None else as_utc(batch[1]))

    # -- appending ----------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> list[int]:
        """Append ``entries`` in ONE transaction; returns their leaf indexes."""
        return self._append(entries, None)

    def append_once(self, entries: Sequence[bytes], since: int) -> list[int]:
        """Append each entry unless an equal one already sits at an index ``>= since``.

        Returns every entry's leaf index, old or new, in ONE transaction taken under
        the append lock, so concurrent or repeated calls never append an entry twice.
        This is how a caller that records something in another database first and
        appends its leaf afterwards (the hub) repairs a crash between the two: it
        calls again, and gets the leaf that was already appended.  ``since`` is a
        size the log had reached before the entries existed (see :meth:`known_size`),
        so only the entries appended since are read.
        """
        return self._append(entries, max(0, since))

    def known_size(self) -> int:
        """A size the log is known to have reached (no I/O; at most the committed size)."""
        return self._size

    def _append(self, entries: Sequence[bytes], since: int | None) -> list[int]:
        items = [bytes(e) for e in entries]
        for i, item in enumerate(items):
            if len(item) > MAX_ENTRY_BYTES:
                raise ValidationError(
                    f"{i}番目の記録が大きすぎます（{len(item)} バイト、上限 {MAX_ENTRY_BYTES}）",
                    f"entry {i} has {len(item)} bytes (max {MAX_ENTRY_BYTES})",
                )
        if not items:
            return []
        with self._lock:
            now = as_utc(self.now())
            with self.engine.begin() as conn:
                log_id = self._id(conn)
                # Taking the row lock first serialises appenders (SQLite: the write
                # lock; PostgreSQL: the row lock) before the size is read.
                row = conn.execute(
                    update(t.logs).where(t.logs.c.log_id == log_id).values(updated_at=now)
                    .returning(t.logs.c.tree_size)
                ).one()
                size = int(row[0])
                placed: dict[bytes, int] = {}
                if since is not None and since < size:
                    for idx, data in conn.execute(select(t.entries.c.idx, t.entries.c.data).where(
                            t.entries.c.log_id == log_id, t.entries.c.idx >= since,
                            t.entries.c.idx < size).order_by(t.entries.c.idx)):
                        if data is not None:
                            placed.setdefault(bytes(data), int(idx))
                indexes: list[int] = []
                fresh: list[bytes] = []
                for item in items:
                    if since is not None and item in placed:
                        indexes.append(placed[item])
                        continue
                    indexes.append(size + len(fresh))
                    fresh.append(item)
                    if since is not None:
                        placed[item] = indexes[-1]
                if not fresh:
                    return indexes  # nothing new: the transaction only touched updated_at
                bulk_insert(conn, t.entries,
                            [(log_id, size + i, d) for i, d in enumerate(fresh)],
                            ["log_id", "idx", "data"])
                conn.execute(insert(t.batches).values(
                    log_id=log_id, first_index=size, count=len(fresh), appended_at=now))
                written = self._extend_tiles(conn, log_id, size,
                                             [merkle.leaf_hash(e) for e in fresh])
                new_size = size + len(fresh)
                root = merkle.range_hash(0, new_size, self._oracle(conn, written))
                conn.execute(update(t.logs).where(t.logs.c.log_id == log_id)
                             .values(tree_size=new_size, root_hash=root))
            self._remember(written.items())
            self._size = max(self._size, new_size)
        return indexes

    def leaves(self, start: int, end: int) -> list[tuple[bool, bytes | None, bytes | None]]:
        """``(row present, entry data, stored leaf hash)`` of entries ``[start, end)``.

        For audits: read straight from the stored rows (entries and level-0 tiles),
        with no check.  The data is None where the row is missing or expired, the
        hash where its tile is missing or too short.
        """
        if end <= start:
            return []
        with self.engine.connect() as conn:
            log_id = self._id(conn)
            data = dict(conn.execute(select(t.entries.c.idx, t.entries.c.data).where(
                t.entries.c.log_id == log_id, t.entries.c.idx >= start,
                t.entries.c.idx < end)).all())
            bottoms = {int(r[0]): bytes(r[1]) for r in conn.execute(
                select(t.tiles.c.idx, t.tiles.c.hashes).where(
                    t.tiles.c.log_id == log_id, t.tiles.c.level == 0,
                    t.tiles.c.idx >= start // TILE_WIDTH,
                    t.tiles.c.idx <= (end - 1) // TILE_WIDTH)).all()}
        out: list[tuple[bool, bytes | None, bytes | None]] = []
        for i in range(start, end):
            bottom = bottoms.get(i // TILE_WIDTH, b"")
            off = (i % TILE_WIDTH) * HASH
            stored = bottom[off:off + HASH] if off + HASH <= len(bottom) else None
            value = data.get(i)
            out.append((i in data, None if value is None else bytes(value), stored))
        return out

    def appended_times(self, start: int, end: int) -> list[tuple[int, int, dt.datetime]]:
        """``(first index, count, time of appending)`` of the batches covering ``[start, end)``."""
        if end <= start:
            return []
        with self.engine.connect() as conn:
            log_id = self._id(conn)
            first = conn.execute(select(func.max(t.batches.c.first_index)).where(
                t.batches.c.log_id == log_id, t.batches.c.first_index <= start)).scalar()
            rows = conn.execute(
                select(t.batches.c.first_index, t.batches.c.count, t.batches.c.appended_at)
                .where(t.batches.c.log_id == log_id,
                       t.batches.c.first_index >= (start if first is None else first),
                       t.batches.c.first_index < end)
                .order_by(t.batches.c.first_index)).all()
        return [(int(r[0]), int(r[1]), as_utc(r[2])) for r in rows]

    def _extend_tiles(
        self, conn: Connection, log_id: int, old_size: int, hashes: list[bytes]
    ) -> dict[TileKey, _Tile]:
        """Write the new leaf hashes and every tile they complete, level by level."""
        written: dict[TileKey, _Tile] = {}
        level, start, new = 0, old_size, b"".join(hashes)
        full = TILE_WIDTH * HASH
        while new:
            first, have = divmod(start, TILE_WIDTH)
            buf, old_rows = new, None
            if have:
                tile = self._cached((level, first))
                if tile is None or tile.width != have:
                    tile = self._fetch(conn, [(level, first)]).get((level, first))
                if tile is None or tile.width != have:
                    raise LogCorrupted(
                        f"記録ログの右端のタイル（階層 {level}・番号 {first}）が記録数と合いません",
                        f"right-edge tile level {level} index {first} does not match the size",
                    )
                buf, old_rows = tile.bottom + new, tile.rows
            inserts: list[tuple[int, int, int, bytes, bytes]] = []
            roots: list[bytes] = []
            for k, off in enumerate(range(0, len(buf), full)):
                rows = extend_rows(old_rows if k == 0 else None, buf[off:off + full])
                tile = written[(level, first + k)] = _Tile(rows)
                if k == 0 and have:
                    conn.execute(update(t.tiles).where(
                        t.tiles.c.log_id == log_id, t.tiles.c.level == level,
                        t.tiles.c.idx == first).values(hashes=rows[0], inner_rows=pack_inner(rows)))
                else:
                    inserts.append((log_id, level, first + k, rows[0], pack_inner(rows)))
                if tile.width == TILE_WIDTH:
                    roots.append(rows[TILE_HEIGHT])
            bulk_insert(conn, t.tiles, inserts, ["log_id", "level", "idx", "hashes", "inner_rows"])
            level, start, new = level + 1, start >> TILE_HEIGHT, b"".join(roots)
        return written

    # -- checkpoints and cosignatures -----------------------------------------

    def checkpoint(self) -> str:
        """A signed checkpoint (C2SP tlog-checkpoint in a signed note) of the current tree."""
        for _attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    log_id = self._id(conn)
                    size, root = self._committed(conn)
                    stored = conn.execute(select(t.checkpoints.c.note).where(
                        t.checkpoints.c.log_id == log_id, t.checkpoints.c.size == size)).scalar()
                    if stored is not None:
                        return str(stored)
                    text = Checkpoint(self.origin, size, root).text()
                    note = sign_note(text, self.name, self._key)
                    conn.execute(insert(t.checkpoints).values(
                        log_id=log_id, size=size, root_hash=root, note=note,
                        created_at=as_utc(self.now())))
                    return note
            except IntegrityError:
                continue  # another process signed the same size first: read theirs
        raise Conflict("チェックポイントを保存できませんでした", "could not store the checkpoint")

    def checkpoints(self) -> list[str]:
        """Every checkpoint this log has signed, smallest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.checkpoints.c.note)
                                .where(t.checkpoints.c.log_id == self._id(conn))
                                .order_by(t.checkpoints.c.size)).scalars().all()
        return [str(r) for r in rows]

    def add_witness(self, name: str, key: Ed25519PublicKey | bytes) -> None:
        """Register a witness whose cosignatures this log accepts and keeps."""
        check_key_name(name)
        raw = public_bytes(key)
        with self.engine.begin() as conn:
            log_id = self._id(conn)
            old = conn.execute(select(t.witnesses.c.public_key).where(
                t.witnesses.c.log_id == log_id, t.witnesses.c.name == name)).scalar()
            if old is not None and bytes(old) != raw:
                raise Conflict(f"監視者 {name} には別の公開鍵が登録されています",
                               f"witness {name} is registered with another key")
            if old is None:
                conn.execute(insert(t.witnesses).values(
                    log_id=log_id, name=name, public_key=raw, added_at=as_utc(self.now())))

    def witness_keys(self) -> dict[str, bytes]:
        """The registered witnesses: name → raw Ed25519 public key."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.witnesses.c.name, t.witnesses.c.public_key)
                                .where(t.witnesses.c.log_id == self._id(conn))).all()
        return {str(r[0]): bytes(r[1]) for r in rows}

    def add_cosignature(self, cosigned: str) -> list[str]:
        """Keep the cosignatures in ``cosigned`` (a checkpoint of ours plus witness lines).

        Returns the names of the witnesses whose cosignature verified; raises
        :class:`SignatureInvalid` when none did.
        """
        note = parse_note(cosigned)
        verify_note(note, self.public_key, self.name)
        cp = parse_checkpoint(note.text)
        keys = self.witness_keys()
        accepted: list[tuple[str, str, int]] = []
        for sig in note.signatures:
            if sig.name not in keys:
                continue
            _name, timestamp = verify_cosignature(
                Note(note.text, (sig,)), keys[sig.name], sig.name)
            accepted.append((sig.name, sig.line(), timestamp))
        if not accepted:
            raise SignatureInvalid("登録された監視者の連署がありません",
                                   "no cosignature by a registered witness")
        with self.engine.begin() as conn:
            log_id = self._id(conn)
            stored = conn.execute(select(t.checkpoints.c.root_hash).where(
                t.checkpoints.c.log_id == log_id, t.checkpoints.c.size == cp.size)).scalar()
            if stored is None or bytes(stored) != cp.root or cp.origin != self.origin:
                raise SignatureInvalid(
                    "このログが発行していないチェックポイントへの連署です",
                    "the cosigned checkpoint was not issued by this log",
                )
            for name, line, timestamp in accepted:
                values = {"line": line, "timestamp": timestamp,
                          "received_at": as_utc(self.now())}
                done = conn.execute(update(t.cosignatures).where(
                    t.cosignatures.c.log_id == log_id, t.cosignatures.c.size == cp.size,
                    t.cosignatures.c.witness == name).values(**values))
                if not done.rowcount:
                    conn.execute(insert(t.cosignatures).values(
                        log_id=log_id, size=cp.size, witness=name, **values))
        return [a[0] for a in accepted]

    def cosigned_checkpoint(self, size: int | None = None) -> str | None:
        """The checkpoint at ``size`` (default: the latest cosigned) with its cosignatures."""
        with self.engine.connect() as conn:
            log_id = self._id(conn)
            if size is None:
                size = conn.execute(select(t.cosignatures.c.size)
                                    .where(t.cosignatures.c.log_id == log_id)
                                    .order_by(t.cosignatures.c.size.desc()).limit(1)).scalar()
                if size is None:
                    return None
            note = conn.execute(select(t.checkpoints.c.note).where(
                t.checkpoints.c.log_id == log_id, t.checkpoints.c.size == size)).scalar()
            lines = conn.execute(select(t.cosignatures.c.line).where(
                t.cosignatures.c.log_id == log_id, t.cosignatures.c.size == size)
                .order_by(t.cosignatures.c.witness)).scalars().all()
        if note is None:
            return None
        return str(note) + "".join(str(x) for x in lines)

    # -- retention ----------------------------------------------------------

    def retention_limit(self, now: dt.datetime | None = None) -> dt.datetime:
        """Entries appended before this moment have outlived ``retention_years`` at ``now``
        (counted as 民法140〜143条 say, see :mod:`myna.retention`)."""
        return retention_cutoff(as_utc(now or self.now()), self.retention_years)

    def expire(self, before: dt.datetime | None = None, *,
               now: dt.datetime | None = None) -> int:
        """Erase the data of entries appended before ``before``; keep their leaf hashes.

        ``before`` defaults to the retention limit at ``now`` (the log's clock
        unless given) and may not be later than it.  The rows stay (data NULL) so the count and
        every proof still work.  SQLite: ``secure_delete`` zeroes the freed bytes
        and the WAL is truncated afterwards; PostgreSQL: the old row versions
        disappear at the next VACUUM.  Returns how many entries were erased.
        """
        limit = self.retention_limit(now)
        cutoff = limit if before is None else as_utc(before)
        if cutoff > limit:
            raise ValidationError(
                f"保存期間（{self.retention_years}年）内の記録は消去できません"
                f"（{show_time(limit)} より前の記録のみ消去できます）",
                f"entries younger than {self.retention_years} years cannot be expired "
                f"(only those appended before {limit.isoformat()})",
            )
        with self.engine.connect() as conn:  # the daily run mostly finds nothing to do
            due = conn.execute(select(t.batches.c.first_index).where(
                t.batches.c.log_id == self._id(conn), t.batches.c.appended_at < cutoff,
                t.batches.c.expired_at.is_(None)).limit(1)).first() is not None
        if not due:
            return 0
        sqlite = self.engine.dialect.name == "sqlite"
        erased = 0
        with self._lock, self.engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
                conn.commit()
            try:
                with conn.begin():
                    log_id = self._id(conn)
                    rows = conn.execute(
                        select(t.batches.c.first_index, t.batches.c.count).where(
                            t.batches.c.log_id == log_id, t.batches.c.appended_at < cutoff,
                            t.batches.c.expired_at.is_(None))
                        .order_by(t.batches.c.first_index)).all()
                    for start, end in _merge_ranges((int(a), int(a) + int(n)) for a, n in rows):
                        conn.execute(update(t.entries).where(
                            t.entries.c.log_id == log_id, t.entries.c.idx >= start,
                            t.entries.c.idx < end).values(data=None))
                        erased += end - start
                    conn.execute(update(t.batches).where(
                        t.batches.c.log_id == log_id, t.batches.c.appended_at < cutoff,
                        t.batches.c.expired_at.is_(None)).values(expired_at=as_utc(self.now())))
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA secure_delete=OFF")
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    conn.commit()
        return erased


def _merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out
