"""The witness: the Personal Information Protection Commission (個人情報保護委員会).

An independent node with its own database and key.  Its state must not live with
the log it guards: whoever holds the hub's data directory could otherwise replace
log and witness together with a different, internally consistent history and have
it cosigned.  :func:`open_witness_dir` opens a witness from a directory of its own
(its Ed25519 key under ``keys/``, its SQLite database of everything it cosigned,
``witness.json`` with its name), which ``myna serve --node witness --witness-dir``
serves over HTTP (:mod:`myna.transport.witness`).  Before it cosigns a
checkpoint of the provision-record log it checks, against what it cosigned
before for that log (by origin):

* the log's Ed25519 signature, with the public key registered beforehand
  (:meth:`Witness.add_log`);
* that the log did not shrink (rollback) and did not fork (another root for
  the same size);
* the consistency proof from its last cosigned checkpoint to the new one.

Cosignatures follow C2SP tlog-cosignature ``cosignature/v1`` (Ed25519,
signature type 0x04): the witness signs ``"cosignature/v1\\ntime <T>\\n"``
followed by the checkpoint text, and the line carries ``key ID || T || sig``;
T is the POSIX time of cosigning.  So any tlog client that knows the witness's
key can check our cosignatures.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, insert, select, update

from myna.clock import as_utc, utcnow
from myna.db import durable_sqlite, make_engine, migrate, node_url
from myna.errors import Conflict, NotFound, ValidationError
from myna.keys import FileKeyStore, KeyStore
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
from myna.transparency.merkle import verify_consistency
from myna.transparency.note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    check_key_name,
    cosign,
    parse_checkpoint,
    parse_note,
    public_bytes,
    verifier_key,
    verify_cosignature,
    verify_note,
)
from myna.transparency.service import TransparencyLog


class CheckpointNotSigned(WitnessRefused, SignatureInvalid):
    """The checkpoint does not carry a valid signature by the registered log key."""

    code = "checkpoint_not_signed"


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint whose log signature and witness cosignature both verified."""

    checkpoint: Checkpoint
    log_name: str
    witness_name: str
    timestamp: int


class Witness:
    """A witness node cosigning the checkpoints of the logs registered with it."""

    def __init__(
        self, engine: Engine, keys: KeyStore, name: str,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.name = check_key_name(name)
        self.now = now
        self._key = keys.ed25519(f"witness/{name}")
        self.public_key: Ed25519PublicKey = self._key.public_key()

    def create_schema(self) -> None:
        migrate(self.engine, "myna.transparency.witness_store")
        # forgetting a cosignature after a power cut would let a fork of it be cosigned
        durable_sqlite(self.engine)

    def verifier_key(self) -> str:
        """The witness key as a C2SP verifier key string (type 0x04)."""
        return verifier_key(self.name, self.public_key, SIG_COSIGNATURE_V1)

    def add_log(self, origin: str, public_key: Ed25519PublicKey | bytes,
                key_name: str | None = None) -> None:
        """Register a log: its origin line and the key its checkpoints are signed with."""
        raw = public_bytes(public_key)
        key_name = check_key_name(key_name or origin)
        with self.engine.begin() as conn:
            old = conn.execute(select(t.witnessed_logs.c.public_key, t.witnessed_logs.c.key_name)
                               .where(t.witnessed_logs.c.origin == origin)).first()
            if old is None:
                conn.execute(insert(t.witnessed_logs).values(
                    origin=origin, key_name=key_name, public_key=raw,
                    added_at=as_utc(self.now())))
            elif bytes(old[0]) != raw or old[1] != key_name:
                raise Conflict(f"ログ {origin} には別の公開鍵が登録されています",
                               f"log {origin} is registered with another key")

    def latest(self, origin: str) -> Checkpoint | None:
        """The largest checkpoint cosigned for ``origin`` (None before the first)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.cosigned.c.size, t.cosigned.c.root_hash)
                               .where(t.cosigned.c.origin == origin)
                               .order_by(t.cosigned.c.size.desc()).limit(1)).first()
        return None if row is None else Checkpoint(origin, int(row[0]), bytes(row[1]))

    def latest_checkpoint(self, origin: str) -> str | None:
        """The latest cosigned checkpoint as a note: the log's signature plus ours."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.cosigned.c.checkpoint, t.cosigned.c.cosignature)
                               .where(t.cosigned.c.origin == origin)
                               .order_by(t.cosigned.c.size.desc()).limit(1)).first()
        return None if row is None else str(row[0]) + str(row[1])

    def cosign(self, checkpoint_text: str, consistency_proof: Sequence[bytes],
               old_size: int | None = None) -> str:
        """Check and cosign a signed checkpoint; returns the cosignature line.

        ``consistency_proof`` goes from the last checkpoint this witness cosigned
        for the log (``old_size``; C2SP tlog-witness's ``old`` line) to this one.
        Raises a :class:`WitnessRefused` subclass, with the reason, when the log
        is unknown, the signature fails, the log shrank or forked, or the proof
        fails; nothing is recorded then.
        """
        note = parse_note(checkpoint_text)
        cp = parse_checkpoint(note.text)
        now = as_utc(self.now())
        with self.engine.begin() as conn:
            # Touch the log's row first: serialises cosigning per log (row / write lock).
            touched = conn.execute(update(t.witnessed_logs)
                                   .where(t.witnessed_logs.c.origin == cp.origin)
                                   .values(last_seen_at=now))
            if not touched.rowcount:
                raise UnknownLog(
                    f"ログ {cp.origin} は監視対象として登録されていません",
                    f"log {cp.origin} is not registered with this witness",
                )
            key_name, key = conn.execute(
                select(t.witnessed_logs.c.key_name, t.witnessed_logs.c.public_key)
                .where(t.witnessed_logs.c.origin == cp.origin)).one()
            try:
                verify_note(note, bytes(key), str(key_name))
            except SignatureInvalid as exc:
                raise CheckpointNotSigned(
                    f"ログ {cp.origin} の署名が検証できないため連署を拒否しました: "
                    f"{exc.message_ja}",
                    f"refused: the checkpoint's log signature does not verify: {exc.message_en}",
                ) from None
            last = conn.execute(select(t.cosigned.c.size, t.cosigned.c.root_hash)
                                .where(t.cosigned.c.origin == cp.origin)
                                .order_by(t.cosigned.c.size.desc()).limit(1)).first()
            previous = (None if last is None
                        else Checkpoint(cp.origin, int(last[0]), bytes(last[1])))
            self._check(cp, previous, consistency_proof, old_size)
            timestamp = int(now.timestamp())
            line = cosign(note.text, self.name, self._key, timestamp).line()
            values = {"root_hash": cp.root, "checkpoint": checkpoint_text,
                      "cosignature": line, "timestamp": timestamp, "cosigned_at": now}
            if previous is not None and previous.size == cp.size:
                conn.execute(update(t.cosigned).where(
                    t.cosigned.c.origin == cp.origin, t.cosigned.c.size == cp.size
                ).values(**values))
            else:
                conn.execute(insert(t.cosigned).values(origin=cp.origin, size=cp.size, **values))
        return line

    @staticmethod
    def _check(cp: Checkpoint, previous: Checkpoint | None, proof: Sequence[bytes],
               old_size: int | None) -> None:
        old = 0 if previous is None else previous.size
        if old_size is not None and old_size != old:
            raise OldSizeMismatch(
                f"整合性証明の起点（大きさ {old_size}）が"
                f"監視者の最新の連署（大きさ {old}）と違います",
                f"the proof starts at size {old_size} but the witness's latest is {old}",
                latest_size=old,
            )
        if previous is None:
            return  # the first checkpoint seen is trusted on first use
        if cp.size < old:
            raise LogRolledBack(
                f"ログ {cp.origin} が縮みました（連署済み {old} 件 → {cp.size} 件）。"
                "記録の削除または巻き戻しの疑いがあるため連署を拒否しました",
                f"log {cp.origin} shrank from {old} to {cp.size} entries: refused",
            )
        if cp.size == old:
            if cp.root != previous.root:
                raise LogForked(
                    f"ログ {cp.origin} の大きさ {old} の根ハッシュが、以前連署したものと違います"
                    "（分岐：利用者ごとに異なる記録を見せている疑い）。連署を拒否しました",
                    f"log {cp.origin} forked: another root for size {old}: refused",
                )
            return
        if not verify_consistency(old, cp.size, proof, previous.root, cp.root):
            raise InconsistentLog(
                f"ログ {cp.origin} の整合性証明（{old} 件 → {cp.size} 件）が検証できません。"
                "過去の記録が書き換えられたか分岐した疑いがあるため連署を拒否しました",
                f"consistency proof from {old} to {cp.size} does not verify "
                "(history rewritten or forked): refused",
            )


def verify_cosigned(
    checkpoint_with_sigs: str, log_key: Ed25519PublicKey | bytes,
    witness_key: Ed25519PublicKey | bytes,
) -> CosignedCheckpoint:
    """Check both the log's signature and the witness's cosignature of a checkpoint.

    Raises :class:`SignatureInvalid` (with the reason) unless both verify.
    """
    note = parse_note(checkpoint_with_sigs)
    log_name = verify_note(note, log_key)
    witness_name, timestamp = verify_cosignature(note, witness_key)
    return CosignedCheckpoint(parse_checkpoint(note.text), log_name, witness_name, timestamp)


class WitnessApi(Protocol):
    """What the hub and auditors use of a witness, in-process or over HTTP."""

    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> Ed25519PublicKey: ...

    def verifier_key(self) -> str: ...

    def latest(self, origin: str) -> Checkpoint | None: ...

    def latest_checkpoint(self, origin: str) -> str | None: ...

    def cosign(self, checkpoint_text: str, consistency_proof: Sequence[bytes],
               old_size: int | None = None) -> str: ...


DEFAULT_NAME = "ppc.myna.example/witness"
WITNESS_CONFIG = "witness.json"


def open_witness_dir(directory: Path | str, name: str | None = None,
                     now: Callable[[], dt.datetime] = utcnow, create: bool = False) -> Witness:
    """The witness whose whole state lives in ``directory``.

    Only ``create=True`` (``myna witness init``) makes a new one: a witness with no
    history trusts the first checkpoint it is shown, so a mistyped or vanished
    directory must not silently become one.  ``name`` is fixed when the directory
    is made (``witness.json``); asking for another one later is refused.
    """
    root = Path(directory)
    config = root / WITNESS_CONFIG
    if not create and not config.exists():
        raise NotFound(
            f"{root} は監視者のディレクトリではありません（myna witness init で作成してください）",
            f"{root} holds no witness (create it with myna witness init)")
    root.mkdir(exist_ok=True, mode=0o700)  # its parent must exist: no folders made up
    if config.exists():
        stored = str(json.loads(config.read_text(encoding="utf-8"))["name"])
        if name is not None and name != stored:
            raise ValidationError(f"監視者のディレクトリ {root} は {stored} のものです",
                                  f"witness directory {root} belongs to {stored}")
        name = stored
    else:
        name = check_key_name(name or DEFAULT_NAME)
        config.write_text(json.dumps({"name": name}, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    witness = Witness(make_engine(node_url(root, "witness"), "witness"),
                      FileKeyStore(root / "keys"), name, now=now)
    witness.create_schema()
    return witness


def witness_log(log: TransparencyLog, witness: WitnessApi) -> str:
    """Sign a checkpoint, have the witness cosign it, and keep the cosignature in the log.

    Returns the cosigned checkpoint (log signature and cosignature lines).  The
    consistency proof starts at the last checkpoint the witness says it cosigned;
    if it has moved on meanwhile (C2SP tlog-witness 409), the proof is made again
    from its size once.  A refusal (:class:`WitnessRefused`) is raised as is.
    """
    checkpoint = log.checkpoint()
    cp = parse_checkpoint(parse_note(checkpoint).text)
    latest = witness.latest(log.origin)
    old = 0 if latest is None else latest.size
    for attempt in range(2):
        proof = log.consistency_proof(old, cp.size) if 0 < old <= cp.size else []
        try:
            line = witness.cosign(checkpoint, proof, old_size=old)
            break
        except OldSizeMismatch as exc:
            if attempt or exc.latest_size == old:
                raise
            old = exc.latest_size
    log.add_witness(witness.name, witness.public_key)
    log.add_cosignature(checkpoint + line)
    return checkpoint + line
