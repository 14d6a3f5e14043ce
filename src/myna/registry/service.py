"""The municipality node's service layer: every 届出 and every staff access.

Each public method is one transaction: it either completes, with its event,
version snapshot and access-log row, or leaves nothing behind.  J-LIS is
reached only through :class:`myna.jlis.service.NumberingApi` and events.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, and_, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError

from myna.clock import aware, jst_date, utcnow
from myna.db import bulk_insert, inserted_id, migrate, reserve, sync_sequence
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.events import Outbox
from myna.faults import fault_point
from myna.jlis.service import NumberingApi, Progress
from myna.numbers import individual, municipality_code, resident_code
from myna.registry import storage as t
from myna.registry.access import AccessRequest, ProtectedRecord, StaffAccess
from myna.registry.affairs import Affair, AffairPolicy
from myna.registry.documents import (
    CopyEntry,
    ResidentRecordCopy,
    copy_from_json,
    copy_to_json,
    to_wareki,
)
from myna.registry.domain import (
    LIMITS,
    MOVE_OUT_AHEAD,
    EventKind,
    HistoryEntry,
    HouseholdPlacement,
    MoveOutCertificate,
    PersonDetails,
    Resident,
    Role,
    Staff,
    Status,
    check_address,
    check_event_date,
    check_person,
    check_postcode,
    check_purpose,
    same_name_key,
)
from myna.registry.staff import StaffAccounts
from myna.relationships import HEAD, check_generation, check_relationship
from myna.text import clean_text

CODE_BATCH = 1000
#: J-LIS, the receiver of the 本人確認情報 events
JLIS = "jlis"
#: 番号法7条2項: the two grounds for a new number (by the person's request, or ex officio)
NUMBER_CHANGE_GROUNDS = {
    False: "本人の請求（個人番号が漏えいして不正に用いられるおそれがある）",
    True: "職権（個人番号が漏えいして不正に用いられるおそれがあると認める）",
}
#: J-LIS's notification mailing (番号通知), told of 支援措置 and its 居所
NOTIFY = "notify"
#: residents per ``numbering.initial`` event (one J-LIS transaction each)
INITIAL_CHUNK = 5_000
PROTECTED = "（支援措置により非表示）"
SYSTEM = Staff("system", "システム", Role.ADMINISTRATOR, interface=True)
#: The most residents one page of a search holds (and the default page size).
PER_PAGE = 50
#: The longest procedure note a view's log entry carries beside the affair.
NOTE_MAX = 150


@dataclass(frozen=True)
class InitialResident:
    """One resident for the initial registration (移行・初期一斉指定)."""

    person: PersonDetails
    household_key: str
    relationship: str
    postcode: str
    address: str
    became_resident_on: dt.date
    previous_address: str | None = None


@dataclass(frozen=True)
class SearchPage(Sequence[Resident]):
    """One page of a search: the residents on it and how many match in all."""

    results: list[Resident]
    total: int
    page: int
    per_page: int
    affair: Affair

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: Any) -> Any:
        return self.results[index]

    def __iter__(self) -> Iterator[Resident]:
        return iter(self.results)


@dataclass(frozen=True)
class AccessLogEntry:
    at: dt.datetime
    staff_id: str
    action: str
    purpose: str
    detail: dict[str, Any]


class MunicipalityRegistry:
    """住民基本台帳 of one municipality."""

    def __init__(
        self,
        engine: Engine,
        code: str,
        jlis: NumberingApi,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.municipality = municipality_code.lookup(code)
        self.code = self.municipality.code
        self.engine = engine
        self.jlis = jlis
        self.now = now
        self.accounts = StaffAccounts(engine, lambda: self.now())
        self.node_id = f"municipality:{self.code}"
        #: the town's 統合宛名, told of number changes (its own database)
        self.atena_node = f"atena:{self.code}"
        self.outbox = Outbox(engine, self.node_id, lambda: self.now())
        #: delivers the outbox after each 届出 (set by the wiring; until then events wait)
        self.publish: Callable[[], None] = lambda: None
        self.access = StaffAccess(engine, lambda: self.now())

    @property
    def title(self) -> str:
        return f"{self.municipality.prefecture}{self.municipality.name}"

    def create_schema(self) -> None:
        migrate(self.engine, "myna.registry")
        self.outbox.create_schema()
        with self.engine.begin() as conn:
            row = conn.execute(select(t.municipality.c.code)).scalar()
            if row is None:
                conn.execute(
                    insert(t.municipality).values(
                        code=self.code,
                        prefecture=self.municipality.prefecture,
                        name=self.municipality.name,
                    )
                )
            elif row != self.code:
                raise Conflict(
                    f"このデータベースは別の市区町村（{row}）のものです",
                    f"database belongs to municipality {row}",
                )

    def today(self) -> dt.date:
        return jst_date(self.now())

    # -- staff --------------------------------------------------------------------

    def create_staff(self, staff_id: str, name: str, role: Role | str, password: str) -> Staff:
        return self.accounts.create(staff_id, name, role, password)

    def authenticate(self, staff_id: str, password: str) -> Staff:
        """Check a staff password (see :meth:`StaffAccounts.authenticate`)."""
        return self.accounts.authenticate(staff_id, password)

    def get_staff(self, staff_id: str) -> Staff:
        return self.accounts.get(staff_id)

    def list_staff(self) -> list[Staff]:
        return self.accounts.active()

    # -- codes from J-LIS -----------------------------------------------------------

    def ensure_codes(self, needed: int) -> None:
        """Keep at least ``needed`` unused 住民票コード in the local pool."""
        with self.engine.begin() as conn:
            free = conn.execute(
                select(func.count()).select_from(t.code_pool).where(t.code_pool.c.used.is_(False))
            ).scalar_one()
            if free >= needed:
                return
            codes = self.jlis.issue_resident_codes(self.code, max(CODE_BATCH, needed - free))
            now = self.now()
            bulk_insert(conn, t.code_pool, [(c, False, now) for c in codes],
                        ["code", "used", "received_at"])

    def _take_codes(self, conn: Connection, count: int) -> list[str]:
        """Take unused 住民票コード from the pool; concurrent takers never get the same one
        (PostgreSQL skips rows another transaction has locked; elsewhere the conditional
        update tells, and the caller tries again)."""
        codes = list(
            conn.execute(
                select(t.code_pool.c.code)
                .where(t.code_pool.c.used.is_(False))
                .order_by(t.code_pool.c.code)
                .limit(count)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if len(codes) < count:
            raise Conflict("住民票コードの在庫が足りません", "resident-code pool exhausted")
        taken = conn.execute(
            update(t.code_pool).where(t.code_pool.c.code.in_(codes),
                                      t.code_pool.c.used.is_(False)).values(used=True)
        )
        if taken.rowcount != len(codes):
            raise _TakenMeanwhile
        return codes

    # -- households -------------------------------------------------------------------

    def _next_household_number(self, conn: Connection, count: int = 1) -> list[str]:
        first = reserve(conn, t.counters, "household", count) + 1
        return [f"{n:010d}" for n in range(first, first + count)]

    def _place(self, conn: Connection, placement: HouseholdPlacement,
               born: dt.date | None = None) -> tuple[str, str, str]:
        """(household number, postcode, address) for a placement; creates a household.

        Joining a household, the relationship must fit the two birth dates (``born``
        and the head's): no 子 older than the head, no 父 younger.
        """
        check_relationship(placement.relationship)
        if placement.household_number:
            row = conn.execute(
                select(t.households).where(
                    t.households.c.household_number == placement.household_number
                )
            ).first()
            if row is None:
                raise NotFound(
                    f"世帯番号 {placement.household_number} の世帯はありません",
                    f"no household {placement.household_number}",
                )
            members = conn.execute(
                select(func.count()).select_from(t.residents).where(
                    t.residents.c.household_number == placement.household_number,
                    t.residents.c.status == Status.RESIDENT,
                )
            ).scalar_one()
            if members == 0:
                raise Conflict(
                    f"世帯番号 {placement.household_number} の世帯には住民がいません",
                    "household has no residents",
                )
            if placement.relationship == HEAD:
                raise Conflict(
                    "既存の世帯に「世帯主」として入ることはできません",
                    "an existing household already has a head",
                )
            head_born = conn.execute(select(t.residents.c.birth_date).where(
                t.residents.c.household_number == placement.household_number,
                t.residents.c.status == Status.RESIDENT,
                t.residents.c.relationship == HEAD)).scalar()
            if born is not None and head_born is not None:
                check_generation(placement.relationship, born, head_born)
            return row.household_number, row.postcode, row.address
        if not placement.address or not placement.postcode:
            raise ValidationError(
                "新しい世帯には郵便番号と住所が必要です",
                "a new household needs postcode and address",
            )
        if placement.relationship != HEAD:
            raise ValidationError(
                "新しい世帯を作るときの続柄は「世帯主」です",
                "the first member of a new household is its head",
            )
        postcode = check_postcode(placement.postcode)
        address = check_address(placement.address)
        self._check_in_municipality(address)
        number = self._next_household_number(conn)[0]
        conn.execute(
            insert(t.households).values(
                household_number=number, postcode=postcode, address=address, created_at=self.now()
            )
        )
        return number, postcode, address

    def _check_in_municipality(self, address: str) -> None:
        if not address.startswith(self.title) and not address.startswith(self.municipality.name):
            raise ValidationError(
                f"住所が{self.title}の区域内ではありません: {address}",
                f"address is not inside {self.code}",
            )

    # -- events -------------------------------------------------------------------------

    def _event(
        self, conn: Connection, kind: EventKind, resident_id: int, occurred_on: dt.date,
        staff: Staff, detail: dict[str, Any],
    ) -> int:
        event_id = inserted_id(conn.execute(
            insert(t.events).values(
                kind=kind.value, resident_id=resident_id, occurred_on=occurred_on,
                recorded_at=self.now(), staff_id=staff.staff_id, detail=detail,
            )
        ))
        return int(event_id)

    def _snapshot(self, conn: Connection, resident_id: int, event_id: int) -> None:
        row = conn.execute(
            select(t.residents).where(t.residents.c.resident_id == resident_id)
        ).one()
        conn.execute(
            insert(t.resident_versions).values(
                resident_id=resident_id, version=row.version, event_id=event_id,
                snapshot=_jsonable(dict(row._mapping)), recorded_at=self.now(),
            )
        )

    def _log(
        self, conn: Connection, staff: Staff, resident_id: int | None, action: str, purpose: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            insert(t.access_log).values(
                staff_id=staff.staff_id, resident_id=resident_id, action=action, purpose=purpose,
                detail=detail or {}, at=self.now(),
            )
        )

    def _change(
        self, conn: Connection, staff: Staff, resident: Resident, kind: EventKind,
        occurred_on: dt.date, values: dict[str, Any], detail: dict[str, Any],
    ) -> None:
        """Update the current 住民票, keeping the previous state as a version."""
        self._check_protected(staff, resident, kind.value)
        updated = conn.execute(
            update(t.residents)
            .where(t.residents.c.resident_id == resident.resident_id,
                   t.residents.c.version == resident.version)
            .values(**values, version=resident.version + 1, updated_at=self.now())
        )
        if updated.rowcount != 1:
            raise Conflict(
                "他の職員が同時にこの住民票を更新しました。もう一度やり直してください",
                "concurrent update of the same resident",
            )
        event_id = self._event(conn, kind, resident.resident_id, occurred_on, staff, detail)
        self._snapshot(conn, resident.resident_id, event_id)
        self._log(conn, staff, resident.resident_id, "write", kind.value, {"event_id": event_id})

    def _insert_resident(
        self, conn: Connection, staff: Staff, kind: EventKind, person: PersonDetails,
        code: str, number: str, household: tuple[str, str, str], relationship: str,
        became_resident_on: dt.date, previous_address: str | None, detail: dict[str, Any],
    ) -> int:
        household_number, postcode, address = household
        foreign = person.foreign
        resident_id = inserted_id(conn.execute(
            insert(t.residents).values(
                resident_code=code, individual_number=number, name=person.name,
                furigana=person.furigana, birth_date=person.birth_date, sex=person.sex,
                postcode=postcode, address=address, household_number=household_number,
                relationship=check_relationship(relationship),
                became_resident_on=became_resident_on, address_since=became_resident_on,
                previous_address=previous_address, status=Status.RESIDENT.value,
                nationality=foreign.nationality if foreign else None,
                residence_status=foreign.residence_status if foreign else None,
                period_of_stay_until=foreign.period_of_stay_until if foreign else None,
                support_measure=False, version=1, updated_at=self.now(),
            )
        ))
        rid = int(resident_id)
        event_id = self._event(conn, kind, rid, became_resident_on, staff, detail)
        self._snapshot(conn, rid, event_id)
        self._log(conn, staff, rid, "write", kind.value, {"event_id": event_id})
        return rid

    def _notify_jlis(self, conn: Connection, resident: Resident, event: str,
                     status: str = "住民", number: str | None = None) -> None:
        """Tell J-LIS the 本人確認情報 (住基法30条の6), as an event in this transaction;
        on a first 住民票 it also confirms the number J-LIS answered."""
        payload: dict[str, Any] = {
            "resident_code": resident.resident_code, "name": resident.name,
            "furigana": resident.furigana, "birth_date": resident.birth_date.isoformat(),
            "sex": resident.sex, "address": resident.address, "event": event,
            "status": status}
        if number is not None:
            payload["number"] = number
        self.outbox.add(conn, JLIS, "identity.recorded", resident.resident_code, payload)

    def _check_not_resident(self, conn: Connection, code: str | None, number: str | None) -> None:
        clauses = []
        if code:
            clauses.append(t.residents.c.resident_code == code)
        if number:
            clauses.append(t.residents.c.individual_number == number)
        row = conn.execute(
            select(t.residents.c.resident_id).where(
                or_(*clauses), t.residents.c.status == Status.RESIDENT
            )
        ).first()
        if row is not None:
            raise Conflict(
                f"この方は既に{self.title}の住民として登録されています（住民ID {row[0]}）",
                f"already resident (resident id {row[0]})",
            )

    # -- 届出 -------------------------------------------------------------------------------

    def register_birth(
        self, staff: Staff, person: PersonDetails, placement: HouseholdPlacement, *,
        confirm_not_duplicate: bool = False,
    ) -> Resident:
        """出生届: a new 住民票 with a fresh 住民票コード and its individual number.

        A second 出生届 for a child of the same household and birth date (or the
        same name and birth date anywhere in the town) is refused as a probable
        duplicate — it would give one child two numbers — unless the clerk has
        confirmed that it is another child (twins), which the event records.
        """
        person = check_person(person, self.today())
        return self._new_resident(staff, EventKind.BIRTH, person, placement, person.birth_date,
                                  {}, check_duplicate=not confirm_not_duplicate)

    def ex_officio_entry(
        self, staff: Staff, person: PersonDetails, placement: HouseholdPlacement,
        reason: str, resident_since: dt.date,
    ) -> Resident:
        """職権記載: the office records someone found to live here without a 届出."""
        self._require_supervisor(staff, "職権記載")
        person = check_person(person, self.today())
        reason = check_purpose(reason, "理由")
        check_event_date(resident_since, self.today(), "住民となった日",
                         not_before=[(person.birth_date, "生年月日")])
        return self._new_resident(staff, EventKind.EX_OFFICIO_ENTRY, person, placement,
                                  resident_since, {"reason": reason})

    def _new_resident(
        self, staff: Staff, kind: EventKind, person: PersonDetails,
        placement: HouseholdPlacement, since: dt.date, detail: dict[str, Any],
        check_duplicate: bool = False,
    ) -> Resident:
        """A first 住民票: a 住民票コード from the pool and its number from J-LIS.

        Two 届出 at the same moment may reach for the same 住民票コード; the one that
        loses tries again with the next (a few times, then asks the clerk to resend).
        """
        code = self._reserve_code()
        try:
            number = self.jlis.assign_number(self.code, code)
            fault_point("birth:after-number")
            resident = self._write_new_resident(staff, kind, person, placement, since, detail,
                                                check_duplicate, code, number)
        except BaseException:
            self._release_code(code)
            raise
        self.publish()
        return resident

    def _reserve_code(self) -> str:
        """Take one 住民票コード from the pool in its own short transaction.

        Two 届出 at the same moment may reach for the same code; the one that
        loses tries again with the next (a few times, then asks the clerk to resend).
        """
        for attempt in range(ATTEMPTS):
            self.ensure_codes(1)
            try:
                with self.engine.begin() as conn:
                    return self._take_codes(conn, 1)[0]
            except (_TakenMeanwhile, OperationalError):  # OperationalError: SQLite busy
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise Conflict(
            "同時に受け付けた届出と重なりました。もう一度送信してください（何も記録されていません）",
            "the notification collided with others at the same moment; nothing was recorded, "
            "send it again",
        )

    def _release_code(self, code: str) -> None:
        """A 届出 that failed gives its code back (J-LIS kept nothing for it)."""
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            conn.execute(update(t.code_pool).where(t.code_pool.c.code == code)
                         .values(used=False))

    def _write_new_resident(
        self, staff: Staff, kind: EventKind, person: PersonDetails,
        placement: HouseholdPlacement, since: dt.date, detail: dict[str, Any],
        check_duplicate: bool, code: str, number: str,
    ) -> Resident:
        with self.engine.begin() as conn:
            household = self._place(conn, placement, person.birth_date)
            twins = self._same_birth(conn, person, household[0])
            if twins and check_duplicate:
                raise _probable_duplicate(twins[0])
            if twins:
                detail = detail | {"confirmed_not_duplicate_of": [r.resident_id for r in twins]}
            rid = self._insert_resident(
                conn, staff, kind, person, code, number, household, placement.relationship,
                since, None, detail,
            )
            resident = self._get(conn, rid)
            self._notify_jlis(conn, resident, kind.value, number=number)
        return resident

    def _same_birth(
        self, conn: Connection, person: PersonDetails, household_number: str,
    ) -> list[Resident]:
        """Current residents born the same day in the household, or with the same name —
        compared without spaces and with katakana read as hiragana, so that typing the
        name differently does not make a second child of the same one."""
        rows = conn.execute(
            select(t.residents).where(
                t.residents.c.birth_date == person.birth_date,
                t.residents.c.status == Status.RESIDENT,
            ).order_by(t.residents.c.resident_id)
        ).all()
        same = [_to_resident(r._mapping) for r in rows]
        name, kana = same_name_key(person.name), same_name_key(person.furigana)
        return [r for r in same if r.household_number == household_number
                or (same_name_key(r.name) == name and same_name_key(r.furigana) == kana)]

    def move_in(
        self, staff: Staff, certificate: MoveOutCertificate, placement: HouseholdPlacement,
        moved_on: dt.date,
    ) -> Resident:
        """転入届: the person keeps their 住民票コード and individual number."""
        code = resident_code.validate(certificate.resident_code)
        number = individual.validate(certificate.individual_number)
        origin = municipality_code.lookup(certificate.from_municipality_code)
        if origin.code == self.code:
            raise ValidationError(
                "同じ市区町村内の移動は転居届で受け付けます", "a move within the town is a 転居"
            )
        person = check_person(
            PersonDetails(certificate.name, certificate.furigana, certificate.birth_date,
                          certificate.sex, certificate.foreign),
            self.today(),
        )
        issued_on = jst_date(certificate.issued_at)
        check_event_date(issued_on, self.today(), "転出証明書の交付日")
        # The move-in cannot predate the 転出届 that the certificate attests — the person
        # would be resident in two towns at once — unless that 転出届 was itself made
        # after the move: then the earliest move-in is the 転出日 it states.
        earliest = ((certificate.moving_on, "転出証明書に記載された転出日")
                    if certificate.moving_on < issued_on else (issued_on, "転出証明書の交付日"))
        check_event_date(moved_on, self.today(), "転入日",
                         not_before=[(person.birth_date, "生年月日"), earliest])
        with self.engine.begin() as conn:
            self._check_not_resident(conn, code, number)
            household = self._place(conn, placement, person.birth_date)
            rid = self._insert_resident(
                conn, staff, EventKind.MOVE_IN, person, code, number, household,
                placement.relationship, moved_on, certificate.address,
                {"from": origin.code, "certificate_id": certificate.certificate_id},
            )
            resident = self._get(conn, rid)
            self._notify_jlis(conn, resident, EventKind.MOVE_IN.value)
        self.publish()
        return resident

    def move_out(
        self, staff: Staff, resident_id: int, destination: str, moving_on: dt.date,
    ) -> MoveOutCertificate:
        """転出届: the 住民票 becomes a 除票 and a 転出証明書 is issued."""
        destination = check_address(destination, "転出先の住所")
        if destination.startswith((self.title, self.municipality.name)):
            raise ValidationError(
                f"転出先が{self.title}の区域内です。同じ市区町村内の移動は転居届で受け付けます",
                "the destination is inside this municipality: that is a 転居届",
            )
        with self.engine.begin() as conn:
            resident = self._get_current(conn, resident_id)
            check_event_date(moving_on, self.today(), "転出予定日", ahead=MOVE_OUT_AHEAD,
                             not_before=[(resident.became_resident_on, "住民となった日"),
                                         (resident.address_since, "現住所に住み始めた日")])
            if resident.individual_number is None:
                raise Conflict("個人番号が未指定です", "resident has no number yet")
            certificate = MoveOutCertificate(
                certificate_id=f"{self.code}-{secrets.token_hex(6)}",
                from_municipality_code=self.code,
                from_municipality_name=self.title,
                resident_code=resident.resident_code,
                individual_number=resident.individual_number,
                name=resident.name,
                furigana=resident.furigana,
                birth_date=resident.birth_date,
                sex=resident.sex,
                address=resident.address,
                household_number=resident.household_number,
                relationship=resident.relationship,
                destination=destination,
                moving_on=moving_on,
                issued_at=self.now(),
                foreign=_foreign(resident),
            )
            self._change(
                conn, staff, resident, EventKind.MOVE_OUT, moving_on,
                {"status": Status.REMOVED.value, "removal_reason": "転出", "removed_on": moving_on},
                {"destination": destination, "certificate_id": certificate.certificate_id},
            )
            conn.execute(
                insert(t.moveout_certificates).values(
                    certificate_id=certificate.certificate_id, resident_id=resident_id,
                    issued_at=certificate.issued_at, data=certificate.as_json(),
                )
            )
            self._notify_jlis(conn, resident, EventKind.MOVE_OUT.value, status="転出")
        self.publish()
        return certificate

    def move_within(
        self, staff: Staff, resident_id: int, placement: HouseholdPlacement, moved_on: dt.date,
    ) -> Resident:
        """転居届: a new address inside the municipality."""
        with self.engine.begin() as conn:
            resident = self._get_current(conn, resident_id)
            check_event_date(moved_on, self.today(), "転居日",
                             not_before=[(resident.address_since, "現住所に住み始めた日")])
            number, postcode, address = self._place(conn, placement, resident.birth_date)
            if address == resident.address and number == resident.household_number:
                raise ValidationError("転居先が現住所と同じです", "same address as now")
            self._change(
                conn, staff, resident, EventKind.MOVE_WITHIN, moved_on,
                {"household_number": number, "postcode": postcode, "address": address,
                 "relationship": placement.relationship, "address_since": moved_on,
                 "previous_address": resident.address},
                {"from": resident.address, "to": address},
            )
            updated = self._get(conn, resident_id)
            self._notify_jlis(conn, updated, EventKind.MOVE_WITHIN.value)
        self.publish()
        return updated

    def record_death(self, staff: Staff, resident_id: int, died_on: dt.date) -> Resident:
        """死亡届: the 住民票 becomes a 除票."""
        with self.engine.begin() as conn:
            resident = self._get_current(conn, resident_id)
            check_event_date(died_on, self.today(), "死亡日",
                             not_before=[(resident.birth_date, "生年月日"),
                                         (resident.became_resident_on, "住民となった日")])
            self._change(
                conn, staff, resident, EventKind.DEATH, died_on,
                {"status": Status.REMOVED.value, "removal_reason": "死亡", "removed_on": died_on},
                {},
            )
            self._notify_jlis(conn, resident, EventKind.DEATH.value, status="死亡")
            dead = self._get(conn, resident_id)
        self.publish()
        return dead

    def ex_officio_removal(self, staff: Staff, resident_id: int, reason: str) -> Resident:
        """職権消除: e.g. the person is found not to live here (実態調査)."""
        self._require_supervisor(staff, "職権消除")
        reason = check_purpose(reason)
        with self.engine.begin() as conn:
            resident = self._get_current(conn, resident_id)
            self._change(
                conn, staff, resident, EventKind.EX_OFFICIO_REMOVAL, self.today(),
                {"status": Status.REMOVED.value, "removal_reason": "職権消除",
                 "removed_on": self.today()},
                {"reason": reason},
            )
            self._notify_jlis(conn, resident, EventKind.EX_OFFICIO_REMOVAL.value,
                              status="職権消除")
            removed = self._get(conn, resident_id)
        self.publish()
        return removed

    def change_number(
        self, staff: Staff, resident_id: int, facts: str, ex_officio: bool = False, *,
        approved_by: Staff,
    ) -> Resident:
        """個人番号の変更 (番号法7条2項): only when the number has leaked and misuse is feared.

        The ground is the law's own — the person's request, or the mayor's own
        finding (職権) — and ``facts`` states what leaked and why misuse is
        feared.  A supervisor other than the member of staff who entered it
        approves.  J-LIS retires the old number for ever, the 統合宛名 and the
        card centre learn the new one (the card's back shows the old: it is
        marked for reissue).
        """
        facts = check_purpose(facts, "漏えいの事実と不正利用のおそれ")
        approver = self.get_staff(approved_by.staff_id)
        self._require_supervisor(approver, "個人番号の変更の承認")
        if approver.staff_id == staff.staff_id:
            raise PermissionDenied(
                "個人番号の変更は、入力した職員以外の監督者が承認してください",
                "a number change is approved by a supervisor other than the one entering it",
            )
        if ex_officio:
            self._require_supervisor(staff, "職権による番号変更")
        ground = NUMBER_CHANGE_GROUNDS[ex_officio]
        reason = f"{ground}: {facts}"
        with self.engine.connect() as conn:
            resident = self._get_current(conn, resident_id)
        new, generation = self.jlis.next_number(self.code, resident.resident_code)
        with self.engine.begin() as conn:
            resident = self._get_current(conn, resident_id)
            self._change(
                conn, staff, resident, EventKind.NUMBER_CHANGE, self.today(),
                {"individual_number": new},
                {"ground": ground, "facts": facts, "mode": "職権" if ex_officio else "請求",
                 "approved_by": approver.staff_id},
            )
            self.outbox.add(conn, JLIS, "number.changed", resident.resident_code, {
                "resident_code": resident.resident_code, "number": new,
                "generation": generation, "reason": reason, "ex_officio": ex_officio})
            self.outbox.add(conn, self.atena_node, "number.changed", str(resident_id),
                            {"resident_id": resident_id, "number": new})
            changed = self._get(conn, resident_id)
        self.publish()
        return changed

    def change_resident_code(self, staff: Staff, resident_id: int) -> Resident:
        """住民票コードの変更請求: a new code; the individual number stays."""
        self.ensure_codes(1)
        with self.engine.begin() as conn:
            resident = self._get_current(conn, resident_id)
            new = self._take_codes(conn, 1)[0]
            self._change(
                conn, staff, resident, EventKind.CODE_CHANGE, self.today(),
                {"resident_code": new}, {},
            )
            self.outbox.add(conn, JLIS, "resident_code.changed", resident.resident_code,
                            {"old": resident.resident_code, "new": new})
            recoded = self._get(conn, resident_id)
        self.publish()
        return recoded

    def set_support_measure(
        self, staff: Staff, resident_id: int, on: bool, reason: str,
        residence: tuple[str, str] | None = None, approved_callers: Sequence[str] = (),
    ) -> None:
        """支援措置 (DV, ストーカー, 児童虐待 …): restrict who may see the record.

        One registration, told to every organisation that must act on it, as
        events in this transaction: J-LIS withholds the address from callers not
        in ``approved_callers``; the notification goes to ``residence``
        (postcode, address of the 居所) instead of the registered address; every
        intermediate server holding the person's data stops answering
        automatically (through the 統合宛名 and the hub, by 符号).  Lifting it
        reverses each of these.
        """
        self._require_supervisor(staff, "支援措置の設定")
        reason = check_purpose(reason)
        if residence is not None:
            residence = (check_postcode(residence[0]), check_address(residence[1], "居所"))
        callers = [clean_text(c, "照会を認める機関", max_length=100) for c in approved_callers]
        with self.engine.begin() as conn:
            resident = self._get(conn, resident_id)
            conn.execute(
                update(t.residents).where(t.residents.c.resident_id == resident_id)
                .values(support_measure=on)
            )
            self._log(conn, staff, resident.resident_id, "support_measure", reason, {"on": on})
            self.outbox.add(conn, JLIS, "support_measure.changed", resident.resident_code, {
                "resident_code": resident.resident_code, "on": on,
                "approved_callers": callers})
            notice: dict[str, Any] = {"resident_id": resident_id, "on": on}
            if on and residence is not None:
                notice |= {"postcode": residence[0], "address": residence[1]}
            self.outbox.add(conn, NOTIFY, "support_measure.changed", str(resident_id), notice)
            self.outbox.add(conn, self.atena_node, "support_measure.changed",
                            str(resident_id), {"resident_id": resident_id, "on": on})
        self.publish()

    def _check_protected(self, staff: Staff, resident: Resident, what: str) -> None:
        if resident.support_measure and not staff.may_view_protected:
            raise PermissionDenied(
                f"支援措置の対象者です。{what}は監督者が行ってください",
                f"record under support measures: {what} needs a supervisor",
            )

    def _require_supervisor(self, staff: Staff, what: str) -> None:
        if staff.role == Role.CLERK:
            raise PermissionDenied(
                f"{what}には監督者以上の権限が必要です", f"{what} needs a supervisor"
            )

    # -- reading ---------------------------------------------------------------------------

    def _get(self, conn: Connection, resident_id: int) -> Resident:
        if not 1 <= resident_id <= 2**31 - 1:
            raise NotFound(
                f"住民ID {resident_id} の住民票はありません", f"no resident {resident_id}"
            )
        row = conn.execute(
            select(t.residents).where(t.residents.c.resident_id == resident_id)
        ).first()
        if row is None:
            raise NotFound(
                f"住民ID {resident_id} の住民票はありません", f"no resident {resident_id}"
            )
        return _to_resident(row._mapping)

    def _get_current(self, conn: Connection, resident_id: int) -> Resident:
        resident = self._get(conn, resident_id)
        if not resident.is_resident:
            raise Conflict(
                f"住民ID {resident_id} は既に除票です（{resident.removal_reason}）",
                f"resident {resident_id} was removed ({resident.removal_reason})",
            )
        return resident

    def affair_policy(self) -> AffairPolicy:
        """The town's table: which role performs which affair, who sees full numbers."""
        return self.access.policy()

    def affairs_for(self, staff: Staff) -> list[Affair]:
        """The affairs ``staff`` may state as the purpose of a view or a search."""
        return self.access.policy().allowed(staff)

    def set_affair_roles(
        self, staff: Staff, roles: Mapping[str, Iterable[Role | str]],
        number_roles: Iterable[Role | str] | None = None,
    ) -> AffairPolicy:
        """A supervisor changes the table (see :meth:`StaffAccess.set_policy`)."""
        return self.access.set_policy(staff, roles, number_roles)

    def _purpose(self, conn: Connection, staff: Staff, purpose: str,
                 note: str | None) -> tuple[Affair, str, dict[str, Any]]:
        """The affair a read is for, checked before anything is read or written;
        with the purpose text to log (the affair's name, and the procedure's note) and
        the detail every log row of the read carries."""
        policy = self.access.policy(conn)
        affair = policy.check(staff, purpose)
        logged = affair.name
        detail: dict[str, Any] = {"affair": affair.id}
        if note:
            note = clean_text(note, "閲覧の手続", max_length=NOTE_MAX, label_en="note")
            logged = f"{affair.name}（{note}）"
            detail["note"] = note
        return affair, logged, detail

    def _may_open(self, conn: Connection, staff: Staff, resident: Resident,
                  affair: Affair) -> tuple[bool, int | None]:
        """(may ``staff`` see this person's details for ``affair``, the approval used)."""
        if not resident.support_measure or staff.interface:
            return True, None
        grant = self.access.live_grant(conn, staff, resident.resident_id, affair.id)
        return grant is not None, grant.request_id if grant else None

    def view(
        self, staff: Staff, resident_id: int, purpose: str, reveal_number: bool = False,
        *, note: str | None = None,
    ) -> Resident:
        """One 住民票 for an affair ``staff``'s role performs (``purpose`` is its id).

        The view is logged with the affair (and ``note``, the procedure it is part
        of).  A record under 支援措置 opens only under a live approval for this member
        of staff and affair (:meth:`request_protected_view`); a refused view is
        logged as refused.  The individual number and 住民票コード come back masked
        unless ``reveal_number`` and the town lets the role see numbers; a full number
        is logged as its own disclosure.  An unknown affair, or one the role does not
        perform, is refused before anything is read or written.
        """
        with self.engine.begin() as conn:
            affair, logged, detail = self._purpose(conn, staff, purpose, note)
            resident = self._get(conn, resident_id)
            allowed, approval = self._may_open(conn, staff, resident, affair)
            disclose = (allowed and reveal_number and resident.individual_number is not None
                        and self.access.policy(conn).may_see_numbers(staff))
            if approval is not None:
                detail["approval"] = approval
            if reveal_number and allowed and resident.individual_number and not disclose:
                detail["number_withheld"] = True
            self._log(conn, staff, resident_id, "view" if allowed else "view_denied", logged,
                      detail)
            if disclose:
                self._log(conn, staff, resident_id, "number_disclosure", logged,
                          detail | {"items": ["個人番号", "住民票コード"]})
        if not allowed:
            raise ProtectedRecord(
                "支援措置の対象者です。記録を開くには、事務と理由を示して申請し、"
                "別の監督者の承認を受けてください",
                "record under support measures: ask for approval, naming the affair and the "
                "reason; a different supervisor approves",
            )
        if disclose or (staff.interface and reveal_number):
            return resident
        return _masked(resident)

    def search(
        self, staff: Staff, purpose: str, *, name: str | None = None,
        birth_date: dt.date | None = None, sex: str | None = None, address: str | None = None,
        number: str | None = None, include_removed: bool = False, page: int = 1,
        per_page: int = PER_PAGE, note: str | None = None,
    ) -> SearchPage:
        """Search by the four basic items or by individual number, a page at a time.

        ``purpose`` is the id of an affair the role performs; pages hold at most
        :data:`PER_PAGE`.  The page is logged (its number, the residents on it, the
        total), and each resident on it sees the search in their own log.  A person
        under 支援措置 is left out of a clerk's search altogether — no row, not in the
        total — unless that clerk holds a live approval for the record and affair; so
        a search only that person would match looks like one that matches nobody.
        That such a search matched them is logged on their record only.  Supervisors
        see the row without address until approved.  Numbers always come masked.
        """
        page = _page_number(page)
        per_page = _per_page(per_page)
        clauses: list[Any] = []
        criteria: dict[str, Any] = {}
        if number:
            number = individual.validate(number)
            clauses.append(t.residents.c.individual_number == number)
            criteria["number"] = individual.mask(number)
        name = clean_text(name or "", "検索する氏名", max_length=LIMITS["search"],
                          required=False, label_en="name searched")
        address = clean_text(address or "", "検索する住所", max_length=LIMITS["search"],
                             required=False, label_en="address searched")
        if name:
            pattern = "%" + _escape_like(name) + "%"
            clauses.append(or_(t.residents.c.name.like(pattern, escape="\\"),
                               t.residents.c.furigana.like(pattern, escape="\\")))
            criteria["name"] = name
        if birth_date:
            clauses.append(t.residents.c.birth_date == birth_date)
            criteria["birth_date"] = birth_date.isoformat()
        if sex:
            clauses.append(t.residents.c.sex == sex)
            criteria["sex"] = sex
        if address:
            clauses.append(
                t.residents.c.address.like("%" + _escape_like(address) + "%", escape="\\")
            )
            criteria["address"] = address
        if not clauses:
            raise ValidationError(
                "検索条件（氏名・生年月日・性別・住所または個人番号）を入力してください",
                "give at least one search criterion",
            )
        if not include_removed:
            clauses.append(t.residents.c.status == Status.RESIDENT)
        with self.engine.begin() as conn:
            affair, logged, base = self._purpose(conn, staff, purpose, note)
            criteria = base | criteria
            granted = sorted(self.access.granted_ids(conn, staff, affair.id))
            matching = and_(*clauses)
            visible: Any = matching
            if not (staff.interface or staff.may_view_protected):
                visible = and_(matching, or_(t.residents.c.support_measure.is_(False),
                                             t.residents.c.resident_id.in_(granted)))
                hidden = conn.execute(select(t.residents.c.resident_id).where(
                    matching, t.residents.c.support_measure.is_(True),
                    t.residents.c.resident_id.not_in(granted))).scalars().all()
                for rid in hidden:  # on their own record only: the search looked empty
                    self._log(conn, staff, rid, "search_hidden", logged, criteria)
            total = int(conn.execute(
                select(func.count()).select_from(t.residents).where(visible)).scalar_one())
            rows = conn.execute(
                select(t.residents).where(visible)
                .order_by(t.residents.c.furigana, t.residents.c.resident_id)
                .offset((page - 1) * per_page).limit(per_page)
            ).all()
            on_page = {"page": page, "per_page": per_page, "total": total}
            self._log(conn, staff, None, "search", logged,
                      criteria | on_page | {"hits": [r.resident_id for r in rows]})
            for r in rows:  # each person found sees the search in their own access log
                self._log(conn, staff, r.resident_id, "search_hit", logged,
                          criteria | {"page": page})
        found = [_to_resident(r._mapping) for r in rows]
        shown = [r if staff.interface else
                 _masked(self._redacted(staff, r, r.resident_id in granted)) for r in found]
        return SearchPage(shown, total, page, per_page, affair)

    def _redacted(self, staff: Staff, resident: Resident, granted: bool = False) -> Resident:
        """What a search row or a household list may show of a 支援措置 person without an
        approval: no address, no number (clerks never get such a row from a search)."""
        if not resident.support_measure or staff.interface or granted:
            return resident
        return replace(resident, postcode="", address=PROTECTED, previous_address=None,
                       individual_number=None)

    def household_view(
        self, staff: Staff, resident: Resident, purpose: str, note: str | None = None,
    ) -> list[tuple[Resident, bool]]:
        """The current members of ``resident``'s household as a page lists them, each
        (the member, whether their details are hidden), and each logged as viewed.

        A member under 支援措置 is hidden — name, birth date, sex — from anyone without
        a live approval for that record and affair, supervisors included.
        """
        with self.engine.begin() as conn:
            affair, logged, detail = self._purpose(conn, staff, purpose, note)
            rows = conn.execute(select(t.residents).where(
                t.residents.c.household_number == resident.household_number,
                t.residents.c.status == Status.RESIDENT,
            ).order_by(t.residents.c.resident_id)).all()
            listed: list[tuple[Resident, bool]] = []
            for row in rows:
                member = _to_resident(row._mapping)
                if member.resident_id == resident.resident_id:
                    listed.append((resident, False))
                    continue
                allowed, approval = self._may_open(conn, staff, member, affair)
                extra: dict[str, Any] = {"listed_with": resident.resident_id}
                if approval is not None:
                    extra["approval"] = approval
                if not allowed:
                    extra["hidden"] = True
                    member = replace(member, name=PROTECTED, furigana="", postcode="",
                                     address=PROTECTED, previous_address=None)
                self._log(conn, staff, member.resident_id, "view_household", logged,
                          detail | extra)
                listed.append((_masked(member), not allowed))
        return listed

    # -- approvals to open 支援措置 records -------------------------------------------------

    def request_protected_view(
        self, staff: Staff, resident_id: int, purpose: str, reason: str,
    ) -> AccessRequest:
        """Ask to open a 支援措置 record for an affair, with a reason (logged on it)."""
        with self.engine.begin() as conn:
            affair, logged, detail = self._purpose(conn, staff, purpose, None)
            resident = self._get(conn, resident_id)
            if not resident.support_measure:
                raise Conflict(
                    f"住民ID {resident_id} は支援措置の対象ではありません（申請は不要です）",
                    f"resident {resident_id} is not under support measures",
                )
            request = self.access.ask(conn, staff, resident_id, affair, reason)
            self._log(conn, staff, resident_id, "protected_request", logged,
                      detail | {"request_id": request.request_id, "reason": request.reason})
        return request

    def decide_protected_view(
        self, staff: Staff, request_id: int, approve: bool = True,
    ) -> AccessRequest:
        """A supervisor other than the one who asked approves (or declines) a request."""
        with self.engine.begin() as conn:
            decided = self.access.decide(conn, staff, request_id, approve)
            detail: dict[str, Any] = {"affair": decided.affair.id, "request_id": request_id,
                                      "requested_by": decided.staff_id}
            if decided.expires_at is not None:
                detail["until"] = decided.expires_at.isoformat()
            self._log(conn, staff, decided.resident_id,
                      "protected_approve" if approve else "protected_decline",
                      decided.affair.name, detail)
        return decided

    def protected_requests(self, staff: Staff) -> list[AccessRequest]:
        """Requests to open 支援措置 records: all of them for a supervisor, else one's own."""
        return self.access.requests(staff)

    def household_members(self, household_number: str, include_removed: bool = False
                          ) -> list[Resident]:
        query = select(t.residents).where(t.residents.c.household_number == household_number)
        if not include_removed:
            query = query.where(t.residents.c.status == Status.RESIDENT)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.residents.c.resident_id)).all()
        return [_to_resident(r._mapping) for r in rows]

    def history(self, resident_id: int) -> list[HistoryEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.events).where(t.events.c.resident_id == resident_id)
                .order_by(t.events.c.event_id)
            ).all()
        return [
            HistoryEntry(r.event_id, r.kind, r.occurred_on, r.recorded_at, r.staff_id, r.detail)
            for r in rows
        ]

    def versions(self, resident_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.resident_versions.c.snapshot)
                .where(t.resident_versions.c.resident_id == resident_id)
                .order_by(t.resident_versions.c.version)
            ).scalars()
            return list(rows)

    def access_log(self, resident_id: int | None = None, limit: int = 200) -> list[AccessLogEntry]:
        """Who looked at or changed a record, and why (shown to the resident too)."""
        query = select(t.access_log).order_by(t.access_log.c.id.desc()).limit(limit)
        if resident_id is not None:
            query = query.where(t.access_log.c.resident_id == resident_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AccessLogEntry(r.at, r.staff_id, r.action, r.purpose, r.detail) for r in rows]

    def moveout_certificate(
        self, certificate_id: str, staff: Staff | None = None, purpose: str = "転入地からの照合",
    ) -> MoveOutCertificate:
        """A 転出証明書 this town issued (it holds the number, so every read is logged)."""
        reader = staff or SYSTEM
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.moveout_certificates).where(
                    t.moveout_certificates.c.certificate_id == certificate_id
                )
            ).first()
            if row is not None:
                self._log(conn, reader, row.resident_id, "view_certificate",
                          check_purpose(purpose), {"certificate_id": certificate_id})
        if row is None:
            raise NotFound(f"転出証明書 {certificate_id} はありません", f"no {certificate_id}")
        return MoveOutCertificate.from_json(row.data)

    def moveout_certificates_of(self, resident_id: int) -> list[tuple[str, dt.datetime]]:
        """(certificate id, issued at) of the 転出証明書 issued for a resident, newest first
        (metadata only: reading one is :meth:`reprint_moveout_certificate`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.moveout_certificates.c.certificate_id,
                       t.moveout_certificates.c.issued_at)
                .where(t.moveout_certificates.c.resident_id == resident_id)
                .order_by(t.moveout_certificates.c.issued_at.desc())
            ).all()
        return [(str(r.certificate_id), aware(r.issued_at)) for r in rows]

    def reprint_moveout_certificate(
        self, staff: Staff, resident_id: int, certificate_id: str, purpose: str,
    ) -> MoveOutCertificate:
        """再交付 of a 転出証明書 from the resident's record (lost, or not yet handed over).

        It holds the number: the reprint is logged with its affair (``purpose`` is the
        id of an affair the role performs), and a record under 支援措置 needs a live
        approval, like a view.
        """
        with self.engine.begin() as conn:
            affair, logged, detail = self._purpose(conn, staff, purpose, None)
            resident = self._get(conn, resident_id)
            row = conn.execute(select(t.moveout_certificates).where(
                t.moveout_certificates.c.certificate_id == certificate_id,
                t.moveout_certificates.c.resident_id == resident_id,
            )).first()
            if row is None:
                raise NotFound(
                    f"住民ID {resident_id} の転出証明書 {certificate_id} はありません",
                    f"resident {resident_id} has no move-out certificate {certificate_id}",
                )
            allowed, approval = self._may_open(conn, staff, resident, affair)
            if approval is not None:
                detail["approval"] = approval
            self._log(conn, staff, resident_id,
                      "reprint_certificate" if allowed else "reprint_certificate_denied",
                      logged, detail | {"certificate_id": certificate_id})
        if not allowed:
            raise ProtectedRecord(
                "支援措置の対象者です。転出証明書の再交付には、申請と別の監督者の承認が必要です",
                "record under support measures: reprinting needs an approved request",
            )
        return MoveOutCertificate.from_json(row.data)

    def stats(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def n(*where: Any) -> int:
                return int(conn.execute(
                    select(func.count()).select_from(t.residents).where(*where)
                ).scalar_one())

            return {
                "residents": n(t.residents.c.status == Status.RESIDENT),
                "removed": n(t.residents.c.status == Status.REMOVED),
                "households": int(conn.execute(
                    select(func.count(func.distinct(t.residents.c.household_number)))
                    .where(t.residents.c.status == Status.RESIDENT)
                ).scalar_one()),
                "numbered": n(t.residents.c.status == Status.RESIDENT,
                              t.residents.c.individual_number.is_not(None)),
                "events": int(conn.execute(select(func.count()).select_from(t.events))
                              .scalar_one()),
                "access_log": int(conn.execute(select(func.count()).select_from(t.access_log))
                                  .scalar_one()),
            }

    # -- 住民票の写し -------------------------------------------------------------------------

    def issue_copy(
        self, staff: Staff, resident_id: int, purpose: str, *, whole_household: bool = True,
        include_number: bool = False, number_reason: str | None = None,
    ) -> ResidentRecordCopy:
        """住民票の写し: the number is omitted unless specially requested with a reason."""
        purpose = check_purpose(purpose)
        if include_number:
            if not number_reason or len(number_reason.strip()) < 2:
                raise ValidationError(
                    "個人番号の記載を求めるには、その理由（提出先と利用目的）が必要です",
                    "including the number needs a stated reason",
                )
            number_reason = number_reason.strip()
        with self.engine.begin() as conn:
            subject = self._get(conn, resident_id)
            if whole_household and subject.is_resident:
                rows = conn.execute(
                    select(t.residents).where(
                        t.residents.c.household_number == subject.household_number,
                        t.residents.c.status == Status.RESIDENT,
                    ).order_by(t.residents.c.resident_id)
                ).all()
                people = [_to_resident(r._mapping) for r in rows]
                people.sort(key=lambda r: (r.relationship != HEAD, r.resident_id))
            else:
                people = [subject]
            if any(p.support_measure for p in people) and not staff.may_view_protected:
                raise PermissionDenied(
                    "支援措置の対象者を含む写しの交付には監督者の承認が必要です",
                    "the copy would show a person under support measures",
                )
            household_head = next(
                (p.name for p in people if p.relationship == HEAD),
                self._head_name(conn, subject.household_number),
            )
            serial = reserve(conn, t.counters, "copy") + 1
            certificate_number = f"{self.code}-{self.today():%Y%m%d}-{serial:06d}"
            copy = self._build_copy(subject, people, household_head, certificate_number,
                                    include_number)
            conn.execute(
                insert(t.copies).values(
                    certificate_number=certificate_number,
                    household_number=subject.household_number,
                    resident_ids=[p.resident_id for p in people],
                    includes_number=include_number,
                    reason=number_reason,
                    staff_id=staff.staff_id,
                    issued_at=copy.issued_at,
                    document=copy_to_json(copy),
                )
            )
            for p in people:
                self._log(conn, staff, p.resident_id, "issue_copy", purpose,
                          {"certificate_number": certificate_number,
                           "includes_number": include_number})
                if include_number:
                    self._log(conn, staff, p.resident_id, "number_on_copy", purpose,
                              {"reason": number_reason,
                               "certificate_number": certificate_number})
        return copy

    def _build_copy(
        self, subject: Resident, people: Sequence[Resident], head: str,
        certificate_number: str, include_number: bool,
    ) -> ResidentRecordCopy:
        return ResidentRecordCopy(
            municipality_code=self.code,
            municipality_name=self.municipality.name,
            prefecture=self.municipality.prefecture,
            household_number=subject.household_number,
            head_of_household=head,
            address=subject.address,
            entries=tuple(
                CopyEntry(
                    name=p.name, furigana=p.furigana, birth_date=p.birth_date, sex=p.sex,
                    relationship=p.relationship, became_resident_on=p.became_resident_on,
                    address_since=p.address_since, previous_address=p.previous_address,
                    resident_code=p.resident_code if include_number else None,
                    individual_number=p.individual_number if include_number else None,
                    removed=None if p.is_resident else
                    f"{to_wareki(p.removed_on) if p.removed_on else ''} {p.removal_reason}",
                    nationality=p.nationality, residence_status=p.residence_status,
                    period_of_stay_until=p.period_of_stay_until,
                )
                for p in people
            ),
            issued_at=self.now(),
            issued_by=f"{self.municipality.name}長",
            certificate_number=certificate_number,
            includes_number=include_number,
            is_removed_record=not subject.is_resident,
        )

    def get_copy(
        self, staff: Staff, certificate_number: str, purpose: str = "交付済みの写しの再表示",
    ) -> ResidentRecordCopy:
        """An issued copy exactly as issued; each re-display is logged."""
        purpose = check_purpose(purpose)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.copies).where(t.copies.c.certificate_number == certificate_number)
            ).first()
            if row is None:
                raise NotFound(
                    f"証明書番号 {certificate_number} の写しはありません",
                    f"no issued copy {certificate_number}",
                )
            protected = conn.execute(
                select(func.count()).select_from(t.residents).where(
                    t.residents.c.resident_id.in_(row.resident_ids),
                    t.residents.c.support_measure.is_(True),
                )
            ).scalar_one()
            if protected and not staff.may_view_protected:
                raise PermissionDenied(
                    "支援措置の対象者を含む写しです。表示は監督者が行ってください",
                    "the copy shows a person under support measures",
                )
            for rid in row.resident_ids:
                self._log(conn, staff, rid, "view_copy", purpose,
                          {"certificate_number": certificate_number})
        return copy_from_json(row.document)

    def _head_name(self, conn: Connection, household_number: str) -> str:
        head = conn.execute(
            select(t.residents.c.name).where(
                t.residents.c.household_number == household_number,
                t.residents.c.relationship == HEAD,
            ).order_by(t.residents.c.resident_id.desc())
        ).scalar()
        return head or ""

    # -- initial registration and 初期一斉指定 ----------------------------------------------

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




def _bindparam(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _page_number(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise ValidationError(
            f"ページ番号は1以上の整数です（指定: {value!r}）",
            f"page must be a whole number from 1 (got {value!r})",
        )
    return value


def _per_page(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= PER_PAGE:
        raise ValidationError(
            f"1ページの件数は1から{PER_PAGE}までです（指定: {value!r}）",
            f"per_page must be 1 to {PER_PAGE} (got {value!r})",
        )
    return value


def _masked(resident: Resident) -> Resident:
    """The record with its individual number and 住民票コード masked (last digits only)."""
    number = resident.individual_number
    return replace(
        resident,
        individual_number=individual.mask(number) if number and number.isdigit() else number,
        resident_code=resident_code.mask(resident.resident_code)
        if resident.resident_code.isdigit() else resident.resident_code,
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _foreign(resident: Resident) -> Any:
    from myna.registry.domain import ForeignResidence

    if resident.nationality is None:
        return None
    return ForeignResidence(
        resident.nationality, resident.residence_status or "", resident.period_of_stay_until
    )


class _TakenMeanwhile(Exception):
    """Another transaction took the 住民票コード this one chose (try again)."""


#: How often a new 住民票 is tried when concurrent 届出 collide.
ATTEMPTS = 5


def _probable_duplicate(existing: Resident) -> Conflict:
    return Conflict(
        f"生年月日が同じ方（住民ID {existing.resident_id}「{existing.name}」、世帯番号 "
        f"{existing.household_number}）が既に記録されています。二重の出生届の可能性があります。"
        "双子など別の子であることを確認した場合は、「別の子であることを確認した」を選んで"
        "もう一度受け付けてください",
        f"probable duplicate 出生届: resident {existing.resident_id} has the same birth date "
        "in this household (or the same name); confirm that it is another child to register",
    )


def _to_resident(row: RowMapping) -> Resident:
    fields = Resident.__dataclass_fields__
    return Resident(**{k: row[k] for k in fields})


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        out[k] = v.isoformat() if isinstance(v, dt.date | dt.datetime) else v
    return out


__all__ = ["MunicipalityRegistry", "InitialResident", "AccessLogEntry", "SearchPage", "asdict"]
