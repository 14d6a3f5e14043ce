"""JPKI (公的個人認証サービス) rules, free of storage and transport.

The law's rules for the two certificates on the 個人番号カード (design.md §4,
公的個人認証法 and its 施行規則):

* 署名用電子証明書 (signing): name, birth date, sex and address; not issued to
  anyone under 15 on the issue date; revoked whenever one of the four items changes.
* 利用者証明用電子証明書 (user authentication): no personal data; survives moves.
* Both are valid from issue **through the holder's 5th birthday after the issue
  date** (発行の日後5回目の誕生日まで): the last valid second is 23:59:59 JST on that
  birthday.  A birthday falling on the issue date itself does not count ("after").
  Someone born on 29 February has their birthday on 28 February in common years
  (one replaceable rule: :func:`birthday_in`).

Object identifiers live under Myna's own arc ``2.25.167491082206999376147722605497722320262``,
a UUID-derived OID (ITU-T X.667 / RFC 4122 §A) that needs no registration and
can collide with no one else's::

    MYNA_ARC.1          JPKI
    MYNA_ARC.1.1.1      certificate policy: 署名用電子証明書
    MYNA_ARC.1.1.2      certificate policy: 利用者証明用電子証明書
    MYNA_ARC.1.2.1      attribute: 住所 (address), UTF8String, stored exactly

The signing certificate carries the four basic items as follows:

* name: the subject's commonName, UTF8String, exactly as on the 住民票 (never
  NFKC-normalised);
* birth date and sex: the standard RFC 3739 §3.2.2 attributes ``dateOfBirth``
  (GeneralizedTime at 12:00:00Z) and ``gender`` ("M"/"F") in the
  subjectDirectoryAttributes extension (RFC 5280 §4.2.1.8, non-critical);
* address: the private attribute ``MYNA_ARC.1.2.1`` (UTF8String) in the same
  extension, since X.520 postalAddress is limited to 6 lines of 30 characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from myna.clock import JST
from myna.contracts.jpki import CertificateRejected as CertificateRejected
from myna.contracts.jpki import CertKind as CertKind
from myna.contracts.jpki import PartyCategory as PartyCategory
from myna.contracts.jpki import RejectReason as RejectReason
from myna.contracts.jpki import RelyingParty as RelyingParty
from myna.contracts.jpki import RelyingPartyKind as RelyingPartyKind
from myna.contracts.jpki import SigningSubject as SigningSubject
from myna.contracts.jpki import VerifiedCertificate as VerifiedCertificate
from myna.errors import InvalidFormat, ValidationError
from myna.jpki import der

MYNA_ARC = "2.25.167491082206999376147722605497722320262"
JPKI_ARC = f"{MYNA_ARC}.1"
POLICY_SIGNING = ObjectIdentifier(f"{JPKI_ARC}.1.1")
POLICY_AUTH = ObjectIdentifier(f"{JPKI_ARC}.1.2")
ATTR_ADDRESS = ObjectIdentifier(f"{JPKI_ARC}.2.1")
ATTR_DATE_OF_BIRTH = ObjectIdentifier("1.3.6.1.5.5.7.9.1")  # RFC 3739 id-pda-dateOfBirth
ATTR_GENDER = ObjectIdentifier("1.3.6.1.5.5.7.9.3")  # RFC 3739 id-pda-gender
SUBJECT_DIRECTORY_ATTRIBUTES = ObjectIdentifier("2.5.29.9")

MIN_SIGNING_AGE = 15
VALIDITY_BIRTHDAYS = 5

_SEX_TO_GENDER = {"男": "M", "女": "F"}
_GENDER_TO_SEX = {v: k for k, v in _SEX_TO_GENDER.items()}
# CertKind, RelyingPartyKind, SigningSubject … are the relying parties' vocabulary: they
# live in their contract (myna.contracts.jpki) and are named here as well.

ROOT, ISSUING, OCSP = "root", "issuing", "ocsp"  # the roles of the CA's own certificates


def policy_of(kind: CertKind) -> ObjectIdentifier:
    """The certificate policy OID that marks a card certificate of ``kind``."""
    return POLICY_SIGNING if kind is CertKind.SIGNING else POLICY_AUTH


@dataclass(frozen=True)
class CertificateRecord:
    """J-LIS's record of one card certificate."""

    serial: int
    kind: CertKind
    card_id: str
    person_key: str
    not_before: dt.datetime
    not_after: dt.datetime
    issued_at: dt.datetime
    status: str  # good | revoked
    revoked_at: dt.datetime | None
    revocation_reason: x509.ReasonFlags | None
    certificate: x509.Certificate


@dataclass(frozen=True)
class QueryRecord:
    """One logged question: who asked, about which serial, when, and the answer."""

    party_id: str
    operation: str
    serial: str | None
    purpose: str | None
    result: str
    at: dt.datetime


def serial_key(serial: int | str) -> str:
    """A serial as the CA stores it (upper-case hex), from an int or hex text.

    >>> serial_key(" 0x1f ")
    '1F'
    """
    if isinstance(serial, int):
        return format(serial, "X")
    text = serial.strip().upper().removeprefix("0X")
    try:
        return format(int(text, 16), "X")
    except ValueError:
        raise ValidationError(
            f"シリアル番号が不正です: {serial}", f"invalid serial number {serial!r}"
        ) from None


def check_ref(label_ja: str, label_en: str, value: str) -> str:
    """An identifier (card id, person key, relying party id): printable, ≤ 64, unpadded."""
    if not value or len(value) > 64 or not value.isprintable() or value.strip() != value:
        raise ValidationError(f"{label_ja}が不正です: {value!r}", f"invalid {label_en} {value!r}")
    return value


# RFC 5280 §5.3.1 reasons an end-entity certificate may be revoked for, with the
# words J-LIS staff would use.  certificateHold/removeFromCRL (suspension) and the
# CA-level reasons are not used for end entities.
REVOCATION_REASONS: dict[x509.ReasonFlags, str] = {
    x509.ReasonFlags.unspecified: "理由の指定なし",
    x509.ReasonFlags.key_compromise: "鍵の危殆化（カードの紛失・盗難を含む）",
    x509.ReasonFlags.affiliation_changed: "記載事項（基本4情報）の変更",
    x509.ReasonFlags.superseded: "新しい証明書への更新",
    x509.ReasonFlags.cessation_of_operation: "利用の終了（死亡・国外転出・カード廃止等）",
    x509.ReasonFlags.privilege_withdrawn: "発行の取消",
}


def revocation_reason(reason: x509.ReasonFlags | str) -> x509.ReasonFlags:
    """An RFC 5280 reason by flag or name (``"keyCompromise"``).

    >>> revocation_reason("keyCompromise").name
    'key_compromise'
    """
    if isinstance(reason, str) and not isinstance(reason, x509.ReasonFlags):
        try:
            flag = x509.ReasonFlags(reason)
        except ValueError:
            flag = None
    else:
        flag = reason
    if flag is None or flag not in REVOCATION_REASONS:
        allowed = ", ".join(f.value for f in REVOCATION_REASONS)
        raise ValidationError(
            f"失効理由が不正です: {reason}（使用できる理由: {allowed}）",
            f"revocation reason {reason!s} is not one of {allowed}",
        )
    return flag


# -- validity ------------------------------------------------------------------


def birthday_in(birth: dt.date, year: int) -> dt.date:
    """The birthday in ``year``; 29 February becomes 28 February in common years.

    >>> birthday_in(dt.date(2004, 2, 29), 2027)
    datetime.date(2027, 2, 28)
    """
    try:
        return birth.replace(year=year)
    except ValueError:
        return dt.date(year, 2, 28)


def age_on(birth: dt.date, day: dt.date) -> int:
    """Age in whole years on ``day`` (年齢計算ニ関スル法律: a year completes on the birthday).

    >>> age_on(dt.date(2011, 11, 23), dt.date(2026, 11, 22))
    14
    >>> age_on(dt.date(2011, 11, 22), dt.date(2026, 11, 22))
    15
    """
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def nth_birthday_after(birth: dt.date, day: dt.date, n: int) -> dt.date:
    """The ``n``-th birthday strictly after ``day``.

    >>> nth_birthday_after(dt.date(1990, 6, 15), dt.date(2026, 11, 22), 5)
    datetime.date(2031, 6, 15)
    >>> nth_birthday_after(dt.date(1990, 11, 22), dt.date(2026, 11, 22), 5)
    datetime.date(2031, 11, 22)
    """
    year = day.year if birthday_in(birth, day.year) > day else day.year + 1
    return birthday_in(birth, year + n - 1)


def expiry_date(birth: dt.date, issued_on: dt.date) -> dt.date:
    """The last valid day: the 5th birthday after the issue date."""
    if birth > issued_on:
        raise ValidationError(
            "生年月日が発行日より後です", f"birth date {birth} is after the issue date {issued_on}"
        )
    return nth_birthday_after(birth, issued_on, VALIDITY_BIRTHDAYS)


def not_after(birth: dt.date, issued_on: dt.date) -> dt.datetime:
    """The certificate's notAfter: 23:59:59 JST on the 5th birthday after issue, in UTC.

    >>> not_after(dt.date(1990, 6, 15), dt.date(2026, 11, 22)).isoformat()
    '2031-06-15T14:59:59+00:00'
    """
    last = dt.datetime.combine(expiry_date(birth, issued_on), dt.time(23, 59, 59), JST)
    return last.astimezone(dt.UTC)


def check_signing_age(birth: dt.date, issued_on: dt.date) -> None:
    """署名用電子証明書 is not issued to anyone under 15 on the issue date."""
    age = age_on(birth, issued_on)
    if age < MIN_SIGNING_AGE:
        raise ValidationError(
            f"署名用電子証明書は15歳未満の方には発行できません"
            f"（生年月日 {birth.isoformat()}、発行日 {issued_on.isoformat()} 時点で {age} 歳）",
            f"signing certificates are not issued to persons under {MIN_SIGNING_AGE}: "
            f"born {birth.isoformat()}, aged {age} on {issued_on.isoformat()}",
        )


# -- the signing certificate's subject ----------------------------------------------


FIELD_NAMES: dict[str, str] = {
    "name": "name", "氏名": "name",
    "birth_date": "birth_date", "生年月日": "birth_date",
    "sex": "sex", "性別": "sex",
    "address": "address", "住所": "address",
}


def basic_items(changed_fields: Iterable[str]) -> set[str]:
    """Which of the four basic items are among ``changed_fields``.

    Other fields of the 住民票 (furigana, household, …) are not in the
    certificate and are ignored.

    >>> sorted(basic_items(["住所", "furigana"]))
    ['address']
    """
    return {FIELD_NAMES[f] for f in changed_fields if f in FIELD_NAMES}


def subject_directory_attributes(subject: SigningSubject) -> bytes:
    """The DER value of the subjectDirectoryAttributes extension for ``subject``."""
    born = subject.birth_date.strftime("%Y%m%d") + "120000Z"

    def attribute(oid: ObjectIdentifier, value: bytes) -> bytes:
        return der.sequence(der.encode_oid(oid.dotted_string), der.set_of(value))

    return der.sequence(
        attribute(ATTR_DATE_OF_BIRTH, der.tlv(der.GENERALIZED_TIME, born.encode("ascii"))),
        attribute(ATTR_GENDER, der.tlv(der.PRINTABLE_STRING, _SEX_TO_GENDER[subject.sex].encode())),
        attribute(ATTR_ADDRESS, der.tlv(der.UTF8_STRING, subject.address.encode("utf-8"))),
    )


def parse_subject_directory_attributes(value: bytes) -> dict[str, str | dt.date]:
    """Birth date, sex and address read back from the extension's DER value."""
    tag, body, rest = der.read(value)
    if tag != der.SEQUENCE or rest:
        raise InvalidFormat("属性拡張の形式が不正です", "subjectDirectoryAttributes is malformed")
    out: dict[str, str | dt.date] = {}
    for attr_tag, attr in der.elements(body):
        parts = list(der.elements(attr))
        if attr_tag != der.SEQUENCE or len(parts) != 2 or parts[0][0] != der.OBJECT_IDENTIFIER:
            raise InvalidFormat("属性の形式が不正です", "malformed Attribute")
        oid = der.oid_from_value(parts[0][1])
        values = list(der.elements(parts[1][1]))
        if len(values) != 1:
            raise InvalidFormat("属性値が1つではありません", "attribute must have one value")
        vtag, raw = values[0]
        if oid == ATTR_DATE_OF_BIRTH.dotted_string and vtag == der.GENERALIZED_TIME:
            out["birth_date"] = dt.datetime.strptime(raw.decode("ascii")[:8], "%Y%m%d").date()
        elif oid == ATTR_GENDER.dotted_string and vtag == der.PRINTABLE_STRING:
            out["sex"] = _GENDER_TO_SEX[raw.decode("ascii").upper()]
        elif oid == ATTR_ADDRESS.dotted_string and vtag == der.UTF8_STRING:
            out["address"] = raw.decode("utf-8")
    return out
