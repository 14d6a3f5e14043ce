"""Node-to-node HTTP: signed requests, certificate checks, clients and routes.

A request carries ``X-Myna-Node`` (the caller's node id), ``X-Myna-Cert``
(its certificate from the network CA, base64 DER), ``X-Myna-Date`` and
``X-Myna-Signature``: Ed25519 over ``METHOD\\nPATH\\nDATE\\nSHA-256(body)``.  The
receiver checks the certificate against the pinned CA, the node id, the
signature, the date (±5 minutes) and that this caller may use this route.
Answers are plain JSON: what needs end-to-end protection (provided items) is
already sealed, and every message between hub and intermediate servers is
itself signed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from myna.clock import end_backdating, utcnow
from myna.contracts.audit import COMMISSION
from myna.contracts.check import CHECK_PATH, NodeCheck
from myna.contracts.jlis import IdentityRecord
from myna.errors import (
    Conflict,
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    MynaError,
    NotFound,
    PermissionDenied,
    Unavailable,
    ValidationError,
)
from myna.events.inbox import Inbox, Receipt
from myna.events.model import Event
from myna.events.outbox import Outbox
from myna.linkage.messages import (
    MAX_SKEW,
    LinkAnswer,
    Result,
)
from myna.linkage.network import HubApi, IntermediateApi, NodeUnavailable
from myna.netca import NetworkCA, check_certificate
from myna.transport.guard import ErrorGuard
from myna.transport.limits import BodyLimit, UrlHygiene

Now = Callable[[], dt.datetime]
#: a node route: handler(caller node id, JSON payload) -> JSON answer
Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
#: a node's routes: path → (handler, who may call it)
Routes = dict[str, tuple[Handler, Callable[[str], bool]]]


def _to_sign(method: str, path: str, date: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, date, hashlib.sha256(body).hexdigest()]).encode()


class NodeIdentity:
    """A node's id, key and certificate, used to sign outgoing requests."""

    def __init__(self, node_id: str, key: Ed25519PrivateKey, cert: x509.Certificate) -> None:
        self.node_id = node_id
        self.key = key
        self.cert_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

    @classmethod
    def of(cls, ca: NetworkCA, node_id: str) -> NodeIdentity:
        """The node's identity from the installation's network CA (issued on first use)."""
        key, cert = ca.identity(node_id)
        return cls(node_id, key, cert)

    def headers(self, method: str, path: str, body: bytes, now: dt.datetime) -> dict[str, str]:
        date = now.isoformat()
        sig = self.key.sign(_to_sign(method, path, date, body))
        return {"X-Myna-Node": self.node_id, "X-Myna-Cert": self.cert_b64, "X-Myna-Date": date,
                "X-Myna-Signature": base64.b64encode(sig).decode(),
                "Content-Type": "application/json"}


def authenticate(ca: x509.Certificate, method: str, path: str, headers: Any, body: bytes,
                 now: dt.datetime) -> str:
    """The verified caller node id of a signed request, or PermissionDenied."""
    try:
        node = headers["x-myna-node"]
        cert = x509.load_der_x509_certificate(base64.b64decode(headers["x-myna-cert"]))
        date = headers["x-myna-date"]
        signature = base64.b64decode(headers["x-myna-signature"])
    except (KeyError, ValueError):
        raise PermissionDenied("ノード認証の情報がありません", "missing node authentication") \
            from None
    cert_node, key = check_certificate(ca, cert, now)
    if cert_node != node:
        raise PermissionDenied("証明書のノードIDと名乗りが一致しません",
                               f"certificate is for {cert_node}, not {node}")
    try:
        key.verify(signature, _to_sign(method, path, date, body))
    except InvalidSignature:
        raise PermissionDenied("リクエストの署名が正しくありません", "bad request signature") \
            from None
    try:
        at = dt.datetime.fromisoformat(date)
    except ValueError:
        raise PermissionDenied("日時の形式が不正です", "bad date") from None
    if at.tzinfo is None or abs(now - at) > MAX_SKEW:
        raise PermissionDenied("リクエストの日時が古すぎます（再送の疑い）", "stale request")
    return str(node)


# -- JSON codecs ------------------------------------------------------------------------------

def answer_to_json(answer: LinkAnswer) -> dict[str, Any]:
    data = asdict(answer)
    data["result"] = answer.result.value
    return data


def answer_from_json(data: dict[str, Any]) -> LinkAnswer:
    return LinkAnswer(data["request_id"], Result(data["result"]), data.get("sealed"),
                      data.get("reason", ""), data.get("leaf_index"))


#: every error kind a node answers with, by its code (``MynaError.code``)
_KINDS: dict[str, type[MynaError]] = {cls.code: cls for cls in (
    ValidationError, InvalidFormat, InvalidLength, InvalidChecksum, NotFound, Conflict,
    PermissionDenied, Unavailable)}


def error_from_json(status: int, data: Any) -> MynaError:
    """The error a node answered with, as the kind it was raised as."""
    if not isinstance(data, dict):
        return MynaError("応答の形式が不正です", f"unexpected answer (HTTP {status})")
    cls = PermissionDenied if status == 403 else _KINDS.get(str(data.get("kind")), MynaError)
    return cls(str(data.get("message", "エラー")), str(data.get("message_en", "error")))


# -- clients ------------------------------------------------------------------------------------

class _Client:
    def __init__(self, base_url: str, identity: NodeIdentity, now: Now = utcnow,
                 timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.now = now
        self.http = client or httpx.Client(timeout=timeout)

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self.identity.headers("POST", path, body, self.now())
        try:
            response = self.http.post(self.base_url + path, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise NodeUnavailable(f"{self.base_url} に接続できません。再送してください",
                                  f"cannot reach {self.base_url}: {exc}") from None
        if response.status_code >= 500:
            raise NodeUnavailable(f"{self.base_url} がエラーを返しました（{response.status_code}）",
                                  f"{self.base_url} answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict):
            raise error_from_json(response.status_code, data)
        return data


class JlisClient(_Client):
    """:class:`myna.contracts.jlis.JlisApi` over HTTP.

    J-LIS takes the municipality or institution from the caller's certificate, not
    from the arguments: a town can only ask for its own codes and numbers, an
    institution only for its own 符号.
    """

    BULK = 50_000

    def issue_resident_codes(self, municipality_code: str, count: int,
                             request_id: str | None = None) -> list[str]:
        return list(self.post("/node/v1/jlis/resident-codes",
                              {"count": count, "request_id": request_id})["codes"])

    def assign_number(self, municipality_code: str, code: str) -> str:
        return str(self.post("/node/v1/jlis/assign-number", {"code": code})["number"])

    def assign_numbers_bulk(self, municipality_code: str, codes: Sequence[str],
                            progress: Callable[[int], None] | None = None) -> list[str]:
        numbers: list[str] = []
        for start in range(0, len(codes), self.BULK):
            part = list(codes[start:start + self.BULK])
            numbers += self.post("/node/v1/jlis/assign-numbers", {"codes": part})["numbers"]
            if progress:
                progress(len(part))
        return numbers

    def next_number(self, municipality_code: str, code: str) -> tuple[str, int]:
        data = self.post("/node/v1/jlis/next-number", {"code": code})
        return str(data["number"]), int(data["generation"])

    def lookup_by_number(self, caller_id: str, purpose: str, number: str) -> IdentityRecord:
        """本人確認情報 for an institution (``business:<caller_id>``; J-LIS checks the
        caller's certificate, its registered purposes and 支援措置)."""
        return IdentityRecord.from_json(self.post("/node/v1/jlis/identity", {
            "purpose": purpose, "number": number}))

    def request_codes(self, institution: str, requests: Sequence[tuple[str, str]],
                      progress: Callable[[int], None] | None = None,
                      chunk: int = 20_000) -> None:
        """符号の取得 for an institution's own people (``business:<institution>``)."""
        for start in range(0, len(requests), chunk):
            part = [list(r) for r in requests[start:start + chunk]]
            self.post("/node/v1/jlis/request-codes", {"requests": part})
            if progress:
                progress(len(part))

    def stats(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.post("/node/v1/jlis/stats", {}).items()}

    def carried_numbers(self, municipality_code: str) -> dict[str, str]:
        data = self.post("/node/v1/jlis/carried-numbers", {})
        return {str(k): str(v) for k, v in data["numbers"].items()}


EVENTS_PATH = "/node/v1/events"


class HttpEventSink(_Client):
    """A receiver's inbox over HTTP (:class:`myna.events.EventSink`)."""

    def receive(self, events: Sequence[Event]) -> Receipt:
        data = self.post(EVENTS_PATH, {"events": [e.as_json() for e in events]})
        return Receipt([str(i) for i in data.get("applied", [])], data.get("error"),
                       data.get("error_ja"))


def events_route(inboxes: Inbox | Mapping[str, Inbox], may_send: Callable[[str], bool],
                 after: Callable[[], None] | None = None) -> dict[
        str, tuple[Handler, Callable[[str], bool]]]:
    """The route by which other nodes deliver events to the inboxes this process hosts
    (by destination); a caller may only deliver events whose source is itself or a
    service it hosts (:data:`HOSTED_BY`: J-LIS delivers its card centre's events).
    ``after`` runs once a delivery was applied (e.g. to wake this node's own relay,
    for the events the ones received caused)."""
    hosted = {inboxes.node: inboxes} if isinstance(inboxes, Inbox) else dict(inboxes)

    def receive(caller: str, payload: dict[str, Any]) -> dict[str, Any]:
        events = [Event.from_json(e) for e in payload["events"]]
        destinations = {e.destination for e in events}
        if len(destinations) > 1:
            raise ValidationError("宛先の異なるイベントが混在しています",
                                  "one delivery carries events for one destination")
        inbox = hosted.get(next(iter(destinations), ""))
        if inbox is None:
            raise NotFound("このノードが受け付ける宛先ではありません",
                           "no such destination at this node")
        receipt = inbox.receive(events, sender=_sender(caller, events))
        if after is not None and receipt.applied:
            after()
        return {"applied": receipt.applied, "error": receipt.error,
                "error_ja": receipt.error_ja}

    return {EVENTS_PATH: (receive, may_send)}


#: services that run inside another organisation's node process (J-LIS hosts its JPKI
#: CA, card centre and notification mailing), reached at that node's endpoint
HOSTED_BY = {"jpki": "jlis", "cards": "jlis", "notify": "jlis"}


def _sender(caller: str, events: Sequence[Event]) -> str:
    """Whose events ``caller`` may deliver in this batch: its own, or (one relay's batch
    comes from one outbox) those of a service it hosts.  The inbox refuses the others."""
    sources = {e.source for e in events}
    if len(sources) == 1:
        [source] = sources
        if HOSTED_BY.get(source) == caller:
            return source
    return caller


BACKLOG_PATH = "/node/v1/events/backlog"


def backlog_route(outboxes: Sequence[Outbox]) -> Routes:
    """How many of this node's events wait for delivery, per destination (counts only:
    an operator, ``myna check`` or a test waiting for the network to settle)."""

    def backlog(caller: str, payload: dict[str, Any]) -> dict[str, Any]:
        waiting: dict[str, int] = {}
        for outbox in outboxes:
            for b in outbox.backlog():
                waiting[b.destination] = waiting.get(b.destination, 0) + b.pending
        return {"pending": sum(waiting.values()), "by_destination": waiting}

    return {BACKLOG_PATH: (backlog, lambda caller: True)}


def check_route(check: Callable[[], NodeCheck]) -> Routes:
    """This node's part of ``myna check`` (:mod:`myna.contracts.check`), answered to the
    protection commission's node only."""

    def answer(caller: str, payload: dict[str, Any]) -> dict[str, Any]:
        return check().to_json()

    return {CHECK_PATH: (answer, lambda caller: caller == COMMISSION)}


def pending_events(client: _Client) -> int:
    """Events a node has yet to deliver (see :func:`backlog_route`)."""
    return int(client.post(BACKLOG_PATH, {})["pending"])


class HttpNetwork:
    """The :class:`~myna.linkage.network.Network` interface over HTTP."""

    def __init__(self, endpoints: dict[str, str], identity: NodeIdentity,
                 now: Now = utcnow) -> None:
        self.endpoints = endpoints
        self.identity = identity
        self.now = now
        self._http = httpx.Client(timeout=10.0)
        self.down: set[str] = set()

    def url(self, node: str) -> str:
        """Where ``node`` answers (J-LIS's own services at J-LIS's address)."""
        return self._url(node)

    def _url(self, node: str) -> str:
        node = node if node in self.endpoints else HOSTED_BY.get(node, node)
        try:
            return self.endpoints[node]
        except KeyError:
            raise NodeUnavailable(f"{node} の接続先が設定されていません",
                                  f"no endpoint for {node}") from None

    def intermediate(self, institution: str) -> IntermediateApi:
        from myna.transport.intermediate_client import IntermediateClient

        return IntermediateClient(self._url(f"intermediate:{institution}"), self.identity,
                                  self.now, client=self._http)

    def the_hub(self) -> HubApi:
        from myna.transport.hub_client import HubClient

        return HubClient(self._url("hub"), self.identity, self.now, client=self._http)

    def jlis(self) -> JlisClient:
        return JlisClient(self._url("jlis"), self.identity, self.now, client=self._http)

    def events(self, node: str) -> HttpEventSink:
        """The event inbox of another node."""
        return HttpEventSink(self._url(node), self.identity, self.now, client=self._http)


# -- server side ---------------------------------------------------------------------------------


def node_app(title: str, ca: x509.Certificate, routes: Routes, now: Now = utcnow,
             lifespan: Any = None) -> FastAPI:
    """A FastAPI app serving signed node-to-node routes.

    ``routes`` maps a path to (handler(caller, payload) -> JSON, may_call(caller));
    ``lifespan`` runs alongside the server (e.g. :meth:`myna.expiry.Expiry.lifespan`).
    """
    app = FastAPI(title=title, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.include_router(node_router(ca, routes, now))
    app.add_middleware(BodyLimit, max_bytes=64 * 1024 * 1024)  # bulk deliveries of 符号
    app.add_middleware(UrlHygiene)
    app.add_middleware(ErrorGuard)
    return app


CLOCK_PATH = "/node/v1/clock/present"


def _present(caller: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A node started backdated (the demo's history) comes to the present; any other
    node answers that it was not backdated and changes nothing."""
    return {"moved": end_backdating()}


def node_router(ca: x509.Certificate, routes: Routes, now: Now = utcnow) -> APIRouter:
    """The signed node-to-node routes alone, for an app that also serves people
    (a municipality's staff app serves its node routes beside its pages)."""
    router = APIRouter()
    routes = {CLOCK_PATH: (_present, lambda caller: True), **routes}

    def make(path: str, handler: Handler, may_call: Callable[[str], bool]) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            body = await request.body()
            try:
                caller = authenticate(ca, "POST", path, request.headers, body, now())
                if not may_call(caller):
                    raise PermissionDenied(f"{caller} はこの操作を行えません",
                                           f"{caller} may not call {path}")
                payload = json.loads(body or b"{}")
                # handlers block (databases, calls to other nodes): keep the loop free so a
                # node can serve a call that arrives while it is itself waiting on another
                return JSONResponse(await run_in_threadpool(handler, caller, payload))
            except MynaError as exc:
                status = {"forbidden": 403, "not_found": 404, "conflict": 409,
                          "unavailable": 503}.get(exc.code, 422)
                if isinstance(exc, PermissionDenied):
                    status = 403
                return JSONResponse({"kind": exc.code, "message": exc.message_ja,
                                     "message_en": exc.message_en}, status_code=status)
            except (KeyError, TypeError, ValueError) as exc:
                # the class only: a KeyError or ValueError quotes the value it choked on
                return JSONResponse({"kind": "invalid", "message": "要求の形式が不正です",
                                     "message_en": f"malformed request ({type(exc).__name__})"},
                                    status_code=422)

        router.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False)

    for path, (handler, may_call) in routes.items():
        make(path, handler, may_call)
    return router
