"""Reading the card centre: cards, their certificates' state, history, the card faces,
and using a card (signing, authenticating) through its chip."""

from __future__ import annotations

import os
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import Row, select

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import CardStatus, check_card_number
from myna.card.lifecycle.records import Card, CardEvent, CertificateState, to_event
from myna.card.lifecycle.render import CardBack, CardFront, render_back, render_front
from myna.card.pins import Slot
from myna.errors import NotFound, PermissionDenied
from myna.jpki.domain import CertKind
from myna.numbers import municipality_code as municipality_codes


def card(desk: Desk, card_number: str) -> Card:
    return desk.card(check_card_number(card_number))


def cards(desk: Desk, municipality_code: str | None = None,
          status: CardStatus | str | None = None, limit: int = 1000) -> list[Card]:
    """Cards produced, newest first: one town's or all, in one state or any."""
    c = t.cards.c
    q = select(c.card_number)
    if municipality_code is not None:
        q = q.where(c.municipality_code == municipality_codes.validate(municipality_code))
    if status is not None:
        q = q.where(c.status == CardStatus.parse(status).value)
    with desk.engine.connect() as conn:
        numbers = conn.execute(q.order_by(c.produced_at.desc(), c.card_number)
                               .limit(max(1, min(limit, 10_000)))).scalars().all()
    return [desk.card(n) for n in numbers]


def certificate_states(desk: Desk, card: Card) -> tuple[CertificateState, CertificateState]:
    """The card's user-authentication and signing certificates as J-LIS holds them now."""
    now = desk.now()

    def state(kind: CertKind, serial: int | None) -> CertificateState:
        if serial is None:
            return CertificateState(kind.value, None, "none")
        try:
            record = desk.jpki.certificate(serial)
        except NotFound:
            return CertificateState(kind.value, serial, "none")
        reason = record.revocation_reason.value if record.revocation_reason else None
        if record.status == "revoked":
            return CertificateState(kind.value, serial, "revoked", record.not_after,
                                    record.revoked_at, reason)
        if record.not_after <= now:
            return CertificateState(kind.value, serial, "expired", record.not_after)
        return CertificateState(kind.value, serial, "valid", record.not_after)

    return (state(CertKind.AUTH, card.auth_serial),
            state(CertKind.SIGNING, card.signing_serial))


def cards_of_person(desk: Desk, person_key: str) -> list[Card]:
    """Every card of a person (J-LIS person key), oldest first."""
    c = t.cards.c
    with desk.engine.connect() as conn:
        numbers = conn.execute(select(c.card_number).where(c.person_key == person_key)
                               .order_by(c.produced_at, c.card_number)).scalars().all()
    return [desk.card(n) for n in numbers]


def cards_of_resident(desk: Desk, municipality_code: str, resident_id: int) -> list[Card]:
    """Cards produced for a resident of a municipality, oldest first."""
    c = t.cards.c
    with desk.engine.connect() as conn:
        numbers = conn.execute(select(c.card_number).where(
            c.municipality_code == municipality_codes.validate(municipality_code),
            c.resident_id == resident_id).order_by(c.produced_at, c.card_number)
        ).scalars().all()
    return [desk.card(n) for n in numbers]


def history(desk: Desk, card_number: str) -> list[CardEvent]:
    """The card's history with its application's, oldest first (no PINs, no photos)."""
    number = check_card_number(card_number)
    e = t.events.c
    with desk.engine.connect() as conn:
        receipt = conn.execute(select(t.cards.c.receipt_no).where(
            t.cards.c.card_number == number)).scalar()
        if receipt is None:
            raise NotFound(f"カード {number} はありません", f"no card {number}")
        rows = conn.execute(select(t.events).where(
            (e.card_number == number) | (e.receipt_no == receipt)).order_by(e.event_id)).all()
    return [to_event(r) for r in rows]


def face_image(desk: Desk, card_number: str) -> bytes:
    """The face photo kept with the card (JPEG)."""
    number = check_card_number(card_number)
    with desk.engine.connect() as conn:
        return bytes(desk.card_row(conn, number).face_image)


def front(desk: Desk, card_number: str) -> CardFront:
    found = card(desk, card_number)
    return CardFront(
        name=found.name, address=found.address, birth_date=found.birth_date, sex=found.sex,
        expires_on=found.expires_on, photo_jpeg=face_image(desk, found.card_number),
        notes=tuple(n.text for n in found.notes),
    )


def front_png(desk: Desk, card_number: str) -> bytes:
    """The front of the card as a PNG (name, address, birth date, sex, photo, expiry)."""
    return render_front(front(desk, card_number))


def back_png(desk: Desk, card_number: str, auth_pin: str) -> bytes:
    """The back (the individual number) as a PNG, for the holder only: the chip signs a
    fresh challenge with the auth PIN (a wrong PIN counts, as any use of the card does)."""
    number = check_card_number(card_number)
    usable(desk, number)
    challenge = b"myna-card-back\x00" + os.urandom(32)
    signature = desk.chips.sign(number, Slot.AUTH, auth_pin, challenge)
    try:
        desk.chips.public_key(number, Slot.AUTH).verify(
            signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise PermissionDenied("カードを確認できません", "the chip's answer did not verify") \
            from None
    with desk.engine.connect() as conn:
        row = desk.card_row(conn, number)
    return render_back(CardBack(individual_number=row.individual_number, name=row.name,
                                birth_date=row.birth_date))


# -- using the card -----------------------------------------------------------------------------


def usable(desk: Desk, number: str) -> Row[Any]:
    with desk.engine.connect() as conn:
        row = desk.card_row(conn, number)
    if row.status == CardStatus.SUSPENDED.value:
        raise PermissionDenied(
            f"カード {number} は一時停止中です（紛失の届出）。見つかった場合は"
            "市区町村の窓口で一時停止を解除してください",
            f"card {number} is suspended (reported lost)",
        )
    desk.require(row, CardStatus.ACTIVE, "利用")
    if desk.today() > row.expires_on:
        raise PermissionDenied(f"カード {number} は有効期限（{row.expires_on}）が切れています",
                               f"card {number} expired on {row.expires_on}")
    return row


def sign(desk: Desk, card_number: str, pin: str, document: bytes) -> bytes:
    """Sign a document with the card's signing key (signing PIN; wrong PINs count)."""
    number = check_card_number(card_number)
    row = usable(desk, number)
    if row.signing_serial is None:
        raise NotFound("このカードには署名用電子証明書がありません",
                       "this card has no signing certificate")
    return desk.chips.sign(number, Slot.SIGNING, pin, document)


def authenticate(desk: Desk, card_number: str, pin: str, challenge: bytes) -> bytes:
    """Sign a login challenge with the auth key (auth PIN; wrong PINs count)."""
    number = check_card_number(card_number)
    usable(desk, number)
    return desk.chips.sign(number, Slot.AUTH, pin, challenge)


def certificate(desk: Desk, card_number: str, kind: CertKind | str,
                pin: str | None = None) -> x509.Certificate:
    """A certificate read from the card (the signing one needs the signing PIN)."""
    number = check_card_number(card_number)
    usable(desk, number)
    return desk.chips.read_certificate(number, Slot(CertKind(kind).value), pin)
