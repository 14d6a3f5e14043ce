"""紛失: 一時停止 at any hour, and its 解除 at the counter when the card is found.

JPKI here has no certificateHold (its ``REVOCATION_REASONS`` exclude it), so a
suspended card's certificates are revoked for keyCompromise (紛失・盗難), and
resumption generates fresh key pairs on the same chip and has J-LIS certify
them; the PINs stay as the resident set them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from cryptography import x509
from sqlalchemy import Connection, insert, select, update

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.base import Desk, undo
from myna.card.lifecycle.domain import (
    CardStatus,
    Reporter,
    check_card_number,
    check_identity_documents,
    check_note,
    check_staff,
)
from myna.card.lifecycle.people import Holder, check_holder
from myna.card.lifecycle.records import Card, Suspension, to_suspension
from myna.card.pins import Slot
from myna.errors import Conflict
from myna.faults import fault_point
from myna.jpki import certs
from myna.jpki.domain import CertKind, SigningSubject


def suspend(desk: Desk, card_number: str, *, reported_by: Reporter | str = Reporter.RESIDENT,
            note: str = "") -> Card:
    """一時停止 (see :meth:`CardService.suspend`): JPKI revokes first, outside the card
    centre's transaction, and the suspension is recorded after: killed in between, the
    certificates are already refused and reporting the loss again completes it."""
    number = check_card_number(card_number)
    reporter = Reporter.parse(reported_by)
    text = check_note(note)
    with desk.engine.connect() as conn:
        card = desk.card_row(conn, number)
    if card.status == CardStatus.SUSPENDED.value:
        raise Conflict(f"カード {number} は既に一時停止中です",
                       f"card {number} is already suspended")
    desk.require(card, CardStatus.ACTIVE, "一時停止")
    desk.jpki.revoke_card(number, x509.ReasonFlags.key_compromise,
                          f"一時停止（{reporter.value}）{text}")
    fault_point("card:suspend-after-revoke")
    serials = {card.auth_serial: CertKind.AUTH.value,
               card.signing_serial: CertKind.SIGNING.value}
    kinds = {serials[hexed]: hexed for r in desk.jpki.certificates_for_card(number)
             if (hexed := certs.serial_hex(r.serial)) in serials and r.status == "revoked"
             and r.revocation_reason == x509.ReasonFlags.key_compromise}
    with desk.engine.begin() as conn:
        now = desk.now()
        desk.transition(conn, number, CardStatus.ACTIVE, CardStatus.SUSPENDED, now)
        conn.execute(insert(t.suspensions).values(
            card_number=number, reported_by=reporter.value, note=text,
            suspended_at=now, revoked=kinds))
        desk.event(conn, number, None, "一時停止", reporter.value, {"note": text})
    return desk.card(number)


def resume(desk: Desk, card_number: str, *, staff_id: str, documents: Iterable[str]) -> Card:
    """一時停止の解除 (see :meth:`CardService.resume`).

    New keys and certificates first, the card's record last: no call to JPKI or the
    chip inside the card centre's transaction.  Killed in between, the card is still
    suspended and running it again completes it (JPKI's new certificates supersede
    the ones the interrupted run issued; ``myna check`` names the card meanwhile)."""
    number = check_card_number(card_number)
    staff = check_staff(staff_id)
    identity = check_identity_documents(documents)
    s = t.suspensions.c
    with desk.engine.connect() as conn:
        card = desk.card_row(conn, number)
        open_row = conn.execute(select(t.suspensions).where(
            s.card_number == number, s.resumed_at.is_(None))
            .order_by(s.suspension_id.desc())).first()
    desk.require(card, CardStatus.SUSPENDED, "一時停止の解除")
    _check_not_expired(desk, number, card.expires_on)
    if open_row is None:
        raise Conflict("一時停止の記録がありません", "no open suspension")
    holder = desk.people.by_number(card.individual_number, "個人番号カードの一時停止の解除")
    check_holder(holder)
    if holder.person_key != card.person_key:
        raise Conflict("カードの名義人と住民票の本人が一致しません",
                       "the card holder is not the person on the register")
    kinds = [CertKind(k) for k in dict(open_row.revoked)]
    steps: list[Callable[[], None]] = []
    try:
        serials = certify_again(desk, number, holder, kinds, steps)
        fault_point("card:resume-after-certify")
        with desk.engine.begin() as conn:
            card = desk.card_row(conn, number)
            desk.require(card, CardStatus.SUSPENDED, "一時停止の解除")
            now = desk.now()
            desk.transition(conn, number, CardStatus.SUSPENDED, CardStatus.ACTIVE, now)
            conn.execute(update(t.suspensions).where(
                s.suspension_id == open_row.suspension_id).values(
                resumed_at=now, resumed_by=staff,
                identity_documents=list(identity.documents)))
            desk.event(conn, number, None, "一時停止の解除", staff, {
                "identity": identity.method.value, "documents": list(identity.documents),
                "reissued_certificates": [k.value for k in kinds]})
            record_serials(conn, number, serials)
    except BaseException:
        undo(steps)
        raise
    return desk.card(number)


def _check_not_expired(desk: Desk, number: str, expires_on: dt.date) -> None:
    if desk.today() > expires_on:
        raise Conflict(
            f"カード {number} は有効期限（{expires_on}）が切れています。"
            "新しいカードを申請してください",
            f"card {number} expired while suspended",
        )


def certify_again(desk: Desk, number: str, holder: Holder, kinds: Sequence[CertKind],
                  steps: list[Callable[[], None]]) -> dict[str, str]:
    """New key pairs on the chip and J-LIS certificates for them, before (never inside)
    the card centre's transaction; each certificate issued is revoked again if that
    transaction then fails.  Returns the new serials for :func:`record_serials`."""
    values: dict[str, str] = {}
    for kind in sorted(kinds, key=lambda k: k is CertKind.SIGNING):
        slot = Slot(kind.value)
        public = desk.chips.generate_key_pair(number, slot)
        if kind is CertKind.SIGNING:
            cert = desk.jpki.issue_signing_certificate(
                number, holder.person_key, SigningSubject(
                    holder.name, holder.birth_date, holder.sex, holder.address), public)
        else:
            cert = desk.jpki.issue_auth_certificate(number, holder.person_key,
                                                    holder.birth_date, public)
        serial = cert.serial_number
        steps.append(partial(desk.revoke_quietly, serial))
        desk.chips.write_certificate(number, slot, cert)
        values[f"{kind.value}_serial"] = certs.serial_hex(serial)
    return values


def record_serials(conn: Connection, number: str, serials: dict[str, str]) -> None:
    """The card's record names its new certificates (in the card centre's transaction)."""
    if serials:
        conn.execute(update(t.cards).where(t.cards.c.card_number == number).values(**serials))


def suspensions(desk: Desk, card_number: str) -> list[Suspension]:
    number = check_card_number(card_number)
    s = t.suspensions.c
    with desk.engine.connect() as conn:
        rows = conn.execute(select(t.suspensions).where(s.card_number == number)
                            .order_by(s.suspension_id)).all()
    return [to_suspension(r) for r in rows]
