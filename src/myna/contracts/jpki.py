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
with its :class:`RejectReason`, in-process and over HTTP alike.  The JSON forms
(``as_json`` / ``from_json``) are what crosses the wire: bytes as base64, times and
dates as ISO 8601.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

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

    def as_json(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "message": self.message_ja,
                "message_en": self.message_en}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertificateRejected:
        return cls(RejectReason(data["reason"]), str(data["message"]), str(data["message_en"]))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Base64 text as bytes; a clear error for anything else."""
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ValidationError("base64 として読み取れません", "not base64") from None


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text is not None else None


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


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

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "birth_date": self.birth_date.isoformat(), "sex": self.sex,
                "address": self.address}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SigningSubject:
        return cls(str(data["name"]), dt.date.fromisoformat(data["birth_date"]),
                   str(data["sex"]), str(data["address"]))


@dataclass(frozen=True)
class RelyingParty:
    """A registered 署名検証者 / 利用者証明検証者."""

    party_id: str
    name: str
    kind: RelyingPartyKind
    category: PartyCategory
    approval_ref: str | None
    active: bool

    def as_json(self) -> dict[str, Any]:
        return {"party_id": self.party_id, "name": self.name, "kind": self.kind.value,
                "category": self.category.value, "approval_ref": self.approval_ref,
                "active": self.active}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RelyingParty:
        return cls(str(data["party_id"]), str(data["name"]), RelyingPartyKind(data["kind"]),
                   PartyCategory(data["category"]), data.get("approval_ref"),
                   bool(data["active"]))


@dataclass(frozen=True)
class VerifiedCertificate:
    """A certificate that passed every check, with what it says about its holder."""

    serial: int
    kind: CertKind
    not_after: dt.datetime
    subject: SigningSubject | None  # signing certificates: the four basic items
    subject_id: str | None  # auth certificates: the meaningless identifier

    def as_json(self) -> dict[str, Any]:
        return {"serial": format(self.serial, "X"), "kind": self.kind.value,
                "not_after": self.not_after.isoformat(),
                "subject": self.subject.as_json() if self.subject else None,
                "subject_id": self.subject_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerifiedCertificate:
        subject = data.get("subject")
        return cls(int(data["serial"], 16), CertKind(data["kind"]),
                   dt.datetime.fromisoformat(data["not_after"]),
                   SigningSubject.from_json(subject) if subject else None,
                   data.get("subject_id"))


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

    def as_json(self) -> dict[str, Any]:
        return {"serial": self.serial, "status": self.status,
                "kind": self.kind.value if self.kind else None,
                "not_after": _iso(self.not_after), "revoked_at": _iso(self.revoked_at),
                "revocation_reason": self.revocation_reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertificateStatus:
        kind = data.get("kind")
        return cls(str(data["serial"]), str(data["status"]), CertKind(kind) if kind else None,
                   _time(data.get("not_after")), _time(data.get("revoked_at")),
                   data.get("revocation_reason"))


@dataclass(frozen=True)
class CaCertificates:
    """The certificates a relying party installs, PEM: the root (the trust anchor),
    every issuing CA generation (newest first) and the delegated OCSP responder."""

    root: bytes
    issuing: tuple[bytes, ...]
    ocsp_responder: bytes

    def as_json(self) -> dict[str, Any]:
        return {"root": self.root.decode("ascii"),
                "issuing": [c.decode("ascii") for c in self.issuing],
                "ocsp_responder": self.ocsp_responder.decode("ascii")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaCertificates:
        return cls(str(data["root"]).encode("ascii"),
                   tuple(str(c).encode("ascii") for c in data["issuing"]),
                   str(data["ocsp_responder"]).encode("ascii"))


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
