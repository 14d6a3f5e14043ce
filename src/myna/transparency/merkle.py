"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs (pure functions, no I/O).

Leaves are hashed as ``SHA-256(0x00 || data)``, interior nodes as
``SHA-256(0x01 || left || right)`` and the empty tree is ``SHA-256("")``.

Proof *generation* is written once against a node oracle ``node(level, index)``
returning the hash of the perfect subtree of height ``level`` covering leaves
``[index << level, (index + 1) << level)``.  The persistent log answers it from
stored tiles; :class:`MemoryTree` answers it from a list of leaf hashes.
Proof *verification* follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

>>> tree = MemoryTree([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
>>> proof = tree.inclusion_proof(2, 3)
>>> verify_inclusion(leaf_hash(b"c"), 2, 3, proof, tree.root(3))
True
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeOracle = Callable[[int, int], bytes]
"""``node(level, index)``: the hash of a perfect subtree (see the module docstring)."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes, for any size."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])  # an odd node is promoted unchanged (RFC 6962 split rule)
        level = nxt
    return level[0]


def mth(entries: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of entries (RFC 6962 §2.1)."""
    return root_from_leaf_hashes([leaf_hash(e) for e in entries])


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` that make up ``[start, end)``, left to right.

    ``[start, end)`` must be a subtree range of the RFC 6962 split, i.e.
    ``start`` is a multiple of the smallest power of two ``>= end - start``.
    """
    out: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        size = end - pos
        level = size.bit_length() - 1  # the largest power of two that fits
        if pos:
            level = min(level, (pos & -pos).bit_length() - 1)  # and keeps alignment
        out.append((level, pos >> level))
        pos += 1 << level
    return out


def range_hash(start: int, end: int, node: NodeOracle) -> bytes:
    """MTH of the leaves ``[start, end)`` (an RFC 6962 subtree range), from perfect nodes."""
    if end <= start:
        return EMPTY_ROOT
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:  # a perfect subtree: one node
        return node(size.bit_length() - 1, start // size)
    parts = perfect_subtrees(start, end)
    acc = node(*parts[-1])
    for level, index in reversed(parts[:-1]):
        acc = node_hash(node(level, index), acc)
    return acc


def _check_size(size: int, limit: int | None = None) -> None:
    if size < 0 or (limit is not None and size > limit):
        raise ValueError(f"tree size {size} out of range")


def inclusion_proof(index: int, size: int, node: NodeOracle) -> list[bytes]:
    """The audit path PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf level first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            path.append(range_hash(mid, end, node))
            end = mid
        else:
            level = (mid - start).bit_length() - 1  # the left part is always perfect
            path.append(node(level, start >> level))
            start = mid
    path.reverse()
    return path


def consistency_proof(old: int, new: int, node: NodeOracle) -> list[bytes]:
    """The consistency proof PROOF(old, D[0:new]) of RFC 9162 §2.1.4.1."""
    if not 0 <= old <= new:
        raise ValueError(f"cannot prove consistency from size {old} to size {new}")
    if old in (0, new):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(range_hash(start, end, node))
            break
        k = split_point(n)
        if m <= k:
            proof.append(range_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(range_hash(start, start + k, node))
            start += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def _hashes_ok(*values: bytes) -> bool:
    return all(isinstance(v, bytes | bytearray) and len(v) == HASH_SIZE for v in values)


def root_from_inclusion_proof(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root implied by an audit path (RFC 9162 §2.1.3.2), or None if it is malformed."""
    if not 0 <= index < size or not _hashes_ok(leaf, *proof):
        return None
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root``."""
    got = root_from_inclusion_proof(leaf, index, size, proof)
    return got is not None and _hashes_ok(root) and hmac.compare_digest(got, root)


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """True when ``proof`` shows the tree ``old_root`` (size ``old``) is a prefix of ``new_root``.

    RFC 9162 §2.1.4.2, plus the trivial cases: equal sizes need equal roots and
    an empty proof; the empty tree is a prefix of every tree (empty proof).
    """
    if old < 0 or new < old or not _hashes_ok(*proof):
        return False
    if old == new:
        return not proof and _hashes_ok(old_root, new_root) and hmac.compare_digest(
            bytes(old_root), bytes(new_root))
    if old == 0:
        return not proof
    if not proof or not _hashes_ok(old_root, new_root):
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, bytes(old_root))
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(path[0])
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return (sn == 0 and hmac.compare_digest(fr, bytes(old_root))
            and hmac.compare_digest(sr, bytes(new_root)))


class MemoryTree:
    """A whole tree in memory: every perfect node, from a list of leaf hashes.

    For tests, small logs and verification; the persistent log uses tiles.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.append(leaf_hashes)

    def append(self, leaf_hashes: Sequence[bytes]) -> None:
        """Add leaf hashes at the end (perfect nodes never change, so levels only grow)."""
        self.levels[0].extend(leaf_hashes)
        level = 0
        while len(self.levels[level]) > 1:
            if level + 1 == len(self.levels):
                self.levels.append([])
            below, above = self.levels[level], self.levels[level + 1]
            for i in range(2 * len(above), len(below) - 1, 2):
                above.append(node_hash(below[i], below[i + 1]))
            level += 1

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def node(self, level: int, index: int) -> bytes:
        """The perfect node ``(level, index)``."""
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        """The tree hash at ``size`` (default: all leaves)."""
        size = self.size if size is None else size
        _check_size(size, self.size)
        return range_hash(0, size, self.node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        _check_size(size, self.size)
        return inclusion_proof(index, size, self.node)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        _check_size(new, self.size)
        return consistency_proof(old, new, self.node)
