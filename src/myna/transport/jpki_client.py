""":class:`myna.contracts.jpki.JpkiApi` over HTTP: what a relying party (or J-LIS's own
administration) calls on the JPKI CA in J-LIS's node process.

The CA takes the relying party from the caller's network certificate: a
``relying_party`` argument other than this client's own node id is refused by the
CA.  Errors come back as the same kind they were raised as — a refused
verification as :class:`~myna.contracts.jpki.CertificateRejected` with its reason,
a duplicate registration as :class:`~myna.errors.Conflict`, and so on — with their
Japanese and English messages.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import httpx

from myna.contracts.jpki import (
    CaCertificates,
    CertificateRejected,
    CertificateStatus,
    CertKind,
    PartyCategory,
    RelyingParty,
    RelyingPartyKind,
    VerifiedCertificate,
    b64,
    unb64,
)
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
from myna.linkage.network import NodeUnavailable
from myna.transport.http import _Client

PREFIX = "/node/v1/jpki"
_KINDS: dict[str, type[MynaError]] = {cls.code: cls for cls in (
    ValidationError, InvalidFormat, InvalidLength, InvalidChecksum, NotFound, Conflict,
    PermissionDenied, Unavailable)}


def error_of(status: int, data: Any) -> MynaError:
    """The error a node answered with, as the kind it was raised as."""
    if not isinstance(data, dict):
        return MynaError("応答の形式が不正です", f"unexpected answer (HTTP {status})")
    cls = PermissionDenied if status == 403 else _KINDS.get(str(data.get("kind")), MynaError)
    return cls(str(data.get("message", "エラー")), str(data.get("message_en", "error")))


class JpkiClient(_Client):
    """:class:`~myna.contracts.jpki.JpkiApi` over HTTP (``JpkiClient(base_url, identity)``)."""

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False).encode()
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
            raise error_of(response.status_code, data)
        return data

    def register_relying_party(
        self, party_id: str, name: str, kind: RelyingPartyKind | str, *,
        category: PartyCategory | str = PartyCategory.PUBLIC, approval_ref: str | None = None,
        update_existing: bool = False,
    ) -> RelyingParty:
        return RelyingParty.from_json(self.post(f"{PREFIX}/relying-parties/register", {
            "party_id": party_id, "name": name, "kind": str(kind), "category": str(category),
            "approval_ref": approval_ref, "update_existing": update_existing}))

    def deregister_relying_party(self, party_id: str) -> None:
        self.post(f"{PREFIX}/relying-parties/deregister", {"party_id": party_id})

    def verify_signature(
        self, document: bytes, signature: bytes, certificate: bytes, *,
        relying_party: str, purpose: CertKind = CertKind.SIGNING,
        chain: Sequence[bytes] = (), now: dt.datetime | None = None,
    ) -> VerifiedCertificate:
        answer = self.post(f"{PREFIX}/verify-signature", {
            "document": b64(document), "signature": b64(signature),
            "certificate": b64(certificate), "chain": [b64(c) for c in chain],
            "purpose": CertKind(purpose).value, "relying_party": relying_party,
            "now": now.isoformat() if now else None})
        if "rejected" in answer:
            raise CertificateRejected.from_json(answer["rejected"])
        return VerifiedCertificate.from_json(answer["verified"])

    def certificate_status(self, serial: int | str, *, relying_party: str) -> CertificateStatus:
        text = format(serial, "X") if isinstance(serial, int) else serial
        return CertificateStatus.from_json(self.post(f"{PREFIX}/certificate-status", {
            "serial": text, "relying_party": relying_party}))

    def ocsp_response(self, request_der: bytes, relying_party: str) -> bytes:
        return unb64(self.post(f"{PREFIX}/ocsp", {"request": b64(request_der),
                                                  "relying_party": relying_party})["response"])

    def current_crl(self, *, relying_party: str, which: str = "issuing") -> bytes:
        return unb64(self.post(f"{PREFIX}/crl", {"which": which,
                                                 "relying_party": relying_party})["crl"])

    def ca_certificates(self) -> CaCertificates:
        return CaCertificates.from_json(self.post(f"{PREFIX}/ca-certificates", {}))
