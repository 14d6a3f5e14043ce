"""The card holder's 住所地市町村 learns of its resident's card: events from the card centre.

The town must know at its counter whether a resident's card works.  Every change
of a card's state — 交付, 一時停止, 一時停止の解除 and 廃止 (返納, 再交付, death, expiry …)
— is written as a ``card.state_changed`` event
(:data:`myna.contracts.cards.CARD_STATE_CHANGED`) into the card centre's outbox in
the same transaction as the change itself (:meth:`~.base.Desk.transition`), so that
the change and the promise to tell the town commit or vanish together.  J-LIS's
node delivers it to the town's registry at least once; the registry's inbox applies
it once.

The destination is the town J-LIS's 本人確認情報 names as the holder's 住所地 now (a
move keeps the card); the payload is a :class:`~myna.contracts.cards.CardStateNotice`:
the card number, the new state and since when, and the holder in the town's own
terms — the issuing town's resident id when the holder still lives there, and the
住民票コード J-LIS holds (kept across a move), never the individual number.

The event's subject is the card number.  The card centre keys what it knows by the
card number and by J-LIS's person key; the person key never leaves J-LIS, and a
住民票コード changes on request (住民票コードの変更), so ordering by it would split one
person's events under two subjects.  A card number never changes, the town knows
it (it hands the card over at its counter), and the state told is the card's: the
events of one card arrive and apply in order.  Two cards of one person (a lost one
ended, its replacement issued) are separate facts the town records side by side.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.people import JlisIdentity
from myna.contracts.cards import CARD_STATE_CHANGED, CardStateNotice, CardStatus, EndReason
from myna.errors import NotFound
from myna.events import Outbox


def town_node(municipality_code: str) -> str:
    """The node id of a town's registry, the receiver of its residents' card states."""
    return f"municipality:{municipality_code}"


def tell_town(conn: Connection, outbox: Outbox, jlis: JlisIdentity, number: str,
              at: dt.datetime) -> str:
    """Queue the card's state, as this transaction leaves it, for the holder's town;
    returns the event's id."""
    c = t.cards.c
    row = conn.execute(select(c.person_key, c.municipality_code, c.resident_id, c.status,
                              c.end_reason).where(c.card_number == number)).one()
    try:
        town, code = jlis.residence(row.person_key)
    except NotFound:  # J-LIS keeps every person it ever held; the issuing town otherwise
        town, code = row.municipality_code, None
    notice = CardStateNotice(
        card_number=number, status=CardStatus(row.status), since=at, resident_code=code,
        resident_id=int(row.resident_id) if town == row.municipality_code else None,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
    )
    return outbox.add(conn, town_node(town), CARD_STATE_CHANGED, number, notice.to_payload())
