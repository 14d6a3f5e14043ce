"""The card centre's answers as JSON, for the HTTP transport of :mod:`myna.contracts.cards`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from myna.contracts.cards import (
    Application,
    ApplicationStatus,
    Card,
    CardEvent,
    CardStatus,
    CertificateState,
    Channel,
    EndReason,
    IdentityCheck,
    IdentityMethod,
    Note,
    Reporter,
    Suspension,
)


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _parse_time(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def application_to_json(a: Application) -> dict[str, Any]:
    return {
        "receipt_no": a.receipt_no, "channel": a.channel.value,
        "notice_application_id": a.notice_application_id,
        "municipality_code": a.municipality_code, "resident_id": a.resident_id,
        "photo_format": a.photo_format, "photo_size": list(a.photo_size),
        "signing_requested": a.signing_requested, "staff_id": a.staff_id,
        "reissue_of": a.reissue_of, "status": a.status.value,
        "received_at": _time(a.received_at), "card_number": a.card_number,
    }


def application_from_json(d: dict[str, Any]) -> Application:
    width, height = d["photo_size"]
    return Application(
        receipt_no=int(d["receipt_no"]), channel=Channel(d["channel"]),
        notice_application_id=d.get("notice_application_id"),
        municipality_code=str(d["municipality_code"]), resident_id=int(d["resident_id"]),
        photo_format=str(d["photo_format"]), photo_size=(int(width), int(height)),
        signing_requested=bool(d["signing_requested"]), staff_id=d.get("staff_id"),
        reissue_of=d.get("reissue_of"), status=ApplicationStatus(d["status"]),
        received_at=_need_time(d["received_at"]), card_number=d.get("card_number"),
    )


def card_to_json(c: Card, *, with_person_key: bool = False) -> dict[str, Any]:
    """A card as JSON; the person key only when asked (never to a town)."""
    return {
        "card_number": c.card_number, "receipt_no": c.receipt_no,
        "person_key": c.person_key if with_person_key else "",
        "municipality_code": c.municipality_code, "resident_id": c.resident_id,
        "name": c.name, "birth_date": _day(c.birth_date), "sex": c.sex, "address": c.address,
        "masked_number": c.masked_number, "period_of_stay_until": _day(c.period_of_stay_until),
        "issued_on": _day(c.issued_on), "expires_on": _day(c.expires_on),
        "produced_at": _time(c.produced_at), "hold_until": _day(c.hold_until),
        "status": c.status.value,
        "auth_serial": f"{c.auth_serial:X}" if c.auth_serial is not None else None,
        "signing_serial": f"{c.signing_serial:X}" if c.signing_serial is not None else None,
        "handed_over_at": _time(c.handed_over_at), "handed_over_by": c.handed_over_by,
        "identity": None if c.identity is None else {
            "method": c.identity.method.value, "documents": list(c.identity.documents)},
        "ended_at": _time(c.ended_at),
        "end_reason": c.end_reason.value if c.end_reason else None,
        "appointment": _time(c.appointment),
        "notes": [{"text": n.text, "staff_id": n.staff_id, "written_at": _time(n.written_at)}
                  for n in c.notes],
    }


def _need_day(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value))


def _need_time(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value))


def card_from_json(d: dict[str, Any]) -> Card:
    identity = d.get("identity")
    return Card(
        card_number=str(d["card_number"]), receipt_no=int(d["receipt_no"]),
        person_key=str(d.get("person_key", "")), municipality_code=str(d["municipality_code"]),
        resident_id=int(d["resident_id"]), name=str(d["name"]),
        birth_date=_need_day(d["birth_date"]), sex=str(d["sex"]),
        address=str(d["address"]), masked_number=str(d["masked_number"]),
        period_of_stay_until=_parse_day(d.get("period_of_stay_until")),
        issued_on=_need_day(d["issued_on"]), expires_on=_need_day(d["expires_on"]),
        produced_at=_need_time(d["produced_at"]), hold_until=_need_day(d["hold_until"]),
        status=CardStatus(d["status"]),
        auth_serial=int(d["auth_serial"], 16) if d.get("auth_serial") else None,
        signing_serial=int(d["signing_serial"], 16) if d.get("signing_serial") else None,
        handed_over_at=_parse_time(d.get("handed_over_at")),
        handed_over_by=d.get("handed_over_by"),
        identity=None if identity is None else IdentityCheck(
            IdentityMethod(identity["method"]), tuple(identity["documents"])),
        ended_at=_parse_time(d.get("ended_at")),
        end_reason=EndReason(d["end_reason"]) if d.get("end_reason") else None,
        appointment=_parse_time(d.get("appointment")),
        notes=tuple(Note(str(n["text"]), str(n["staff_id"]), _need_time(n["written_at"]))
                    for n in d.get("notes", [])),
    )


def event_to_json(e: CardEvent) -> dict[str, Any]:
    return {"event": e.event, "actor": e.actor, "detail": e.detail, "at": _time(e.at)}


def event_from_json(d: dict[str, Any]) -> CardEvent:
    return CardEvent(str(d["event"]), str(d["actor"]), dict(d["detail"]), _need_time(d["at"]))


def suspension_to_json(s: Suspension) -> dict[str, Any]:
    return {"suspension_id": s.suspension_id, "card_number": s.card_number,
            "reported_by": s.reported_by.value, "note": s.note,
            "suspended_at": _time(s.suspended_at), "revoked": s.revoked,
            "resumed_at": _time(s.resumed_at), "resumed_by": s.resumed_by}


def suspension_from_json(d: dict[str, Any]) -> Suspension:
    return Suspension(int(d["suspension_id"]), str(d["card_number"]),
                      Reporter(d["reported_by"]), str(d["note"]), _need_time(d["suspended_at"]),
                      {str(k): str(v) for k, v in dict(d["revoked"]).items()},
                      _parse_time(d.get("resumed_at")), d.get("resumed_by"))


def state_to_json(s: CertificateState) -> dict[str, Any]:
    return {"kind": s.kind, "serial": f"{s.serial:X}" if s.serial is not None else None,
            "status": s.status, "not_after": _time(s.not_after),
            "revoked_at": _time(s.revoked_at), "reason": s.reason}


def state_from_json(d: dict[str, Any]) -> CertificateState:
    return CertificateState(str(d["kind"]), int(d["serial"], 16) if d.get("serial") else None,
                            str(d["status"]), _parse_time(d.get("not_after")),
                            _parse_time(d.get("revoked_at")), d.get("reason"))
