"""Verification for relying parties: a certificate, a signature over a document, a status.

Every check reads the CA's state at that moment — nothing is cached — so a
revoked certificate stops working at once (design.md §5: revoked Aadhaar / MOSIP
IDs reportedly kept authenticating).  Document signatures are RSASSA-PKCS1-v1_5
with SHA-256 (what the card computes and what ``openssl dgst -sha256 -verify``
checks by default).  Each question is logged with its answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from myna.clock import aware, show_time
from myna.contracts.jpki import CertificateStatus
from myna.errors import PermissionDenied
from myna.jpki import certs
from myna.jpki.authority import Authority, CaKey
from myna.jpki.domain import (
    ISSUING,
    REVOCATION_REASONS,
    ROOT,
    CertificateRejected,
    CertKind,
    RejectReason,
    VerifiedCertificate,
    serial_key,
)
from myna.jpki.parties import RelyingParties
from myna.jpki.storage import JpkiRepository, JpkiStore

Certificate = x509.Certificate | bytes  # a certificate object, PEM or DER


class Verifier:
    """Checks certificates and signatures against the CA's current state."""

    def __init__(self, store: JpkiStore, authority: Authority, parties: RelyingParties,
                 now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.authority = authority
        self.parties = parties
        self.now = now

    def verify(self, operation: str, certificate: Certificate, party_id: str,
               purpose: CertKind | str, chain: Sequence[Certificate], now: dt.datetime | None,
               signed: tuple[bytes, bytes] | None = None) -> VerifiedCertificate:
        """Chain to this CA's root, validity at ``now`` (default: the clock), revocation
        (current state, whatever ``now`` says), the issuance record, the purpose and —
        with ``signed`` = (document, signature) — the signature.  Raises
        :class:`CertificateRejected` with the reason."""
        purpose = CertKind(purpose)
        at = aware(now) if now else self.now()
        error: PermissionDenied | CertificateRejected | None = None
        result: VerifiedCertificate | None = None
        cert: x509.Certificate | None = None
        extra: list[x509.Certificate] = []
        try:
            cert = load_certificate(certificate)
            extra = [load_certificate(c) for c in chain]
        except CertificateRejected as exc:
            error = exc
        serial = certs.serial_hex(cert.serial_number) if cert is not None else None
        with self.store.begin() as repo:
            try:
                self.parties.authorise(repo, party_id, purpose)
                if error is not None:
                    raise error
                assert cert is not None
                result = self._check(repo, cert, purpose, extra, at)
                if signed is not None:
                    _check_document_signature(cert, *signed)
                outcome = "ok"
            except PermissionDenied as exc:
                error, outcome = exc, "denied"
            except CertificateRejected as exc:
                error, outcome = exc, exc.reason.value
            self.parties.log(repo, party_id, operation, serial, purpose, outcome)
        if error is not None:
            raise error
        assert result is not None
        return result

    def status(self, serial: int | str, relying_party: str) -> CertificateStatus:
        """The CA's current word on one serial, for a registered relying party."""
        key = serial_key(serial)
        denied: PermissionDenied | None = None
        with self.store.begin() as repo:  # the refusal is logged too: raise after commit
            record = repo.certificate(key)
            kind = record.kind if record is not None else None
            try:
                self.parties.authorise(repo, relying_party, kind)
            except PermissionDenied as exc:
                denied = exc
            answer = CertificateStatus(key, "unknown") if record is None else CertificateStatus(
                key, record.status, record.kind, record.not_after, record.revoked_at,
                record.revocation_reason.value if record.revocation_reason else None)
            self.parties.log(repo, relying_party, "status", key, kind,
                             "denied" if denied else answer.status)
        if denied is not None:
            raise denied
        return answer

    def _check(
        self, repo: JpkiRepository, cert: x509.Certificate, purpose: CertKind,
        chain: Sequence[x509.Certificate], at: dt.datetime,
    ) -> VerifiedCertificate:
        root = self.authority.cas(repo, ROOT)[0]
        issuing = self.authority.cas(repo, ISSUING)
        ours = {c.cert.fingerprint(hashes.SHA256()) for c in [root, *issuing]}
        for extra in chain:
            if extra.fingerprint(hashes.SHA256()) not in ours:
                raise CertificateRejected(
                    RejectReason.UNKNOWN_CA,
                    f"提示された認証局証明書（{extra.subject.rfc4514_string()}）は"
                    "公的個人認証サービスの認証局のものではありません",
                    f"chain certificate {extra.subject.rfc4514_string()} is not one of this CA's",
                )
        issuer = _find_issuer(cert, issuing)
        _within(issuer.cert, at, "発行用認証局の証明書", "issuing CA certificate")
        _within(root.cert, at, "ルート認証局の証明書", "root CA certificate")
        try:
            issuer.cert.verify_directly_issued_by(root.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected(
                RejectReason.UNKNOWN_CA, "発行用認証局がルート認証局に連鎖しません",
                "the issuing CA does not chain to the root",
            ) from None
        serial = certs.serial_hex(cert.serial_number)
        record = repo.certificate(serial)
        der = cert.public_bytes(serialization.Encoding.DER)
        if record is None or record.certificate.public_bytes(serialization.Encoding.DER) != der:
            raise CertificateRejected(
                RejectReason.NOT_ISSUED,
                f"シリアル番号 {serial} の証明書は発行記録と一致しません",
                f"certificate {serial} does not match the CA's issuance records",
            )
        if record.status == "revoked":
            assert record.revoked_at is not None
            flag = record.revocation_reason or x509.ReasonFlags.unspecified
            raise CertificateRejected(
                RejectReason.REVOKED,
                f"この証明書は失効しています（{show_time(record.revoked_at, seconds=True)}、"
                f"理由: {REVOCATION_REASONS.get(flag, '')}）",
                f"certificate {serial} was revoked at {record.revoked_at.isoformat()} "
                f"({flag.value})",
            )
        _within(cert, at, "この証明書", "the certificate")
        if record.kind is not purpose or certs.kind_of(cert) is not purpose:
            raise CertificateRejected(
                RejectReason.WRONG_PURPOSE,
                f"この証明書は{record.kind.label}です。{purpose.label}としては使えません",
                f"this is a {record.kind.value} certificate, not a {purpose.value} certificate",
            )
        return VerifiedCertificate(
            serial=cert.serial_number, kind=record.kind, not_after=record.not_after,
            subject=certs.signing_subject(cert) if record.kind is CertKind.SIGNING else None,
            subject_id=certs.subject_id_of(cert) if record.kind is CertKind.AUTH else None,
        )


def load_certificate(certificate: Certificate) -> x509.Certificate:
    """A certificate object from itself, PEM or DER; MALFORMED when it is none of them."""
    if isinstance(certificate, x509.Certificate):
        return certificate
    try:
        if certificate.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(certificate)
        return x509.load_der_x509_certificate(certificate)
    except ValueError:
        raise CertificateRejected(
            RejectReason.MALFORMED, "証明書として読み取れません", "not a parsable X.509 certificate"
        ) from None


def _find_issuer(cert: x509.Certificate, issuing: list[CaKey]) -> CaKey:
    for ca in issuing:
        if ca.cert.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected(
                RejectReason.UNKNOWN_CA,
                "証明書の署名が認証局の鍵で検証できません（改ざん、または同名の別の認証局による発行）",
                "the certificate's signature does not verify under the CA's key "
                "(tampered, or issued by another CA using the same name)",
            ) from None
        return ca
    raise CertificateRejected(
        RejectReason.UNKNOWN_CA,
        f"この証明書は公的個人認証サービスの認証局が発行したものではありません"
        f"（発行者: {cert.issuer.rfc4514_string()}）",
        f"issued by {cert.issuer.rfc4514_string()}, not by this JPKI CA",
    )


def _within(cert: x509.Certificate, at: dt.datetime, what_ja: str, what_en: str) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateRejected(
            RejectReason.NOT_YET_VALID,
            f"{what_ja}の有効期間はまだ始まっていません"
            f"（{show_time(cert.not_valid_before_utc, seconds=True)} から）",
            f"{what_en} is not valid before {cert.not_valid_before_utc.isoformat()}",
        )
    if at > cert.not_valid_after_utc:
        raise CertificateRejected(
            RejectReason.EXPIRED,
            f"{what_ja}の有効期限（{show_time(cert.not_valid_after_utc, seconds=True)}）"
            "が切れています",
            f"{what_en} expired at {cert.not_valid_after_utc.isoformat()}",
        )


def _check_document_signature(cert: x509.Certificate, document: bytes, signature: bytes) -> None:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateRejected(RejectReason.MALFORMED, "RSA 鍵ではありません", "not an RSA key")
    try:
        key.verify(signature, document, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise CertificateRejected(
            RejectReason.BAD_SIGNATURE,
            "署名が文書と一致しません（文書または署名が改ざんされているか、別の鍵による署名です）",
            "the signature does not match the document (tampered, or made with another key)",
        ) from None
