"""A municipality's counter calling J-LIS's card centre over HTTP.

:class:`CardsClient` implements :class:`myna.contracts.cards.CardsApi` against the
routes of :func:`myna.card.routes.card_routes` in the J-LIS node.  The card
centre knows the town from the client's certificate (``municipality:<code>``).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from typing import Any

import httpx

from myna.clock import utcnow
from myna.contracts.cards import (
    Application,
    Card,
    CardEvent,
    CardStatus,
    CertificateState,
    Channel,
    EndReason,
    Reporter,
    Suspension,
)
from myna.contracts.cards_json import (
    application_from_json,
    card_from_json,
    event_from_json,
    state_from_json,
    suspension_from_json,
)
from myna.transport.http import NodeIdentity, Now, _Client

PREFIX = "/node/v1/cards/"


class CardsClient:
    """:class:`~myna.contracts.cards.CardsApi` over HTTP (one town's view of the card centre)."""

    def __init__(self, base_url: str, identity: NodeIdentity, now: Now = utcnow,
                 timeout: float = 30.0, client: httpx.Client | None = None) -> None:
        self._client = _Client(base_url, identity, now, timeout, client)
        self._clock = now
        self._holding: int | None = None

    def _post(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._client.post(PREFIX + name, payload)

    def now(self) -> dt.datetime:
        return self._clock()

    @property
    def holding_months(self) -> int:
        if self._holding is None:
            self._holding = int(self._post("settings", {})["holding_months"])
        return self._holding

    # -- applications ----------------------------------------------------------------------

    def apply(
        self, photo: bytes, *, channel: Channel | str, application_id: str | None = None,
        municipality_code: str | None = None, resident_id: int | None = None,
        staff_id: str | None = None, signing_certificate: bool = True,
    ) -> Application:
        return application_from_json(self._post("apply", {
            "photo": base64.b64encode(photo).decode(), "channel": str(channel),
            "application_id": application_id, "municipality_code": municipality_code,
            "resident_id": resident_id, "staff_id": staff_id, "signing": signing_certificate}))

    def withdraw(self, receipt_no: int, note: str = "") -> Application:
        return application_from_json(self._post("withdraw", {"receipt_no": receipt_no,
                                                             "note": note}))

    def application(self, receipt_no: int) -> Application:
        return application_from_json(self._post("application", {"receipt_no": receipt_no}))

    def pending_applications(self) -> list[Application]:
        return [application_from_json(a) for a in self._post("pending", {})["applications"]]

    def produce(self, receipt_no: int) -> Card:
        return card_from_json(self._post("produce", {"receipt_no": receipt_no}))

    # -- 交付 ---------------------------------------------------------------------------------

    def book_appointment(self, card_number: str, slot_start: dt.datetime) -> dt.datetime:
        data = self._post("book", {"card_number": card_number, "slot": slot_start.isoformat()})
        return dt.datetime.fromisoformat(data["slot"])

    def appointments(self, municipality_code: str,
                     day: dt.date) -> list[tuple[dt.datetime, Card]]:
        data = self._post("appointments", {"municipality_code": municipality_code,
                                           "day": day.isoformat()})
        return [(dt.datetime.fromisoformat(a["slot"]), card_from_json(a["card"]))
                for a in data["appointments"]]

    def issue(self, card_number: str, *, staff_id: str, documents: Iterable[str],
              auth_pin: str, signing_pin: str | None = None) -> Card:
        return card_from_json(self._post("issue", {
            "card_number": card_number, "staff_id": staff_id, "documents": list(documents),
            "auth_pin": auth_pin, "signing_pin": signing_pin}))

    def unclaimed(self, municipality_code: str | None = None) -> list[Card]:
        data = self._post("unclaimed", {"municipality_code": municipality_code})
        return [card_from_json(c) for c in data["cards"]]

    def void_unclaimed(self, municipality_code: str | None = None) -> list[str]:
        data = self._post("void-unclaimed", {"municipality_code": municipality_code})
        return [str(n) for n in data["voided"]]

    # -- 紛失, 再交付, 廃止, 追記 ---------------------------------------------------------------

    def suspend(self, card_number: str, *, reported_by: Reporter | str = Reporter.RESIDENT,
                note: str = "") -> Card:
        return card_from_json(self._post("suspend", {
            "card_number": card_number, "reported_by": str(reported_by), "note": note}))

    def resume(self, card_number: str, *, staff_id: str, documents: Iterable[str]) -> Card:
        return card_from_json(self._post("resume", {
            "card_number": card_number, "staff_id": staff_id, "documents": list(documents)}))

    def reissue(self, card_number: str, *, staff_id: str, documents: Iterable[str],
                photo: bytes | None = None, signing_certificate: bool = True) -> Application:
        return application_from_json(self._post("reissue", {
            "card_number": card_number, "staff_id": staff_id, "documents": list(documents),
            "photo": base64.b64encode(photo).decode() if photo is not None else None,
            "signing": signing_certificate}))

    def end(self, card_number: str, reason: EndReason | str, *, actor: str = "J-LIS") -> Card:
        return card_from_json(self._post("end", {"card_number": card_number,
                                                 "reason": str(reason), "actor": actor}))

    def add_note(self, card_number: str, *, staff_id: str, text: str) -> Card:
        return card_from_json(self._post("add-note", {"card_number": card_number,
                                                      "staff_id": staff_id, "text": text}))

    # -- reading -----------------------------------------------------------------------------

    def card(self, card_number: str) -> Card:
        return card_from_json(self._post("card", {"card_number": card_number}))

    def cards(self, municipality_code: str | None = None,
              status: CardStatus | str | None = None, limit: int = 1000) -> list[Card]:
        data = self._post("cards", {"municipality_code": municipality_code,
                                    "status": str(status) if status is not None else None,
                                    "limit": limit})
        return [card_from_json(c) for c in data["cards"]]

    def cards_of_resident(self, municipality_code: str, resident_id: int) -> list[Card]:
        data = self._post("of-resident", {"municipality_code": municipality_code,
                                          "resident_id": resident_id})
        return [card_from_json(c) for c in data["cards"]]

    def history(self, card_number: str) -> list[CardEvent]:
        return [event_from_json(e) for e in
                self._post("history", {"card_number": card_number})["events"]]

    def suspensions(self, card_number: str) -> list[Suspension]:
        return [suspension_from_json(s) for s in
                self._post("suspensions", {"card_number": card_number})["suspensions"]]

    def certificate_states(self, card: Card) -> tuple[CertificateState, CertificateState]:
        data = self._post("certificate-states", {"card_number": card.card_number})
        return state_from_json(data["auth"]), state_from_json(data["signing"])

    def render_front(self, card_number: str) -> bytes:
        return base64.b64decode(self._post("front", {"card_number": card_number})["png"])
