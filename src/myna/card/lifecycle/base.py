"""What every use case of the card centre shares: its stores, its clock, its records.

:class:`Desk` holds the card node's engine and the J-LIS services the card
centre works with in its own process (JPKI, the chips, notification mailing),
the way it learns about people (:class:`~.people.People`), its outbox (the holder's
town is told of every change of a card's state, see :mod:`.towns`) and the reading
and writing of its own rows that more than one use case needs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, Engine, Row, insert, select, update

from myna.card.chip import ChipStore
from myna.card.lifecycle import storage as t
from myna.card.lifecycle.domain import CardStatus, EndReason, revocation_of
from myna.card.lifecycle.people import People
from myna.card.lifecycle.records import Application, Card, to_application, to_card
from myna.card.lifecycle.towns import tell_town
from myna.clock import as_utc, jst_date
from myna.contracts.cards import CARD_CENTRE_NODE
from myna.errors import Conflict, MynaError, NotFound, PermissionDenied
from myna.events import Outbox
from myna.jpki.service import JpkiService
from myna.notify.service import NotificationService


class Desk:
    """The card centre's shared state; each use-case module works through one."""

    def __init__(self, engine: Engine, jpki: JpkiService, chips: ChipStore,
                 notify: NotificationService, people: People,
                 now: Callable[[], dt.datetime], holding_months: int,
                 slot_capacity: int) -> None:
        self.engine = engine
        #: the card centre's events for the towns (node "cards"), in its own database
        self.outbox = Outbox(engine, CARD_CENTRE_NODE, self.now)
        #: delivers the outbox after a use case committed (set by the wiring; until
        #: then events wait for the relay)
        self.publish: Callable[[], None] = lambda: None
        self.jpki = jpki
        self.chips = chips
        self.notify = notify
        self.people = people
        self.clock = now
        self.holding_months = holding_months
        self.slot_capacity = slot_capacity

    def now(self) -> dt.datetime:
        return as_utc(self.clock())

    def today(self) -> dt.date:
        return jst_date(self.now())

    # -- reading ---------------------------------------------------------------------------

    def card_row(self, conn: Connection, number: str) -> Row[Any]:
        row = conn.execute(select(t.cards).where(t.cards.c.card_number == number)).first()
        if row is None:
            raise NotFound(f"カード番号 {number} のカードはありません", f"no card {number}")
        return row

    def card(self, number: str) -> Card:
        with self.engine.connect() as conn:
            row = self.card_row(conn, number)
            notes = conn.execute(select(t.notes).where(t.notes.c.card_number == number)
                                 .order_by(t.notes.c.note_id)).all()
            slot = conn.execute(select(t.appointments.c.slot_start).where(
                t.appointments.c.card_number == number)).scalar()
        return to_card(row, notes, slot)

    def application_in(self, conn: Connection, receipt_no: int) -> Application:
        row = conn.execute(select(t.applications).where(
            t.applications.c.receipt_no == receipt_no)).first()
        if row is None:
            raise NotFound(f"受付番号 {receipt_no} の申請はありません",
                           f"no application {receipt_no}")
        return to_application(row)

    def application(self, receipt_no: int) -> Application:
        with self.engine.connect() as conn:
            return self.application_in(conn, receipt_no)

    # -- writing ---------------------------------------------------------------------------

    def event(self, conn: Connection, number: str | None, receipt: int | None, event: str,
              actor: str, detail: dict[str, Any]) -> None:
        conn.execute(insert(t.events).values(card_number=number, receipt_no=receipt, event=event,
                                             actor=actor[:50], detail=detail, at=self.now()))

    @staticmethod
    def require(card: Row[Any], wanted: CardStatus, action: str) -> None:
        if card.status == wanted.value:
            return
        status = CardStatus(card.status)
        extra = f"（{card.end_reason}）" if status is CardStatus.ENDED else ""
        raise Conflict(
            f"カード {card.card_number} は{status.value}{extra}のため{action}できません",
            f"card {card.card_number} is {status.name.lower()}, not {wanted.name.lower()}",
        )

    def transition(self, conn: Connection, number: str, old: CardStatus, new: CardStatus,
                   at: dt.datetime | None = None, **values: Any) -> None:
        """Move the card from ``old`` to ``new`` and, in the same transaction, queue the
        news for the holder's town (:func:`~.towns.tell_town`), as of ``at`` (the time the
        use case records for the change; now by default)."""
        done = conn.execute(update(t.cards).where(
            t.cards.c.card_number == number, t.cards.c.status == old.value).values(
            status=new.value, **values))
        if done.rowcount != 1:
            raise Conflict(f"カード {number} の状態が変わりました。やり直してください",
                           f"card {number} changed meanwhile")
        tell_town(conn, self.outbox, self.people.jlis, number, at or self.now())

    def end_here(self, conn: Connection, number: str, allowed: Sequence[CardStatus],
                 reason: EndReason, actor: str, detail: dict[str, Any]) -> None:
        card = self.card_row(conn, number)
        if card.status == CardStatus.ENDED.value:
            raise Conflict(f"カード {number} は既に廃止されています（{card.end_reason}）",
                           f"card {number} has already ended ({card.end_reason})")
        if CardStatus(card.status) not in allowed:
            raise Conflict(f"カード {number} は{card.status}のため{reason.value}にできません",
                           f"card {number} is {card.status}")
        now = self.now()
        self.transition(conn, number, CardStatus(card.status), CardStatus.ENDED, now,
                        ended_at=now, end_reason=reason.value)
        conn.execute(t.appointments.delete().where(t.appointments.c.card_number == number))
        self.event(conn, number, None, "廃止", actor, {"reason": reason.value} | detail)

    def end_elsewhere(self, number: str, reason: EndReason, note: str | None = None) -> None:
        """Revoke what is still good and retire the chip (both are idempotent here)."""
        self.jpki.revoke_card(number, revocation_of(reason), note or reason.value)
        with contextlib.suppress(PermissionDenied, NotFound):  # retired, or never made
            self.chips.retire(number)

    def revoke_quietly(self, serial: int) -> None:
        with contextlib.suppress(MynaError):
            self.jpki.revoke(serial, x509.ReasonFlags.privilege_withdrawn, "発行処理の中止")

    def record_failure(self, number: str, event: str, exc: MynaError) -> None:
        try:
            with self.engine.begin() as conn:
                self.event(conn, number, None, event, "J-LIS", {"error": exc.message})
        except Exception:  # the record is best effort; the card stays live for a retry
            return


def undo(steps: list[Callable[[], None]]) -> None:
    """Compensate what other nodes already did, newest first; never mask the first error."""
    for step in reversed(steps):
        try:
            step()
        except Exception:  # best effort: the original error is what the caller must see
            continue
