"""What the town knows of its residents' 個人番号カード: events from J-LIS's card centre.

The card centre tells the holder's 住所地市町村 of every change of a card's state
(``card.state_changed``, :class:`myna.contracts.cards.CardStateNotice`); the
registry's inbox applies each event once, in the registry's own transaction, with
:func:`card_state_handler`: one row per card in ``card_states``, the newest news of the
card kept (a repeat, or older news arriving late, changes nothing).  The staff
screen of the resident shows it (:func:`states_of`), so the counter knows whether a
resident's card works even while J-LIS cannot be reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, insert, select, update

from myna.clock import aware
from myna.contracts.cards import (
    CARD_CENTRE_NODE,
    CardStateNotice,
    CardStatus,
    EndReason,
)
from myna.errors import NotFound, PermissionDenied
from myna.events import Event, Handler
from myna.registry import storage as t
from myna.registry.domain import CardState, Status


def card_state_handler(now: Callable[[], dt.datetime]) -> Handler:
    """The handler of ``card.state_changed`` (``now``: the registry's clock)."""

    def handle(conn: Connection, event: Event) -> None:
        record_card_state(conn, event, now())

    return handle


def record_card_state(conn: Connection, event: Event, at: dt.datetime) -> None:
    """Record the card's state for its holder, in the inbox's transaction."""
    if event.source != CARD_CENTRE_NODE:
        raise PermissionDenied("カードの状態はカードセンターからのみ受け付けます",
                               "card states come from the card centre only")
    notice = CardStateNotice.from_payload(event.payload)
    resident_id = _holder(conn, notice)
    s = t.card_states.c
    known = conn.execute(select(s.since).where(s.card_number == notice.card_number)).first()
    values = {"resident_id": resident_id, "status": notice.status.value,
              "end_reason": notice.end_reason.value if notice.end_reason else None,
              "since": notice.since, "recorded_at": at}
    if known is None:
        conn.execute(insert(t.card_states).values(card_number=notice.card_number, **values))
    elif aware(known.since) <= notice.since:
        conn.execute(update(t.card_states).where(s.card_number == notice.card_number)
                     .values(**values))


def _holder(conn: Connection, notice: CardStateNotice) -> int:
    """The town's resident the card belongs to: the current 住民票 with the 住民票コード
    J-LIS holds, else the resident id the card was issued for, else the latest 除票 with
    that code (the holder moved away or died since)."""
    r = t.residents.c
    if notice.resident_code is not None:
        current = conn.execute(select(r.resident_id).where(
            r.resident_code == notice.resident_code, r.status == Status.RESIDENT.value)
        ).scalar()
        if current is not None:
            return int(current)
    if notice.resident_id is not None:
        issued = conn.execute(select(r.resident_id).where(
            r.resident_id == notice.resident_id)).scalar()
        if issued is not None:
            return int(issued)
    if notice.resident_code is not None:
        latest = conn.execute(select(r.resident_id).where(
            r.resident_code == notice.resident_code).order_by(r.resident_id.desc())).scalar()
        if latest is not None:
            return int(latest)
    raise NotFound("カードの名義人の住民票がこの市区町村にありません",
                   "no resident record here for the card's holder")


def states_of(conn: Connection, resident_id: int) -> list[CardState]:
    """The resident's cards as the card centre last told the town, the newest news first."""
    s = t.card_states.c
    rows = conn.execute(select(t.card_states).where(s.resident_id == resident_id)
                        .order_by(s.since.desc(), s.card_number)).all()
    return [CardState(r.card_number, int(r.resident_id), CardStatus(r.status),
                      aware(r.since), EndReason(r.end_reason) if r.end_reason else None)
            for r in rows]
