"""PIN rules of the card's two JPKI applications (design.md §4), free of storage.

* 利用者証明用 (auth): exactly 4 digits; locks after 3 wrong tries.
* 署名用 (signing): 6–16 characters of A–Z and 0–9 with at least one letter and
  one digit; locks after 5 wrong tries.

A correct PIN resets the count.  PINs are never stored: the chip keeps
``scrypt(HMAC-SHA256(pepper, slot ‖ PIN), salt = chip salt ‖ slot)``, the pepper
derived from the chip-storage key, so a copy of the database alone does not
allow even the 10,000 four-digit PINs to be tried offline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum

from myna.errors import InvalidFormat, InvalidLength, PermissionDenied


class Slot(StrEnum):
    """The two key slots of the chip (same values as ``myna.jpki.domain.CertKind``)."""

    SIGNING = "signing"
    AUTH = "auth"

    @property
    def label(self) -> str:
        return "署名用電子証明書" if self is Slot.SIGNING else "利用者証明用電子証明書"

    @property
    def max_tries(self) -> int:
        return 5 if self is Slot.SIGNING else 3


_AUTH_PIN = re.compile(r"[0-9]{4}")
_SIGNING_PIN = re.compile(r"[A-Z0-9]{6,16}")


def validate_pin(slot: Slot, pin: str) -> str:
    """Check a new PIN against the slot's rules; return it unchanged.

    >>> validate_pin(Slot.AUTH, "0421")
    '0421'
    >>> validate_pin(Slot.SIGNING, "ABC123")
    'ABC123'
    >>> validate_pin(Slot.SIGNING, "abc123")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.InvalidFormat: 署名用の暗証番号に使えるのは英大文字（A–Z）と数字（0–9）だけです ...
    """
    if slot is Slot.AUTH:
        if not pin.isascii() or not pin.isdigit():
            raise InvalidFormat(
                "利用者証明用の暗証番号は半角数字4桁です", "the auth PIN must be 4 ASCII digits"
            )
        if not _AUTH_PIN.fullmatch(pin):
            raise InvalidLength(
                f"利用者証明用の暗証番号は数字4桁です（{len(pin)}桁が入力されました）",
                f"the auth PIN must have 4 digits, not {len(pin)}",
            )
        return pin
    if not pin.isascii() or not re.fullmatch(r"[A-Z0-9]*", pin):
        raise InvalidFormat(
            "署名用の暗証番号に使えるのは英大文字（A–Z）と数字（0–9）だけです",
            "signing PIN may contain only A-Z and 0-9 (upper-case letters)",
        )
    if not _SIGNING_PIN.fullmatch(pin):
        raise InvalidLength(
            f"署名用の暗証番号は6文字以上16文字以下です（{len(pin)}文字が入力されました）",
            f"the signing PIN must have 6 to 16 characters, not {len(pin)}",
        )
    if pin.isdigit() or pin.isalpha():
        raise InvalidFormat(
            "署名用の暗証番号には英字と数字の両方を含めてください",
            "the signing PIN must contain both letters and digits",
        )
    return pin


def hash_pin(pepper: bytes, salt: bytes, slot: Slot, pin: str) -> bytes:
    """The stored form of a PIN (scrypt, N=2**14, r=8, p=1)."""
    keyed = hmac.new(pepper, f"{slot.value}\x00{pin}".encode(), hashlib.sha256).digest()
    return hashlib.scrypt(keyed, salt=salt + slot.value.encode(), n=2**14, r=8, p=1, dklen=32)


class PinIncorrect(PermissionDenied):
    """A wrong PIN; the count of remaining tries went down by one."""

    code = "pin_incorrect"

    def __init__(self, slot: Slot, remaining: int) -> None:
        self.slot = slot
        self.remaining = remaining
        super().__init__(
            f"{slot.label}の暗証番号が違います（あと{remaining}回間違えるとロックされます）",
            f"wrong {slot.value} PIN; {remaining} tries left before it locks",
        )


class PinLocked(PermissionDenied):
    """The PIN is locked: even the correct PIN is refused until a municipality resets it."""

    code = "pin_locked"

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        super().__init__(
            f"{slot.label}の暗証番号はロックされています。"
            "お住まいの市区町村の窓口で暗証番号の再設定（ロック解除）をしてください",
            f"the {slot.value} PIN is locked; only a municipality can reset it",
        )
