"""How errors reach people: HTTP status codes and the JSON error shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from myna.errors import (
    Conflict,
    MynaError,
    NotFound,
    PermissionDenied,
    Unavailable,
    ValidationError,
)


class Unauthorized(MynaError):
    """No valid sign-in or bearer token (HTTP 401)."""

    code = "unauthorized"


class MalformedRequest(ValidationError):
    """A body that is not JSON at all, or not UTF-8 (HTTP 400)."""

    code = "bad_request"


class SignInRequired(Exception):
    """Raised by page handlers when nobody (or somebody else) is signed in."""

    def __init__(self, next_url: str | None = None, message: str | None = None) -> None:
        super().__init__(next_url or "")
        self.next_url = next_url
        self.message = message


_STATUS: tuple[tuple[type[MynaError], int], ...] = (
    (Unauthorized, 401),
    (MalformedRequest, 400),
    (ValidationError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
    (Unavailable, 503),
)


def status_of(exc: MynaError) -> int:
    """The HTTP status code for a Myna error.

    >>> status_of(NotFound("なし"))
    404
    """
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(exc: MynaError) -> dict[str, Any]:
    """``{"error": code, "message": 日本語, "message_en": English}``."""
    return {"error": exc.code, "message": exc.message_ja, "message_en": exc.message_en}


FIELD_LABELS = {
    "purpose": "目的",
    "name": "氏名",
    "furigana": "ふりがな",
    "birth_date": "生年月日",
    "sex": "性別",
    "address": "住所",
    "number": "個人番号",
    "username": "ユーザー名",
    "password": "パスワード",
    "person": "本人",
    "placement": "世帯",
    "relationship": "続柄",
    "household_number": "世帯番号",
    "postcode": "郵便番号",
    "certificate": "転出証明書",
    "moved_on": "転入日",
    "destination": "転出先",
    "moving_on": "転出予定日",
    "number_reason": "個人番号記載の理由",
    "resident_id": "住民ID",
    "code": "市区町村コード",
    "letter_id": "通知番号",
    "batch_id": "一括番号",
    "nationality": "国籍・地域",
    "residence_status": "在留資格",
    "period_of_stay_until": "在留期間の満了日",
    "foreign": "外国人住民の事項",
    "reason": "理由",
    "note": "備考",
    "care_of": "気付（施設名等）",
    "staff_id": "職員ID",
    "municipality": "市区町村",
    "died_on": "死亡日",
    "certificate_json": "転出証明書（JSON）",
    "confirm_not_duplicate": "別の子であることの確認",
    "cert_certificate_id": "転出証明書の番号",
    "cert_from_municipality_code": "転出元の市区町村コード",
    "cert_from_municipality_name": "転出元の市区町村名",
    "cert_resident_code": "住民票コード",
    "cert_individual_number": "個人番号",
    "cert_name": "氏名",
    "cert_furigana": "ふりがな",
    "cert_birth_date": "生年月日",
    "cert_sex": "性別",
    "cert_address": "転出元の住所",
    "cert_household_number": "転出元の世帯番号",
    "cert_relationship": "転出元の続柄",
    "cert_destination": "転出先",
    "cert_moving_on": "転出予定日",
    "cert_issued_at": "証明書の発行日",
    "certificate_id": "転出証明書の番号",
    "from_municipality_code": "転出元の市区町村コード",
    "from_municipality_name": "転出元の市区町村名",
    "resident_code": "住民票コード",
    "individual_number": "個人番号",
    "issued_at": "証明書の発行日時",
    "include_number": "個人番号の記載",
    "whole_household": "世帯全員",
    "page": "ページ番号",
    "per_page": "1ページの件数",
    "reveal_number": "全桁の表示",
    "request_id": "申請番号",
}


def _field_label(loc: Sequence[Any]) -> tuple[str, str]:
    parts = [str(x) for x in loc
             if x not in ("body", "query", "path", "form") and not isinstance(x, int)]
    return "・".join(FIELD_LABELS.get(p, p) for p in parts) or "入力", ".".join(parts) or "input"


def _message_ja(err: dict[str, Any], label: str) -> str:
    """What was wrong with one field, in Japanese."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, MynaError):
        return f"「{label}」: {cause.message_ja}"
    if kind == "missing":
        return f"「{label}」を入力してください"
    if kind == "string_too_long":
        return f"「{label}」が長すぎます（{ctx.get('max_length')}文字まで）"
    if kind == "string_unicode":
        return (f"「{label}」に不正な文字コード（サロゲートなど、UTF-8 として表せない文字）"
                "があります")
    if kind == "string_too_short":
        return f"「{label}」が短すぎます（{ctx.get('min_length')}文字以上）"
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"「{label}」の日付の形式が不正です（例: 2024-04-01）"
    if kind in ("greater_than_equal", "greater_than"):
        return f"「{label}」は {ctx.get('ge', ctx.get('gt'))} 以降（以上）にしてください"
    if kind in ("less_than_equal", "less_than"):
        return f"「{label}」は {ctx.get('le', ctx.get('lt'))} 以前（以下）にしてください"
    if kind in ("literal_error", "enum"):
        return f"「{label}」は {ctx.get('expected', '決められた値')} のいずれかです"
    if kind == "extra_forbidden":
        return f"「{label}」という項目はありません"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"「{label}」は整数で入力してください"
    if kind in ("bool_parsing", "bool_type"):
        return f"「{label}」は true か false です"
    if kind in ("string_type",):
        return f"「{label}」は文字列で入力してください"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"「{label}」は {{ … }} の形式で送ってください"
    return f"「{label}」の値が不正です"


def request_validation_error(errors: Sequence[Any]) -> ValidationError:
    """Turn FastAPI's request validation errors into one message per language.

    >>> request_validation_error([{"type": "string_too_long", "loc": ("body", "person",
    ...     "furigana"), "msg": "String should have at most 200 characters",
    ...     "ctx": {"max_length": 200}}]).message_ja
    '入力に誤りがあります: 「本人・ふりがな」が長すぎます（200文字まで）'
    """
    parts_ja: list[str] = []
    parts_en: list[str] = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        label, field = _field_label(err.get("loc", ()))
        parts_ja.append(_message_ja(err, label))
        cause = (err.get("ctx") or {}).get("error")
        message_en = cause.message_en if isinstance(cause, MynaError) else err.get("msg")
        parts_en.append(f"{field}: {message_en or 'invalid'}")
    return ValidationError(
        "入力に誤りがあります: " + "、".join(parts_ja or ["内容を確認してください"]),
        "invalid request: " + "; ".join(parts_en or ["invalid"]),
    )


def malformed_json(errors: Sequence[Any]) -> MalformedRequest | None:
    """The 400 error for a body FastAPI could not decode, or None when it was JSON.

    >>> malformed_json([{"type": "json_invalid", "loc": ("body", 12),
    ...                  "ctx": {"error": "Expecting value"}}]).message_ja
    'JSON として読み取れません（12文字目: Expecting value）。本文を確認してください'
    """
    for err in errors:
        if isinstance(err, dict) and err.get("type") == "json_invalid":
            loc = err.get("loc", ())
            pos = loc[-1] if loc and isinstance(loc[-1], int) else None
            detail = str((err.get("ctx") or {}).get("error", ""))
            where = f"{pos}文字目: " if pos is not None else ""
            return MalformedRequest(
                f"JSON として読み取れません（{where}{detail}）。本文を確認してください",
                f"the body is not valid JSON ({'position ' + str(pos) + ': ' if pos else ''}"
                f"{detail})",
            )
    return None
