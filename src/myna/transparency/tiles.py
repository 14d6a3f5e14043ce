"""Tile arithmetic (pure): how node hashes are grouped for storage.

The layout is that of C2SP tlog-tiles: tree levels are grouped eight at a
time.  The tile at *tile level* ``L`` and index ``N`` covers the nodes at tree
levels ``8L .. 8L+7`` above 256 consecutive nodes of level ``8L`` (fewer at
the right edge: a *partial* tile).  Each tile is stored as two blobs:

* ``bottom`` — the hashes at tree level ``8L`` (32 bytes each), byte for byte
  the tlog-tiles tile a client would fetch from ``tile/L/N[.p/W]``;
* ``inner`` — the seven rows above it (128 + 64 + ... + 2 hashes when full),
  so that a proof reads stored hashes and never recomputes a subtree.

The top of a full tile (its root) is the next tile level's bottom row.

>>> locate(0, 300)
(0, 1, 0, 44)
>>> locate(9, 3)
(1, 0, 1, 3)
>>> rows = expand(bytes(32 * 5))
>>> [len(r) // 32 for r in rows]
[5, 2, 1, 0, 0, 0, 0, 0, 0]
>>> unpack(rows[0], pack_inner(rows)) == rows
True
"""

from __future__ import annotations

from myna.transparency.merkle import HASH_SIZE, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


def locate(level: int, index: int) -> tuple[int, int, int, int]:
    """Where the perfect node ``(level, index)`` lives: ``(tile_level, tile_index, row, pos)``."""
    tile_level, row = divmod(level, TILE_HEIGHT)
    shift = TILE_HEIGHT - row
    tile_index = index >> shift
    return tile_level, tile_index, row, index - (tile_index << shift)


def needed_width(row: int, pos: int) -> int:
    """How many bottom-row hashes a tile needs to contain node ``(row, pos)``."""
    return (pos + 1) << row


def tile_count(size: int, tile_level: int) -> int:
    """How many hashes exist at tree level ``8 * tile_level`` in a tree of ``size`` leaves."""
    return size >> (TILE_HEIGHT * tile_level)


def tile_width(size: int, tile_level: int, tile_index: int) -> int:
    """The width (bottom-row hashes) of a tile in a tree of ``size`` leaves (0: absent)."""
    count = tile_count(size, tile_level)
    return max(0, min(TILE_WIDTH, count - tile_index * TILE_WIDTH))


def extend_rows(old: list[bytes] | None, bottom: bytes) -> list[bytes]:
    """All rows of a tile (``rows[r]`` holds ``width >> r`` hashes) after it grew to ``bottom``.

    ``old`` are the rows of the same tile at a smaller width (None: none yet);
    only the nodes that did not exist then are hashed.  ``rows[8]`` is the
    tile's root when the tile is full (else empty).
    """
    rows = [bytes(bottom)]
    for r in range(1, TILE_HEIGHT + 1):
        below = rows[-1]
        have = old[r] if old is not None else b""
        parts = [have]
        for i in range(len(have) // HASH_SIZE, len(below) // (2 * HASH_SIZE)):
            a = 2 * i * HASH_SIZE
            parts.append(node_hash(below[a:a + HASH_SIZE], below[a + HASH_SIZE:a + 2 * HASH_SIZE]))
        rows.append(b"".join(parts))
    return rows


def expand(bottom: bytes) -> list[bytes]:
    """All rows of a tile from its bottom row (see :func:`extend_rows`)."""
    return extend_rows(None, bottom)


def pack_inner(rows: list[bytes]) -> bytes:
    """The stored ``inner`` blob: rows 1 to 7 concatenated."""
    return b"".join(rows[1:TILE_HEIGHT])


def unpack(bottom: bytes, inner: bytes) -> list[bytes]:
    """The rows of a stored tile, hashing nothing but its root (if full)."""
    width = len(bottom) // HASH_SIZE
    rows, off = [bytes(bottom)], 0
    for r in range(1, TILE_HEIGHT):
        n = (width >> r) * HASH_SIZE
        rows.append(bytes(inner[off:off + n]))
        off += n
    if off != len(inner) or len(bottom) % HASH_SIZE:
        raise ValueError("inner rows do not match the tile width")
    top = rows[TILE_HEIGHT - 1]
    rows.append(node_hash(top[:HASH_SIZE], top[HASH_SIZE:]) if width == TILE_WIDTH else b"")
    return rows


def tile_root(bottom: bytes) -> bytes:
    """The hash at tree level ``8(L+1)`` of a full tile."""
    if len(bottom) != TILE_WIDTH * HASH_SIZE:
        raise ValueError("only a full tile has a root")
    return expand(bottom)[TILE_HEIGHT]
