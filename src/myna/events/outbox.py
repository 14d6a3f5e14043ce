"""The sender's side: events written in the same transaction as the change."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from myna.clock import aware, utcnow
from myna.db import OneRowInsert, bulk_insert, migrate
from myna.events import storage as t
from myna.events.model import Event

_COLUMNS = ("event_id", "destination", "kind", "subject", "payload", "created_at", "attempts")
#: one event, written inside the caller's transaction next to the change it tells of
_INSERT = OneRowInsert(t.event_outbox, _COLUMNS)
_MARK = (update(t.event_outbox).where(t.event_outbox.c.seq.in_(bindparam("seqs", expanding=True)))
         .values(delivered_at=bindparam("at")))


@dataclass(frozen=True)
class Backlog:
    """What waits for one destination: how many, since when, and the last failure."""

    destination: str
    pending: int
    oldest: dt.datetime | None
    attempts: int
    last_error: str | None


class Outbox:
    """``event_outbox`` of one node (``source`` is the node's id as receivers know it)."""

    def __init__(self, engine: Engine, source: str,
                 now: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.source = source
        self.now = now

    def create_schema(self) -> None:
        migrate(self.engine, "myna.events")

    def add(self, conn: Connection, destination: str, kind: str, subject: str,
            payload: dict[str, Any]) -> str:
        """Queue one event inside the caller's open transaction; returns its id."""
        event_id = uuid.uuid4().hex
        _INSERT(conn, {"event_id": event_id, "destination": destination, "kind": kind,
                       "subject": str(subject), "payload": payload, "created_at": self.now(),
                       "attempts": 0})
        return event_id

    def add_many(self, conn: Connection, destination: str, kind: str,
                 items: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Queue many events of one kind (``(subject, payload)`` pairs) in one write."""
        now = self.now()
        return bulk_insert(
            conn, t.event_outbox,
            [(uuid.uuid4().hex, destination, kind, str(s), p, now, 0) for s, p in items],
            _COLUMNS,
        )

    def pending(self, destination: str, limit: int = 500,
                held: Collection[str] = ()) -> list[Event]:
        """Undelivered events for ``destination``, oldest first, leaving out the subjects
        (persons) in ``held``."""
        c = t.event_outbox.c
        query = (select(c.event_id, c.kind, c.subject, c.seq, c.created_at, c.payload)
                 .where(c.destination == destination, c.delivered_at.is_(None))
                 .order_by(c.seq).limit(limit))
        if held:
            query = query.where(c.subject.not_in(list(held)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        # created_at comes back aware (UtcDateTime), the payload as a new dict of its own
        return [Event(event_id, self.source, destination, kind, subject, seq, created_at,
                      payload) for event_id, kind, subject, seq, created_at, payload in rows]

    def destinations(self) -> list[str]:
        """Destinations with something undelivered."""
        with self.engine.connect() as conn:
            return [str(d) for d in conn.execute(
                select(t.event_outbox.c.destination)
                .where(t.event_outbox.c.delivered_at.is_(None))
                .group_by(t.event_outbox.c.destination)
                .order_by(t.event_outbox.c.destination)
            ).scalars()]

    def mark_delivered(self, events: Sequence[Event]) -> None:
        """Note ``events`` (as :meth:`pending` gave them) delivered, by their outbox position:
        the write that the node's own writes wait for is kept short."""
        if not events:
            return
        now = self.now()
        with self.engine.begin() as conn:
            for start in range(0, len(events), 500):
                conn.execute(_MARK, {"seqs": [e.seq for e in events[start:start + 500]],
                                     "at": now})

    def record_failure(self, event_id: str, error: str) -> None:
        """Note a failed attempt on the event that could not be delivered (no personal data:
        ``error`` is a class name and an error code)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.event_outbox).where(t.event_outbox.c.event_id == event_id)
                .values(attempts=t.event_outbox.c.attempts + 1, last_error=error[:200])
            )

    def backlog(self) -> list[Backlog]:
        """Per destination: undelivered events, the oldest one's time, its failures."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.event_outbox.c.destination, func.count(),
                       func.min(t.event_outbox.c.seq))
                .where(t.event_outbox.c.delivered_at.is_(None))
                .group_by(t.event_outbox.c.destination)
                .order_by(t.event_outbox.c.destination)
            ).all()
            result = []
            for destination, count, first in rows:
                head = conn.execute(select(t.event_outbox).where(
                    t.event_outbox.c.seq == first)).one()
                result.append(Backlog(str(destination), int(count), aware(head.created_at),
                                      int(head.attempts), head.last_error))
        return result

    def delivered_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.event_outbox).where(
                t.event_outbox.c.delivered_at.is_not(None))).scalar_one())
