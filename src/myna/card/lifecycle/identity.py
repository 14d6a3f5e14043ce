"""What J-LIS's 本人確認情報 tells the card centre (events from J-LIS's outbox).

* ``identity.changed`` with status 死亡 or 職権消除 ends the person's cards, closes
  their open applications and stops a production under way (an effect: it calls
  JPKI and the chips, and is repeated whole if it was interrupted).  A move keeps
  the card (継続利用 with a 追記).
* ``number.changed``: the back of every live card carries the retired number, so
  each is marked for reissue (番号法7条2項; the card stays usable).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from myna.card.lifecycle import storage as t
from myna.card.lifecycle.applying import withdraw
from myna.card.lifecycle.base import Desk
from myna.card.lifecycle.domain import ApplicationStatus, CardStatus, EndReason
from myna.card.lifecycle.production import abandon
from myna.card.lifecycle.records import REISSUE_NEEDED
from myna.card.lifecycle.renewal import end
from myna.errors import MynaError
from myna.events import Event

#: J-LIS identity statuses that end a person's cards (the listener's ``status``).
ENDING_STATUSES = {"死亡": EndReason.DEATH, "職権消除": EndReason.REMOVED}


def on_identity_event(desk: Desk, event: Event) -> None:
    """J-LIS → card centre (event, idempotent)."""
    on_identity_changed(desk, event.subject, set(event.payload.get("changed", [])),
                        str(event.payload.get("status", "住民")))


def on_identity_changed(desk: Desk, person_key: str, changed: set[str], status: str) -> None:
    """Death or 職権消除 ends the person's cards and closes their open applications.

    It never lets a card problem undo the registry's 届出: a failure is recorded
    as an event and the card is left for :func:`~.renewal.end` to finish.
    """
    reason = ENDING_STATUSES.get(status)
    if reason is None:
        return
    c, a = t.cards.c, t.applications.c
    with desk.engine.connect() as conn:
        numbers = list(conn.execute(select(c.card_number).where(
            c.person_key == person_key, c.status != CardStatus.ENDED.value)).scalars())
        receipts = list(conn.execute(select(a.receipt_no).where(
            a.person_key == person_key, a.status == ApplicationStatus.RECEIVED.value))
            .scalars())
    for number in numbers:
        try:
            end(desk, number, reason)
        except MynaError as exc:
            desk.record_failure(number, "廃止の失敗", exc)
    for receipt in receipts:
        try:
            abandon(desk, receipt, status)
            withdraw(desk, receipt, f"{status}による取下げ")
        except MynaError:
            continue


def on_number_changed(desk: Desk, conn: Connection, event: Event) -> None:
    """J-LIS → card centre (event): mark the person's live cards for reissue."""
    c = t.cards.c
    for number in conn.execute(select(c.card_number).where(
            c.person_key == event.subject, c.status != CardStatus.ENDED.value)).scalars():
        desk.event(conn, number, None, REISSUE_NEEDED, "J-LIS",
                   {"reason": "個人番号の変更", "mode": event.payload.get("mode", "")})
