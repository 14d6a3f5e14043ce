"""移行 and 初期一斉指定: loading the existing residents and numbering them all at once,
resumably; and the lists other systems of the town read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from myna.contracts.jlis import Progress
from myna.db import bulk_insert, sync_sequence
from myna.errors import Conflict, ValidationError
from myna.faults import fault_point
from myna.registry import storage as t
from myna.registry.core import (
    INITIAL_CHUNK,
    JLIS,
    SYSTEM,
    InitialResident,
    RegistryCore,
    _bindparam,
    _jsonable,
    _to_resident,
)
from myna.registry.domain import (
    EventKind,
    Resident,
    Status,
    check_address,
    check_person,
    check_postcode,
)
from myna.relationships import check_relationship


class InitialLoad(RegistryCore):
    """Initial load and numbering of one municipality."""

    def register_initial(
        self, records: Sequence[InitialResident], progress: Progress | None = None,
    ) -> list[int]:
        """Load existing residents (移行) in one transaction, without numbers yet."""
        today = self.today()
        checked = []
        for i, rec in enumerate(records):
            try:
                checked.append(
                    (check_person(rec.person, today), check_postcode(rec.postcode),
                     check_address(rec.address), check_relationship(rec.relationship))
                )
                self._check_in_municipality(rec.address)
            except ValidationError as exc:
                raise ValidationError(
                    f"{i + 1}件目: {exc.message_ja}", f"record {i + 1}: {exc.message_en}"
                ) from exc
        self.ensure_codes(len(records))
        now = self.now()
        with self.engine.begin() as conn:
            keys = list(dict.fromkeys(r.household_key for r in records))
            numbers = dict(zip(keys, self._next_household_number(conn, len(keys)), strict=True))
            first_of: dict[str, InitialResident] = {}
            for r in records:
                first_of.setdefault(r.household_key, r)
            bulk_insert(
                conn, t.households,
                [(numbers[k], first_of[k].postcode, first_of[k].address, now) for k in keys],
                ["household_number", "postcode", "address", "created_at"],
            )
            codes = self._take_codes(conn, len(records))
            start = int(conn.execute(select(func.coalesce(func.max(t.residents.c.resident_id), 0)))
                        .scalar_one())
            rows = []
            for i, (rec, (person, postcode, address, rel)) in enumerate(
                zip(records, checked, strict=True)
            ):
                f = person.foreign
                rows.append((
                    start + i + 1, codes[i], None, person.name, person.furigana,
                    person.birth_date, person.sex, postcode, address,
                    numbers[rec.household_key], rel, rec.became_resident_on,
                    rec.became_resident_on, rec.previous_address, Status.RESIDENT.value,
                    f.nationality if f else None, f.residence_status if f else None,
                    f.period_of_stay_until if f else None, False, 1, now,
                ))
            bulk_insert(
                conn, t.residents, rows,
                ["resident_id", "resident_code", "individual_number", "name", "furigana",
                 "birth_date", "sex", "postcode", "address", "household_number",
                 "relationship", "became_resident_on", "address_since", "previous_address",
                 "status", "nationality", "residence_status", "period_of_stay_until",
                 "support_measure", "version", "updated_at"],
            )
            sync_sequence(conn, t.residents, "resident_id")
            ids = [start + i + 1 for i in range(len(records))]
            conn.execute(
                insert(t.events),
                [dict(kind=EventKind.INITIAL.value, resident_id=rid,
                      occurred_on=rec.became_resident_on, recorded_at=now,
                      staff_id=SYSTEM.staff_id, detail={}) for rid, rec in zip(ids, records,
                                                                              strict=True)],
            )
            if progress:
                progress(len(records))
        return ids

    def initial_numbering(self, progress: Progress | None = None) -> int:
        """初期一斉指定: number every resident without a number, all at once.

        Resumable: it asks J-LIS for the numbers (J-LIS keeps nothing yet), writes
        them on the 住民票 together with the events that confirm them to J-LIS, and
        then delivers those events.  Killed at any point, running it again
        completes it: residents still without a number are asked for again (J-LIS
        answers the same numbers), and confirmations not yet delivered are sent.
        """
        self.publish()  # confirmations a crash left undelivered
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.residents).where(
                    t.residents.c.individual_number.is_(None),
                    t.residents.c.status == Status.RESIDENT,
                ).order_by(t.residents.c.resident_id)
            ).all()
        if not rows:
            return 0
        codes = [r.resident_code for r in rows]
        assigned = self.jlis.assign_numbers_bulk(self.code, codes, progress)
        fault_point("numbering:after-call")
        with self.engine.begin() as conn:
            written = conn.execute(
                update(t.residents)
                .where(t.residents.c.resident_id == _bindparam("rid"),
                       t.residents.c.individual_number.is_(None))
                .values(individual_number=_bindparam("num"), version=2),
                [{"rid": r.resident_id, "num": n} for r, n in zip(rows, assigned, strict=True)],
            )
            if written.rowcount != len(rows):
                raise Conflict("初期一斉指定が同時に実行されました。もう一度実行してください",
                               "initial numbering ran twice at once; run it again")
            now = self.now()
            first = self._next_event_ids(conn, len(rows))
            conn.execute(insert(t.events), [
                dict(event_id=first + i, kind=EventKind.INITIAL.value, resident_id=r.resident_id,
                     occurred_on=self.today(), recorded_at=now, staff_id=SYSTEM.staff_id,
                     detail={"numbering": "初期一斉指定"}) for i, r in enumerate(rows)])
            sync_sequence(conn, t.events, "event_id")
            snapshots = []
            for i, (r, n) in enumerate(zip(rows, assigned, strict=True)):
                snap = _jsonable(dict(r._mapping))
                snap["individual_number"] = n
                snap["version"] = 2
                snapshots.append((r.resident_id, 2, first + i, snap, now))
            bulk_insert(conn, t.resident_versions, snapshots,
                        ["resident_id", "version", "event_id", "snapshot", "recorded_at"])
            people = [(r.resident_code, n, r.name, r.furigana, r.birth_date.isoformat(), r.sex,
                       r.address) for r, n in zip(rows, assigned, strict=True)]
            self.outbox.add_many(conn, JLIS, "numbering.initial", [
                (f"{self.code}/{start}", {"people": people[start:start + INITIAL_CHUNK]})
                for start in range(0, len(people), INITIAL_CHUNK)])
            fault_point("numbering:before-commit")
        fault_point("numbering:after-commit")
        self.publish()
        return len(rows)

    def _next_event_ids(self, conn: Connection, count: int) -> int:
        """The first of ``count`` fresh ids for the events table (a bulk write)."""
        start = int(conn.execute(
            select(func.coalesce(func.max(t.events.c.event_id), 0))).scalar_one()) + 1
        return start

    def current_residents(self) -> list[Resident]:
        """Current residents, for J-LIS's 番号通知 (a system interface, not a staff view)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.residents).where(t.residents.c.status == Status.RESIDENT)
                                .order_by(t.residents.c.resident_id)).all()
        return [_to_resident(r._mapping) for r in rows]

    def numbered_residents(
        self, resident_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, str]]:
        """(resident id, individual number) of current residents, for the town's systems."""
        query = select(t.residents.c.resident_id, t.residents.c.individual_number).where(
            t.residents.c.status == Status.RESIDENT,
            t.residents.c.individual_number.is_not(None),
        ).order_by(t.residents.c.resident_id)
        if resident_ids is not None:
            query = query.where(t.residents.c.resident_id.in_(list(resident_ids)))
        with self.engine.connect() as conn:
            return [(int(r), str(n)) for r, n in conn.execute(query).all()]

    def carried_numbers(self) -> list[tuple[int, str, str | None]]:
        """(resident id, 住民票コード, number or None) of every current resident, for
        comparing with J-LIS and the 統合宛名 (``myna check``)."""
        with self.engine.connect() as conn:
            return [(int(r), str(c), n) for r, c, n in conn.execute(
                select(t.residents.c.resident_id, t.residents.c.resident_code,
                       t.residents.c.individual_number)
                .where(t.residents.c.status == Status.RESIDENT)
                .order_by(t.residents.c.resident_id)).all()]

    def export_rows(self) -> Iterable[tuple[Any, ...]]:
        """Current residents as rows for the synthetic test-data CSV."""
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(t.residents).where(t.residents.c.status == Status.RESIDENT)
                .order_by(t.residents.c.resident_id)
            ):
                yield (self.code, r.name, r.furigana, r.birth_date.isoformat(), r.sex,
                       r.postcode, r.address, r.resident_code, r.individual_number or "")
