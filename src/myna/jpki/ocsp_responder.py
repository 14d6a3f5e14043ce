"""The OCSP responder (RFC 6960): good / revoked / unknown from the CA's current state.

Answers are signed by the delegated responder certificate.  nextUpdate is left
out on purpose: newer status is always available and must not be cached
(RFC 6960 §4.2.2.1).  Only registered relying parties may ask; every question is
logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from myna.errors import PermissionDenied
from myna.jpki import certs
from myna.jpki.authority import Authority
from myna.jpki.domain import CertKind
from myna.jpki.parties import RelyingParties
from myna.jpki.storage import JpkiStore


class OcspResponder:
    """Answers OCSP requests from registered relying parties."""

    def __init__(self, store: JpkiStore, authority: Authority, parties: RelyingParties,
                 now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.authority = authority
        self.parties = parties
        self.now = now

    def respond(self, request_der: bytes, relying_party: str) -> bytes:
        """Answer an OCSP request (DER) from ``relying_party`` with a response (DER).

        Unregistered parties get :class:`PermissionDenied` (an HTTP transport
        answers them with :func:`unauthorized_ocsp_response`).
        """
        now = self.now()
        request: ocsp.OCSPRequest | None
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            request = None
        serial = certs.serial_hex(request.serial_number) if request is not None else None
        denied: PermissionDenied | None = None
        with self.store.begin() as repo:
            try:
                self.parties.authorise(repo, relying_party, None)
            except PermissionDenied as exc:
                denied = exc
            if denied or request is None:
                self.parties.log(repo, relying_party, "ocsp", serial, None,
                                 "denied" if denied else "malformed")
        if denied:
            raise denied
        if request is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        assert serial is not None
        issuers = self._matching_issuers(request)
        status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        kind: CertKind | None = None
        with self.store.begin() as repo:
            record = repo.certificate(serial, issued_by=issuers) if issuers else None
            if record is not None:
                kind = record.kind
                try:
                    self.parties.authorise(repo, relying_party, kind)
                except PermissionDenied as exc:
                    denied = exc
                if record.status == "revoked":
                    status, revoked_at = ocsp.OCSPCertStatus.REVOKED, record.revoked_at
                    if record.revocation_reason not in (None, x509.ReasonFlags.unspecified):
                        reason = record.revocation_reason
                else:
                    status = ocsp.OCSPCertStatus.GOOD
            result = "denied" if denied else status.name.lower()
            self.parties.log(repo, relying_party, "ocsp", serial, kind, result)
        if denied:
            raise denied
        responder = self.authority.responder(now)
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number, algorithm=request.hash_algorithm,
                cert_status=status, this_update=now, next_update=None,
                revocation_time=revoked_at, revocation_reason=reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
            .certificates([responder.cert, self.authority.issuing().cert])
        )
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        return builder.sign(responder.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER
        )

    def _matching_issuers(self, request: ocsp.OCSPRequest) -> list[int]:
        """Our issuing CAs whose name and key hashes the request names."""
        found = []
        for ca in self.authority.issuing_all():
            name_hash = hashes.Hash(request.hash_algorithm)
            name_hash.update(ca.cert.subject.public_bytes())
            key_hash = hashes.Hash(request.hash_algorithm)
            key_hash.update(ca.cert.public_key().public_bytes(  # type: ignore[union-attr]
                serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
            if (name_hash.finalize() == request.issuer_name_hash
                    and key_hash.finalize() == request.issuer_key_hash):
                found.append(ca.ca_id)
        return found


def unauthorized_ocsp_response() -> bytes:
    """The RFC 6960 ``unauthorized`` answer an HTTP transport gives unregistered parties."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    ).public_bytes(serialization.Encoding.DER)
