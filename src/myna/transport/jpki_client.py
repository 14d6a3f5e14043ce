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
from collections.abc import Sequence

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
from myna.transport.http import _Client

PREFIX = "/node/v1/jpki"
class JpkiClient(_Client):
    """:class:`~myna.contracts.jpki.JpkiApi` over HTTP (``JpkiClient(base_url, identity)``)."""

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
