"""Signed messages between intermediate servers and the hub.

Every message is canonical JSON (sorted keys, UTF-8, no spaces) signed with
the sender's Ed25519 key; the receiver checks the signature against the key
registered for the sender, the freshness of ``issued_at`` and — at the hub for
requests, at the provider's intermediate server for forwarded ones — that a
request id is never reused for different content.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from myna.errors import PermissionDenied, ValidationError

MAX_SKEW = dt.timedelta(minutes=5)


class Result(StrEnum):
    PROVIDED = "provided"
    REFUSED = "refused"
    PENDING = "pending"
    FAILED = "failed"
    NO_DATA = "no_data"
    DENIED = "denied"

    @property
    def label(self) -> str:
        return {
            "provided": "提供済み", "refused": "提供拒否（書面で手続を続けてください）",
            "pending": "承認待ち", "failed": "失敗（再送できます）", "no_data": "該当情報なし",
            "denied": "照会不可（別表第二に該当しない）",
        }[self.value]

    @property
    def final(self) -> bool:
        """Whether a retry with the same request id returns this answer again."""
        return self is not Result.FAILED


class BadSignature(PermissionDenied):
    code = "bad_signature"


def canonical(data: dict[str, Any]) -> bytes:
    """Canonical JSON bytes: what gets signed and hashed.

    >>> canonical({"b": 1, "a": "符号"})
    b'{"a":"\\xe7\\xac\\xa6\\xe5\\x8f\\xb7","b":1}'
    """
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


T = TypeVar("T", bound="Signed")


@dataclass(frozen=True)
class Signed:
    """Base of signed messages: ``signature`` covers every other field."""

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("signature", None)
        return data

    def digest(self) -> str:
        return hashlib.sha256(canonical(self.body())).hexdigest()

    def signed(self: T, key: Ed25519PrivateKey) -> T:
        sig = base64.b64encode(key.sign(canonical(self.body()))).decode()
        return type(self)(**(self.body() | {"signature": sig}))

    def verify(self, key: Ed25519PublicKey, sender: str) -> None:
        sig = getattr(self, "signature", "")
        try:
            key.verify(base64.b64decode(sig), canonical(self.body()))
        except (InvalidSignature, ValueError):
            raise BadSignature(
                f"{sender} からのメッセージの署名が正しくありません（偽造または改ざん）",
                f"message from {sender} has an invalid signature",
            ) from None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)}
        missing = names - set(data)
        if missing:
            raise ValidationError(f"メッセージの項目が足りません: {sorted(missing)}",
                                  f"message lacks {sorted(missing)}")
        return cls(**{k: data[k] for k in names})


def check_fresh(issued_at: str, now: dt.datetime) -> dt.datetime:
    """Refuse messages issued too long ago (replays) or in the future.

    Returns the last moment at which the same message would still pass this check
    (``issued_at`` + :data:`MAX_SKEW`, in UTC): whoever remembers messages to refuse their
    replays must remember each one until then, and need not remember it longer.
    """
    try:
        at = dt.datetime.fromisoformat(issued_at)
    except ValueError:
        raise ValidationError("発行時刻の形式が不正です", f"bad issued_at {issued_at!r}") from None
    if at.tzinfo is None:
        raise ValidationError("発行時刻にタイムゾーンがありません", "issued_at lacks a time zone")
    if abs(now - at) > MAX_SKEW:
        raise PermissionDenied(
            "メッセージの発行時刻が古すぎるか未来です（再送攻撃の疑い）",
            f"message issued at {issued_at} is outside ±{MAX_SKEW}",
        )
    return (at + MAX_SKEW).astimezone(dt.UTC)


@dataclass(frozen=True)
class LinkRequest(Signed):
    """情報照会: from the requester's intermediate server to the hub."""

    request_id: str
    requester: str
    requester_code: str
    row_id: str
    affair: str
    provider: str
    item: str
    issued_at: str
    signature: str = ""

    def content_digest(self) -> str:
        """What a retry must repeat exactly: everything but the time and signature."""
        body = self.body()
        body.pop("issued_at")
        return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class ProvideRequest(Signed):
    """The hub's forwarded request to the provider's intermediate server."""

    request_id: str
    requester: str
    requester_box_key: str
    provider: str
    provider_code: str
    row_id: str
    affair: str
    item: str
    issued_at: str
    signature: str = ""

    def content_digest(self) -> str:
        """What the hub repeats exactly when it forwards the same request again."""
        body = self.body()
        body.pop("issued_at")
        return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class ProvideAnswer(Signed):
    """The provider's answer; ``sealed`` is readable only by the requester."""

    request_id: str
    provider: str
    result: str
    sealed: str | None
    reason: str
    answered_at: str
    signature: str = ""


@dataclass(frozen=True)
class LinkAnswer:
    """What the requester gets back from the hub."""

    request_id: str
    result: Result
    sealed: str | None
    reason: str
    leaf_index: int | None = None
