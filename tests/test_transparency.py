"""The provision-record log (情報提供等記録): proofs, storage, witness, audit, retention."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, func, select, text

from myna.db import make_engine, node_url, schema_name
from myna.errors import MynaError, NotFound, ValidationError
from myna.keys import MemoryKeyStore
from myna.transparency import merkle, note
from myna.transparency import storage as t
from myna.transparency.errors import (
    InconsistentLog,
    LogForked,
    LogRolledBack,
    OldSizeMismatch,
    SignatureInvalid,
    UnknownLog,
    WitnessRefused,
)
from myna.transparency.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from myna.transparency.service import TransparencyLog
from myna.transparency.tiles import TILE_WIDTH, expand
from myna.transparency.verify import verify_log
from myna.transparency.witness import (
    CheckpointNotSigned,
    Witness,
    verify_cosigned,
    witness_log,
)

ORIGIN = "hub.myna.example/provision-records"
WITNESS = "ppc.go.jp/witness"

# -- published vectors: RFC 6962 test tree (transparency-dev/merkle proof/verify_test.go) --

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (leaf index, tree size, audit path); the Go file numbers leaves from 1.
INCLUSION = [
    (0, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, _h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, _h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, _h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
              "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
EMPTY_HASH = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_rfc6962_roots_for_every_size() -> None:
    assert EMPTY_ROOT == EMPTY_HASH == merkle.mth([])
    tree = MemoryTree([leaf_hash(x) for x in LEAVES])
    for n in range(1, 9):
        assert merkle.mth(LEAVES[:n]) == ROOTS[n - 1]
        assert tree.root(n) == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, path: list[bytes]) -> None:
    tree = MemoryTree([leaf_hash(x) for x in LEAVES])
    leaf, root = leaf_hash(LEAVES[index]), ROOTS[size - 1]
    assert tree.inclusion_proof(index, size) == path
    assert verify_inclusion(leaf, index, size, path, root)
    # the corruptions of transparency-dev/merkle's corruptInclusionProof
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (index - 1, size, leaf, root, path), (index + 1, size, leaf, root, path),
        (index ^ 2, size, leaf, root, path), (index, size * 2, leaf, root, path),
        (index, size // 2, leaf, root, path), (index, size, b"WrongLeaf", root, path),
        (index, size, leaf, EMPTY_HASH, path), (index, size, leaf, SOME_HASH, path),
        (index, size, leaf, root, [*path, b""]), (index, size, leaf, root, [*path, root]),
        (index, size, leaf, root, [b"", *path]), (index, size, leaf, root, [root, *path]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, root, flipped))
    if path:
        probes.append((index, size, leaf, root, path[:-1]))
    if len(path) > 1:
        probes.append((index, size, leaf, root, [path[0], SOME_HASH, *path[1:]]))
    for i, n, lf, rt, p in probes:
        assert not verify_inclusion(lf, i, n, p, rt), (i, n, p)


def test_inclusion_edge_cases() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify_inclusion(SOME_HASH, index, size, [], b"")
        assert not verify_inclusion(b"", index, size, [], EMPTY_HASH)
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_HASH)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, path: list[bytes]) -> None:
    tree = MemoryTree([leaf_hash(x) for x in LEAVES])
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    assert tree.consistency_proof(old, new) == path
    assert verify_consistency(old, new, path, r1, r2)
    if not path:
        return
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, path), (old + 1, new, r1, r2, path),
        (old ^ 2, new, r1, r2, path), (old, new * 2, r1, r2, path),
        (old, new // 2, r1, r2, path), (old, new, b"WrongRoot", r2, path),
        (old, new, r1, b"WrongRoot", path), (old, new, r2, r1, path), (old, new, r1, r2, []),
        (old, new, r1, r2, [*path, b""]), (old, new, r1, r2, [*path, r1]),
        (old, new, r1, r2, [*path, r2]), (old, new, r1, r2, [b"", *path]),
        (old, new, r1, r2, [r1, *path]), (old, new, r1, r2, [r2, *path]),
        (old, new, r1, r2, [path[0], *path]), (old, new, r1, r2, path[:-1]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for m, n, a, b, p in probes:
        assert not verify_consistency(m, n, p, a, b), (m, n, p)


def test_consistency_trivial_cases() -> None:
    r1, r2 = b"don't care 1", b"don't care 2"
    assert not verify_consistency(0, 0, [], r1, r2)
    assert not verify_consistency(1, 1, [], r1, r2)
    assert verify_consistency(0, 0, [], EMPTY_HASH, EMPTY_HASH)
    assert verify_consistency(0, 1, [], r1, r2)
    assert verify_consistency(1, 1, [], SOME_HASH, SOME_HASH)
    assert not verify_consistency(1, 0, [], r1, r2)
    assert not verify_consistency(2, 1, [], r1, r2)
    assert not verify_consistency(1, 2, [], r1, r2)
    assert not verify_consistency(0, 0, [], EMPTY_HASH, r2)
    assert not verify_consistency(0, 1, [EMPTY_HASH], EMPTY_HASH, EMPTY_HASH)
    assert not verify_consistency(1, 1, [EMPTY_HASH], EMPTY_HASH, EMPTY_HASH)


# -- hypothesis properties -------------------------------------------------------

distinct_leaves = st.lists(st.binary(max_size=6), min_size=1, max_size=300, unique=True)


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    out = list(proof)
    k = which % len(out)
    b = bytearray(out[k])
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    out[k] = bytes(b)
    return out


@settings(max_examples=150, deadline=None)
@given(distinct_leaves, st.data())
def test_every_inclusion_proof_verifies_and_every_change_fails(
    entries: list[bytes], data: st.DataObject
) -> None:
    tree = MemoryTree([leaf_hash(e) for e in entries])
    size = data.draw(st.integers(1, len(entries)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = leaf_hash(entries[index]), tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert root == merkle.mth(entries[:size])
    assert verify_inclusion(leaf, index, size, proof, root)
    if proof:
        bad = _flip(proof, data.draw(st.integers(0, 10**6)), data.draw(st.integers(0, 255)))
        assert not verify_inclusion(leaf, index, size, bad, root)
    assert not verify_inclusion(_flip([leaf], 0, data.draw(st.integers(0, 255)))[0],
                                index, size, proof, root)
    other = data.draw(st.integers(0, size - 1), label="other index")
    if other != index:
        assert not verify_inclusion(leaf, other, size, proof, root)
    wrong = data.draw(st.integers(index + 1, 2 * len(entries) + 2), label="wrong size")
    if wrong != size:
        shape = merkle.inclusion_proof(index, wrong, lambda _level, _index: EMPTY_ROOT)
        if len(shape) != len(proof):
            assert not verify_inclusion(leaf, index, wrong, proof, root)
        if wrong <= len(entries) and verify_inclusion(leaf, index, wrong, proof,
                                                      tree.root(wrong)):
            # binding: a proof for one size passes at another only if it is that size's proof
            assert proof == tree.inclusion_proof(index, wrong)


@settings(max_examples=150, deadline=None)
@given(distinct_leaves, st.data())
def test_every_consistency_proof_verifies_and_every_change_fails(
    entries: list[bytes], data: st.DataObject
) -> None:
    tree = MemoryTree([leaf_hash(e) for e in entries])
    new = data.draw(st.integers(1, len(entries)), label="new")
    old = data.draw(st.integers(1, new), label="old")
    proof = tree.consistency_proof(old, new)
    r_old, r_new = tree.root(old), tree.root(new)
    assert verify_consistency(old, new, proof, r_old, r_new)
    if proof:
        bad = _flip(proof, data.draw(st.integers(0, 10**6)), data.draw(st.integers(0, 255)))
        assert not verify_consistency(old, new, bad, r_old, r_new)
        assert not verify_consistency(old, new, proof[:-1], r_old, r_new)
        assert not verify_consistency(old, new, [*proof, r_new], r_old, r_new)
    if old < new:
        assert not verify_consistency(old, new, proof, r_new, r_new)
        other = data.draw(st.integers(1, new), label="other old")
        if other != old and verify_consistency(other, new, proof, tree.root(other), r_new):
            assert proof == tree.consistency_proof(other, new)
        if other != old:
            assert not verify_consistency(other, new, proof, r_old, r_new)
        wrong_new = data.draw(st.integers(old, len(entries)), label="other new")
        if wrong_new != new and verify_consistency(old, wrong_new, proof, r_old,
                                                   tree.root(wrong_new)):
            assert proof == tree.consistency_proof(old, wrong_new)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=4), max_size=700))
def test_memory_tree_and_tiles_agree_with_mth(entries: list[bytes]) -> None:
    tree = MemoryTree()
    for k in range(0, len(entries), 97):
        tree.append([leaf_hash(e) for e in entries[k:k + 97]])
    assert tree.root() == merkle.mth(entries)
    if len(entries) >= TILE_WIDTH:
        bottom = b"".join(leaf_hash(e) for e in entries[:TILE_WIDTH])
        assert expand(bottom)[8] == merkle.mth(entries[:TILE_WIDTH])


# -- signed notes --------------------------------------------------------------

def test_signed_note_matches_the_go_reference_vector() -> None:
    # golang.org/x/mod/sumdb/note's documented example (key "PeterNeumann").
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    msg = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
    signed = note.sign_note(msg, "PeterNeumann", key)
    assert signed == msg + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuG" \
                           "UgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert note.verifier_key("PeterNeumann", key) == vkey
    name, sig_type, pub = note.parse_verifier_key(vkey)
    assert (name, sig_type) == ("PeterNeumann", note.SIG_ED25519)
    assert note.verify_note(note.parse_note(signed), pub) == "PeterNeumann"
    with pytest.raises(SignatureInvalid, match="署名が正しくありません"):
        note.verify_note(note.parse_note(signed.replace("problem,", "problem;")), pub)


def test_malformed_notes_are_refused_in_japanese() -> None:
    for bad in ("no blank line\n", "text\n\n— name notbase64!\n", "text\n\nsig\n",
                "text\n\n— name AAAA\n", "a\x01\n\n— n AAAAAAAA\n"):
        with pytest.raises(MynaError) as err:
            note.parse_note(bad)
        assert err.value.message_ja != err.value.message_en
    for bad in ("o\n-1\nAAAA\n", "o\n01\n" + "A" * 43 + "=\n", "o\n1\nAAAA\n", "o\n1\n"):
        with pytest.raises(MynaError, match="チェックポイント"):
            note.parse_checkpoint(bad)


# -- the persistent log -----------------------------------------------------------

class Clock:
    """A settable clock for retention tests."""

    def __init__(self) -> None:
        self.at = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def nodes(tmp_path: Path, backend: str | None) -> Iterator[Callable[[str], Engine]]:
    """Engines for named nodes, each in its own database (schema); dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    made: list[tuple[Engine, str]] = []

    def make(node: str) -> Engine:
        engine = make_engine(node_url(tmp_path / "data", node, backend), prefix + node)
        made.append((engine, prefix + node))
        return engine

    yield make
    for engine, _node in made:
        engine.dispose()
    if backend:
        admin = create_engine(backend, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for _engine, node in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_name(node)}" CASCADE'))
        admin.dispose()


@pytest.fixture
def keys() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(nodes: Callable[[str], Engine], keys: MemoryKeyStore, clock: Clock) -> TransparencyLog:
    tlog = TransparencyLog(nodes("transparency"), keys, ORIGIN, now=clock)
    tlog.create_schema()
    return tlog


@pytest.fixture
def witness(nodes: Callable[[str], Engine], keys: MemoryKeyStore, clock: Clock,
            log: TransparencyLog) -> Witness:
    w = Witness(nodes("ppc-witness"), keys, WITNESS, now=clock)
    w.create_schema()
    w.add_log(log.origin, log.public_key)
    return w


def _records(n: int, start: int = 0) -> list[bytes]:
    """Stand-ins for record commitments: 32 bytes each, all distinct."""
    return [hashlib.sha256(b"record-%d" % i).digest() for i in range(start, start + n)]


def test_appends_return_indexes_and_proofs_match_a_tree_in_memory(log: TransparencyLog) -> None:
    entries = _records(66_000)
    assert log.append([]) == []
    indexes = log.append(entries[:65_000])  # the bulk path: one transaction
    for k in range(65_000, 66_000, 333):
        indexes += log.append(entries[k:k + 333])
    assert indexes == list(range(66_000))
    assert log.size() == 66_000
    tree = MemoryTree([leaf_hash(e) for e in entries])
    for n in (1, 2, 3, 255, 256, 257, 65_535, 65_536, 65_537, 66_000):
        assert log.root(n) == tree.root(n) == merkle.range_hash(0, n, tree.node)
        for i in {0, n // 3, n - 1}:
            proof = log.inclusion_proof(i, n)
            assert proof == tree.inclusion_proof(i, n)
            assert verify_inclusion(leaf_hash(entries[i]), i, n, proof, log.root(n))
        for m in {0, 1, n // 2, n - 1, n}:
            assert log.consistency_proof(m, n) == tree.consistency_proof(m, n)
    assert log.root() == tree.root()
    got = log.entry(65_536)
    assert got.data == entries[65_536] and got.leaf_hash == leaf_hash(entries[65_536])
    with pytest.raises(NotFound, match="記録番号 66000 はありません"):
        log.entry(66_000)
    with pytest.raises(ValidationError, match="超えています"):
        log.inclusion_proof(0, 66_001)
    with pytest.raises(ValidationError, match="ありません"):
        log.inclusion_proof(66_000, 66_000)
    with pytest.raises(ValidationError, match="縮小は不可"):
        log.consistency_proof(10, 5)


def test_reopening_reloads_the_log_and_appends_continue(
    log: TransparencyLog, keys: MemoryKeyStore, clock: Clock
) -> None:
    entries = _records(1000)
    log.append(entries[:700])
    before = log.checkpoint()
    log.engine.dispose()
    again = TransparencyLog(log.engine, keys, ORIGIN, now=clock)  # new object, empty caches
    assert again.size() == 700
    assert again.checkpoint() == before
    assert again.append(entries[700:]) == list(range(700, 1000))
    tree = MemoryTree([leaf_hash(e) for e in entries])
    assert again.root() == tree.root()
    assert again.consistency_proof(700, 1000) == tree.consistency_proof(700, 1000)
    assert verify_log(again).ok
    # the old object (stale cache) still answers correctly
    assert log.inclusion_proof(999, 1000) == tree.inclusion_proof(999, 1000)
    assert log.append(_records(1, 1000)) == [1000]
    assert again.root() == merkle.mth([*entries, *_records(1, 1000)])


def test_a_failed_batch_leaves_nothing_behind(
    log: TransparencyLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append(_records(10))
    with pytest.raises(ValidationError, match="大きすぎます"):
        log.append([b"ok", b"x" * 70_000])

    def boom(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(log, "_extend_tiles", boom)
    with pytest.raises(RuntimeError):
        log.append(_records(5, 10))
    monkeypatch.undo()
    with log.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(t.entries)).scalar_one()
    assert rows == log.size() == 10
    assert log.append(_records(5, 10)) == list(range(10, 15))
    assert verify_log(log).ok


def test_sqlite_commits_are_durable(log: TransparencyLog) -> None:
    if log.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with log.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_checkpoint_is_a_c2sp_signed_note(log: TransparencyLog) -> None:
    empty = log.checkpoint()
    assert empty.startswith(f"{ORIGIN}\n0\n{base64.b64encode(EMPTY_ROOT).decode()}\n\n— ")
    log.append(_records(5))
    cp = log.checkpoint()
    body, sig = cp.split("\n\n")
    assert body.split("\n") == [ORIGIN, "5", base64.b64encode(log.root()).decode()]
    name, blob = sig.removeprefix("— ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    pub = note.public_bytes(log.public_key)
    assert name == ORIGIN
    assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + pub).digest()[:4]
    log.public_key.verify(raw[4:], (body + "\n").encode())
    assert log.checkpoint() == cp  # one checkpoint per size, deterministic
    assert log.checkpoints() == [empty, cp]
    assert note.parse_verifier_key(log.verifier_key())[2].public_bytes_raw() == pub


# -- the witness (個人情報保護委員会) -------------------------------------------------

def test_witness_cosigns_growing_checkpoints(
    log: TransparencyLog, witness: Witness, clock: Clock
) -> None:
    log.append(_records(10))
    first = witness_log(log, witness)
    checked = verify_cosigned(first, log.public_key, witness.public_key)
    assert (checked.checkpoint.size, checked.witness_name) == (10, WITNESS)
    assert checked.timestamp == int(clock.at.timestamp())
    log.append(_records(300, 10))
    second = witness_log(log, witness)
    assert verify_cosigned(second, log.public_key, witness.public_key).checkpoint.size == 310
    assert witness.latest_checkpoint(ORIGIN) == second
    assert log.cosigned_checkpoint() == second
    assert second.count("— ") == 2 and second.split("\n— ")[-1].startswith(WITNESS)
    with pytest.raises(SignatureInvalid, match="連署がありません"):
        verify_cosigned(second, log.public_key, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(SignatureInvalid):
        verify_cosigned(log.checkpoint(), log.public_key, witness.public_key)
    assert witness.verifier_key().startswith(WITNESS + "+")
    # asking again at the same size is fine (fresh timestamp)
    clock.at += dt.timedelta(minutes=5)
    again = witness_log(log, witness)
    assert verify_cosigned(again, log.public_key, witness.public_key).timestamp > checked.timestamp


def _impostor(nodes: Callable[[str], Engine], keys: MemoryKeyStore, clock: Clock,
              entries: list[bytes]) -> TransparencyLog:
    """A second database signing with the same log key: a rolled-back or forked log."""
    fake = TransparencyLog(nodes(f"impostor-{uuid.uuid4().hex[:6]}"), keys, ORIGIN, now=clock)
    fake.create_schema()
    fake.append(entries)
    return fake


def test_witness_refuses_rollback_fork_and_bad_proofs(
    log: TransparencyLog, witness: Witness, nodes: Callable[[str], Engine],
    keys: MemoryKeyStore, clock: Clock,
) -> None:
    entries = _records(20)
    log.append(entries[:10])
    witness_log(log, witness)
    latest = witness.latest(ORIGIN)
    assert latest is not None and latest.size == 10

    shrunk = _impostor(nodes, keys, clock, entries[:6])
    with pytest.raises(LogRolledBack, match="縮みました"):
        witness.cosign(shrunk.checkpoint(), [], old_size=10)

    forked = _impostor(nodes, keys, clock, [*entries[:3], b"forged", *entries[4:10]])
    with pytest.raises(LogForked, match="分岐"):
        witness.cosign(forked.checkpoint(), [], old_size=10)

    forked.append(entries[10:14])
    with pytest.raises(InconsistentLog, match="整合性証明"):
        witness.cosign(forked.checkpoint(), forked.consistency_proof(10, 14), old_size=10)

    log.append(entries[10:14])
    good_proof = log.consistency_proof(10, 14)
    with pytest.raises(InconsistentLog):
        witness.cosign(log.checkpoint(), [bytes(32)] + good_proof[1:], old_size=10)
    with pytest.raises(OldSizeMismatch) as stale:
        witness.cosign(log.checkpoint(), log.consistency_proof(6, 14), old_size=6)
    assert stale.value.latest_size == 10

    other_key = MemoryKeyStore()
    unsigned = TransparencyLog(nodes("unsigned"), other_key, ORIGIN, now=clock)
    unsigned.create_schema()
    unsigned.append(entries[:14])
    with pytest.raises(CheckpointNotSigned, match="署名が検証できない"):
        witness.cosign(unsigned.checkpoint(), good_proof, old_size=10)
    stranger = TransparencyLog(nodes("stranger"), keys, "other.example/log", now=clock)
    stranger.create_schema()
    with pytest.raises(UnknownLog, match="登録されていません"):
        witness.cosign(stranger.checkpoint(), [])

    latest = witness.latest(ORIGIN)  # nothing recorded by any refusal
    assert latest is not None and (latest.size, latest.root) == (10, log.root(10))
    line = witness.cosign(log.checkpoint(), good_proof, old_size=10)
    assert verify_cosigned(log.checkpoint() + line, log.public_key, witness.public_key)
    assert issubclass(LogRolledBack, WitnessRefused) and issubclass(LogForked, WitnessRefused)


# -- tampering: verify_log pinpoints it -------------------------------------------

@pytest.fixture
def audited(log: TransparencyLog, witness: Witness) -> TransparencyLog:
    """600 entries in batches, checkpoints every 100, cosigned at 300 and 600."""
    for k in range(0, 600, 100):
        log.append(_records(100, k))
        log.checkpoint()
        if k in (200, 500):
            witness_log(log, witness)
    report = verify_log(log)
    assert report.ok, report.lines()
    assert (report.entries_checked, report.checkpoints_checked, report.cosignatures_checked) \
        == (600, 6, 2)
    return log


def _sql(log: TransparencyLog, statement: str, **params: object) -> None:
    with log.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_an_altered_entry_is_pinpointed(audited: TransparencyLog) -> None:
    _sql(audited, "UPDATE tlog_entries SET data = :d WHERE idx = 123", d=b"forged record")
    report = verify_log(audited)
    assert not report.ok
    assert [p.kind for p in report.problems] == ["altered"]
    assert report.indexes() == {123}
    assert "記録 123 の内容が記録時のハッシュと一致しません" in report.lines()[2]


def test_a_deleted_entry_is_pinpointed(audited: TransparencyLog) -> None:
    _sql(audited, "DELETE FROM tlog_entries WHERE idx = 456")
    report = verify_log(audited)
    assert [p.kind for p in report.problems] == ["missing"]
    assert report.indexes() == {456}
    assert "記録 456 の行がありません（削除）" in str(report.problems[0])


def test_swapped_entries_are_pinpointed(audited: TransparencyLog) -> None:
    _sql(audited, "UPDATE tlog_entries SET idx = -1 WHERE idx = 10")
    _sql(audited, "UPDATE tlog_entries SET idx = 10 WHERE idx = 590")
    _sql(audited, "UPDATE tlog_entries SET idx = 590 WHERE idx = -1")
    report = verify_log(audited)
    assert [p.kind for p in report.problems] == ["reordered"]
    assert report.indexes() == {10, 590}
    assert "記録 10 と 記録 590 が入れ替えられています" in str(report.problems[0])


def test_a_deletion_hidden_by_renumbering_is_pinpointed(audited: TransparencyLog) -> None:
    _sql(audited, "DELETE FROM tlog_entries WHERE idx = 595")
    for i in range(596, 600):
        _sql(audited, "UPDATE tlog_entries SET idx = :a WHERE idx = :b", a=i - 1, b=i)
    report = verify_log(audited)
    assert {p.kind for p in report.problems} == {"reordered", "missing"}
    assert report.indexes("reordered") == {595, 596, 597, 598}
    assert report.indexes("missing") == {599}


def test_rewritten_hashes_are_caught_by_checkpoints_and_witness(
    audited: TransparencyLog, witness: Witness
) -> None:
    # a careful attacker rewrites the data AND its stored leaf hash
    _sql(audited, "UPDATE tlog_entries SET data = :d WHERE idx = 250", d=b"forged")
    with audited.engine.begin() as conn:
        blob = bytearray(conn.execute(text(
            "SELECT hashes FROM tlog_tiles WHERE level = 0 AND idx = 0")).scalar_one())
        blob[250 * 32:251 * 32] = leaf_hash(b"forged")
        conn.execute(text("UPDATE tlog_tiles SET hashes = :h WHERE level = 0 AND idx = 0"),
                     {"h": bytes(blob)})
    report = verify_log(audited, trusted_checkpoints=[witness.latest_checkpoint(ORIGIN) or ""])
    kinds = {p.kind for p in report.problems}
    assert {"tile", "root", "checkpoint", "range"} <= kinds
    assert "altered" not in kinds
    (narrowed,) = [p for p in report.problems if p.kind == "range"]
    assert narrowed.indexes == tuple(range(200, 300))  # between checkpoints 200 and 300


def test_a_rolled_back_log_is_caught(audited: TransparencyLog, witness: Witness) -> None:
    _sql(audited, "DELETE FROM tlog_entries WHERE idx >= 550")
    _sql(audited, "DELETE FROM tlog_checkpoints WHERE size > 500")
    _sql(audited, "DELETE FROM tlog_cosignatures WHERE size > 500")
    _sql(audited, "UPDATE tlog_logs SET tree_size = 550")
    report = verify_log(audited, trusted_checkpoints=[witness.latest_checkpoint(ORIGIN) or ""])
    assert "rollback" in {p.kind for p in report.problems}
    assert any("600 件ですが、ログには 550 件しかありません" in str(p) for p in report.problems)


def test_erasing_data_outside_expiry_is_caught(audited: TransparencyLog) -> None:
    _sql(audited, "UPDATE tlog_entries SET data = NULL WHERE idx BETWEEN 7 AND 9")
    report = verify_log(audited)
    assert [p.kind for p in report.problems] == ["erased"]
    assert report.indexes() == {7, 8, 9}


# -- retention (7 years) ------------------------------------------------------------

def test_expiry_erases_old_data_but_keeps_hashes_and_proofs(
    log: TransparencyLog, witness: Witness, clock: Clock, tmp_path: Path
) -> None:
    old_records = [b"old-record-commitment-%03d" % i for i in range(300)]
    clock.at = dt.datetime(2019, 3, 31, 12, 0, tzinfo=dt.UTC)
    log.append(old_records[:150])
    clock.at = dt.datetime(2019, 10, 1, tzinfo=dt.UTC)
    log.append(old_records[150:])
    clock.at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    log.append(_records(200))
    cosigned = witness_log(log, witness)
    proof = log.inclusion_proof(10, 500)

    sqlite_files = list((tmp_path / "data").glob("transparency.sqlite3*"))
    if log.engine.dialect.name == "sqlite":  # the data is on disk before expiry
        assert any(b"old-record-commitment" in f.read_bytes() for f in sqlite_files)

    clock.at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # 7 years after the first batch only
    with pytest.raises(ValidationError, match="保存期間（7年）内の記録は消去できません"):
        log.expire(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert log.expire() == 150
    clock.at = dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    assert log.expire() == 150
    assert log.expire() == 0

    gone = log.entry(10)
    assert gone.data is None and gone.expired_at is not None
    assert gone.leaf_hash == leaf_hash(old_records[10])
    assert log.entry(300).data == _records(1)[0]
    assert log.size() == 500  # the count stays visible
    assert verify_inclusion(leaf_hash(old_records[10]), 10, 500, proof, log.root(500))
    assert log.inclusion_proof(10, 500) == proof
    report = verify_log(log, trusted_checkpoints=[cosigned])
    assert report.ok, report.lines()
    assert (report.expired, report.entries_checked) == (300, 200)
    log.append(_records(5, 200))
    assert witness_log(log, witness)  # the witness still sees a consistent log
    if log.engine.dialect.name == "sqlite":  # and gone from the file and its WAL after
        for f in (tmp_path / "data").glob("transparency.sqlite3*"):
            assert b"old-record-commitment" not in f.read_bytes(), f
    with log.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.entries)
                            .where(t.entries.c.data.is_(None))).scalar_one() == 300


def test_retention_is_configurable(nodes: Callable[[str], Engine], keys: MemoryKeyStore,
                                   clock: Clock) -> None:
    short = TransparencyLog(nodes("short"), keys, ORIGIN, now=clock, retention_years=1)
    short.create_schema()
    short.append([b"a"])
    clock.at += dt.timedelta(days=366)
    assert short.expire() == 1
    with pytest.raises(ValidationError):
        TransparencyLog(nodes("bad"), keys, ORIGIN, retention_years=0)


def test_keys_come_from_the_key_store(log: TransparencyLog, keys: MemoryKeyStore) -> None:
    assert note.public_bytes(keys.ed25519(f"transparency/{ORIGIN}")) == \
        note.public_bytes(log.public_key)


def test_migrations_match_the_models(log: TransparencyLog, witness: Witness) -> None:
    for engine, metadata in ((log.engine, t.metadata), (witness.engine, t.witness_metadata)):
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], diff


def test_benchmark_runs_at_a_small_size(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from myna.bench.merkle import print_report, run

    report = run(sizes=(300, 1000), batch=16, batches=3, samples=20, data_dir=tmp_path)
    assert set(report["sizes"]) == {"300", "1000"}
    for result in report["sizes"].values():
        assert result["verify_ok"] is True
        assert result["inclusion_cold"]["p50_ms"] > 0
    out = io.StringIO()
    print_report(report, Console(file=out, width=200))
    assert "包含証明" in out.getvalue()
