"""交付: appointments, the hand-over at the counter, and cards nobody collects.

The hand-over sets PINs on the chip (its own store) and activates the card here,
so it runs in steps (design issue 8):

1. *intent* — who hands over, after which identity check, recorded in
   ``handovers`` (never the PINs);
2. the chip's PINs set as the resident typed them;
3. *confirmation* — the card becomes 交付済 and the hand-over is closed.

Killed in between, running the same hand-over again (the resident types the PINs
again) completes it: the PINs a first attempt may have set are set anew, and the
card is activated once.  Points: ``card:issue-after-intent``, ``card:issue-after-pins``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, insert, select, update

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import (
    CardStatus,
    EndReason,
    check_card_number,
    check_identity_documents,
    check_slot,
    check_staff,
)
from myna.card.lifecycle.people import check_holder
from myna.card.lifecycle.records import Card
from myna.card.pins import Slot, validate_pin
from myna.clock import aware, jst_date
from myna.errors import Conflict, ValidationError
from myna.faults import fault_point
from myna.numbers import municipality_code as municipality_codes

FAULT_POINTS = ("card:issue-after-intent", "card:issue-after-pins")


def book_appointment(desk: Desk, card_number: str, slot_start: dt.datetime) -> dt.datetime:
    """Book (or move) the hand-over appointment; a slot takes a few people at most."""
    number = check_card_number(card_number)
    start = check_slot(slot_start, desk.now())
    with desk.engine.begin() as conn:
        card = desk.card_row(conn, number)
        if card.status != CardStatus.PRODUCED.value:
            raise Conflict(f"カード {number} は{card.status}のため予約できません",
                           f"card {number} is not waiting for hand-over")
        if start.date() > card.hold_until:
            raise ValidationError(f"保管期限（{card.hold_until}）より後は予約できません",
                                  "the slot is after the holding period")
        a = t.appointments.c
        taken = int(conn.execute(select(func.count()).select_from(t.appointments).where(
            a.municipality_code == card.municipality_code, a.slot_start == start,
            a.card_number != number)).scalar_one())
        if taken >= desk.slot_capacity:
            raise Conflict("この時間帯の予約枠は埋まっています。別の時間を選んでください",
                           "this slot is full")
        conn.execute(t.appointments.delete().where(a.card_number == number))
        conn.execute(insert(t.appointments).values(
            card_number=number, municipality_code=card.municipality_code, slot_start=start,
            booked_at=desk.now()))
        desk.event(conn, number, None, "交付予約", "本人", {"slot": start.isoformat()})
    return start


def appointments(desk: Desk, municipality_code: str,
                 day: dt.date) -> list[tuple[dt.datetime, Card]]:
    """The counter's hand-over appointments of one day (JST), by time."""
    code = municipality_codes.validate(municipality_code)
    a = t.appointments.c
    with desk.engine.connect() as conn:
        rows = conn.execute(select(a.card_number, a.slot_start).where(
            a.municipality_code == code).order_by(a.slot_start)).all()
    out = []
    for r in rows:
        start = aware(r.slot_start)
        if jst_date(start) == day:
            card = desk.card(r.card_number)
            if card.status is CardStatus.PRODUCED:
                out.append((start, card))
    return out


def issue(
    desk: Desk, card_number: str, *, staff_id: str, documents: Iterable[str], auth_pin: str,
    signing_pin: str | None = None,
) -> Card:
    """Hand the card over in one visit (see :meth:`CardService.issue`), in steps."""
    number = check_card_number(card_number)
    staff = check_staff(staff_id)
    identity = check_identity_documents(documents)
    validate_pin(Slot.AUTH, auth_pin)
    if signing_pin is not None:
        validate_pin(Slot.SIGNING, signing_pin)
    with desk.engine.connect() as conn:
        card = desk.card_row(conn, number)
    desk.require(card, CardStatus.PRODUCED, "交付")
    if desk.today() > card.hold_until:
        raise Conflict(
            f"カード {number} は保管期限（{card.hold_until}）を過ぎています。再度申請してください",
            f"card {number} was held until {card.hold_until}; it is being voided",
        )
    if card.signing_serial is not None and signing_pin is None:
        raise ValidationError(
            "署名用電子証明書の暗証番号（英大文字と数字で6〜16文字）を設定してください",
            "this card has a signing certificate: set its PIN",
        )
    if card.signing_serial is None and signing_pin is not None:
        raise ValidationError(
            "このカードには署名用電子証明書がないため、署名用の暗証番号は設定できません",
            "this card has no signing certificate, so no signing PIN",
        )
    holder = desk.people.resident(card.municipality_code, card.resident_id, "個人番号カードの交付")
    check_holder(holder)
    if holder.person_key != card.person_key:
        raise Conflict("カードの名義人と住民票の本人が一致しません",
                       "the card holder is not the person on the register")
    h = t.handovers.c
    with desk.engine.begin() as conn:
        desk.require(desk.card_row(conn, number), CardStatus.PRODUCED, "交付")
        begun = conn.execute(select(h.card_number).where(h.card_number == number)).first()
        values = dict(staff_id=staff, identity_method=identity.method.value,
                      identity_documents=list(identity.documents), started_at=desk.now())
        if begun is None:
            conn.execute(insert(t.handovers).values(card_number=number, **values))
        else:
            conn.execute(update(t.handovers).where(h.card_number == number).values(**values))
    fault_point("card:issue-after-intent")
    desk.chips.set_pins(number, auth_pin=auth_pin, signing_pin=signing_pin,
                        replace=begun is not None)
    fault_point("card:issue-after-pins")
    with desk.engine.begin() as conn:
        slot = conn.execute(select(t.appointments.c.slot_start).where(
            t.appointments.c.card_number == number)).scalar()
        now = desk.now()
        desk.transition(conn, number, CardStatus.PRODUCED, CardStatus.ACTIVE, now,
                        handed_over_at=now, handed_over_by=staff,
                        identity_method=identity.method.value,
                        identity_documents=list(identity.documents))
        conn.execute(update(t.handovers).where(h.card_number == number).values(finished_at=now))
        desk.event(conn, number, None, "交付", staff, {
            "identity": identity.method.value, "documents": list(identity.documents),
            "appointment": aware(slot).isoformat() if slot is not None else None,
        })
    return desk.card(number)


def open_handovers(desk: Desk) -> list[str]:
    """Card numbers whose hand-over was begun and not finished."""
    h = t.handovers.c
    with desk.engine.connect() as conn:
        return sorted(conn.execute(select(h.card_number).where(h.finished_at.is_(None)))
                      .scalars())


def unclaimed(desk: Desk, municipality_code: str | None = None) -> list[Card]:
    """Cards waiting at the counter, the oldest holding deadline first."""
    c = t.cards.c
    q = select(c.card_number).where(c.status == CardStatus.PRODUCED.value)
    if municipality_code is not None:
        q = q.where(c.municipality_code == municipality_codes.validate(municipality_code))
    with desk.engine.connect() as conn:
        numbers = conn.execute(q.order_by(c.hold_until, c.card_number)).scalars().all()
    return [desk.card(n) for n in numbers]


def void_unclaimed(desk: Desk, municipality_code: str | None = None) -> list[str]:
    """Void the cards not collected by their holding deadline: certificates revoked, chip
    retired (the real card is destroyed).  One town's, or all.  Returns the numbers."""
    c = t.cards.c
    q = select(c.card_number).where(
        c.status == CardStatus.PRODUCED.value, c.hold_until < desk.today())
    if municipality_code is not None:
        q = q.where(c.municipality_code == municipality_codes.validate(municipality_code))
    with desk.engine.begin() as conn:
        numbers = list(conn.execute(q.order_by(c.card_number)).scalars())
        for number in numbers:
            desk.end_here(conn, number, (CardStatus.PRODUCED,), EndReason.UNCLAIMED, "J-LIS", {})
        for number in numbers:
            desk.end_elsewhere(number, EndReason.UNCLAIMED)
    return numbers
