"""The IC chip of the 個人番号カード: two JPKI key slots behind PINs.

One :class:`ChipStore` holds the chips of all cards (node "card-chips"), each
chip a set of rows with its own state.  The key pairs are generated inside this
component when J-LIS personalises the card; only public keys and certificates
come out.  No method returns a private key: the chip signs (RSASSA-PKCS1-v1_5,
SHA-256) after the right PIN.  At rest the keys are AES-256-GCM-wrapped under
a key derived from ``keys.secret("card/chip-storage")``.

PIN rules (design.md §4, :mod:`myna.card.pins`): auth PIN 4 digits, locks after
3 wrong tries; signing PIN 6–16 of A–Z/0–9 with letters and digits, locks after
5.  A correct PIN resets the count; a locked PIN refuses even the correct PIN
until the municipality authorises a reset (:mod:`myna.card.authorisation`).
Counts are kept in the database, updated atomically, so every process sees them.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Engine, Row, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from myna.card import storage as t
from myna.card.authorisation import verify_reset_token
from myna.card.pins import PinIncorrect, PinLocked, Slot, hash_pin, validate_pin
from myna.clock import as_utc, utcnow
from myna.db import migrate
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.keys import KeyStore
from myna.numbers import municipality_code

KEY_BITS = 2048



def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _check_card_id(card_id: str) -> str:
    if not card_id or len(card_id) > 64 or not card_id.isascii() or not card_id.isprintable() \
            or card_id.strip() != card_id:
        raise ValidationError(f"カードIDが不正です: {card_id!r}", f"invalid card id {card_id!r}")
    return card_id


@dataclass(frozen=True)
class PinStatus:
    """What the chip tells about a PIN (never the PIN itself)."""

    slot: Slot
    is_set: bool
    failures: int
    remaining: int
    locked: bool


@dataclass(frozen=True)
class SlotState:
    """A slot as personalised so far: its key, its certificate's serial, its PIN."""

    slot: Slot
    public_key: rsa.RSAPublicKey
    certificate_serial: int | None
    pin_set: bool


class ChipStore:
    """The chips of all cards, with their keys, certificates, PINs and retry counters."""

    STORAGE_KEY = "card/chip-storage"

    def __init__(
        self, engine: Engine, keys: KeyStore, now: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.now = now
        secret = keys.secret(self.STORAGE_KEY)
        self._wrap = AESGCM(_derive(secret, b"myna card chip key wrap v1"))
        self._pepper = _derive(secret, b"myna card chip pin pepper v1")

    def create_schema(self) -> None:
        migrate(self.engine, "myna.card")

    def _now(self) -> dt.datetime:
        return as_utc(self.now())

    # -- manufacture and personalisation (at J-LIS) ------------------------------

    def manufacture(self, card_id: str) -> None:
        """A new, empty chip for ``card_id`` with its own random salt."""
        _check_card_id(card_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.chips).values(
                    card_id=card_id, salt=os.urandom(16), status="active",
                    manufactured_at=self._now(),
                ))
                self._event(conn, card_id, None, "manufactured")
        except IntegrityError:
            raise Conflict(f"カード {card_id} は既に製造されています",
                           f"card {card_id} already exists") from None

    def generate_key_pair(self, card_id: str, slot: Slot | str) -> rsa.RSAPublicKey:
        """Generate (or replace) the slot's RSA 2048 key pair on the chip; return the public key.

        Replacing a key discards the slot's certificate; the PIN and its counter stay.
        """
        slot = Slot(slot)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        public = key.public_key()
        spki = public.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        now = self._now()
        with self.engine.begin() as conn:
            self._active_chip(conn, card_id)
            row = self._slot_row(conn, card_id, slot)
            generation = row.key_generation + 1 if row else 1
            wrapped = self._wrap_key(key, card_id, slot, generation)
            if row is None:
                conn.execute(insert(t.chip_slots).values(
                    card_id=card_id, slot=slot.value, key_generation=generation,
                    public_key=spki, wrapped_key=wrapped, certificate=None, pin_hash=None,
                    failures=0, max_tries=slot.max_tries, locked=False, updated_at=now,
                ))
            else:
                conn.execute(self._update(card_id, slot).values(
                    key_generation=generation, public_key=spki, wrapped_key=wrapped,
                    certificate=None, updated_at=now,
                ))
            self._event(conn, card_id, slot, "key_generated")
        return public

    def _wrap_key(self, key: rsa.RSAPrivateKey, card_id: str, slot: Slot, gen: int) -> bytes:
        nonce = os.urandom(12)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return nonce + self._wrap.encrypt(nonce, der, _aad(card_id, slot, gen))

    def _unwrap_key(self, row: Row[Any], card_id: str, slot: Slot) -> rsa.RSAPrivateKey:
        blob = bytes(row.wrapped_key)
        der = self._wrap.decrypt(blob[:12], blob[12:], _aad(card_id, slot, row.key_generation))
        key = serialization.load_der_private_key(der, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def public_key(self, card_id: str, slot: Slot | str) -> rsa.RSAPublicKey:
        """The slot's public key (readable by anyone holding the card)."""
        slot = Slot(slot)
        with self.engine.connect() as conn:
            row = self._require_slot(conn, card_id, slot)
        key = serialization.load_der_public_key(bytes(row.public_key))
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    def write_certificate(self, card_id: str, slot: Slot | str, cert: x509.Certificate) -> None:
        """Store the certificate J-LIS issued for the slot's key."""
        slot = Slot(slot)
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        with self.engine.begin() as conn:
            self._active_chip(conn, card_id)
            row = self._require_slot(conn, card_id, slot)
            if bytes(row.public_key) != spki:
                raise ValidationError(
                    f"証明書の公開鍵がカードの{slot.label}の鍵と一致しません",
                    f"the certificate's public key is not the {slot.value} key on this chip",
                )
            conn.execute(self._update(card_id, slot).values(
                certificate=cert.public_bytes(serialization.Encoding.DER),
                updated_at=self._now(),
            ))
            self._event(conn, card_id, slot, "certificate_written")

    def read_certificate(
        self, card_id: str, slot: Slot | str, pin: str | None = None
    ) -> x509.Certificate:
        """The slot's certificate.  The signing certificate holds personal data:
        like the real card, reading it needs the signing PIN (and a wrong PIN counts)."""
        slot = Slot(slot)
        if slot is Slot.SIGNING:
            if pin is None:
                raise PermissionDenied(
                    "署名用電子証明書の読み出しには署名用の暗証番号が必要です",
                    "reading the signing certificate needs the signing PIN",
                )
            self._check_pin(card_id, slot, pin)
        with self.engine.connect() as conn:
            row = self._require_slot(conn, card_id, slot)
        if row.certificate is None:
            raise NotFound(f"このカードには{slot.label}がありません",
                           f"no {slot.value} certificate on this card")
        return x509.load_der_x509_certificate(bytes(row.certificate))

    # -- PINs -------------------------------------------------------------------------

    def set_pins(self, card_id: str, *, auth_pin: str, signing_pin: str | None = None,
                 replace: bool = False) -> None:
        """Set the PINs when the card is handed over (signing only if that slot exists).

        ``replace`` is for the card centre resuming a hand-over it began and did not
        finish: the PINs a killed first attempt may have set are set anew, as the
        resident types them now (the card is still in the counter's custody).
        """
        validate_pin(Slot.AUTH, auth_pin)
        if signing_pin is not None:
            validate_pin(Slot.SIGNING, signing_pin)
        wanted = [(Slot.AUTH, auth_pin)]
        if signing_pin is not None:
            wanted.append((Slot.SIGNING, signing_pin))
        with self.engine.begin() as conn:
            salt = self._active_chip(conn, card_id)
            for slot, pin in wanted:
                row = self._require_slot(conn, card_id, slot)
                if row.pin_hash is not None and not replace:
                    raise Conflict(
                        f"{slot.label}の暗証番号は既に設定されています"
                        "（変更は現在の暗証番号で、忘れた場合は市区町村の窓口で再設定）",
                        f"the {slot.value} PIN is already set",
                    )
                conn.execute(self._update(card_id, slot).values(
                    pin_hash=hash_pin(self._pepper, salt, slot, pin), failures=0, locked=False,
                    updated_at=self._now(),
                ))
                self._event(conn, card_id, slot, "pin_set")

    def change_pin(self, card_id: str, slot: Slot | str, old_pin: str, new_pin: str) -> None:
        """Change a PIN with the current one (a wrong ``old_pin`` counts as a wrong try)."""
        slot = Slot(slot)
        validate_pin(slot, new_pin)
        self._check_pin(card_id, slot, old_pin)
        with self.engine.begin() as conn:
            salt = self._active_chip(conn, card_id)
            conn.execute(self._update(card_id, slot).values(
                pin_hash=hash_pin(self._pepper, salt, slot, new_pin), failures=0,
                updated_at=self._now(),
            ))
            self._event(conn, card_id, slot, "pin_changed")

    def pin_status(self, card_id: str, slot: Slot | str) -> PinStatus:
        slot = Slot(slot)
        with self.engine.connect() as conn:
            row = self._require_slot(conn, card_id, slot)
        return PinStatus(slot, row.pin_hash is not None, row.failures,
                         max(row.max_tries - row.failures, 0), bool(row.locked))

    def _check_pin(self, card_id: str, slot: Slot, pin: str) -> None:
        """Compare ``pin``; count a failure atomically, lock at the limit, reset on success."""
        with self.engine.connect() as conn:
            salt = self._active_chip(conn, card_id)
            row = self._require_slot(conn, card_id, slot)
        if row.pin_hash is None:
            raise Conflict(f"{slot.label}の暗証番号がまだ設定されていません",
                           f"the {slot.value} PIN has not been set")
        if row.locked:
            with self.engine.begin() as conn:
                self._event(conn, card_id, slot, "pin_refused_locked")
            raise PinLocked(slot)
        stored = bytes(row.pin_hash)
        correct = hmac.compare_digest(hash_pin(self._pepper, salt, slot, pin), stored)
        c = t.chip_slots.c
        error: PermissionDenied | None = None
        with self.engine.begin() as conn:
            if correct:
                done = conn.execute(self._update(card_id, slot).where(
                    c.locked.is_(False), c.pin_hash == stored,
                ).values(failures=0, updated_at=self._now()))
                if done.rowcount == 1:
                    self._event(conn, card_id, slot, "pin_ok")
                    return
                # locked, or reset to another PIN, by another process meanwhile
                now_row = self._require_slot(conn, card_id, slot)
                error = PinLocked(slot) if now_row.locked else PinIncorrect(
                    slot, now_row.max_tries - now_row.failures)
            else:
                conn.execute(self._update(card_id, slot).where(c.locked.is_(False)).values(
                    failures=c.failures + 1,
                    locked=case((c.failures + 1 >= c.max_tries, True), else_=False),
                    updated_at=self._now(),
                ))
                after = self._require_slot(conn, card_id, slot)
                if after.locked:
                    self._event(conn, card_id, slot, "pin_locked")
                    error = PinLocked(slot)
                else:
                    self._event(conn, card_id, slot, "pin_failed")
                    error = PinIncorrect(slot, after.max_tries - after.failures)
        assert error is not None
        raise error

    # -- signing -----------------------------------------------------------------------

    def sign(self, card_id: str, slot: Slot | str, pin: str, data: bytes) -> bytes:
        """Sign ``data`` with the slot's key (RSASSA-PKCS1-v1_5, SHA-256) after the right PIN."""
        slot = Slot(slot)
        self._check_pin(card_id, slot, pin)
        with self.engine.begin() as conn:
            self._active_chip(conn, card_id)
            row = self._require_slot(conn, card_id, slot)
            self._event(conn, card_id, slot, "signed")
        key = self._unwrap_key(row, card_id, slot)
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    # -- PIN reset by a municipality -----------------------------------------------------

    def trust_municipality(self, code: str, public_key: Ed25519PublicKey) -> None:
        """Install a municipality's PIN-reset key (done by J-LIS for every municipality)."""
        code = municipality_code.validate(code)
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        with self.engine.begin() as conn:
            conn.execute(t.trusted_municipalities.delete().where(
                t.trusted_municipalities.c.municipality_code == code))
            conn.execute(insert(t.trusted_municipalities).values(
                municipality_code=code, public_key=raw, registered_at=self._now()))

    def _trusted(self) -> dict[str, Ed25519PublicKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.trusted_municipalities)).all()
        return {r.municipality_code: Ed25519PublicKey.from_public_bytes(bytes(r.public_key))
                for r in rows}

    def unlock(
        self, card_id: str, slot: Slot | str, new_pin: str, municipality_authorisation: str
    ) -> None:
        """Reset (and unlock) a PIN with a one-time token from a municipality's counter."""
        slot = Slot(slot)
        validate_pin(slot, new_pin)
        claims = verify_reset_token(
            municipality_authorisation, self._trusted(), card_id, slot, self._now()
        )
        try:
            with self.engine.begin() as conn:
                salt = self._active_chip(conn, card_id)
                self._require_slot(conn, card_id, slot)
                conn.execute(insert(t.used_reset_tokens).values(
                    token_id=claims.token_id, card_id=card_id, slot=slot.value,
                    municipality_code=claims.municipality_code, staff_id=claims.staff_id[:100],
                    used_at=self._now(),
                ))
                conn.execute(self._update(card_id, slot).values(
                    pin_hash=hash_pin(self._pepper, salt, slot, new_pin), failures=0,
                    locked=False, updated_at=self._now(),
                ))
                self._event(conn, card_id, slot, "pin_reset")
        except IntegrityError:
            raise Conflict(
                "この暗証番号再設定の許可は既に使われています", "PIN-reset token already used"
            ) from None

    # -- end of life ---------------------------------------------------------------------------

    def retire(self, card_id: str) -> None:
        """廃止: destroy the chip's keys; nothing can be signed with this card again."""
        with self.engine.begin() as conn:
            self._active_chip(conn, card_id)
            conn.execute(update(t.chip_slots).where(t.chip_slots.c.card_id == card_id)
                         .values(wrapped_key=b"", updated_at=self._now()))
            conn.execute(update(t.chips).where(t.chips.c.card_id == card_id)
                         .values(status="retired"))
            self._event(conn, card_id, None, "retired")

    # -- personalisation state (J-LIS's card centre: producing and resuming) ------------------

    def status(self, card_id: str) -> str | None:
        """``active``, ``retired``, or None when no chip was made for ``card_id``."""
        with self.engine.connect() as conn:
            value = conn.execute(select(t.chips.c.status)
                                 .where(t.chips.c.card_id == card_id)).scalar()
        return None if value is None else str(value)

    def slot_states(self, card_id: str) -> dict[Slot, SlotState]:
        """Each slot that has a key: its public key, the serial of the certificate
        written for it (None before), whether a PIN is set.  No PIN is needed: this
        is what the personalisation equipment sees, not a holder's reading."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.chip_slots).where(
                t.chip_slots.c.card_id == card_id)).all()
        states = {}
        for r in rows:
            key = serialization.load_der_public_key(bytes(r.public_key))
            assert isinstance(key, rsa.RSAPublicKey)
            serial = x509.load_der_x509_certificate(bytes(r.certificate)).serial_number \
                if r.certificate is not None else None
            states[Slot(r.slot)] = SlotState(Slot(r.slot), key, serial, r.pin_hash is not None)
        return states

    def card_ids(self) -> list[str]:
        """Every chip made (for ``myna check``: a chip no card record knows is an orphan)."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(t.chips.c.card_id)).scalars())

    # -- helpers -------------------------------------------------------------------------------

    def _active_chip(self, conn: Connection, card_id: str) -> bytes:
        row = conn.execute(select(t.chips.c.salt, t.chips.c.status)
                           .where(t.chips.c.card_id == card_id)).first()
        if row is None:
            raise NotFound(f"カード {card_id} はありません", f"no card {card_id}")
        if row.status != "active":
            raise PermissionDenied(f"カード {card_id} は廃止されています",
                                   f"card {card_id} has been retired")
        return bytes(row.salt)

    def _slot_row(self, conn: Connection, card_id: str, slot: Slot) -> Row[Any] | None:
        return conn.execute(select(t.chip_slots).where(
            t.chip_slots.c.card_id == card_id, t.chip_slots.c.slot == slot.value)).first()

    def _require_slot(self, conn: Connection, card_id: str, slot: Slot) -> Row[Any]:
        row = self._slot_row(conn, card_id, slot)
        if row is None:
            raise NotFound(f"カード {card_id} には{slot.label}の鍵がありません",
                           f"card {card_id} has no {slot.value} key")
        return row

    def _update(self, card_id: str, slot: Slot) -> Any:
        return update(t.chip_slots).where(
            t.chip_slots.c.card_id == card_id, t.chip_slots.c.slot == slot.value)

    def _event(self, conn: Connection, card_id: str, slot: Slot | None, event: str) -> None:
        conn.execute(insert(t.chip_events).values(
            card_id=card_id, slot=slot.value if slot else None, event=event, at=self._now()))

    def events(self, card_id: str) -> list[tuple[str | None, str, dt.datetime]]:
        """The chip's audit trail: (slot, event, when) — never PINs or data."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.chip_events).where(t.chip_events.c.card_id == card_id)
                                .order_by(t.chip_events.c.id)).all()
        return [(r.slot, r.event, r.at) for r in rows]


def _aad(card_id: str, slot: Slot, generation: int) -> bytes:
    return f"myna-card-chip\x00{card_id}\x00{slot.value}\x00{generation}".encode()
