"""How errors reach people: HTTP status codes and the JSON error shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from myna.errors import Conflict, MynaError, NotFound, PermissionDenied, ValidationError


class Unauthorized(MynaError):
    """No valid sign-in or bearer token (HTTP 401)."""

    code = "unauthorized"


class SignInRequired(Exception):
    """Raised by page handlers when nobody (or somebody else) is signed in."""

    def __init__(self, next_url: str | None = None, message: str | None = None) -> None:
        super().__init__(next_url or "")
        self.next_url = next_url
        self.message = message


_STATUS: tuple[tuple[type[MynaError], int], ...] = (
    (Unauthorized, 401),
    (ValidationError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
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
}


def request_validation_error(errors: Sequence[Any]) -> ValidationError:
    """Turn FastAPI's request validation errors into one Japanese message."""
    parts_ja: list[str] = []
    parts_en: list[str] = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form")]
        field = ".".join(loc) or "入力"
        label = "・".join(FIELD_LABELS.get(part, part) for part in loc) or "入力"
        if err.get("type") == "missing":
            parts_ja.append(f"「{label}」を入力してください")
        else:
            parts_ja.append(f"「{label}」の値が不正です")
        parts_en.append(f"{field}: {err.get('msg', 'invalid')}")
    return ValidationError(
        "入力に誤りがあります: " + "、".join(parts_ja or ["内容を確認してください"]),
        "invalid request: " + "; ".join(parts_en or ["invalid"]),
    )
