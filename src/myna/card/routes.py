"""The card centre's node routes: what a municipality calls over HTTP (:class:`CardsApi`).

Mounted in the J-LIS node (``myna serve --node jlis``).  Only towns call
(``municipality:<code>``), and a town reaches only its own: applications it
took or whose letter it sent, and cards it issued or whose holder J-LIS
records as living in it now (a moved card is kept, 継続利用, by the new town).
A card's person key never leaves J-LIS.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.domain import check_card_number
from myna.card.lifecycle.service import CardService
from myna.contracts.cards_json import (
    application_to_json,
    card_to_json,
    event_to_json,
    state_to_json,
    suspension_to_json,
)
from myna.errors import MynaError, PermissionDenied, ValidationError
from myna.numbers import municipality_code as municipality_codes

PREFIX = "/node/v1/cards/"
Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
Route = tuple[Handler, Callable[[str], bool]]


def _is_town(caller: str) -> bool:
    return caller.startswith("municipality:")


def _town(caller: str) -> str:
    return municipality_codes.validate(caller.split(":", 1)[1])


def _bytes(text: Any, what_ja: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{what_ja}の形式が不正です", "not base64") from None


def card_routes(cards: CardService) -> dict[str, Route]:
    """``/node/v1/cards/<operation>`` for the towns (see the module's rules)."""
    desk = cards.desk

    def own_card(caller: str, number: Any) -> str:
        card_number = check_card_number(str(number))
        town = _town(caller)
        with desk.engine.connect() as conn:
            row = conn.execute(select(t.cards.c.municipality_code, t.cards.c.individual_number)
                               .where(t.cards.c.card_number == card_number)).first()
        if row is not None and row.municipality_code != town:
            try:
                lives_in = desk.people.jlis.holder(row.individual_number)[1]
            except MynaError:
                lives_in = None
            if lives_in != town:
                row = None
        if row is None:  # another town's card answers as no card at all
            raise PermissionDenied(f"カード番号 {card_number} はこの市区町村のカードではありません",
                                   "this card is not one of the calling town's")
        return card_number

    def own_application(caller: str, receipt: Any) -> int:
        if not isinstance(receipt, int) or isinstance(receipt, bool):
            raise ValidationError("受付番号が不正です", "receipt number must be an integer")
        if cards.application(receipt).municipality_code != _town(caller):
            raise PermissionDenied(f"受付番号 {receipt} はこの市区町村の申請ではありません",
                                   "this application is not one of the calling town's")
        return receipt

    def own_code(caller: str, code: Any) -> str:
        town = _town(caller)
        if code is not None and municipality_codes.validate(str(code)) != town:
            raise PermissionDenied("他の市区町村のカードは扱えません",
                                   "a town reaches only its own cards")
        return town

    def settings(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"holding_months": cards.holding_months}

    def apply(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        app_id = p.get("application_id")
        if app_id is not None:
            if desk.notify.application(str(app_id)).municipality_code != _town(caller):
                raise PermissionDenied("他の市区町村の申請書IDです",
                                       "the application id is another town's")
            code = None
        else:
            code = own_code(caller, p.get("municipality_code"))
        return application_to_json(cards.apply(
            _bytes(p["photo"], "写真"), channel=str(p["channel"]),
            application_id=str(app_id) if app_id is not None else None,
            municipality_code=code, resident_id=p.get("resident_id"),
            staff_id=p.get("staff_id"), signing_certificate=bool(p.get("signing", True))))

    def withdraw(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        receipt = own_application(caller, p["receipt_no"])
        return application_to_json(cards.withdraw(receipt, str(p.get("note", ""))))

    def application(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return application_to_json(cards.application(own_application(caller, p["receipt_no"])))

    def pending(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        town = _town(caller)
        return {"applications": [application_to_json(a) for a in cards.pending_applications()
                                 if a.municipality_code == town]}

    def produce(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return card_to_json(cards.produce(own_application(caller, p["receipt_no"])))

    def void_unclaimed(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"voided": cards.void_unclaimed(own_code(caller, p.get("municipality_code")))}

    def book(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        slot = cards.book_appointment(own_card(caller, p["card_number"]),
                                      dt.datetime.fromisoformat(str(p["slot"])))
        return {"slot": slot.isoformat()}

    def appointments(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        found = cards.appointments(own_code(caller, p["municipality_code"]),
                                   dt.date.fromisoformat(str(p["day"])))
        return {"appointments": [{"slot": s.isoformat(), "card": card_to_json(c)}
                                 for s, c in found]}

    def issue(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        signing = p.get("signing_pin")
        return card_to_json(cards.issue(
            own_card(caller, p["card_number"]), staff_id=str(p["staff_id"]),
            documents=[str(d) for d in p["documents"]], auth_pin=str(p["auth_pin"]),
            signing_pin=str(signing) if signing is not None else None))

    def unclaimed(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        town = own_code(caller, p.get("municipality_code"))
        return {"cards": [card_to_json(c) for c in cards.unclaimed(town)]}

    def suspend(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return card_to_json(cards.suspend(own_card(caller, p["card_number"]),
                                          reported_by=str(p.get("reported_by", "本人")),
                                          note=str(p.get("note", ""))))

    def resume(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return card_to_json(cards.resume(own_card(caller, p["card_number"]),
                                         staff_id=str(p["staff_id"]),
                                         documents=[str(d) for d in p["documents"]]))

    def reissue(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        photo = p.get("photo")
        return application_to_json(cards.reissue(
            own_card(caller, p["card_number"]), staff_id=str(p["staff_id"]),
            documents=[str(d) for d in p["documents"]],
            photo=_bytes(photo, "写真") if photo is not None else None,
            signing_certificate=bool(p.get("signing", True))))

    def end(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return card_to_json(cards.end(own_card(caller, p["card_number"]), str(p["reason"]),
                                      actor=str(p.get("actor", "J-LIS"))))

    def add_note(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return card_to_json(cards.add_note(own_card(caller, p["card_number"]),
                                           staff_id=str(p["staff_id"]), text=str(p["text"])))

    def card(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return card_to_json(cards.card(own_card(caller, p["card_number"])))

    def listed(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        status = p.get("status")
        found = cards.cards(own_code(caller, p.get("municipality_code")),
                            str(status) if status is not None else None,
                            int(p.get("limit", 1000)))
        return {"cards": [card_to_json(c) for c in found]}

    def of_resident(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        found = cards.cards_of_resident(own_code(caller, p["municipality_code"]),
                                        int(p["resident_id"]))
        return {"cards": [card_to_json(c) for c in found]}

    def history(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"events": [event_to_json(e) for e in
                           cards.history(own_card(caller, p["card_number"]))]}

    def suspensions(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"suspensions": [suspension_to_json(s) for s in
                                cards.suspensions(own_card(caller, p["card_number"]))]}

    def states(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        auth, signing = cards.certificate_states(cards.card(own_card(caller, p["card_number"])))
        return {"auth": state_to_json(auth), "signing": state_to_json(signing)}

    def front(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        png = cards.render_front(own_card(caller, p["card_number"]))
        return {"png": base64.b64encode(png).decode()}

    handlers: dict[str, Handler] = {
        "settings": settings, "apply": apply, "withdraw": withdraw,
        "application": application, "pending": pending, "book": book,
        "appointments": appointments, "issue": issue, "unclaimed": unclaimed,
        "produce": produce, "void-unclaimed": void_unclaimed,
        "suspend": suspend, "resume": resume, "reissue": reissue, "end": end,
        "add-note": add_note, "card": card, "cards": listed, "of-resident": of_resident,
        "history": history, "suspensions": suspensions, "certificate-states": states,
        "front": front,
    }
    return {PREFIX + name: (handler, _is_town) for name, handler in handlers.items()}
