"""電子証明書の更新, 再交付, 追記, and the end of a card (廃止)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import insert, select

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.applying import insert_application
from myna.card.lifecycle.base import Desk, undo
from myna.card.lifecycle.domain import (
    CardStatus,
    Channel,
    EndReason,
    Photo,
    card_expiry,
    check_card_number,
    check_identity_documents,
    check_note,
    check_photo,
    check_staff,
)
from myna.card.lifecycle.people import check_holder
from myna.card.lifecycle.records import Application, Card
from myna.card.lifecycle.suspension import certify_again, record_serials
from myna.errors import Conflict, ValidationError
from myna.faults import fault_point
from myna.jpki.domain import MIN_SIGNING_AGE, CertKind, age_on

LIVE = (CardStatus.PRODUCED, CardStatus.ACTIVE, CardStatus.SUSPENDED)


def renew_certificates(
    desk: Desk, card_number: str, *, staff_id: str, documents: Iterable[str],
    kinds: Iterable[CertKind | str] | None = None,
) -> Card:
    """電子証明書の更新・再発行 (see :meth:`CardService.renew_certificates`)."""
    number = check_card_number(card_number)
    staff = check_staff(staff_id)
    identity = check_identity_documents(documents)
    asked = None if kinds is None else sorted({CertKind(k) for k in kinds})
    if asked is not None and not asked:
        raise ValidationError("更新する証明書を指定してください", "no certificate kind given")
    with desk.engine.connect() as conn:
        card = desk.card_row(conn, number)
    desk.require(card, CardStatus.ACTIVE, "電子証明書の更新")
    holder = desk.people.by_number(card.individual_number, "電子証明書の発行（更新）")
    check_holder(holder)
    wanted = asked or ([CertKind.AUTH, CertKind.SIGNING]
                       if card.signing_serial is not None else [CertKind.AUTH])
    if CertKind.SIGNING in wanted:
        if age_on(holder.birth_date, desk.jpki.issue_date()) < MIN_SIGNING_AGE:
            raise ValidationError("署名用電子証明書は15歳未満の方には発行できません",
                                  "no signing certificate under 15")
        if card.signing_serial is None:
            raise ValidationError(
                "署名用の暗証番号が設定されていないカードです（再交付で申請してください）",
                "this card has no signing PIN; apply for a new card")
    steps: list[Callable[[], None]] = []
    try:  # certificates first, the card's record last (see suspension.resume)
        serials = certify_again(desk, number, holder, wanted, steps)
        fault_point("card:renew-after-certify")
        with desk.engine.begin() as conn:
            card = desk.card_row(conn, number)
            desk.require(card, CardStatus.ACTIVE, "電子証明書の更新")
            desk.event(conn, number, None, "電子証明書の更新", staff, {
                "identity": identity.method.value, "documents": list(identity.documents),
                "kinds": [k.value for k in wanted]})
            record_serials(conn, number, serials)
    except BaseException:
        undo(steps)
        raise
    return desk.card(number)


def reissue(
    desk: Desk, card_number: str, *, staff_id: str, documents: Iterable[str],
    photo: bytes | None = None, signing_certificate: bool = True,
) -> Application:
    """再交付 (see :meth:`CardService.reissue`)."""
    number = check_card_number(card_number)
    staff = check_staff(staff_id)
    identity = check_identity_documents(documents)
    new_photo = check_photo(photo) if photo is not None else None
    with desk.engine.connect() as conn:
        card = desk.card_row(conn, number)
    if card.status not in (CardStatus.ACTIVE.value, CardStatus.SUSPENDED.value):
        raise Conflict(f"カード {number} は{card.status}のため再交付できません",
                       f"card {number} is {card.status}; nothing to reissue")
    holder = desk.people.by_number(card.individual_number, "個人番号カードの再交付申請")
    check_holder(holder)
    card_expiry(holder.birth_date, desk.today(),
                period_of_stay_until=holder.period_of_stay_until,
                residence_status=holder.residence_status)
    kept = new_photo or Photo("JPEG", 480, 600, bytes(card.face_image))
    with desk.engine.begin() as conn:
        desk.end_here(conn, number, (CardStatus.ACTIVE, CardStatus.SUSPENDED),
                      EndReason.REISSUED, staff, {"identity": identity.method.value,
                                                  "documents": list(identity.documents)})
        receipt = insert_application(
            conn, Channel.COUNTER, None, holder, kept, signing_certificate, staff, number,
            desk.now())
        desk.event(conn, None, receipt, "再交付申請", staff, {"replaces": number})
    desk.end_elsewhere(number, EndReason.REISSUED)
    return desk.application(receipt)


def end(desk: Desk, card_number: str, reason: EndReason | str, *, actor: str = "J-LIS") -> Card:
    """廃止 (death, 国外転出, expiry, 返納 …): recorded here, then certificates revoked and
    the chip retired (both may be repeated: :func:`finish_ended` completes them)."""
    number = check_card_number(card_number)
    why = EndReason.parse(reason)
    who = check_staff(actor)
    with desk.engine.connect() as conn:
        row = desk.card_row(conn, number)
    if row.status == CardStatus.ENDED.value:  # ended before: finish what may be left
        desk.end_elsewhere(number, EndReason(row.end_reason))
    with desk.engine.begin() as conn:
        desk.end_here(conn, number, LIVE, why, who, {})
    desk.end_elsewhere(number, why)
    return desk.card(number)


def end_expired(desk: Desk) -> list[str]:
    """End every live card whose validity ran out (the day after 有効期限)."""
    c = t.cards.c
    with desk.engine.begin() as conn:
        numbers = list(conn.execute(select(c.card_number).where(
            c.status != CardStatus.ENDED.value, c.expires_on < desk.today())
            .order_by(c.card_number)).scalars())
        for number in numbers:
            desk.end_here(conn, number, LIVE, EndReason.EXPIRY, "J-LIS", {})
    for number in numbers:
        desk.end_elsewhere(number, EndReason.EXPIRY)
    return numbers


def finish_ended(desk: Desk) -> list[str]:
    """Ended cards whose certificates are still good or whose chip is still active (a
    crash after the card centre recorded the end): revoke and retire them now."""
    c = t.cards.c
    with desk.engine.connect() as conn:
        rows = conn.execute(select(c.card_number, c.end_reason).where(
            c.status == CardStatus.ENDED.value)).all()
    finished = []
    for number, reason in rows:
        good = any(r.status == "good" for r in desk.jpki.certificates_for_card(number))
        if good or desk.chips.status(number) == "active":
            desk.end_elsewhere(number, EndReason(reason))
            finished.append(number)
    return finished


def add_note(desk: Desk, card_number: str, *, staff_id: str, text: str) -> Card:
    """Write a line in the card's 追記欄 (a new address, a new name …)."""
    number = check_card_number(card_number)
    staff = check_staff(staff_id)
    line = check_note(text, limit=60)
    if not line:
        raise ValidationError("追記する内容を入力してください", "empty note")
    with desk.engine.begin() as conn:
        card = desk.card_row(conn, number)
        if card.status not in (CardStatus.ACTIVE.value, CardStatus.SUSPENDED.value):
            raise Conflict(f"カード {number} は{card.status}です", f"card is {card.status}")
        conn.execute(insert(t.notes).values(card_number=number, text=line, staff_id=staff,
                                            written_at=desk.now()))
        desk.event(conn, number, None, "追記", staff, {"text": line})
    return desk.card(number)
