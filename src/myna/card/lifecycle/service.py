"""The 個人番号カード from application to its end, as J-LIS's card centre runs it.

Its own node ("cards").  J-LIS's card centre receives applications (by mail,
online, at a photo kiosk, or at the municipality's counter) and produces each
card: a card number, the face data, a chip with key pairs generated on it and
JPKI certificates.  The municipality hands it over in one visit — identity
checked in person, PINs set by the resident — and voids cards nobody collects.
Loss suspends the card at any hour (本人 or the コールセンター); a found card is
resumed at the counter, a lost one reissued.  Death, moving abroad, expiry and
return end it.

The card is voluntary: nothing in Myna needs one, and not applying, withdrawing
an application or returning a card changes nothing else for the person.

:class:`CardService` is a thin facade over the use cases — :mod:`.applying`,
:mod:`.production`, :mod:`.issuance`, :mod:`.suspension`, :mod:`.renewal`,
:mod:`.identity`, :mod:`.queries` — and implements
:class:`myna.contracts.cards.CardsApi` for the municipalities.  Production and
issuance record their intent first and confirm last, so that running either
again after a crash completes it (see :mod:`.production`, :mod:`.issuance`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TypeVar

from cryptography import x509
from sqlalchemy import Connection, Engine

from myna.card.chip import ChipStore
from myna.card.lifecycle import (
    applying,
    identity,
    issuance,
    production,
    queries,
    renewal,
    suspension,
)
from myna.card.lifecycle.audit import CardProblem, card_problems
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import SLOT_CAPACITY, CardStatus, Channel, EndReason, Reporter
from myna.card.lifecycle.people import JlisIdentity, NoDirectory, People
from myna.card.lifecycle.records import (
    REISSUE_NEEDED,
    Application,
    Card,
    CardEvent,
    CertificateState,
    Suspension,
)
from myna.card.lifecycle.render import CardFront
from myna.clock import utcnow
from myna.contracts.residents import ResidentDirectory
from myna.db import migrate
from myna.errors import ValidationError
from myna.events import Event, Inbox, Outbox
from myna.jpki.domain import CertKind
from myna.jpki.service import JpkiService
from myna.notify.service import NotificationService

__all__ = ["REISSUE_NEEDED", "Application", "Card", "CardEvent", "CardService",
           "CertificateState", "Suspension"]

DEFAULT_HOLDING_MONTHS = 6
_T = TypeVar("_T")


class CardService:
    """個人番号カード: application, production, issuance, loss, reissue, end, rendering."""

    def __init__(
        self, engine: Engine, jpki: JpkiService, chips: ChipStore, notify: NotificationService,
        jlis: JlisIdentity, residents: ResidentDirectory | None, *,
        now: Callable[[], dt.datetime] = utcnow,
        holding_months: int = DEFAULT_HOLDING_MONTHS, slot_capacity: int = SLOT_CAPACITY,
    ) -> None:
        """``residents`` answers what only municipalities hold (None: a card centre that
        cannot ask them refuses applications with a clear message)."""
        if not 1 <= holding_months <= 24:
            raise ValidationError(f"保管期間は1〜24か月です（指定: {holding_months}）",
                                  f"holding period must be 1..24 months, not {holding_months}")
        self.desk = Desk(engine, jpki, chips, notify,
                         People(jlis, residents if residents is not None else NoDirectory()),
                         now, holding_months, slot_capacity)
        self.inbox = Inbox(engine, "cards", {"number.changed": self._on_number_changed},
                           self.desk.now, effects={"identity.changed": self._on_identity_event})

    # -- the node ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.desk.engine

    @property
    def jpki(self) -> JpkiService:
        return self.desk.jpki

    @property
    def outbox(self) -> Outbox:
        """The card centre's events for the card holders' towns (see :mod:`.towns`)."""
        return self.desk.outbox

    @property
    def publish(self) -> Callable[[], None]:
        """Called after a change of a card's state has committed, to deliver the outbox
        (the wiring sets it; by default events wait for the relay)."""
        return self.desk.publish

    @publish.setter
    def publish(self, deliver: Callable[[], None]) -> None:
        self.desk.publish = deliver

    def _published(self, result: _T) -> _T:
        """``result`` of a use case that may have changed a card's state, once the town's
        news is on its way (never from inside an event handler: see :mod:`.identity`)."""
        self.desk.publish()
        return result

    @property
    def chips(self) -> ChipStore:
        return self.desk.chips

    @property
    def holding_months(self) -> int:
        """How long a produced card waits at the counter before it is voided."""
        return self.desk.holding_months

    @property
    def now(self) -> Callable[[], dt.datetime]:
        """The card centre's clock (tests replace it)."""
        return self.desk.clock

    @now.setter
    def now(self, clock: Callable[[], dt.datetime]) -> None:
        self.desk.clock = clock

    def create_schema(self) -> None:
        migrate(self.engine, "myna.card.lifecycle")
        self.inbox.create_schema()  # the event tables: the inbox's and the outbox's

    def _on_identity_event(self, event: Event) -> None:
        identity.on_identity_event(self.desk, event)

    def _on_number_changed(self, conn: Connection, event: Event) -> None:
        identity.on_number_changed(self.desk, conn, event)

    def on_identity_changed(self, person_key: str, changed: set[str], status: str) -> None:
        """J-LIS identity listener: death or 職権消除 ends the person's cards."""
        identity.on_identity_changed(self.desk, person_key, changed, status)

    def problems(self) -> list[CardProblem]:
        """What is unfinished or inconsistent between the cards, JPKI and the chips."""
        return card_problems(self.desk)

    # -- 交付申請 ----------------------------------------------------------------------------------

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
        return applying.apply(self.desk, photo, channel=channel, application_id=application_id,
                              municipality_code=municipality_code, resident_id=resident_id,
                              staff_id=staff_id, signing_certificate=signing_certificate)

    def withdraw(self, receipt_no: int, note: str = "") -> Application:
        """取下げ: the applicant changes their mind before production; nothing follows."""
        return applying.withdraw(self.desk, receipt_no, note)

    def application(self, receipt_no: int) -> Application:
        return self.desk.application(receipt_no)

    def pending_applications(self) -> list[Application]:
        """Applications waiting for production, oldest first."""
        return applying.pending_applications(self.desk)

    # -- 作成 (J-LIS) -----------------------------------------------------------------------------

    def produce(self, receipt_no: int) -> Card:
        """Make the card (or finish making it): number, chip keys, JPKI certificates."""
        return production.produce(self.desk, receipt_no)

    def produce_pending(self) -> list[Card]:
        """Produce (or finish) every waiting application; refusals stay waiting."""
        return production.produce_pending(self.desk)

    # -- 交付 -------------------------------------------------------------------------------------

    def book_appointment(self, card_number: str, slot_start: dt.datetime) -> dt.datetime:
        """Book (or move) the hand-over appointment; a slot takes a few people at most."""
        return issuance.book_appointment(self.desk, card_number, slot_start)

    def appointments(self, municipality_code: str, day: dt.date) -> list[tuple[dt.datetime, Card]]:
        """The counter's hand-over appointments of one day (JST), by time."""
        return issuance.appointments(self.desk, municipality_code, day)

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
        return self._published(issuance.issue(
            self.desk, card_number, staff_id=staff_id, documents=documents,
            auth_pin=auth_pin, signing_pin=signing_pin))

    def unclaimed(self, municipality_code: str | None = None) -> list[Card]:
        """Cards waiting at the counter, the oldest holding deadline first."""
        return issuance.unclaimed(self.desk, municipality_code)

    def void_unclaimed(self, municipality_code: str | None = None) -> list[str]:
        """Void the cards not collected by their holding deadline."""
        return self._published(issuance.void_unclaimed(self.desk, municipality_code))

    # -- using the card ------------------------------------------------------------------------

    def sign(self, card_number: str, pin: str, document: bytes) -> bytes:
        """Sign a document with the card's signing key (signing PIN; wrong PINs count)."""
        return queries.sign(self.desk, card_number, pin, document)

    def authenticate(self, card_number: str, pin: str, challenge: bytes) -> bytes:
        """Sign a login challenge with the auth key (auth PIN; wrong PINs count)."""
        return queries.authenticate(self.desk, card_number, pin, challenge)

    def certificate(self, card_number: str, kind: CertKind | str,
                    pin: str | None = None) -> x509.Certificate:
        """A certificate read from the card (the signing one needs the signing PIN)."""
        return queries.certificate(self.desk, card_number, kind, pin)

    # -- 紛失 --------------------------------------------------------------------------------------

    def suspend(self, card_number: str, *, reported_by: Reporter | str = Reporter.RESIDENT,
                note: str = "") -> Card:
        """一時停止, at any hour: the card stops working and its certificates are revoked
        (keyCompromise: 紛失・盗難) at once, so every relying party refuses them."""
        return self._published(suspension.suspend(self.desk, card_number,
                                                  reported_by=reported_by, note=note))

    def resume(self, card_number: str, *, staff_id: str, documents: Iterable[str]) -> Card:
        """一時停止の解除 at the counter when the card is found: identity checked in person;
        new key pairs on the same chip and new certificates for those the suspension revoked.
        The PINs are kept."""
        return self._published(suspension.resume(self.desk, card_number, staff_id=staff_id,
                                                 documents=documents))

    def suspensions(self, card_number: str) -> list[Suspension]:
        return suspension.suspensions(self.desk, card_number)

    def renew_certificates(
        self, card_number: str, *, staff_id: str, documents: Iterable[str],
        kinds: Iterable[CertKind | str] | None = None,
    ) -> Card:
        """電子証明書の更新・再発行 at the counter (after 5 birthdays, or after a move revoked
        the signing certificate): new key pairs on the card, new certificates.

        ``kinds`` defaults to the auth certificate and, when the card has a
        signing PIN, the signing certificate.
        """
        return renewal.renew_certificates(self.desk, card_number, staff_id=staff_id,
                                          documents=documents, kinds=kinds)

    def reissue(
        self, card_number: str, *, staff_id: str, documents: Iterable[str],
        photo: bytes | None = None, signing_certificate: bool = True,
    ) -> Application:
        """再交付: end the lost (or damaged) card and apply for a new one at the counter.

        The new card gets a new number, chip, keys and certificates; it is
        produced and handed over like any other.  Without a new ``photo`` the
        face data of the old card is used.
        """
        return self._published(renewal.reissue(
            self.desk, card_number, staff_id=staff_id, documents=documents, photo=photo,
            signing_certificate=signing_certificate))

    # -- the end of a card ---------------------------------------------------------------------

    def end(self, card_number: str, reason: EndReason | str, *, actor: str = "J-LIS") -> Card:
        """廃止 (death, 国外転出, expiry, 返納 …): certificates revoked, chip retired."""
        return self._published(renewal.end(self.desk, card_number, reason, actor=actor))

    def end_expired(self) -> list[str]:
        """End every live card whose validity ran out (the day after 有効期限)."""
        return self._published(renewal.end_expired(self.desk))

    def add_note(self, card_number: str, *, staff_id: str, text: str) -> Card:
        """Write a line in the card's 追記欄 (a new address, a new name …)."""
        return renewal.add_note(self.desk, card_number, staff_id=staff_id, text=text)

    # -- reading -------------------------------------------------------------------------------

    def card(self, card_number: str) -> Card:
        return queries.card(self.desk, card_number)

    def cards(self, municipality_code: str | None = None,
              status: CardStatus | str | None = None, limit: int = 1000) -> list[Card]:
        """Cards produced, newest first: one town's or all, in one state or any."""
        return queries.cards(self.desk, municipality_code, status, limit)

    def certificate_states(self, card: Card) -> tuple[CertificateState, CertificateState]:
        """The card's user-authentication and signing certificates as J-LIS holds them now
        (a 廃止 or suspended card's certificates are revoked, whatever its record says)."""
        return queries.certificate_states(self.desk, card)

    def cards_of_person(self, person_key: str) -> list[Card]:
        """Every card of a person (J-LIS person key), oldest first."""
        return queries.cards_of_person(self.desk, person_key)

    def cards_of_resident(self, municipality_code: str, resident_id: int) -> list[Card]:
        """Cards produced for a resident of a municipality, oldest first."""
        return queries.cards_of_resident(self.desk, municipality_code, resident_id)

    def history(self, card_number: str) -> list[CardEvent]:
        """The card's history with its application's, oldest first (no PINs, no photos)."""
        return queries.history(self.desk, card_number)

    def face_image(self, card_number: str) -> bytes:
        """The face photo kept with the card (JPEG)."""
        return queries.face_image(self.desk, card_number)

    def front(self, card_number: str) -> CardFront:
        return queries.front(self.desk, card_number)

    def render_front(self, card_number: str) -> bytes:
        """The front of the card as a PNG (name, address, birth date, sex, photo, expiry)."""
        return queries.front_png(self.desk, card_number)

    def render_back(self, card_number: str, auth_pin: str) -> bytes:
        """The back (the individual number) as a PNG, for the holder only (auth PIN)."""
        return queries.back_png(self.desk, card_number, auth_pin)
