"""Reading the staff's HTML forms into the service layer's value objects."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import unicodedata
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from myna.errors import NotFound, PermissionDenied, ValidationError
from myna.numbers import municipality_code
from myna.registry.domain import (
    LIMITS,
    MEIJI_START,
    ForeignResidence,
    HouseholdPlacement,
    MoveOutCertificate,
    PersonDetails,
    parse_date,
)
from myna.text import check_characters, check_length
from myna.transport.limits import DEFAULT_MAX_BODY
from myna.web.errors import FIELD_LABELS
from myna.web.state import StaffServices

_SECRET_FIELDS = {"password", "csrf_token"}



def check_wareki(day: dt.date, label: str) -> dt.date:
    """Reject dates before 明治, which no 住民票 or 写し could print.

    >>> check_wareki(dt.date(400, 9, 12), "転出予定日")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 転出予定日が古すぎます（明治以降の日付を入力してください）: ...
    """
    if day < MEIJI_START:
        raise ValidationError(
            f"{label}が古すぎます（明治以降の日付を入力してください）: {day}",
            f"{label} is before {MEIJI_START} (the Meiji era)",
        )
    return day


#: The longest value of a form field (characters) unless :data:`FIELD_LIMITS` says otherwise.
DEFAULT_LIMIT = 200

#: Fields whose limit is the registry's own (see ``myna.registry.domain.LIMITS``) or larger.
FIELD_LIMITS: dict[str, int] = {
    "name": LIMITS["name"], "cert_name": LIMITS["name"], "care_of": LIMITS["name"],
    "furigana": LIMITS["furigana"], "cert_furigana": LIMITS["furigana"],
    "address": LIMITS["address"], "destination": LIMITS["address"],
    "cert_address": LIMITS["address"], "cert_destination": LIMITS["address"],
    "postcode": LIMITS["postcode"],
    "nationality": LIMITS["nationality"], "residence_status": LIMITS["residence_status"],
    "purpose": LIMITS["purpose"], "reason": LIMITS["reason"],
    "number_reason": LIMITS["reason"],
    "note": 500,
    "next": 500,
    "password": 200,
    "certificate_json": 20_000,
}

#: Fields that are a textarea: line breaks are part of the value.
MULTILINE_FIELDS = frozenset({"certificate_json", "note"})


def field_limit(key: str) -> int:
    """The longest value field ``key`` accepts (also printed as the input's ``maxlength``)."""
    return FIELD_LIMITS.get(key, DEFAULT_LIMIT)


def _field_problem(key: str, value: str) -> ValidationError | None:
    label = FIELD_LABELS.get(key, key)
    try:
        check_length(value, f"「{label}」", field_limit(key), label_en=key)
        check_characters(value, f"「{label}」", multiline=key in MULTILINE_FIELDS, label_en=key)
    except ValidationError as exc:
        return exc
    return None


class Form:
    """The fields of one submitted form, with Japanese messages for what is missing.

    Every text field is checked for its length and for characters no name,
    address or note contains (:mod:`myna.text`) before a handler reads it; a
    field that fails raises its message when read, so the handler shows the
    form again with the error, and nothing has been written.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: dict[str, ValidationError] = {}
        for key, value in data.items():
            if isinstance(value, str):
                problem = _field_problem(key, value)
                if problem is not None:
                    self.problems[key] = problem

    def raw(self, key: str) -> str:
        problem = self.problems.get(key)
        if problem is not None:
            raise problem
        value = self.data.get(key)
        return value if isinstance(value, str) else ""

    def text(self, key: str) -> str:
        return self.raw(key).strip()

    def required(self, key: str, label: str) -> str:
        value = self.text(key)
        if not value:
            raise ValidationError(f"{label}を入力してください", f"{key} is required")
        return value

    def date(self, key: str, label: str) -> dt.date:
        return check_wareki(parse_date(self.required(key, label), label), label)

    def optional_date(self, key: str, label: str) -> dt.date | None:
        value = self.text(key)
        return check_wareki(parse_date(value, label), label) if value else None

    def flag(self, key: str) -> bool:
        return self.text(key).lower() in ("1", "on", "true", "yes")

    def values(self) -> dict[str, str]:
        """What was typed, to show the form again (never the password, nor a refused value)."""
        return {k: v for k, v in self.data.items()
                if isinstance(v, str) and k not in _SECRET_FIELDS and k not in self.problems}


async def read_form(request: Request) -> Form:
    """The submitted form, after checking its anti-forgery token.

    The parser's own per-field ceiling is lifted to the body limit, so that an
    over-long field reaches :class:`Form`, which names the field and its limit.
    """
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:  # the parser would read undecodable bytes as Latin-1 and store mojibake
            (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                "送信された内容が UTF-8 ではありません（文字化けしています）。"
                "ブラウザの文字コードを確認して、もう一度送信してください",
                "the form is not UTF-8",
            ) from None
    data = await request.form(max_fields=300, max_part_size=DEFAULT_MAX_BODY)
    token = data.get("csrf_token")
    expected = request.session.get("csrf")
    if (
        not isinstance(token, str) or not isinstance(expected, str)
        or not secrets.compare_digest(token.encode(), expected.encode())
    ):
        raise PermissionDenied(
            "画面の有効期限が切れたか、不正な送信です。画面を開き直してからもう一度送信してください",
            "missing or wrong CSRF token",
        )
    return Form(dict(data))


def household_number(value: str) -> str:
    """Household numbers are 10 digits; ``12`` means ``0000000012``.

    >>> household_number("１２")
    '0000000012'
    """
    value = unicodedata.normalize("NFKC", value).strip()
    return value.zfill(10) if value.isdigit() else value


def person_from(form: Form) -> PersonDetails:
    foreign = None
    if form.text("nationality"):
        foreign = ForeignResidence(
            form.text("nationality"),
            form.required("residence_status", "在留資格"),
            form.optional_date("period_of_stay_until", "在留期間の満了日"),
        )
    return PersonDetails(
        form.required("name", "氏名"),
        form.required("furigana", "ふりがな"),
        form.date("birth_date", "生年月日"),
        form.required("sex", "性別"),
        foreign,
    )


def placement_from(form: Form) -> HouseholdPlacement:
    """An existing household when a 世帯番号 is given, else a new one at the address."""
    relationship = form.required("relationship", "続柄")
    number = form.text("household_number")
    if number:
        return HouseholdPlacement(relationship, household_number=household_number(number))
    return HouseholdPlacement(
        relationship, postcode=form.text("postcode") or None, address=form.text("address") or None,
    )


def certificate_from_json(text: str) -> MoveOutCertificate:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"転出証明書のJSONを読み取れません（{exc.lineno}行目 {exc.colno}文字目）",
            f"move-out certificate is not JSON: {exc}",
        ) from None
    except (ValueError, RecursionError):  # a 5,000-digit number, nesting thousands deep
        raise ValidationError(
            "転出証明書のJSONを読み取れません（桁数の多すぎる数や深すぎる入れ子があります）",
            "move-out certificate JSON has an over-long number or too deep nesting",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            "転出証明書のJSONは { … } の形式で貼り付けてください", "certificate must be an object"
        )
    return MoveOutCertificate.from_json(data)


def certificate_from_fields(form: Form) -> MoveOutCertificate:
    """A 転出証明書 typed in from paper, field by field (``cert_*``)."""
    code = form.required("cert_from_municipality_code", "転出元の市区町村コード")
    name = form.text("cert_from_municipality_name")
    if not name:
        origin = municipality_code.lookup(code)
        name = f"{origin.prefecture}{origin.name}"
    issued = form.text("cert_issued_at")
    data: dict[str, object] = {
        "certificate_id": form.required("cert_certificate_id", "転出証明書の番号"),
        "from_municipality_code": code,
        "from_municipality_name": name,
        "resident_code": form.required("cert_resident_code", "住民票コード"),
        "individual_number": form.required("cert_individual_number", "個人番号"),
        "name": form.required("cert_name", "氏名"),
        "furigana": form.required("cert_furigana", "ふりがな"),
        "birth_date": form.date("cert_birth_date", "生年月日").isoformat(),
        "sex": form.required("cert_sex", "性別"),
        "address": form.required("cert_address", "転出元の住所"),
        "household_number": form.text("cert_household_number") or "―",
        "relationship": form.text("cert_relationship") or "―",
        "destination": form.text("cert_destination") or form.text("address") or "―",
        "moving_on": form.date("cert_moving_on", "転出予定日").isoformat(),
        "issued_at": (
            parse_date(issued, "証明書の発行日").isoformat() + "T00:00:00+09:00"
            if issued else dt.datetime.now(dt.UTC).isoformat()
        ),
    }
    return MoveOutCertificate.from_json(data)


def _digits(value: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", value))


_CHECKED: tuple[tuple[str, str], ...] = (
    ("resident_code", "住民票コード"),
    ("individual_number", "個人番号"),
    ("name", "氏名"),
    ("furigana", "ふりがな"),
    ("birth_date", "生年月日"),
    ("sex", "性別"),
)


def verify_certificate(
    system: StaffServices, certificate: MoveOutCertificate, asking: str,
) -> MoveOutCertificate:
    """Check a presented 転出証明書 with the town that issued it (its node, or the same
    process), when that town is part of the installation.

    Returns the issuing town's certificate (or the presented one when the origin
    cannot be asked: a town outside the installation).  ``asking`` is the code of the
    town receiving the 転入届; the issuer logs the read with it.
    """
    origin = system.moveout_source(certificate.from_municipality_code, asking)
    if origin is None:
        return certificate
    try:
        stored = origin.moveout_certificate(certificate.certificate_id)
    except NotFound:
        raise ValidationError(
            f"転出元（{certificate.from_municipality_name}）に番号 "
            f"{certificate.certificate_id} の転出証明書の発行記録がありません",
            f"{certificate.from_municipality_code} has not issued certificate "
            f"{certificate.certificate_id}",
        ) from None
    different = []
    for key, label in _CHECKED:
        given, recorded = getattr(certificate, key), getattr(stored, key)
        if key in ("resident_code", "individual_number"):
            given, recorded = _digits(given), _digits(recorded)
        if given != recorded:
            different.append(label)
    if different:
        raise ValidationError(
            f"転出証明書の内容が転出元の記録と一致しません（{'、'.join(different)}）",
            f"certificate differs from the issuer's record: {different}",
        )
    return stored
