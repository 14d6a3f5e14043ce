"""What the card centre answers: applications, cards, their history (no SQL here).

The dataclasses themselves are part of the contract between the card centre and
the municipalities (:mod:`myna.contracts.cards`); this module turns the card
node's rows into them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from myna.card.lifecycle.domain import (
    ApplicationStatus,
    CardStatus,
    Channel,
    EndReason,
    IdentityCheck,
    IdentityMethod,
    Reporter,
)
from myna.clock import aware
from myna.contracts.cards import (
    REISSUE_NEEDED,
    Application,
    Card,
    CardEvent,
    CertificateState,
    Note,
    Suspension,
)
from myna.numbers import individual

__all__ = ["REISSUE_NEEDED", "Application", "Card", "CardEvent", "CertificateState", "Note",
           "Suspension", "to_application", "to_card", "to_event", "to_suspension"]


def to_application(r: Any) -> Application:
    return Application(
        receipt_no=r.receipt_no, channel=Channel(r.channel),
        notice_application_id=r.notice_application_id, municipality_code=r.municipality_code,
        resident_id=r.resident_id, photo_format=r.photo_format,
        photo_size=(r.photo_width, r.photo_height), signing_requested=bool(r.signing_requested),
        staff_id=r.staff_id, reissue_of=r.reissue_of, status=ApplicationStatus(r.status),
        received_at=aware(r.received_at), card_number=r.card_number,
    )


def to_card(row: Any, notes: Sequence[Any], slot: Any) -> Card:
    identity = None
    if row.identity_method:
        identity = IdentityCheck(IdentityMethod(row.identity_method),
                                 tuple(row.identity_documents or ()))
    return Card(
        card_number=row.card_number, receipt_no=row.receipt_no, person_key=row.person_key,
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


def to_event(r: Any) -> CardEvent:
    return CardEvent(r.event, r.actor, dict(r.detail), aware(r.at))


def to_suspension(r: Any) -> Suspension:
    return Suspension(r.suspension_id, r.card_number, Reporter(r.reported_by), r.note,
                      aware(r.suspended_at), dict(r.revoked), _maybe(r.resumed_at),
                      r.resumed_by)


def _maybe(value: Any) -> Any:
    return aware(value) if value is not None else None
