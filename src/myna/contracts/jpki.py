"""What parties outside J-LIS ask of its JPKI certificate authority (公的個人認証サービス).

The callers are relying parties — 署名検証者 (who check 署名用電子証明書, e.g. an
e-Tax-like service receiving a signed return) and 利用者証明検証者 (who check
利用者証明用電子証明書 at a login) — registered with J-LIS under 公的個人認証法
(署名検証者 17条, 利用者証明検証者 38条の2; a private company needs the minister's
approval, 総務大臣認定事業者).  Registering or withdrawing a party is J-LIS's own
administrative act.

Everything carried is plain data: certificates, CRLs and OCSP messages as DER (or
PEM) bytes, times as aware datetimes, the signer's four basic items as
:class:`SigningSubject`.  A refusal to verify is :class:`CertificateRejected`
with its :class:`RejectReason`, in-process and over HTTP alike.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from myna.errors import InvalidFormat, ValidationError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SEXES = ("男", "女")


class CertKind(StrEnum):
    """The two certificates on a card; also the purpose a relying party checks for."""

    SIGNING = "signing"
    AUTH = "auth"

    @property
    def label(self) -> str:
        return "署名用電子証明書" if self is CertKind.SIGNING else "利用者証明用電子証明書"


class RelyingPartyKind(StrEnum):
    """署名検証者 checks signing certificates, 利用者証明検証者 auth certificates."""

    SIGNATURE_VERIFIER = "署名検証者"
    AUTH_VERIFIER = "利用者証明検証者"
    BOTH = "署名検証者・利用者証明検証者"

    def may_check(self, kind: CertKind) -> bool:
        if self is RelyingPartyKind.BOTH:
            return True
        return (kind is CertKind.SIGNING) == (self is RelyingPartyKind.SIGNATURE_VERIFIER)


class PartyCategory(StrEnum):
    """Who the relying party is: a public body or a company approved by the minister."""

    PUBLIC = "行政機関等"
    APPROVED_PRIVATE = "総務大臣認定事業者"


class RejectReason(StrEnum):
    """Why a certificate or signature was refused."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNKNOWN_CA = "unknown_ca"
    NOT_ISSUED = "not_issued"
    WRONG_PURPOSE = "wrong_purpose"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"


class CertificateRejected(ValidationError):
    """A certificate or a signature did not pass verification."""

    code = "certificate_rejected"

    def __init__(self, reason: RejectReason, message_ja: str, message_en: str) -> None:
        self.reason = reason
        super().__init__(message_ja, message_en)


@dataclass(frozen=True)
class SigningSubject:
    """The four basic items (基本4情報) the signing certificate carries, exactly."""

    name: str
    birth_date: dt.date
    sex: str
    address: str

    def __post_init__(self) -> None:
        for label_ja, label_en, value in (
            ("氏名", "name", self.name), ("住所", "address", self.address)
        ):
            if not value.strip():
                raise ValidationError(f"{label_ja}が空です", f"{label_en} is empty")
            if _CONTROL.search(value):
                raise InvalidFormat(
                    f"{label_ja}に制御文字が含まれています",
                    f"{label_en} contains control characters",
                )
        if len(self.name) > 64:
            raise ValidationError(
                "氏名が長すぎます（64文字まで）", "name longer than 64 characters (ub-common-name)"
            )
        if self.sex not in SEXES:
            raise ValidationError(
                f"性別が不正です: {self.sex!r}（「男」または「女」）",
                f"sex must be 男 or 女, not {self.sex!r}",
            )


@dataclass(frozen=True)
class RelyingParty:
    """A registered 署名検証者 / 利用者証明検証者."""

    party_id: str
    name: str
    kind: RelyingPartyKind
    category: PartyCategory
    approval_ref: str | None
    active: bool


@dataclass(frozen=True)
class VerifiedCertificate:
    """A certificate that passed every check, with what it says about its holder."""

    serial: int
    kind: CertKind
    not_after: dt.datetime
    subject: SigningSubject | None  # signing certificates: the four basic items
    subject_id: str | None  # auth certificates: the meaningless identifier


@dataclass(frozen=True)
class CertificateStatus:
    """The CA's current word on one serial: ``good``, ``revoked`` or ``unknown``.

    ``revocation_reason`` is the RFC 5280 name (``keyCompromise`` …).
    """

    serial: str  # upper-case hex
    status: str
    kind: CertKind | None = None
    not_after: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None


@dataclass(frozen=True)
class CaCertificates:
    """The certificates a relying party installs, PEM: the root (the trust anchor),
    every issuing CA generation (newest first) and the delegated OCSP responder."""

    root: bytes
    issuing: tuple[bytes, ...]
    ocsp_responder: bytes


class JpkiApi(Protocol):
    """J-LIS's JPKI CA as relying parties (and J-LIS's own administration) reach it."""

    def register_relying_party(
        self, party_id: str, name: str, kind: RelyingPartyKind | str, *,
        category: PartyCategory | str = PartyCategory.PUBLIC, approval_ref: str | None = None,
        update_existing: bool = False,
    ) -> RelyingParty:
        """Register (or, with ``update_existing``, change) a relying party; J-LIS only."""
        ...

    def deregister_relying_party(self, party_id: str) -> None:
        """Withdraw a registration; later questions from that party are refused."""
        ...

    def verify_signature(
        self, document: bytes, signature: bytes, certificate: bytes, *,
        relying_party: str, purpose: CertKind = CertKind.SIGNING,
        chain: Sequence[bytes] = (), now: dt.datetime | None = None,
    ) -> VerifiedCertificate:
        """Check an RSASSA-PKCS1-v1_5/SHA-256 signature, the certificate (PEM or DER), its
        chain to the JPKI root and its current status; :class:`CertificateRejected` says why
        not."""
        ...

    def certificate_status(self, serial: int | str, *, relying_party: str) -> CertificateStatus:
        """The current status of a card certificate by serial (int or hex)."""
        ...

    def ocsp_response(self, request_der: bytes, relying_party: str) -> bytes:
        """An RFC 6960 OCSP response (DER) to an OCSP request (DER)."""
        ...

    def current_crl(self, *, relying_party: str, which: str = "issuing") -> bytes:
        """The CRL (DER) listing every revocation up to now (``which="root"``: the ARL)."""
        ...

    def ca_certificates(self) -> CaCertificates:
        """The CA certificates to install (PEM)."""
        ...
