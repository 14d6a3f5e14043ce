"""作成: J-LIS makes the card — number, face data, chip keys, two JPKI certificates.

Production touches three stores of J-LIS (this node's tables, the chips, the JPKI
CA) and asks the person's municipality, so it runs in steps, each recorded before
the next begins (design issue 8: intent, calls, confirmation):

1. *intent* — the card number and everything the card is made from are written to
   ``productions`` (state 作成中), after the municipality was asked;
2. *chip* — the chip is made for that number (once);
3. per slot (auth, then signing): a key pair generated on the chip (once), a
   certificate for exactly that key (a good one J-LIS already issued for it is
   adopted, otherwise one is issued), written to the chip;
4. *confirmation* — any other good certificate of the card is revoked, and the
   card row, the application and the production are written in one transaction.

Killed at any point, :func:`produce` (or :func:`produce_pending`) run again finds
the production and carries on where it stopped: one card number per application,
one chip, no key generated twice, exactly the card's certificates valid.  Each
step has its :func:`~myna.faults.fault_point` (``card:produce-…``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import (
    ApplicationStatus,
    CardStatus,
    add_months,
    card_expiry,
    new_card_number,
)
from myna.card.lifecycle.people import Holder, check_holder
from myna.card.lifecycle.records import Card
from myna.card.pins import Slot
from myna.errors import Conflict, MynaError, PermissionDenied
from myna.faults import fault_point
from myna.jpki import certs
from myna.jpki.domain import MIN_SIGNING_AGE, CertKind, SigningSubject, age_on

OPEN, DONE, ABANDONED = "作成中", "完了", "中止"
PURPOSE = "個人番号カードの作成（J-LIS）"
#: the named points where a kill test stops production (in order)
FAULT_POINTS = (
    "card:produce-after-intent", "card:produce-after-chip",
    "card:produce-after-key-auth", "card:produce-after-certificate-auth",
    "card:produce-after-write-auth",
    "card:produce-after-key-signing", "card:produce-after-certificate-signing",
    "card:produce-after-write-signing", "card:produce-before-confirm",
)


@dataclass(frozen=True)
class Plan:
    """A production under way, as recorded in its intent."""

    receipt_no: int
    card_number: str
    holder: Holder
    issued_on: dt.date
    expires_on: dt.date
    signing: bool
    signing_requested: bool


def _holder_json(h: Holder) -> dict[str, Any]:
    return {
        "person_key": h.person_key, "municipality_code": h.municipality_code,
        "resident_id": h.resident_id, "name": h.name, "birth_date": h.birth_date.isoformat(),
        "sex": h.sex, "address": h.address, "individual_number": h.individual_number,
        "nationality": h.nationality, "residence_status": h.residence_status,
        "period_of_stay_until": h.period_of_stay_until.isoformat()
        if h.period_of_stay_until else None,
    }


def _holder_from(data: dict[str, Any]) -> Holder:
    stay = data.get("period_of_stay_until")
    return Holder(
        person_key=data["person_key"], municipality_code=data["municipality_code"],
        resident_id=int(data["resident_id"]), name=data["name"],
        birth_date=dt.date.fromisoformat(data["birth_date"]), sex=data["sex"],
        address=data["address"], individual_number=data["individual_number"],
        nationality=data.get("nationality"), residence_status=data.get("residence_status"),
        period_of_stay_until=dt.date.fromisoformat(stay) if stay else None,
        is_resident=True, removal_reason=None,
    )


def _plan_of(row: Any, signing_requested: bool) -> Plan:
    return Plan(row.receipt_no, row.card_number, _holder_from(dict(row.holder)),
                row.issued_on, row.expires_on, bool(row.signing), signing_requested)


def produce(desk: Desk, receipt_no: int) -> Card:
    """Make the card of one application, or finish making it (see the module's steps).

    The signing certificate only if asked for and the holder is 15 or older on
    the issue date; the auth certificate always.  Validity by
    :func:`~myna.card.lifecycle.domain.card_expiry`.  An application already
    produced answers with its card.
    """
    plan = _intent(desk, receipt_no)
    if isinstance(plan, Card):
        return plan
    _chip(desk, plan)
    fault_point("card:produce-after-chip")
    kinds = [CertKind.AUTH] + ([CertKind.SIGNING] if plan.signing else [])
    for kind in kinds:
        _certify(desk, plan, kind)
    fault_point("card:produce-before-confirm")
    return _confirm(desk, plan)


def produce_pending(desk: Desk) -> list[Card]:
    """Produce every waiting application (each on its own); refusals stay waiting."""
    a = t.applications.c
    with desk.engine.connect() as conn:
        receipts = list(conn.execute(select(a.receipt_no).where(
            a.status == ApplicationStatus.RECEIVED.value).order_by(a.receipt_no)).scalars())
    made = []
    for receipt in receipts:
        try:
            made.append(produce(desk, receipt))
        except MynaError:
            continue
    return made


def open_productions(desk: Desk) -> list[tuple[int, str]]:
    """(receipt, card number) of productions begun and not finished."""
    p = t.productions.c
    with desk.engine.connect() as conn:
        return [(int(r), str(n)) for r, n in conn.execute(
            select(p.receipt_no, p.card_number).where(p.state == OPEN)
            .order_by(p.receipt_no)).all()]


# -- the steps ---------------------------------------------------------------------------------


def _intent(desk: Desk, receipt_no: int) -> Plan | Card:
    """The production of ``receipt_no`` as recorded, or a new one recorded now."""
    with desk.engine.connect() as conn:
        app = desk.application_in(conn, receipt_no)
        row = _production(conn, receipt_no)
    if row is not None and row.state == DONE:
        return desk.card(row.card_number)
    if row is not None and row.state == OPEN:
        return _plan_of(row, app.signing_requested)
    if app.status is not ApplicationStatus.RECEIVED:
        raise Conflict(f"受付番号 {receipt_no} の申請は{app.status.value}です",
                       f"application {receipt_no} is {app.status.name.lower()}")
    holder = desk.people.resident(app.municipality_code, app.resident_id, PURPOSE)
    check_holder(holder)
    issued_on = desk.today()
    expires = card_expiry(holder.birth_date, issued_on,
                          period_of_stay_until=holder.period_of_stay_until,
                          residence_status=holder.residence_status)
    signing = app.signing_requested and \
        age_on(holder.birth_date, desk.jpki.issue_date()) >= MIN_SIGNING_AGE
    try:
        with desk.engine.begin() as conn:
            a = t.applications.c
            applicant = conn.execute(select(a.person_key, a.status).where(
                a.receipt_no == receipt_no)).one()
            if applicant.status != ApplicationStatus.RECEIVED.value:
                raise Conflict(f"受付番号 {receipt_no} の申請は{applicant.status}です",
                               f"application {receipt_no} changed meanwhile")
            if applicant.person_key != holder.person_key:
                raise Conflict("申請者と住民票の本人が一致しません",
                               "the applicant is not the person on the register")
            c = t.cards.c
            live = conn.execute(select(c.card_number).where(
                c.person_key == holder.person_key, c.status != CardStatus.ENDED.value)).first()
            if live is not None:
                raise Conflict(f"この方には有効なカード {live.card_number} があります",
                               "the person already has a live card")
            number = _fresh_card_number(conn)
            conn.execute(insert(t.productions).values(
                receipt_no=receipt_no, card_number=number, holder=_holder_json(holder),
                issued_on=issued_on, expires_on=expires, signing=signing, state=OPEN,
                started_at=desk.now()))
    except IntegrityError:
        raise Conflict(f"受付番号 {receipt_no} のカードは作成中です。もう一度実行してください",
                       f"application {receipt_no} is being produced by another run") from None
    fault_point("card:produce-after-intent")
    return Plan(receipt_no, number, holder, issued_on, expires, signing,
                app.signing_requested)


def _production(conn: Connection, receipt_no: int) -> Any:
    return conn.execute(select(t.productions).where(
        t.productions.c.receipt_no == receipt_no)).first()


def _fresh_card_number(conn: Connection) -> str:
    while True:
        number = new_card_number()
        taken = conn.execute(select(t.cards.c.card_number).where(
            t.cards.c.card_number == number)).first() or conn.execute(
            select(t.productions.c.card_number).where(
                t.productions.c.card_number == number)).first()
        if taken is None:
            return number


def _chip(desk: Desk, plan: Plan) -> None:
    status = desk.chips.status(plan.card_number)
    if status == "retired":
        raise PermissionDenied(
            f"カード {plan.card_number} の作成は中止されています（チップは廃止済み）",
            f"the production of card {plan.card_number} was abandoned")
    if status is None:
        with contextlib.suppress(Conflict):  # made meanwhile by another run
            desk.chips.manufacture(plan.card_number)


def _spki(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _certify(desk: Desk, plan: Plan, kind: CertKind) -> None:
    """One slot: its key (generated once), a certificate for that key, on the chip."""
    slot = Slot(kind.value)
    number = plan.card_number
    state = desk.chips.slot_states(number).get(slot)
    if state is not None and state.certificate_serial is not None:
        return
    if state is None:
        public = desk.chips.generate_key_pair(number, slot)
        fault_point(f"card:produce-after-key-{slot.value}")
    else:
        public = state.public_key
    cert = issued_for(desk, number, kind, public)
    if cert is None:
        h = plan.holder
        if kind is CertKind.SIGNING:
            cert = desk.jpki.issue_signing_certificate(
                number, h.person_key, SigningSubject(h.name, h.birth_date, h.sex, h.address),
                public)
        else:
            cert = desk.jpki.issue_auth_certificate(number, h.person_key, h.birth_date, public)
        fault_point(f"card:produce-after-certificate-{slot.value}")
    desk.chips.write_certificate(number, slot, cert)
    fault_point(f"card:produce-after-write-{slot.value}")


def issued_for(desk: Desk, number: str, kind: CertKind,
               public: rsa.RSAPublicKey) -> x509.Certificate | None:
    """A good certificate J-LIS issued for this card and exactly this key, if any
    (issued by a run that was stopped before it wrote it to the chip)."""
    wanted = _spki(public)
    for record in desk.jpki.certificates_for_card(number):
        if record.kind is kind and record.status == "good" and \
                _spki(_rsa(record.certificate)) == wanted:
            return record.certificate
    return None


def _rsa(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _confirm(desk: Desk, plan: Plan) -> Card:
    """Revoke any stray certificate of the card, then record the card in one transaction."""
    states = desk.chips.slot_states(plan.card_number)
    on_chip = {certs.serial_hex(s.certificate_serial): slot for slot, s in states.items()
               if s.certificate_serial is not None}
    for record in desk.jpki.certificates_for_card(plan.card_number):
        if record.status == "good" and certs.serial_hex(record.serial) not in on_chip:
            desk.revoke_quietly(record.serial)
    serial = {slot: hexed for hexed, slot in on_chip.items()}
    if Slot.AUTH not in serial or (plan.signing and Slot.SIGNING not in serial):
        raise Conflict("カードの電子証明書がそろっていません。もう一度実行してください",
                       "the card's certificates are not all on the chip; run again")
    h = plan.holder
    now = desk.now()
    with desk.engine.begin() as conn:
        done = conn.execute(update(t.productions).where(
            t.productions.c.receipt_no == plan.receipt_no, t.productions.c.state == OPEN)
            .values(state=DONE, finished_at=now))
        if done.rowcount != 1:
            raise Conflict(f"受付番号 {plan.receipt_no} の作成は別の処理で完了しました",
                           f"the production of {plan.receipt_no} was finished elsewhere")
        face = conn.execute(select(t.applications.c.face_image).where(
            t.applications.c.receipt_no == plan.receipt_no)).scalar_one()
        conn.execute(insert(t.cards).values(
            card_number=plan.card_number, receipt_no=plan.receipt_no, person_key=h.person_key,
            municipality_code=h.municipality_code, resident_id=h.resident_id,
            name=h.name, birth_date=h.birth_date, sex=h.sex, address=h.address,
            individual_number=h.individual_number, nationality=h.nationality,
            period_of_stay_until=h.period_of_stay_until, face_image=bytes(face),
            issued_on=plan.issued_on, expires_on=plan.expires_on, produced_at=now,
            hold_until=add_months(plan.issued_on, desk.holding_months),
            status=CardStatus.PRODUCED.value, auth_serial=serial[Slot.AUTH],
            signing_serial=serial.get(Slot.SIGNING),
        ))
        conn.execute(update(t.applications).where(
            t.applications.c.receipt_no == plan.receipt_no).values(
            status=ApplicationStatus.PRODUCED.value, card_number=plan.card_number,
            closed_at=now))
        desk.event(conn, plan.card_number, plan.receipt_no, "作成", "J-LIS", {
            "expires_on": plan.expires_on.isoformat(), "signing_certificate": plan.signing,
            "signing_requested": plan.signing_requested,
        })
    return desk.card(plan.card_number)


def abandon(desk: Desk, receipt_no: int, why: str) -> bool:
    """Stop an open production for good (the applicant died or was removed): its
    certificates revoked, its chip retired, then the production recorded as 中止.
    Each part may be repeated; False when there was no open production."""
    with desk.engine.connect() as conn:
        row = _production(conn, receipt_no)
    if row is None or row.state != OPEN:
        return False
    desk.jpki.revoke_card(row.card_number, x509.ReasonFlags.cessation_of_operation,
                          f"作成の中止（{why}）")
    with contextlib.suppress(PermissionDenied, MynaError):
        desk.chips.retire(row.card_number)
    with desk.engine.begin() as conn:
        conn.execute(update(t.productions).where(
            t.productions.c.receipt_no == receipt_no, t.productions.c.state == OPEN)
            .values(state=ABANDONED, finished_at=desk.now()))
        desk.event(conn, None, receipt_no, "作成の中止", "J-LIS", {"reason": why})
    return True
