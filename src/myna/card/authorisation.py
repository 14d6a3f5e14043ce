"""Municipality authorisation to reset (unlock) a card's PIN.

Only the municipality, after checking the holder in person at its counter,
may reset a locked PIN.  It hands the chip a short-lived token signed with its
own Ed25519 key (``keys.ed25519("municipality/<code>/card-pin-reset")``); the
chip accepts it only if the signature verifies under a municipality key it was
told to trust, the token names this card and this slot, has not expired and
has not been used before.

Token: ``myna-pin-reset.v1.<payload>.<signature>``, both base64url without
padding; the payload is canonical JSON ``{card_id, slot, municipality_code,
staff_id, issued_at, expires_at, token_id}`` and the signature covers the text
before the last dot.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from myna.card.pins import Slot
from myna.clock import utcnow
from myna.errors import PermissionDenied, ValidationError
from myna.keys import KeyStore
from myna.numbers import municipality_code

PREFIX = "myna-pin-reset.v1."
MAX_LIFETIME = dt.timedelta(minutes=30)



def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ResetClaims:
    """What a PIN-reset token says."""

    card_id: str
    slot: str
    municipality_code: str
    staff_id: str
    issued_at: str
    expires_at: str
    token_id: str


def key_name(code: str) -> str:
    """The KeyStore name of a municipality's PIN-reset signing key."""
    return f"municipality/{code}/card-pin-reset"


class MunicipalityCardDesk:
    """The card counter of one municipality: issues PIN-reset authorisations."""

    def __init__(
        self, code: str, keys: KeyStore, now: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.code = municipality_code.validate(code)
        self._key = keys.ed25519(key_name(self.code))
        self.now = now

    def public_key(self) -> Ed25519PublicKey:
        """The key J-LIS installs in the chip component as trusted for this municipality."""
        return self._key.public_key()

    def authorise_pin_reset(
        self, card_id: str, slot: Slot | str, staff_id: str,
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
    ) -> str:
        """A one-time token letting the chip reset ``slot``'s PIN (after in-person checks)."""
        slot = Slot(slot)
        if not staff_id:
            raise ValidationError("担当職員が指定されていません", "staff id is required")
        if not dt.timedelta(0) < lifetime <= MAX_LIFETIME:
            raise ValidationError(
                "許可の有効時間が不正です（30分以内）", "token lifetime must be within 30 minutes"
            )
        now = self.now().astimezone(dt.UTC).replace(microsecond=0)
        claims = ResetClaims(
            card_id=card_id, slot=slot.value, municipality_code=self.code, staff_id=staff_id,
            issued_at=now.isoformat(), expires_at=(now + lifetime).isoformat(),
            token_id=secrets.token_hex(16),
        )
        payload = json.dumps(asdict(claims), sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False).encode("utf-8")
        signed = PREFIX + _b64(payload)
        return signed + "." + _b64(self._key.sign(signed.encode("ascii")))


def _refused(ja: str, en: str) -> PermissionDenied:
    return PermissionDenied(
        f"暗証番号の再設定の許可が無効です: {ja}", f"PIN-reset token refused: {en}"
    )


def verify_reset_token(
    token: str, trusted: Mapping[str, Ed25519PublicKey], card_id: str, slot: Slot,
    now: dt.datetime,
) -> ResetClaims:
    """Check a PIN-reset token's signature, target and lifetime; return its claims.

    (Single use is enforced by the chip's storage, which records ``token_id``.)
    """
    if not token.startswith(PREFIX) or token.count(".") != 3:
        raise _refused("形式が不正です", "malformed token")
    signed, _, sig = token.rpartition(".")
    try:
        payload = _unb64(signed[len(PREFIX):])
        signature = _unb64(sig)
        data = json.loads(payload.decode("utf-8"))
        claims = ResetClaims(**data)
    except (ValueError, TypeError, binascii.Error):
        raise _refused("形式が不正です", "malformed token") from None
    key = trusted.get(claims.municipality_code)
    if key is None:
        raise _refused(
            f"市区町村 {claims.municipality_code} の鍵は信頼されていません",
            f"municipality {claims.municipality_code} is not trusted",
        )
    try:
        key.verify(signature, signed.encode("ascii"))
    except InvalidSignature:
        raise _refused("署名が検証できません（改ざんまたは偽造）", "bad signature") from None
    if claims.card_id != card_id or claims.slot != slot.value:
        raise _refused("別のカードまたは別の暗証番号のための許可です",
                       "token is for another card or slot")
    try:
        issued = dt.datetime.fromisoformat(claims.issued_at)
        expires = dt.datetime.fromisoformat(claims.expires_at)
    except ValueError:
        raise _refused("日時の形式が不正です", "malformed timestamps") from None
    if expires - issued > MAX_LIFETIME or not issued - dt.timedelta(minutes=5) <= now <= expires:
        raise _refused("有効期限が切れています", "token expired or not yet valid")
    return claims
