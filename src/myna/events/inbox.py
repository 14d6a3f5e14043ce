"""The receiver's side: each event applied exactly once, in order per sender."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, select, update

from myna.clock import utcnow
from myna.db import migrate
from myna.errors import Conflict, MynaError, PermissionDenied, ValidationError
from myna.events import storage as t
from myna.events.model import Event

#: applies one event inside the receiver's transaction (local writes only, never a call
#: to another node; it may queue events of its own in the same transaction)
Handler = Callable[[Connection, Event], None]
#: an effect that keeps its own transactions (it is idempotent: a crash after it and
#: before the inbox row makes it run again, and the second run changes nothing)
Effect = Callable[[Event], None]


_INBOX_INSERT = t.event_inbox.insert()
#: a person's first position from a sender, and a later one (bound parameters: each
#: statement is compiled once and runs as one executemany for a whole delivery)
_POSITION_INSERT = t.event_positions.insert()
_POSITION_UPDATE = (update(t.event_positions)
                    .where(t.event_positions.c.source == bindparam("at_source"),
                           t.event_positions.c.subject == bindparam("at_subject"))
                    .values(last_seq=bindparam("new_seq")))


@dataclass(frozen=True)
class Receipt:
    """The answer to a delivery: the events now applied (or already applied before), and
    the error that stopped the rest, if any (its code and class, no personal data)."""

    applied: list[str]
    error: str | None = None
    error_ja: str | None = None


class Inbox:
    """``event_inbox`` of one node and the handlers of the kinds it accepts."""

    def __init__(self, engine: Engine, node: str, handlers: Mapping[str, Handler],
                 now: Callable[[], dt.datetime] = utcnow,
                 effects: Mapping[str, Effect] | None = None) -> None:
        self.engine = engine
        self.node = node
        self.handlers = dict(handlers)
        self.effects = dict(effects or {})
        self.now = now

    def create_schema(self) -> None:
        migrate(self.engine, "myna.events")

    def receive(self, events: Sequence[Event], sender: str | None = None) -> Receipt:
        """Apply ``events`` in order; stop at the first that cannot be applied.

        ``sender`` is the authenticated caller when events arrive over a network:
        a node may only deliver its own events.  Consecutive events without an
        effect are applied in one transaction; if one of them fails, they are
        applied one by one so that the receipt names exactly where it stopped.
        """
        applied: list[str] = []
        pending = list(events)
        batching = True
        while pending:
            run = self._plain_run(pending, sender) if batching else []
            if len(run) > 1:
                try:
                    self._apply_all(run)
                except MynaError:
                    batching = False  # find the event at fault, one at a time
                    continue
                applied += [e.event_id for e in run]
                pending = pending[len(run):]
                continue
            event = pending.pop(0)
            try:
                self._check(event, sender)
                self._apply(event)
            except MynaError as exc:
                return Receipt(applied, f"{exc.code}: {type(exc).__name__}", exc.message_ja)
            applied.append(event.event_id)
        return Receipt(applied)

    def _plain_run(self, events: Sequence[Event], sender: str | None) -> list[Event]:
        """The leading events that pass the checks and have no effect of their own."""
        run: list[Event] = []
        for event in events:
            if event.kind in self.effects:
                break
            try:
                self._check(event, sender)
            except MynaError:
                break
            run.append(event)
        return run

    def _check(self, event: Event, sender: str | None) -> None:
        if event.destination != self.node:
            raise PermissionDenied(f"宛先の違うイベントです（{event.destination}）",
                                   f"event is addressed to {event.destination}")
        if sender is not None and event.source != sender:
            raise PermissionDenied("他のノードのイベントは受け付けません",
                                   "a node may only deliver its own events")
        if event.kind not in self.handlers and event.kind not in self.effects:
            raise ValidationError(f"受け付けない種類のイベントです: {event.kind}",
                                  f"no handler for event kind {event.kind!r}")

    def _seen(self, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(t.event_inbox.c.event_id).where(
                t.event_inbox.c.event_id == event_id)).first() is not None

    def _apply(self, event: Event) -> None:
        effect = self.effects.get(event.kind)
        if effect is not None:
            if self._seen(event.event_id):
                return
            effect(event)
        self._apply_all([event])

    def _apply_all(self, events: Sequence[Event]) -> None:
        """Apply events in one transaction, each with its inbox row; repeats are skipped.

        Order is kept per sender and person (``subject``): an event older than one
        already applied for the same person from the same sender is refused.
        """
        with self.engine.begin() as conn:
            ids = [e.event_id for e in events]
            seen = set(conn.execute(select(t.event_inbox.c.event_id).where(
                t.event_inbox.c.event_id.in_(ids))).scalars())
            p = t.event_positions.c
            known: dict[tuple[str, str], int] = {}
            for source in sorted({e.source for e in events}):
                subjects = sorted({e.subject for e in events if e.source == source})
                known |= {(source, str(subject)): int(seq) for subject, seq in conn.execute(
                    select(p.subject, p.last_seq).where(p.source == source,
                                                        p.subject.in_(subjects))
                    .with_for_update())}
            last: dict[tuple[str, str], int] = dict(known)
            rows = []
            now = self.now()
            for event in events:
                if event.event_id in seen:
                    continue  # delivered again after a lost acknowledgement: already applied
                key = (event.source, event.subject)
                before = last.get(key)
                if before is not None and event.seq <= before:
                    raise Conflict("イベントの順序が正しくありません（後のイベントが適用済み）",
                                   f"event {event.seq} from {event.source} arrived after "
                                   f"{before} for the same subject")
                handler = self.handlers.get(event.kind)
                if handler is not None:
                    handler(conn, event)
                seen.add(event.event_id)
                rows.append({"event_id": event.event_id, "source": event.source,
                             "kind": event.kind, "subject": event.subject,
                             "source_seq": event.seq, "received_at": now})
                last[key] = event.seq
            if rows:
                conn.execute(_INBOX_INSERT, rows)
            new = [{"source": source, "subject": subject, "last_seq": seq}
                   for (source, subject), seq in last.items() if (source, subject) not in known]
            moved = [{"at_source": source, "at_subject": subject, "new_seq": seq}
                     for (source, subject), seq in last.items()
                     if (source, subject) in known and seq != known[(source, subject)]]
            if new:
                conn.execute(_POSITION_INSERT, new)
            if moved:
                conn.execute(_POSITION_UPDATE, moved)

    def applied_count(self, source: str | None = None) -> int:
        from sqlalchemy import func

        query = select(func.count()).select_from(t.event_inbox)
        if source is not None:
            query = query.where(t.event_inbox.c.source == source)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
