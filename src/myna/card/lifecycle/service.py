"""The 個人番号カード from application to its end, as J-LIS and the municipality run it.

Its own node ("cards").  J-LIS's card centre receives applications (by mail,
online, at a photo kiosk, or at the municipality's counter) and produces each
card: a card number, the face data, a chip with key pairs generated on it and
JPKI certificates (:func:`myna.card.enrolment.enrol_jpki`).  The municipality
hands it over in one visit — identity checked in person, PINs set by the
resident — and voids cards nobody collects.  Loss suspends the card at any hour
(本人 or the コールセンター); a found card is resumed at the counter, a lost one
reissued.  Death, moving abroad, expiry and return end it.

The card is voluntary: nothing in Myna needs one, and not applying, withdrawing
an application or returning a card changes nothing else for the person.

Every public method is one transaction of this node.  Input is checked before
any other node is touched; calls to other nodes (notification, JPKI, chip)
come last inside the transaction, so a refusal there leaves nothing here, and
what they already did is undone where it can be (a certificate issued for a
card that then fails is revoked, its chip retired — their nodes keep that
history, as a CA must).

Suspension: JPKI here has no certificateHold (its :data:`REVOCATION_REASONS`
excludes it), so a suspended card's certificates are revoked for
keyCompromise (紛失・盗難), and resumption generates fresh key pairs on the same
chip and has J-LIS certify them; the PINs stay as the resident set them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from myna.card.chip import ChipStore
from myna.card.enrolment import enrol_jpki
from myna.card.lifecycle import storage as t
from myna.card.lifecycle.directory import Holder, HolderDirectory
from myna.card.lifecycle.domain import (
    SLOT_CAPACITY,
    ApplicationStatus,
    CardStatus,
    Channel,
    EndReason,
    IdentityCheck,
    IdentityMethod,
    Photo,
    Reporter,
    add_months,
    card_expiry,
    check_card_number,
    check_identity_documents,
    check_note,
    check_photo,
    check_slot,
    check_staff,
    new_card_number,
)
from myna.card.lifecycle.render import CardBack, CardFront, render_back, render_front
from myna.card.pins import Slot, validate_pin
from myna.clock import as_utc, aware, jst_date, show_time, utcnow
from myna.db import inserted_id, migrate
from myna.errors import Conflict, MynaError, NotFound, PermissionDenied, ValidationError
from myna.events import Event, Inbox
from myna.faults import fault_point
from myna.jpki import certs
from myna.jpki.domain import MIN_SIGNING_AGE, CertKind, SigningSubject, age_on
from myna.jpki.service import JpkiService
from myna.notify.domain import check_application_id
from myna.notify.service import NotificationService
from myna.numbers import individual
from myna.numbers import municipality_code as municipality_codes

DEFAULT_HOLDING_MONTHS = 6
#: J-LIS identity statuses that end a person's cards (the listener's ``status``).
ENDING_STATUSES = {"死亡": EndReason.DEATH, "職権消除": EndReason.REMOVED}





def _card_status(value: CardStatus | str) -> CardStatus:
    """A card state by its Japanese label (交付済 …) or English name (active …)."""
    if isinstance(value, CardStatus):
        return value
    for status in CardStatus:
        if value in (status.value, status.name.lower()):
            return status
    raise ValidationError(
        f"カードの状態が不正です: {value}（交付前・交付済・一時停止・廃止、または "
        "produced / active / suspended / ended）",
        f"unknown card state {value!r}: produced, active, suspended or ended",
    )


def _maybe(value: dt.datetime | None) -> dt.datetime | None:
    return aware(value) if value is not None else None


@dataclass(frozen=True)
class Application:
    """One 交付申請 as J-LIS received it (the photo is kept, not shown here)."""

    receipt_no: int
    channel: Channel
    notice_application_id: str | None
    municipality_code: str
    resident_id: int
    photo_format: str
    photo_size: tuple[int, int]
    signing_requested: bool
    staff_id: str | None
    reissue_of: str | None
    status: ApplicationStatus
    received_at: dt.datetime
    card_number: str | None


@dataclass(frozen=True)
class Note:
    """A line written in the card's 追記欄 (e.g. a new address)."""

    text: str
    staff_id: str
    written_at: dt.datetime


@dataclass(frozen=True)
class Card:
    """A card's record: what is printed on it, its state and its certificates.

    The individual number is shown masked; the face photo is kept but not here.
    """

    card_number: str
    receipt_no: int
    holder_ref: str
    municipality_code: str
    resident_id: int
    name: str
    birth_date: dt.date
    sex: str
    address: str
    masked_number: str
    period_of_stay_until: dt.date | None
    issued_on: dt.date
    expires_on: dt.date
    produced_at: dt.datetime
    hold_until: dt.date
    status: CardStatus
    auth_serial: int | None
    signing_serial: int | None
    handed_over_at: dt.datetime | None
    handed_over_by: str | None
    identity: IdentityCheck | None
    ended_at: dt.datetime | None
    end_reason: EndReason | None
    appointment: dt.datetime | None
    notes: tuple[Note, ...]

    @property
    def has_signing_certificate(self) -> bool:
        return self.signing_serial is not None


@dataclass(frozen=True)
class CertificateState:
    """Where one of a card's certificates stands at J-LIS now (not what the card says)."""

    kind: CertKind
    serial: int | None
    status: str  # "none" | "valid" | "revoked" | "expired"
    not_after: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None

    @property
    def label(self) -> str:
        """``有効（2031-04-01 まで）``, ``失効（… 理由: …）``, ``期限切れ`` or ``なし``."""
        if self.status == "valid" and self.not_after is not None:
            return f"有効（{jst_date(self.not_after).isoformat()} まで）"
        if self.status == "revoked":
            when = show_time(self.revoked_at) if self.revoked_at else ""
            return f"失効（{when}{'、理由: ' + self.reason if self.reason else ''}）"
        if self.status == "expired":
            return "有効期限切れ"
        return "なし"

    @property
    def short_label(self) -> str:
        """``有効 〜2031-04-01``, ``失効 2026-12-01``: for tables."""
        if self.status == "valid" and self.not_after is not None:
            return f"有効 〜{jst_date(self.not_after).isoformat()}"
        if self.status == "revoked" and self.revoked_at is not None:
            return f"失効 {jst_date(self.revoked_at).isoformat()}"
        return {"expired": "期限切れ", "revoked": "失効"}.get(self.status, "なし")

    @property
    def usable(self) -> bool:
        return self.status == "valid"


@dataclass(frozen=True)
class CardEvent:
    """One step of a card's (or application's) history."""

    event: str
    actor: str
    detail: dict[str, Any]
    at: dt.datetime


@dataclass(frozen=True)
class Suspension:
    suspension_id: int
    card_number: str
    reported_by: Reporter
    note: str
    suspended_at: dt.datetime
    revoked: dict[str, str]
    resumed_at: dt.datetime | None
    resumed_by: str | None


#: the card event that says the card must be reissued (its back shows a retired number)
REISSUE_NEEDED = "再交付要（番号変更）"

class CardService:
    """個人番号カード: application, production, issuance, loss, reissue, end, rendering."""

    def __init__(
        self, engine: Engine, jpki: JpkiService, chips: ChipStore, notify: NotificationService,
        directory: HolderDirectory, *, now: Callable[[], dt.datetime] = utcnow,
        holding_months: int = DEFAULT_HOLDING_MONTHS, slot_capacity: int = SLOT_CAPACITY,
    ) -> None:
        if not 1 <= holding_months <= 24:
            raise ValidationError(f"保管期間は1〜24か月です（指定: {holding_months}）",
                                  f"holding period must be 1..24 months, not {holding_months}")
        self.engine = engine
        self.jpki = jpki
        self.chips = chips
        self.notify = notify
        self.directory = directory
        self.now = now
        self.holding_months = holding_months
        self.slot_capacity = slot_capacity
        self.inbox = Inbox(engine, "cards", {"number.changed": self._on_number_changed},
                           self._now, effects={"identity.changed": self._on_identity_event})

    def create_schema(self) -> None:
        migrate(self.engine, "myna.card.lifecycle")
        self.inbox.create_schema()

    def _on_identity_event(self, event: Event) -> None:
        """J-LIS → card centre (event, idempotent): death or 職権消除 ends the cards."""
        self.on_identity_changed(event.subject, set(event.payload.get("changed", [])),
                                 str(event.payload.get("status", "住民")))

    def _on_number_changed(self, conn: Connection, event: Event) -> None:
        """J-LIS → card centre (event): the back of every live card carries the retired
        number, so each is marked for reissue (番号法7条2項; the card stays usable)."""
        c = t.cards.c
        for number in conn.execute(select(c.card_number).where(
                c.holder_ref == event.subject, c.status != CardStatus.ENDED.value)).scalars():
            self._event(conn, number, None, REISSUE_NEEDED, "J-LIS",
                        {"reason": "個人番号の変更", "mode": event.payload.get("mode", "")})

    def _now(self) -> dt.datetime:
        return as_utc(self.now())

    def _today(self) -> dt.date:
        return jst_date(self._now())

    # -- 交付申請 (application) --------------------------------------------------------------

    def apply(
        self, photo: bytes, *, channel: Channel | str, application_id: str | None = None,
        municipality_code: str | None = None, resident_id: int | None = None,
        staff_id: str | None = None, signing_certificate: bool = True,
    ) -> Application:
        """Receive an application with its photo.

        By mail, online or at a kiosk it needs the 申請書ID of the notification
        letter (once only: a used ID is refused).  At the counter, staff may take
        it without one, for ``municipality_code`` and ``resident_id``.
        ``signing_certificate=False`` declines the signing certificate (none is
        issued under 15 anyway).
        """
        how = Channel.parse(channel)
        checked = check_photo(photo)
        app_id = check_application_id(application_id) if application_id is not None else None
        staff = check_staff(staff_id) if how is Channel.COUNTER or staff_id is not None else None
        if app_id is None and how is not Channel.COUNTER:
            raise ValidationError(
                f"{how.value}での申請には通知に同封の申請書IDが必要です"
                "（申請書IDがない場合は市区町村の窓口で申請できます）",
                f"a {how.name.lower()} application needs the application id of the letter",
            )
        if app_id is not None and (municipality_code is not None or resident_id is not None):
            raise ValidationError(
                "申請書IDがある場合、市区町村コードと住民IDは指定しません",
                "give either an application id or municipality code and resident id",
            )
        if app_id is not None:
            info = self.notify.application(app_id)
            if info.used:
                raise Conflict(
                    f"申請書ID {app_id} は使用済みです。申請書IDは1回しか使えません",
                    f"application id {app_id} was already used",
                )
            code, rid = info.municipality_code, info.resident_id
        else:
            if municipality_code is None or resident_id is None:
                raise ValidationError(
                    "申請書IDがない場合は市区町村コードと住民IDを指定してください",
                    "without an application id, give municipality code and resident id",
                )
            code, rid = municipality_codes.validate(municipality_code), resident_id
        holder = self.directory.resident(code, rid, "個人番号カードの交付申請の受付（J-LIS）")
        self._check_holder(holder)
        card_expiry(holder.birth_date, self._today(),
                    period_of_stay_until=holder.period_of_stay_until,
                    residence_status=holder.residence_status)
        now = self._now()
        with self.engine.begin() as conn:
            self._check_no_live(conn, holder.holder_ref)
            receipt = self._insert_application(
                conn, how, app_id, holder, checked, signing_certificate, staff, None, now)
            self._event(conn, None, receipt, "交付申請", staff or "本人",
                        {"channel": how.value, "application_id": app_id is not None})
            if app_id is not None:
                self.notify.use_application(app_id)
        return self.application(receipt)

    def _insert_application(
        self, conn: Connection, how: Channel, app_id: str | None, holder: Holder, photo: Photo,
        signing: bool, staff: str | None, reissue_of: str | None, now: dt.datetime,
    ) -> int:
        return inserted_id(conn.execute(insert(t.applications).values(
            notice_application_id=app_id, channel=how.value,
            municipality_code=holder.municipality_code, resident_id=holder.resident_id,
            holder_ref=holder.holder_ref, photo_format=photo.format,
            photo_width=photo.width, photo_height=photo.height, face_image=photo.face_jpeg,
            signing_requested=signing, staff_id=staff, reissue_of=reissue_of,
            status=ApplicationStatus.RECEIVED.value, received_at=now,
        )))

    @staticmethod
    def _check_holder(holder: Holder) -> None:
        if not holder.is_resident:
            raise Conflict(
                f"この方は住民ではありません（{holder.removal_reason or '除票'}）。"
                "お住まいの市区町村で手続きしてください",
                f"the person is not a current resident ({holder.removal_reason})",
            )

    def _check_no_live(self, conn: Connection, holder_ref: str) -> None:
        c, a = t.cards.c, t.applications.c
        live = conn.execute(select(c.card_number, c.status).where(
            c.holder_ref == holder_ref, c.status != CardStatus.ENDED.value)).first()
        if live is not None:
            raise Conflict(
                f"この方には有効なカードがあります（カード番号 {live.card_number}、"
                f"{live.status}）。紛失・破損の場合は再交付を申請してください",
                f"the person already has a live card ({live.status})",
            )
        open_app = conn.execute(select(a.receipt_no).where(
            a.holder_ref == holder_ref, a.status == ApplicationStatus.RECEIVED.value)).first()
        if open_app is not None:
            raise Conflict(
                f"この方の申請は受付済みです（受付番号 {open_app.receipt_no}）",
                f"an application for this person is already open ({open_app.receipt_no})",
            )

    def withdraw(self, receipt_no: int, note: str = "") -> Application:
        """取下げ: the applicant changes their mind before production; nothing follows."""
        text = check_note(note)
        with self.engine.begin() as conn:
            done = conn.execute(update(t.applications).where(
                t.applications.c.receipt_no == receipt_no,
                t.applications.c.status == ApplicationStatus.RECEIVED.value,
            ).values(status=ApplicationStatus.WITHDRAWN.value, closed_at=self._now()))
            if done.rowcount != 1:
                app = self._application(conn, receipt_no)
                raise Conflict(f"受付番号 {receipt_no} の申請は{app.status.value}です",
                               f"application {receipt_no} is {app.status.name.lower()}")
            self._event(conn, None, receipt_no, "申請取下げ", "本人", {"note": text})
        return self.application(receipt_no)

    def application(self, receipt_no: int) -> Application:
        with self.engine.connect() as conn:
            return self._application(conn, receipt_no)

    def _application(self, conn: Connection, receipt_no: int) -> Application:
        row = conn.execute(select(t.applications).where(
            t.applications.c.receipt_no == receipt_no)).first()
        if row is None:
            raise NotFound(f"受付番号 {receipt_no} の申請はありません",
                           f"no application {receipt_no}")
        return _to_application(row)

    def pending_applications(self) -> list[Application]:
        """Applications waiting for production, oldest first."""
        a = t.applications.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.applications).where(
                a.status == ApplicationStatus.RECEIVED.value).order_by(a.receipt_no)).all()
        return [_to_application(r) for r in rows]

    # -- 作成 (production at J-LIS) --------------------------------------------------------------

    def produce(self, receipt_no: int) -> Card:
        """Make the card: number, face data, chip with on-chip keys, JPKI certificates.

        The signing certificate only if asked for and the holder is 15 or older
        on the issue date; the auth certificate always.  Validity by
        :func:`~myna.card.lifecycle.domain.card_expiry`.
        """
        undo: list[Callable[[], None]] = []
        try:
            with self.engine.begin() as conn:
                app = self._application(conn, receipt_no)
                if app.status is not ApplicationStatus.RECEIVED:
                    raise Conflict(f"受付番号 {receipt_no} の申請は{app.status.value}です",
                                   f"application {receipt_no} is {app.status.name.lower()}")
                holder = self.directory.resident(app.municipality_code, app.resident_id,
                                                 "個人番号カードの作成（J-LIS）")
                self._check_holder(holder)
                face = conn.execute(select(t.applications.c.face_image, t.applications.c.holder_ref)
                                    .where(t.applications.c.receipt_no == receipt_no)).one()
                if face.holder_ref != holder.holder_ref:
                    raise Conflict("申請者と住民票の本人が一致しません",
                                   "the applicant is not the person on the register")
                c = t.cards.c
                live = conn.execute(select(c.card_number).where(
                    c.holder_ref == holder.holder_ref, c.status != CardStatus.ENDED.value)).first()
                if live is not None:
                    raise Conflict(f"この方には有効なカード {live.card_number} があります",
                                   "the person already has a live card")
                issued_on = self._today()
                expires = card_expiry(holder.birth_date, issued_on,
                                      period_of_stay_until=holder.period_of_stay_until,
                                      residence_status=holder.residence_status)
                subject = SigningSubject(holder.name, holder.birth_date, holder.sex,
                                         holder.address)
                signing = app.signing_requested and \
                    age_on(holder.birth_date, self.jpki.issue_date()) >= MIN_SIGNING_AGE
                number = self._fresh_card_number(conn)
                now = self._now()
                conn.execute(insert(t.cards).values(
                    card_number=number, receipt_no=receipt_no, holder_ref=holder.holder_ref,
                    municipality_code=holder.municipality_code, resident_id=holder.resident_id,
                    name=holder.name, birth_date=holder.birth_date, sex=holder.sex,
                    address=holder.address, individual_number=holder.individual_number,
                    nationality=holder.nationality,
                    period_of_stay_until=holder.period_of_stay_until,
                    face_image=bytes(face.face_image), issued_on=issued_on, expires_on=expires,
                    produced_at=now, hold_until=add_months(issued_on, self.holding_months),
                    status=CardStatus.PRODUCED.value,
                ))
                conn.execute(update(t.applications).where(
                    t.applications.c.receipt_no == receipt_no).values(
                    status=ApplicationStatus.PRODUCED.value, card_number=number, closed_at=now))
                undo.append(lambda: self._end_elsewhere(number, EndReason.UNCLAIMED, "作成の中止"))
                enrolled = enrol_jpki(self.jpki, self.chips, number, holder.holder_ref, subject,
                                      signing=signing)
                conn.execute(update(t.cards).where(c.card_number == number).values(
                    auth_serial=certs.serial_hex(enrolled.auth_serial),
                    signing_serial=certs.serial_hex(enrolled.signing_serial)
                    if enrolled.signing_serial is not None else None,
                ))
                self._event(conn, number, receipt_no, "作成", "J-LIS", {
                    "expires_on": expires.isoformat(), "signing_certificate": signing,
                    "signing_requested": app.signing_requested,
                })
        except BaseException:
            _undo(undo)
            raise
        return self.card(number)

    def produce_pending(self) -> list[Card]:
        """Produce every waiting application (each in its own transaction); refusals stay."""
        made = []
        for app in self.pending_applications():
            try:
                made.append(self.produce(app.receipt_no))
            except MynaError:
                continue
        return made

    def _fresh_card_number(self, conn: Connection) -> str:
        while True:
            number = new_card_number()
            if conn.execute(select(t.cards.c.card_number).where(
                    t.cards.c.card_number == number)).first() is None:
                return number

    # -- 交付 (issuance at the municipality) -----------------------------------------------------

    def book_appointment(self, card_number: str, slot_start: dt.datetime) -> dt.datetime:
        """Book (or move) the hand-over appointment; a slot takes a few people at most."""
        number = check_card_number(card_number)
        start = check_slot(slot_start, self._now())
        with self.engine.begin() as conn:
            card = self._card_row(conn, number)
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
            if taken >= self.slot_capacity:
                raise Conflict("この時間帯の予約枠は埋まっています。別の時間を選んでください",
                               "this slot is full")
            conn.execute(t.appointments.delete().where(a.card_number == number))
            conn.execute(insert(t.appointments).values(
                card_number=number, municipality_code=card.municipality_code, slot_start=start,
                booked_at=self._now()))
            self._event(conn, number, None, "交付予約", "本人", {"slot": start.isoformat()})
        return start

    def appointments(self, municipality_code: str, day: dt.date) -> list[tuple[dt.datetime, Card]]:
        """The counter's hand-over appointments of one day (JST), by time."""
        code = municipality_codes.validate(municipality_code)
        a = t.appointments.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(a.card_number, a.slot_start).where(
                a.municipality_code == code).order_by(a.slot_start)).all()
        out = []
        for r in rows:
            start = aware(r.slot_start)
            if jst_date(start) == day:
                card = self.card(r.card_number)
                if card.status is CardStatus.PRODUCED:
                    out.append((start, card))
        return out

    def issue(
        self, card_number: str, *, staff_id: str, documents: Iterable[str], auth_pin: str,
        signing_pin: str | None = None,
    ) -> Card:
        """Hand the card over in one visit: identity checked in person, PINs set by the resident.

        ``documents``: one of :data:`~myna.card.lifecycle.domain.ONE_DOCUMENT` or two of
        :data:`~myna.card.lifecycle.domain.TWO_DOCUMENTS` (recorded).  The signing
        PIN is set exactly when the card has a signing certificate.  An
        appointment is recorded when there is one; walk-ins are served too.
        """
        number = check_card_number(card_number)
        staff = check_staff(staff_id)
        identity = check_identity_documents(documents)
        validate_pin(Slot.AUTH, auth_pin)
        if signing_pin is not None:
            validate_pin(Slot.SIGNING, signing_pin)
        with self.engine.begin() as conn:
            card = self._card_row(conn, number)
            self._require(card, CardStatus.PRODUCED, "交付")
            if self._today() > card.hold_until:
                raise Conflict(
                    f"カード {number} は保管期限（{card.hold_until}）を過ぎています。"
                    "再度申請してください",
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
            holder = self.directory.resident(card.municipality_code, card.resident_id,
                                             "個人番号カードの交付")
            self._check_holder(holder)
            slot = conn.execute(select(t.appointments.c.slot_start).where(
                t.appointments.c.card_number == number)).scalar()
            now = self._now()
            self._transition(conn, number, CardStatus.PRODUCED, CardStatus.ACTIVE,
                             handed_over_at=now, handed_over_by=staff,
                             identity_method=identity.method.value,
                             identity_documents=list(identity.documents))
            self._event(conn, number, None, "交付", staff, {
                "identity": identity.method.value, "documents": list(identity.documents),
                "appointment": aware(slot).isoformat() if slot is not None else None,
            })
            self.chips.set_pins(number, auth_pin=auth_pin, signing_pin=signing_pin)
        return self.card(number)

    def unclaimed(self, municipality_code: str | None = None) -> list[Card]:
        """Cards waiting at the counter, the oldest holding deadline first."""
        c = t.cards.c
        q = select(c.card_number).where(c.status == CardStatus.PRODUCED.value)
        if municipality_code is not None:
            q = q.where(c.municipality_code == municipality_codes.validate(municipality_code))
        with self.engine.connect() as conn:
            numbers = conn.execute(q.order_by(c.hold_until, c.card_number)).scalars().all()
        return [self.card(n) for n in numbers]

    def void_unclaimed(self, municipality_code: str | None = None) -> list[str]:
        """Void the cards not collected by their holding deadline: certificates revoked, chip
        retired (the real card is destroyed).  One town's, or all.  Returns the numbers."""
        c = t.cards.c
        q = select(c.card_number).where(
            c.status == CardStatus.PRODUCED.value, c.hold_until < self._today())
        if municipality_code is not None:
            q = q.where(c.municipality_code == municipality_codes.validate(municipality_code))
        with self.engine.begin() as conn:
            numbers = list(conn.execute(q.order_by(c.card_number)).scalars())
            for number in numbers:
                self._end_here(conn, number, (CardStatus.PRODUCED,), EndReason.UNCLAIMED,
                               "J-LIS", {})
            for number in numbers:
                self._end_elsewhere(number, EndReason.UNCLAIMED)
        return numbers

    # -- using the card ---------------------------------------------------------------------

    def _usable(self, number: str) -> Row[Any]:
        with self.engine.connect() as conn:
            card = self._card_row(conn, number)
        if card.status == CardStatus.SUSPENDED.value:
            raise PermissionDenied(
                f"カード {number} は一時停止中です（紛失の届出）。見つかった場合は"
                "市区町村の窓口で一時停止を解除してください",
                f"card {number} is suspended (reported lost)",
            )
        self._require(card, CardStatus.ACTIVE, "利用")
        if self._today() > card.expires_on:
            raise PermissionDenied(f"カード {number} は有効期限（{card.expires_on}）が切れています",
                                   f"card {number} expired on {card.expires_on}")
        return card

    def sign(self, card_number: str, pin: str, document: bytes) -> bytes:
        """Sign a document with the card's signing key (signing PIN; wrong PINs count)."""
        number = check_card_number(card_number)
        card = self._usable(number)
        if card.signing_serial is None:
            raise NotFound("このカードには署名用電子証明書がありません",
                           "this card has no signing certificate")
        return self.chips.sign(number, Slot.SIGNING, pin, document)

    def authenticate(self, card_number: str, pin: str, challenge: bytes) -> bytes:
        """Sign a login challenge with the auth key (auth PIN; wrong PINs count)."""
        number = check_card_number(card_number)
        self._usable(number)
        return self.chips.sign(number, Slot.AUTH, pin, challenge)

    def certificate(self, card_number: str, kind: CertKind | str,
                    pin: str | None = None) -> x509.Certificate:
        """A certificate read from the card (the signing one needs the signing PIN)."""
        number = check_card_number(card_number)
        self._usable(number)
        return self.chips.read_certificate(number, Slot(CertKind(kind).value), pin)

    # -- 紛失: suspension, resumption, reissue ---------------------------------------------------

    def suspend(self, card_number: str, *, reported_by: Reporter | str = Reporter.RESIDENT,
                note: str = "") -> Card:
        """一時停止, at any hour: the card stops working and its certificates are revoked
        (keyCompromise: 紛失・盗難) at once, so every relying party refuses them.

        JPKI revokes first, outside the card centre's transaction, and the suspension
        is recorded after: killed in between, the certificates are already refused
        and reporting the loss again completes the suspension (revoking twice changes
        nothing).
        """
        number = check_card_number(card_number)
        reporter = Reporter.parse(reported_by)
        text = check_note(note)
        with self.engine.connect() as conn:
            card = self._card_row(conn, number)
        if card.status == CardStatus.SUSPENDED.value:
            raise Conflict(f"カード {number} は既に一時停止中です",
                           f"card {number} is already suspended")
        self._require(card, CardStatus.ACTIVE, "一時停止")
        self.jpki.revoke_card(number, x509.ReasonFlags.key_compromise,
                              f"一時停止（{reporter.value}）{text}")
        fault_point("card:suspend-after-revoke")
        serials = {card.auth_serial: CertKind.AUTH.value,
                   card.signing_serial: CertKind.SIGNING.value}
        kinds = {serials[hexed]: hexed for r in self.jpki.certificates_for_card(number)
                 if (hexed := certs.serial_hex(r.serial)) in serials and r.status == "revoked"
                 and r.revocation_reason == x509.ReasonFlags.key_compromise}
        with self.engine.begin() as conn:
            self._transition(conn, number, CardStatus.ACTIVE, CardStatus.SUSPENDED)
            conn.execute(insert(t.suspensions).values(
                card_number=number, reported_by=reporter.value, note=text,
                suspended_at=self._now(), revoked=kinds))
            self._event(conn, number, None, "一時停止", reporter.value, {"note": text})
        return self.card(number)

    def resume(self, card_number: str, *, staff_id: str, documents: Iterable[str]) -> Card:
        """一時停止の解除 at the counter when the card is found: identity checked in person;
        new key pairs on the same chip and new certificates for those the suspension revoked.
        The PINs are kept."""
        number = check_card_number(card_number)
        staff = check_staff(staff_id)
        identity = check_identity_documents(documents)
        undo: list[Callable[[], None]] = []
        try:
            with self.engine.begin() as conn:
                card = self._card_row(conn, number)
                self._require(card, CardStatus.SUSPENDED, "一時停止の解除")
                if self._today() > card.expires_on:
                    raise Conflict(
                        f"カード {number} は有効期限（{card.expires_on}）が切れています。"
                        "新しいカードを申請してください",
                        f"card {number} expired while suspended",
                    )
                s = t.suspensions.c
                open_row = conn.execute(select(t.suspensions).where(
                    s.card_number == number, s.resumed_at.is_(None))
                    .order_by(s.suspension_id.desc())).first()
                if open_row is None:
                    raise Conflict("一時停止の記録がありません", "no open suspension")
                holder = self.directory.by_number(card.individual_number,
                                                  "個人番号カードの一時停止の解除")
                self._check_holder(holder)
                if holder.holder_ref != card.holder_ref:
                    raise Conflict("カードの名義人と住民票の本人が一致しません",
                                   "the card holder is not the person on the register")
                now = self._now()
                self._transition(conn, number, CardStatus.SUSPENDED, CardStatus.ACTIVE)
                conn.execute(update(t.suspensions).where(
                    s.suspension_id == open_row.suspension_id).values(
                    resumed_at=now, resumed_by=staff,
                    identity_documents=list(identity.documents)))
                kinds = [CertKind(k) for k in dict(open_row.revoked)]
                self._event(conn, number, None, "一時停止の解除", staff, {
                    "identity": identity.method.value, "documents": list(identity.documents),
                    "reissued_certificates": [k.value for k in kinds]})
                self._certify(conn, number, holder, kinds, undo)
        except BaseException:
            _undo(undo)
            raise
        return self.card(number)

    def _certify(self, conn: Connection, number: str, holder: Holder, kinds: Sequence[CertKind],
                 undo: list[Callable[[], None]]) -> None:
        """New key pairs on the chip and J-LIS certificates for them (other nodes: last)."""
        values: dict[str, str] = {}
        for kind in sorted(kinds, key=lambda k: k is CertKind.SIGNING):
            slot = Slot(kind.value)
            public = self.chips.generate_key_pair(number, slot)
            if kind is CertKind.SIGNING:
                cert = self.jpki.issue_signing_certificate(
                    number, holder.holder_ref, SigningSubject(
                        holder.name, holder.birth_date, holder.sex, holder.address), public)
            else:
                cert = self.jpki.issue_auth_certificate(number, holder.holder_ref,
                                                        holder.birth_date, public)
            serial = cert.serial_number
            undo.append(partial(self._revoke_quietly, serial))
            self.chips.write_certificate(number, slot, cert)
            values[f"{kind.value}_serial"] = certs.serial_hex(serial)
        if values:
            conn.execute(update(t.cards).where(t.cards.c.card_number == number).values(**values))

    def renew_certificates(
        self, card_number: str, *, staff_id: str, documents: Iterable[str],
        kinds: Iterable[CertKind | str] | None = None,
    ) -> Card:
        """電子証明書の更新・再発行 at the counter (after 5 birthdays, or after a move revoked
        the signing certificate): new key pairs on the card, new certificates.

        ``kinds`` defaults to the auth certificate and, when the card has a
        signing PIN, the signing certificate.
        """
        number = check_card_number(card_number)
        staff = check_staff(staff_id)
        identity = check_identity_documents(documents)
        asked = None if kinds is None else sorted({CertKind(k) for k in kinds})
        if asked is not None and not asked:
            raise ValidationError("更新する証明書を指定してください", "no certificate kind given")
        undo: list[Callable[[], None]] = []
        try:
            with self.engine.begin() as conn:
                card = self._card_row(conn, number)
                self._require(card, CardStatus.ACTIVE, "電子証明書の更新")
                wanted = asked or ([CertKind.AUTH, CertKind.SIGNING]
                                   if card.signing_serial is not None else [CertKind.AUTH])
                holder = self.directory.by_number(card.individual_number,
                                                  "電子証明書の発行（更新）")
                self._check_holder(holder)
                if CertKind.SIGNING in wanted:
                    if age_on(holder.birth_date, self.jpki.issue_date()) < MIN_SIGNING_AGE:
                        raise ValidationError("署名用電子証明書は15歳未満の方には発行できません",
                                              "no signing certificate under 15")
                    if card.signing_serial is None:
                        raise ValidationError(
                            "署名用の暗証番号が設定されていないカードです（再交付で申請してください）",
                            "this card has no signing PIN; apply for a new card")
                self._event(conn, number, None, "電子証明書の更新", staff, {
                    "identity": identity.method.value, "documents": list(identity.documents),
                    "kinds": [k.value for k in wanted]})
                self._certify(conn, number, holder, wanted, undo)
        except BaseException:
            _undo(undo)
            raise
        return self.card(number)

    def reissue(
        self, card_number: str, *, staff_id: str, documents: Iterable[str],
        photo: bytes | None = None, signing_certificate: bool = True,
    ) -> Application:
        """再交付: end the lost (or damaged) card and apply for a new one at the counter.

        The new card gets a new number, chip, keys and certificates; it is
        produced and handed over like any other.  Without a new ``photo`` the
        face data of the old card is used.
        """
        number = check_card_number(card_number)
        staff = check_staff(staff_id)
        identity = check_identity_documents(documents)
        new_photo = check_photo(photo) if photo is not None else None
        with self.engine.begin() as conn:
            card = self._card_row(conn, number)
            if card.status not in (CardStatus.ACTIVE.value, CardStatus.SUSPENDED.value):
                raise Conflict(f"カード {number} は{card.status}のため再交付できません",
                               f"card {number} is {card.status}; nothing to reissue")
            holder = self.directory.by_number(card.individual_number, "個人番号カードの再交付申請")
            self._check_holder(holder)
            card_expiry(holder.birth_date, self._today(),
                        period_of_stay_until=holder.period_of_stay_until,
                        residence_status=holder.residence_status)
            kept = new_photo or Photo("JPEG", 480, 600, bytes(card.face_image))
            self._end_here(conn, number, (CardStatus.ACTIVE, CardStatus.SUSPENDED),
                           EndReason.REISSUED, staff, {"identity": identity.method.value,
                                                       "documents": list(identity.documents)})
            receipt = self._insert_application(
                conn, Channel.COUNTER, None, holder, kept, signing_certificate, staff, number,
                self._now())
            self._event(conn, None, receipt, "再交付申請", staff, {"replaces": number})
            self._end_elsewhere(number, EndReason.REISSUED)
        return self.application(receipt)

    def suspensions(self, card_number: str) -> list[Suspension]:
        number = check_card_number(card_number)
        s = t.suspensions.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.suspensions).where(s.card_number == number)
                                .order_by(s.suspension_id)).all()
        return [Suspension(r.suspension_id, r.card_number, Reporter(r.reported_by), r.note,
                           aware(r.suspended_at), dict(r.revoked), _maybe(r.resumed_at),
                           r.resumed_by) for r in rows]

    # -- the end of a card ---------------------------------------------------------------------

    def end(self, card_number: str, reason: EndReason | str, *, actor: str = "J-LIS") -> Card:
        """廃止 (death, 国外転出, expiry, 返納 …): certificates revoked, chip retired."""
        number = check_card_number(card_number)
        why = EndReason.parse(reason)
        who = check_staff(actor)
        with self.engine.begin() as conn:
            self._end_here(conn, number, (CardStatus.PRODUCED, CardStatus.ACTIVE,
                                          CardStatus.SUSPENDED), why, who, {})
            self._end_elsewhere(number, why)
        return self.card(number)

    def end_expired(self) -> list[str]:
        """End every live card whose validity ran out (the day after 有効期限)."""
        c = t.cards.c
        with self.engine.begin() as conn:
            numbers = list(conn.execute(select(c.card_number).where(
                c.status != CardStatus.ENDED.value, c.expires_on < self._today())
                .order_by(c.card_number)).scalars())
            for number in numbers:
                self._end_here(conn, number, (CardStatus.PRODUCED, CardStatus.ACTIVE,
                                              CardStatus.SUSPENDED), EndReason.EXPIRY, "J-LIS", {})
            for number in numbers:
                self._end_elsewhere(number, EndReason.EXPIRY)
        return numbers

    def on_identity_changed(self, person_key: str, changed: set[str], status: str) -> None:
        """J-LIS identity listener: death or 職権消除 ends the person's cards and closes
        their open applications.  (A move keeps the card: 継続利用 with a 追記.)

        It never lets a card problem undo the registry's 届出: a failure is
        recorded as an event and the card is left for :meth:`end` to finish.
        """
        reason = ENDING_STATUSES.get(status)
        if reason is None:
            return
        c, a = t.cards.c, t.applications.c
        with self.engine.connect() as conn:
            numbers = list(conn.execute(select(c.card_number).where(
                c.holder_ref == person_key, c.status != CardStatus.ENDED.value)).scalars())
            receipts = list(conn.execute(select(a.receipt_no).where(
                a.holder_ref == person_key, a.status == ApplicationStatus.RECEIVED.value))
                .scalars())
        for number in numbers:
            try:
                self.end(number, reason)
            except MynaError as exc:
                self._record_failure(number, "廃止の失敗", exc)
        for receipt in receipts:
            try:
                self.withdraw(receipt, f"{status}による取下げ")
            except MynaError:
                continue

    def _record_failure(self, number: str, event: str, exc: MynaError) -> None:
        try:
            with self.engine.begin() as conn:
                self._event(conn, number, None, event, "J-LIS", {"error": exc.message})
        except Exception:  # the record is best effort; the card stays live for a retry
            return

    def _end_here(self, conn: Connection, number: str, allowed: Sequence[CardStatus],
                  reason: EndReason, actor: str, detail: dict[str, Any]) -> None:
        card = self._card_row(conn, number)
        if card.status == CardStatus.ENDED.value:
            raise Conflict(f"カード {number} は既に廃止されています（{card.end_reason}）",
                           f"card {number} has already ended ({card.end_reason})")
        if CardStatus(card.status) not in allowed:
            raise Conflict(f"カード {number} は{card.status}のため{reason.value}にできません",
                           f"card {number} is {card.status}")
        done = conn.execute(update(t.cards).where(
            t.cards.c.card_number == number, t.cards.c.status == card.status).values(
            status=CardStatus.ENDED.value, ended_at=self._now(), end_reason=reason.value))
        if done.rowcount != 1:
            raise Conflict(f"カード {number} の状態が変わりました。やり直してください",
                           f"card {number} changed meanwhile")
        conn.execute(t.appointments.delete().where(t.appointments.c.card_number == number))
        self._event(conn, number, None, "廃止", actor, {"reason": reason.value} | detail)

    def _end_elsewhere(self, number: str, reason: EndReason, note: str | None = None) -> None:
        """Revoke what is still good and retire the chip (both are idempotent here)."""
        self.jpki.revoke_card(number, reason.revocation, note or reason.value)
        with contextlib.suppress(PermissionDenied, NotFound):  # retired, or never made
            self.chips.retire(number)

    def _revoke_quietly(self, serial: int) -> None:
        with contextlib.suppress(MynaError):
            self.jpki.revoke(serial, x509.ReasonFlags.privilege_withdrawn, "発行処理の中止")

    # -- 追記欄 -----------------------------------------------------------------------------------

    def add_note(self, card_number: str, *, staff_id: str, text: str) -> Card:
        """Write a line in the card's 追記欄 (a new address, a new name …)."""
        number = check_card_number(card_number)
        staff = check_staff(staff_id)
        line = check_note(text, limit=60)
        if not line:
            raise ValidationError("追記する内容を入力してください", "empty note")
        with self.engine.begin() as conn:
            card = self._card_row(conn, number)
            if card.status not in (CardStatus.ACTIVE.value, CardStatus.SUSPENDED.value):
                raise Conflict(f"カード {number} は{card.status}です", f"card is {card.status}")
            conn.execute(insert(t.notes).values(card_number=number, text=line, staff_id=staff,
                                                written_at=self._now()))
            self._event(conn, number, None, "追記", staff, {"text": line})
        return self.card(number)

    # -- reading -------------------------------------------------------------------------------

    def card(self, card_number: str) -> Card:
        number = check_card_number(card_number)
        with self.engine.connect() as conn:
            row = self._card_row(conn, number)
            notes = conn.execute(select(t.notes).where(t.notes.c.card_number == number)
                                 .order_by(t.notes.c.note_id)).all()
            slot = conn.execute(select(t.appointments.c.slot_start).where(
                t.appointments.c.card_number == number)).scalar()
        identity = None
        if row.identity_method:
            identity = IdentityCheck(IdentityMethod(row.identity_method),
                                     tuple(row.identity_documents or ()))
        return Card(
            card_number=row.card_number, receipt_no=row.receipt_no, holder_ref=row.holder_ref,
            municipality_code=row.municipality_code, resident_id=row.resident_id,
            name=row.name, birth_date=row.birth_date, sex=row.sex, address=row.address,
            masked_number=individual.mask(row.individual_number),
            period_of_stay_until=row.period_of_stay_until, issued_on=row.issued_on,
            expires_on=row.expires_on, produced_at=aware(row.produced_at),
            hold_until=row.hold_until, status=CardStatus(row.status),
            auth_serial=int(row.auth_serial, 16) if row.auth_serial else None,
            signing_serial=int(row.signing_serial, 16) if row.signing_serial else None,
            handed_over_at=_maybe(row.handed_over_at), handed_over_by=row.handed_over_by,
            identity=identity, ended_at=_maybe(row.ended_at),
            end_reason=EndReason(row.end_reason) if row.end_reason else None,
            appointment=_maybe(slot),
            notes=tuple(Note(n.text, n.staff_id, aware(n.written_at)) for n in notes),
        )

    def cards(self, municipality_code: str | None = None,
              status: CardStatus | str | None = None, limit: int = 1000) -> list[Card]:
        """Cards produced, newest first: one town's or all, in one state or any."""
        c = t.cards.c
        q = select(c.card_number)
        if municipality_code is not None:
            q = q.where(c.municipality_code == municipality_codes.validate(municipality_code))
        if status is not None:
            q = q.where(c.status == _card_status(status).value)
        with self.engine.connect() as conn:
            numbers = conn.execute(q.order_by(c.produced_at.desc(), c.card_number)
                                   .limit(max(1, min(limit, 10_000)))).scalars().all()
        return [self.card(n) for n in numbers]

    def certificate_states(self, card: Card) -> tuple[CertificateState, CertificateState]:
        """The card's user-authentication and signing certificates as J-LIS holds them now
        (a 廃止 or suspended card's certificates are revoked, whatever its record says)."""
        now = self._now()

        def state(kind: CertKind, serial: int | None) -> CertificateState:
            if serial is None:
                return CertificateState(kind, None, "none")
            try:
                record = self.jpki.certificate(serial)
            except NotFound:
                return CertificateState(kind, serial, "none")
            reason = record.revocation_reason.value if record.revocation_reason else None
            if record.status == "revoked":
                return CertificateState(kind, serial, "revoked", record.not_after,
                                        record.revoked_at, reason)
            if record.not_after <= now:
                return CertificateState(kind, serial, "expired", record.not_after)
            return CertificateState(kind, serial, "valid", record.not_after)

        return (state(CertKind.AUTH, card.auth_serial),
                state(CertKind.SIGNING, card.signing_serial))

    def cards_of_holder(self, holder_ref: str) -> list[Card]:
        """Every card of a person (J-LIS person key), oldest first."""
        c = t.cards.c
        with self.engine.connect() as conn:
            numbers = conn.execute(select(c.card_number).where(c.holder_ref == holder_ref)
                                   .order_by(c.produced_at, c.card_number)).scalars().all()
        return [self.card(n) for n in numbers]

    def cards_of_resident(self, municipality_code: str, resident_id: int) -> list[Card]:
        """Cards produced for a resident of a municipality, oldest first."""
        c = t.cards.c
        with self.engine.connect() as conn:
            numbers = conn.execute(select(c.card_number).where(
                c.municipality_code == municipality_codes.validate(municipality_code),
                c.resident_id == resident_id).order_by(c.produced_at, c.card_number)
            ).scalars().all()
        return [self.card(n) for n in numbers]

    def history(self, card_number: str) -> list[CardEvent]:
        """The card's history with its application's, oldest first (no PINs, no photos)."""
        number = check_card_number(card_number)
        e = t.events.c
        with self.engine.connect() as conn:
            receipt = conn.execute(select(t.cards.c.receipt_no).where(
                t.cards.c.card_number == number)).scalar()
            if receipt is None:
                raise NotFound(f"カード {number} はありません", f"no card {number}")
            rows = conn.execute(select(t.events).where(
                (e.card_number == number) | (e.receipt_no == receipt)).order_by(e.event_id)
            ).all()
        return [CardEvent(r.event, r.actor, dict(r.detail), aware(r.at)) for r in rows]

    def face_image(self, card_number: str) -> bytes:
        """The face photo kept with the card (JPEG)."""
        number = check_card_number(card_number)
        with self.engine.connect() as conn:
            return bytes(self._card_row(conn, number).face_image)

    # -- rendering -----------------------------------------------------------------------------

    def front(self, card_number: str) -> CardFront:
        card = self.card(card_number)
        return CardFront(
            name=card.name, address=card.address, birth_date=card.birth_date, sex=card.sex,
            expires_on=card.expires_on, photo_jpeg=self.face_image(card.card_number),
            notes=tuple(n.text for n in card.notes),
        )

    def render_front(self, card_number: str) -> bytes:
        """The front of the card as a PNG (name, address, birth date, sex, photo, expiry)."""
        return render_front(self.front(card_number))

    def render_back(self, card_number: str, auth_pin: str) -> bytes:
        """The back (the individual number) as a PNG, for the holder only.

        The holder proves the card with its auth PIN: the chip signs a fresh
        challenge, checked here against the chip's key.  A wrong PIN counts, as
        any use of the card does.
        """
        number = check_card_number(card_number)
        self._usable(number)
        challenge = b"myna-card-back\x00" + os.urandom(32)
        signature = self.chips.sign(number, Slot.AUTH, auth_pin, challenge)
        try:
            self.chips.public_key(number, Slot.AUTH).verify(
                signature, challenge, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise PermissionDenied("カードを確認できません", "the chip's answer did not verify") \
                from None
        with self.engine.connect() as conn:
            row = self._card_row(conn, number)
        return render_back(CardBack(individual_number=row.individual_number, name=row.name,
                                    birth_date=row.birth_date))

    # -- helpers -------------------------------------------------------------------------------

    def _card_row(self, conn: Connection, number: str) -> Row[Any]:
        row = conn.execute(select(t.cards).where(t.cards.c.card_number == number)).first()
        if row is None:
            raise NotFound(f"カード番号 {number} のカードはありません", f"no card {number}")
        return row

    @staticmethod
    def _require(card: Row[Any], wanted: CardStatus, action: str) -> None:
        if card.status == wanted.value:
            return
        status = CardStatus(card.status)
        extra = f"（{card.end_reason}）" if status is CardStatus.ENDED else ""
        raise Conflict(
            f"カード {card.card_number} は{status.value}{extra}のため{action}できません",
            f"card {card.card_number} is {status.name.lower()}, not {wanted.name.lower()}",
        )

    def _transition(self, conn: Connection, number: str, old: CardStatus, new: CardStatus,
                    **values: Any) -> None:
        done = conn.execute(update(t.cards).where(
            t.cards.c.card_number == number, t.cards.c.status == old.value).values(
            status=new.value, **values))
        if done.rowcount != 1:
            raise Conflict(f"カード {number} の状態が変わりました。やり直してください",
                           f"card {number} changed meanwhile")

    def _event(self, conn: Connection, number: str | None, receipt: int | None, event: str,
               actor: str, detail: dict[str, Any]) -> None:
        conn.execute(insert(t.events).values(card_number=number, receipt_no=receipt, event=event,
                                             actor=actor[:50], detail=detail, at=self._now()))


def _to_application(r: Row[Any]) -> Application:
    return Application(
        receipt_no=r.receipt_no, channel=Channel(r.channel),
        notice_application_id=r.notice_application_id, municipality_code=r.municipality_code,
        resident_id=r.resident_id, photo_format=r.photo_format,
        photo_size=(r.photo_width, r.photo_height), signing_requested=bool(r.signing_requested),
        staff_id=r.staff_id, reissue_of=r.reissue_of, status=ApplicationStatus(r.status),
        received_at=aware(r.received_at), card_number=r.card_number,
    )


def _undo(steps: list[Callable[[], None]]) -> None:
    """Compensate what other nodes already did, newest first; never mask the first error."""
    for step in reversed(steps):
        try:
            step()
        except Exception:  # best effort: the original error is what the caller must see
            continue
