"""統合宛名: 宛名番号 ↔ individual number for one municipality."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, select, update

from myna.atena import storage as t
from myna.clock import utcnow
from myna.db import bulk_insert, migrate, reserve
from myna.errors import NotFound
from myna.events import Event, Inbox, Outbox
from myna.numbers import individual


class AtenaService:
    """The town's integrated address book (統合宛名システム)."""

    def __init__(self, engine: Engine, now: Callable[[], dt.datetime] = utcnow,
                 node: str = "atena", intermediate: str | None = None) -> None:
        self.engine = engine
        self.now = now
        #: the registry tells of number changes and 支援措置 here (events, applied once)
        self.inbox = Inbox(engine, node, {
            "number.changed": self._on_number_changed,
            "support_measure.changed": self._on_support_measure}, now)
        #: the town's intermediate server learns of 支援措置 by 宛名番号 from here
        self.outbox = Outbox(engine, node, now)
        self.intermediate = intermediate

    def create_schema(self) -> None:
        migrate(self.engine, "myna.atena")
        self.inbox.create_schema()

    def _on_support_measure(self, conn: Connection, event: Event) -> None:
        """支援措置 at the registry → the town's intermediate server, by 宛名番号 (the
        reference it knows the person by); nothing to tell before a 宛名番号 exists."""
        atena_no = conn.execute(select(t.atena.c.atena_no).where(
            t.atena.c.resident_id == int(event.payload["resident_id"]))).scalar()
        if atena_no is not None and self.intermediate is not None:
            self.outbox.add(conn, self.intermediate, "protection.requested", str(atena_no),
                            {"atena_no": str(atena_no), "on": bool(event.payload["on"])})

    def _on_number_changed(self, conn: Connection, event: Event) -> None:
        """The registry changed a resident's number: the 宛名番号 (and so the 符号) stays,
        the number it maps to follows."""
        conn.execute(update(t.atena).where(
            t.atena.c.resident_id == int(event.payload["resident_id"])).values(
            individual_number=individual.validate(str(event.payload["number"])),
            updated_at=self.now()))

    def assign(self, people: Sequence[tuple[int, str]]) -> list[str]:
        """宛名番号 for (resident id, individual number) pairs; existing ones are kept."""
        now = self.now()
        with self.engine.begin() as conn:
            known = dict(conn.execute(select(t.atena.c.resident_id, t.atena.c.atena_no)).all())
            new = [(rid, individual.validate(n)) for rid, n in people if rid not in known]
            first = reserve(conn, t.counters, "atena", len(new)) + 1 if new else 1
            rows = [(f"A{first + i:010d}", number, rid, now, now)
                    for i, (rid, number) in enumerate(new)]
            bulk_insert(conn, t.atena, rows,
                        ["atena_no", "individual_number", "resident_id", "created_at",
                         "updated_at"])
            known.update({rid: no for no, _, rid, _, _ in rows})
        return [known[rid] for rid, _ in people]

    def numbers(self) -> dict[int, str]:
        """Resident id → the number the 統合宛名 maps them to (for ``myna check``)."""
        with self.engine.connect() as conn:
            return {int(r): str(n) for r, n in conn.execute(
                select(t.atena.c.resident_id, t.atena.c.individual_number)).all()}

    def numbers_by_resident(self) -> dict[int, str]:
        """Resident id → 宛名番号."""
        with self.engine.connect() as conn:
            return {int(r): str(a) for r, a in conn.execute(
                select(t.atena.c.resident_id, t.atena.c.atena_no)).all()}

    def atena_for_resident(self, resident_id: int) -> str:
        with self.engine.connect() as conn:
            no = conn.execute(select(t.atena.c.atena_no).where(
                t.atena.c.resident_id == resident_id)).scalar()
        if no is None:
            raise NotFound(f"住民ID {resident_id} の宛名番号はありません",
                           f"no 宛名番号 for resident {resident_id}")
        return str(no)

    def resident_for(self, atena_no: str) -> int | None:
        with self.engine.connect() as conn:
            rid = conn.execute(select(t.atena.c.resident_id).where(
                t.atena.c.atena_no == atena_no)).scalar()
        return None if rid is None else int(rid)
