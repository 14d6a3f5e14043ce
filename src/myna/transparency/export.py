"""What a log shows its auditor: its stored rows, read back at a fixed size.

An audit (:func:`myna.transparency.verify.verify_log`) recomputes a log from
what it stores.  It reads through a :class:`LogReader`, so the same audit runs
in the log's own process (:class:`StoredLog`, over the database) and at the
auditor's, over the network (the hub serves :class:`StoredLog` to the
protection commission; see :mod:`myna.contracts.audit`).

Every read names the tree size the audit pinned at its start (the ``size`` of
:meth:`LogReader.head`), and answers as of that size, each in one read
transaction of its own:

* tiles that grew since are cut back to their width at that size (a partial
  tile is a prefix of the tile it grows into, row by row), so appends during an
  audit never look like tampering;
* what lies beyond the size is judged against the size committed *now*, in the
  same transaction: rows or tiles past it are extra (written outside an
  append), those between the two sizes are later appends;
* batch rows (with their expiry) come with the entries they cover, from the
  same transaction, so an expiry running meanwhile is seen consistently.

Nothing here reads an entry's meaning: the entries of the provision log are
commitments, not records (no personal data).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, or_, select

from myna.clock import as_utc
from myna.errors import NotFound
from myna.transparency import storage as t
from myna.transparency.merkle import HASH_SIZE
from myna.transparency.note import parse_verifier_key
from myna.transparency.service import TransparencyLog
from myna.transparency.tiles import TILE_WIDTH, pack_inner, tile_width, unpack

#: at most this many extra rows are named (all are counted)
MAX_NAMED = 20


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: Any) -> bytes:
    return base64.b64decode(str(text), validate=True)


@dataclass(frozen=True)
class LogHead:
    """The log's name and key, and its committed size and root when the audit began."""

    name: str
    verifier_key: str
    size: int
    root: bytes
    #: the witnesses the log registered: name → raw Ed25519 public key
    witness_keys: Mapping[str, bytes]
    retention_years: int

    @property
    def origin(self) -> str:
        return self.name

    @property
    def public_key(self) -> Ed25519PublicKey:
        return parse_verifier_key(self.verifier_key)[2]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verifier_key": self.verifier_key, "size": self.size,
                "root": b64(self.root), "retention_years": self.retention_years,
                "witness_keys": {k: b64(v) for k, v in self.witness_keys.items()}}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> LogHead:
        return cls(str(p["name"]), str(p["verifier_key"]), int(p["size"]), unb64(p["root"]),
                   {str(k): unb64(v) for k, v in dict(p["witness_keys"]).items()},
                   int(p["retention_years"]))


@dataclass(frozen=True)
class Batch:
    """One append: its first index, how many entries, when, and whether expired."""

    first: int
    count: int
    appended_at: dt.datetime
    expired: bool

    def to_json(self) -> list[Any]:
        return [self.first, self.count, self.appended_at.isoformat(), self.expired]

    @classmethod
    def from_json(cls, p: list[Any]) -> Batch:
        return cls(int(p[0]), int(p[1]), as_utc(dt.datetime.fromisoformat(p[2])), bool(p[3]))


@dataclass(frozen=True)
class Tile:
    """A stored tile (see :mod:`.tiles`): its bottom row and the rows above it."""

    bottom: bytes
    inner: bytes

    def to_json(self) -> list[str]:
        return [b64(self.bottom), b64(self.inner)]

    @classmethod
    def from_json(cls, p: list[Any]) -> Tile:
        return cls(unb64(p[0]), unb64(p[1]))


@dataclass(frozen=True)
class LeafChunk:
    """Entries ``[start, end)`` as stored: data, level-0 tiles and the batches covering them."""

    start: int
    end: int
    #: index → data, for every row present (None: data erased)
    data: Mapping[int, bytes | None]
    #: level-0 tile index → tile, cut to the audited size
    tiles: Mapping[int, Tile]
    #: the batches that start in ``[start, end)`` and the one running into ``start``
    batches: tuple[Batch, ...]

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end,
                "data": [[i, None if d is None else b64(d)] for i, d in self.data.items()],
                "tiles": [[n, *tile.to_json()] for n, tile in self.tiles.items()],
                "batches": [b.to_json() for b in self.batches]}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> LeafChunk:
        return cls(int(p["start"]), int(p["end"]),
                   {int(i): None if d is None else unb64(d) for i, d in p["data"]},
                   {int(n): Tile.from_json([a, b]) for n, a, b in p["tiles"]},
                   tuple(Batch.from_json(b) for b in p["batches"]))


@dataclass(frozen=True)
class Checkpoint:
    """A stored signed checkpoint: its size, root and note text."""

    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class Cosignature:
    """A stored witness cosignature line of the checkpoint at ``size``."""

    size: int
    witness: str
    line: str


@dataclass(frozen=True)
class LogStructure:
    """Everything of the log above its entries, as of the audited size."""

    #: the size committed when this was read (≥ the audited size)
    current_size: int
    #: tiles of levels ≥ 1 the audited size has, cut to it: (level, index) → tile
    upper: Mapping[tuple[int, int], Tile]
    #: stored tiles (any level) that the committed size does not have
    unexpected_tiles: tuple[tuple[int, int], ...]
    #: entry rows outside ``[0, committed size)``: how many, and the first few indexes
    extra_count: int
    extra: tuple[int, ...]
    checkpoints: tuple[Checkpoint, ...]
    cosignatures: tuple[Cosignature, ...]

    def to_json(self) -> dict[str, Any]:
        return {"current_size": self.current_size,
                "upper": [[lv, n, *tile.to_json()] for (lv, n), tile in self.upper.items()],
                "unexpected_tiles": [list(k) for k in self.unexpected_tiles],
                "extra_count": self.extra_count, "extra": list(self.extra),
                "checkpoints": [[c.size, b64(c.root), c.note] for c in self.checkpoints],
                "cosignatures": [[c.size, c.witness, c.line] for c in self.cosignatures]}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> LogStructure:
        return cls(
            int(p["current_size"]),
            {(int(lv), int(n)): Tile.from_json([a, b]) for lv, n, a, b in p["upper"]},
            tuple((int(lv), int(n)) for lv, n in p["unexpected_tiles"]),
            int(p["extra_count"]), tuple(int(i) for i in p["extra"]),
            tuple(Checkpoint(int(s), unb64(r), str(n)) for s, r, n in p["checkpoints"]),
            tuple(Cosignature(int(s), str(w), str(line)) for s, w, line in p["cosignatures"]))


class LogReader(Protocol):
    """A log's stored state, read back for an audit (see the module docstring)."""

    def head(self) -> LogHead: ...

    def leaf_chunk(self, size: int, start: int, end: int) -> LeafChunk: ...

    def structure(self, size: int) -> LogStructure: ...


def cut(tile: Tile, width: int) -> Tile:
    """``tile`` as it was when ``width`` hashes wide (unchanged if it is not wider, or
    if its rows do not fit its width: the audit reports that)."""
    have = len(tile.bottom) // HASH_SIZE
    if have <= width:
        return tile
    try:
        rows = unpack(tile.bottom, tile.inner)
    except ValueError:
        return Tile(tile.bottom[:width * HASH_SIZE], tile.inner)
    rows = [row[:(width >> r) * HASH_SIZE] for r, row in enumerate(rows)]
    return Tile(rows[0], pack_inner(rows))


class StoredLog:
    """:class:`LogReader` over a :class:`~myna.transparency.service.TransparencyLog`'s
    database (in the log's own process)."""

    def __init__(self, log: TransparencyLog) -> None:
        self.log = log

    def _log_row(self, conn: Connection) -> tuple[int, int, bytes]:
        row = conn.execute(select(t.logs.c.log_id, t.logs.c.tree_size, t.logs.c.root_hash)
                           .where(t.logs.c.name == self.log.name)).first()
        if row is None:
            raise NotFound(f"記録ログ {self.log.name} がありません",
                           f"log {self.log.name} does not exist")
        return int(row[0]), int(row[1]), bytes(row[2])

    def head(self) -> LogHead:
        with self.log.engine.connect() as conn:
            log_id, size, root = self._log_row(conn)
            keys = {str(r[0]): bytes(r[1]) for r in conn.execute(
                select(t.witnesses.c.name, t.witnesses.c.public_key)
                .where(t.witnesses.c.log_id == log_id))}
        return LogHead(self.log.name, self.log.verifier_key(), size, root, keys,
                       self.log.retention_years)

    def leaf_chunk(self, size: int, start: int, end: int) -> LeafChunk:
        end = min(end, size)
        with self.log.engine.connect() as conn:
            log_id = self._log_row(conn)[0]
            data = {int(i): None if d is None else bytes(d) for i, d in conn.execute(
                select(t.entries.c.idx, t.entries.c.data).where(
                    t.entries.c.log_id == log_id, t.entries.c.idx >= start,
                    t.entries.c.idx < end))}
            first, last = start // TILE_WIDTH, (end - 1) // TILE_WIDTH
            tiles = {int(r[0]): cut(Tile(bytes(r[1]), bytes(r[2])), tile_width(size, 0, int(r[0])))
                     for r in conn.execute(
                         select(t.tiles.c.idx, t.tiles.c.hashes, t.tiles.c.inner_rows).where(
                             t.tiles.c.log_id == log_id, t.tiles.c.level == 0,
                             t.tiles.c.idx >= first, t.tiles.c.idx <= last))}
            before = conn.execute(select(func.max(t.batches.c.first_index)).where(
                t.batches.c.log_id == log_id, t.batches.c.first_index <= start)).scalar()
            lower = start if before is None else min(start, int(before))
            batches = tuple(
                Batch(int(r[0]), int(r[1]), as_utc(r[2]), r[3] is not None)
                for r in conn.execute(
                    select(t.batches.c.first_index, t.batches.c.count, t.batches.c.appended_at,
                           t.batches.c.expired_at)
                    .where(t.batches.c.log_id == log_id,
                           or_(t.batches.c.first_index >= lower, t.batches.c.first_index < 0)
                           if start == 0 else t.batches.c.first_index >= lower,
                           t.batches.c.first_index < end)
                    .order_by(t.batches.c.first_index)))
        return LeafChunk(start, end, data, tiles, batches)

    def structure(self, size: int) -> LogStructure:
        with self.log.engine.connect() as conn:
            log_id, current, _root = self._log_row(conn)
            stored = {(int(r[0]), int(r[1])): Tile(bytes(r[2]), bytes(r[3])) for r in conn.execute(
                select(t.tiles.c.level, t.tiles.c.idx, t.tiles.c.hashes, t.tiles.c.inner_rows)
                .where(t.tiles.c.log_id == log_id, t.tiles.c.level >= 1))}
            level0 = conn.execute(select(t.tiles.c.idx).where(
                t.tiles.c.log_id == log_id, t.tiles.c.level == 0,
                t.tiles.c.idx >= (current + TILE_WIDTH - 1) // TILE_WIDTH)).scalars().all()
            outside = (t.entries.c.idx >= current) | (t.entries.c.idx < 0)
            extra = conn.execute(select(t.entries.c.idx).where(
                t.entries.c.log_id == log_id, outside)
                .order_by(t.entries.c.idx).limit(MAX_NAMED)).scalars().all()
            n_extra = conn.execute(select(func.count()).select_from(t.entries).where(
                t.entries.c.log_id == log_id, outside)).scalar_one()
            cps = tuple(Checkpoint(int(r[0]), bytes(r[1]), str(r[2])) for r in conn.execute(
                select(t.checkpoints.c.size, t.checkpoints.c.root_hash, t.checkpoints.c.note)
                .where(t.checkpoints.c.log_id == log_id).order_by(t.checkpoints.c.size)))
            cosigs = tuple(Cosignature(int(r[0]), str(r[1]), str(r[2])) for r in conn.execute(
                select(t.cosignatures.c.size, t.cosignatures.c.witness, t.cosignatures.c.line)
                .where(t.cosignatures.c.log_id == log_id)
                .order_by(t.cosignatures.c.size, t.cosignatures.c.witness)))
        upper = {key: cut(tile, tile_width(size, key[0], key[1]))
                 for key, tile in stored.items() if tile_width(size, key[0], key[1]) > 0}
        unexpected = sorted({(0, int(n)) for n in level0}
                            | {k for k in stored if tile_width(current, k[0], k[1]) == 0})
        return LogStructure(current, upper, tuple(unexpected), int(n_extra),
                            tuple(int(i) for i in extra), cps, cosigs)


__all__ = ["MAX_NAMED", "Batch", "Checkpoint", "Cosignature", "LeafChunk",
           "LogHead", "LogReader", "LogStructure", "StoredLog", "Tile", "cut"]
