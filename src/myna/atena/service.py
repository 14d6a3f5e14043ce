"""統合宛名: 宛名番号 ↔ individual number for one municipality."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, insert, select, update

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
        #: delivers the outbox (set by the wiring; until then events wait)
        self.publish: Callable[[], None] = lambda: None

    def create_schema(self) -> None:
        migrate(self.engine, "myna.atena")
        self.inbox.create_schema()

    def _on_support_measure(self, conn: Connection, event: Event) -> None:
        """支援措置 at the registry → the town's intermediate server, by 宛名番号 (the
        reference it knows the person by).  Before the resident has a 宛名番号 the measure
        is remembered here and passed on when :meth:`assign` gives them one."""
        resident_id = int(event.payload["resident_id"])
        on = bool(event.payload["on"])
        atena_no = conn.execute(select(t.atena.c.atena_no).where(
            t.atena.c.resident_id == resident_id)).scalar()
        if atena_no is None:
            conn.execute(t.measures.delete().where(t.measures.c.resident_id == resident_id))
            if on:
                conn.execute(insert(t.measures).values(resident_id=resident_id,
                                                       since=self.now()))
            return
        self._tell_intermediate(conn, str(atena_no), on)

    def _tell_intermediate(self, conn: Connection, atena_no: str, on: bool) -> None:
        if self.intermediate is not None:
            self.outbox.add(conn, self.intermediate, "protection.requested", atena_no,
                            {"atena_no": atena_no, "on": on})

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
            protected = self._measures_for(conn, [rid for _, _, rid, _, _ in rows])
            for rid in protected:  # 支援措置 set before the 宛名番号 existed
                self._tell_intermediate(conn, known[rid], True)
        if protected:
            self.publish()
        return [known[rid] for rid, _ in people]

    def _measures_for(self, conn: Connection, resident_ids: Sequence[int]) -> list[int]:
        """Of ``resident_ids`` (just given a 宛名番号), those with a remembered 支援措置,
        forgotten here now that the intermediate server is told (the table holds the
        few residents waiting, so it is read whole)."""
        remembered = set(conn.execute(select(t.measures.c.resident_id)).scalars())
        found = sorted(remembered.intersection(resident_ids))
        if found:
            conn.execute(t.measures.delete().where(t.measures.c.resident_id.in_(found)))
        return found

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
