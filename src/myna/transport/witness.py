"""The witness over HTTP: C2SP tlog-witness ``add-checkpoint``, and a client for it.

``myna serve --node witness --witness-dir DIR`` serves a
:class:`~myna.transparency.witness.Witness` whose state lives in DIR:

* ``POST /add-checkpoint`` (c2sp.org/tlog-witness): the body is ``old <size>``,
  the consistency proof from that size (one base64 hash a line), a blank line and
  the signed checkpoint; 200 answers the cosignature line, 409 the witness's latest
  size (``text/x.tlog.size``), 404 an unknown log, 403 a checkpoint the log's
  registered key did not sign, 422 a rollback, fork or failed proof, 400 a
  malformed body.  Errors other than 409 carry ``kind`` and the reason in Japanese
  and English as JSON;
* ``GET /checkpoint?origin=<origin>``: the latest checkpoint it cosigned for that
  log, with the log's signature and its own cosignature (404 before the first);
* ``GET /key``: its verifier key (``name+id+base64(0x04 || key)``).

Callers need no node certificate: what the witness trusts is the log's signature
on the checkpoint, checked with the key registered with it beforehand
(``myna witness add-log``), and what callers trust is the cosignature, checked
with the witness key they pinned.  :class:`WitnessClient` is the hub's and the
auditor's side: it checks every cosignature it receives against the pinned key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from myna.errors import MynaError, Unavailable
from myna.transparency.errors import (
    InconsistentLog,
    LogForked,
    LogRolledBack,
    MalformedNote,
    OldSizeMismatch,
    SignatureInvalid,
    UnknownLog,
    WitnessRefused,
)
from myna.transparency.merkle import HASH_SIZE
from myna.transparency.note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    verifier_key,
    verify_cosignature,
)
from myna.transparency.witness import CheckpointNotSigned, Witness
from myna.transport.guard import ErrorGuard, error_json
from myna.transport.limits import BodyLimit, UrlHygiene

MAX_PROOF = 63  # C2SP tlog-witness: a consistency proof has at most 63 hashes
MAX_BODY = 1024 * 1024

_KINDS: dict[str, type[MynaError]] = {cls.code: cls for cls in (
    UnknownLog, LogRolledBack, LogForked, InconsistentLog, CheckpointNotSigned, MalformedNote,
    WitnessRefused, SignatureInvalid)}


def add_checkpoint_body(checkpoint: str, proof: Sequence[bytes], old_size: int) -> str:
    """The C2SP ``add-checkpoint`` request body."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return "\n".join(lines) + "\n\n" + checkpoint


def parse_add_checkpoint(body: str) -> tuple[int, list[bytes], str]:
    """``(old size, consistency proof, signed checkpoint)`` from an ``add-checkpoint`` body."""
    bad = MalformedNote("連署の依頼の形式が不正です（c2sp.org/tlog-witness）",
                        "malformed add-checkpoint request")
    head, sep, checkpoint = body.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old ") or len(lines) - 1 > MAX_PROOF:
        raise bad
    size = lines[0][4:]
    if not size.isascii() or not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        raise bad
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise bad from None
        if len(value) != HASH_SIZE:
            raise bad
        proof.append(value)
    return int(size), proof, checkpoint


def _status(exc: MynaError) -> int:
    if isinstance(exc, UnknownLog):
        return 404
    if isinstance(exc, CheckpointNotSigned):
        return 403
    if isinstance(exc, MalformedNote):
        return 400
    if isinstance(exc, WitnessRefused):
        return 422
    return 400


def witness_app(witness: Witness) -> FastAPI:
    """The HTTP face of one witness (see the module docstring)."""
    app = FastAPI(title=f"Myna witness {witness.name}（個人情報保護委員会）", docs_url=None,
                  redoc_url=None)

    @app.post("/add-checkpoint", include_in_schema=False)
    async def add_checkpoint(request: Request) -> Response:
        try:
            try:
                text = (await request.body()).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedNote("連署の依頼が UTF-8 ではありません",
                                    "request body is not UTF-8") from None
            old, proof, checkpoint = parse_add_checkpoint(text)
            line = await run_in_threadpool(witness.cosign, checkpoint, proof, old)
        except OldSizeMismatch as exc:
            return PlainTextResponse(f"{exc.latest_size}\n", status_code=409,
                                     media_type="text/x.tlog.size")
        except MynaError as exc:
            return error_json(_status(exc), exc.code, exc.message_ja, exc.message_en)
        return PlainTextResponse(line)

    @app.get("/checkpoint", include_in_schema=False)
    async def checkpoint(origin: str = "") -> Response:
        latest = await run_in_threadpool(witness.latest_checkpoint, origin)
        if latest is None:
            return error_json(404, "not_found", f"ログ {origin} への連署はまだありません",
                              f"nothing cosigned for {origin}")
        return PlainTextResponse(latest)

    @app.get("/key", include_in_schema=False)
    async def key() -> Response:
        return PlainTextResponse(witness.verifier_key() + "\n")

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY)
    app.add_middleware(UrlHygiene)
    app.add_middleware(ErrorGuard)
    return app


class WitnessClient:
    """A witness reached over HTTP (:class:`~myna.transparency.witness.WitnessApi`).

    ``key`` is the witness's verifier key as pinned by the caller (``system.json``'s
    ``witness_key``, or ``myna log verify --witness-key``).  Without one the key the
    witness announces is used (trust on first use: only for a demo).
    """

    def __init__(self, url: str, key: str | None = None, timeout: float = 10.0,
                 client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.http = client or httpx.Client(timeout=timeout)
        self._key: tuple[str, Ed25519PublicKey] | None = None
        if key:
            self._key = self._parse_key(key)

    @staticmethod
    def _parse_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
        name, sig_type, public = parse_verifier_key(vkey)
        if sig_type != SIG_COSIGNATURE_V1:
            raise MalformedNote("監視者の検証鍵ではありません（種別 0x04 が必要です）",
                                "not a witness (cosignature/v1) verifier key")
        return name, public

    def _pinned(self) -> tuple[str, Ed25519PublicKey]:
        if self._key is None:  # not pinned: ask once (trust on first use)
            response = self._get("/key")
            if response.status_code != 200:
                raise self._error(response)
            self._key = self._parse_key(response.text.strip())
        return self._key

    @property
    def name(self) -> str:
        return self._pinned()[0]

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._pinned()[1]

    def _get(self, path: str, **params: str) -> httpx.Response:
        try:
            return self.http.get(self.url + path, params=params)
        except httpx.TransportError:
            raise self._down() from None

    def _down(self) -> Unavailable:
        return Unavailable(f"監視者（個人情報保護委員会） {self.url} に接続できません",
                           f"cannot reach the witness at {self.url}")

    def verifier_key(self) -> str:
        return verifier_key(self.name, self.public_key, SIG_COSIGNATURE_V1)

    def latest_checkpoint(self, origin: str) -> str | None:
        """The witness's latest cosigned checkpoint of ``origin``, its cosignature checked."""
        response = self._get("/checkpoint", origin=origin)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error(response)
        text = response.text
        verify_cosignature(parse_note(text), self.public_key, self.name)
        return text

    def latest(self, origin: str) -> Checkpoint | None:
        text = self.latest_checkpoint(origin)
        return None if text is None else parse_checkpoint(parse_note(text).text)

    def cosign(self, checkpoint_text: str, consistency_proof: Sequence[bytes],
               old_size: int | None = None) -> str:
        """Ask the witness to cosign; returns its cosignature line (checked)."""
        body = add_checkpoint_body(checkpoint_text, consistency_proof, old_size or 0)
        try:
            response = self.http.post(self.url + "/add-checkpoint", content=body.encode(),
                                      headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.TransportError:
            raise self._down() from None
        if response.status_code == 409:
            try:
                latest = int(response.text.strip())
            except ValueError:
                raise self._error(response) from None
            raise OldSizeMismatch(
                f"監視者の最新の連署は大きさ {latest} です（整合性証明を作り直します）",
                f"the witness's latest cosigned size is {latest}", latest_size=latest)
        if response.status_code != 200:
            raise self._error(response)
        line = response.text
        verify_cosignature(parse_note(checkpoint_text + line), self.public_key, self.name)
        return line

    def _error(self, response: httpx.Response) -> MynaError:
        if response.status_code >= 500:
            return Unavailable(f"監視者がエラーを返しました（{response.status_code}）",
                               f"the witness answered {response.status_code}")
        try:
            data = response.json()
            cls = _KINDS.get(str(data.get("kind")), WitnessRefused)
            return cls(str(data["message"]), str(data.get("message_en", "")))
        except (ValueError, KeyError, TypeError):
            return WitnessRefused(f"監視者が連署を拒否しました（{response.status_code}）",
                                  f"the witness refused ({response.status_code})")
