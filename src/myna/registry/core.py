"""The municipality node's registry: what every use case shares.

The state (engine, J-LIS interface, outbox and inbox, staff accounts and access rules),
the reads and writes of the resident tables that every 届出 and every view
goes through (a row and its version snapshot, its event, its access-log row),
and the staff's affairs.  The use cases live beside it: :mod:`.notifications`
(届出), :mod:`.reading` (views, searches, approvals), :mod:`.copies`
(住民票の写し) and :mod:`.initial` (移行・初期一斉指定); :mod:`.service` puts them
together as :class:`MunicipalityRegistry`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, func, insert, or_, select, update

from myna.clock import jst_date, utcnow
from myna.contracts.cards import CARD_STATE_CHANGED
from myna.contracts.jlis import NumberingApi
from myna.db import bulk_insert, inserted_id, migrate, reserve
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.events import Inbox, Outbox
from myna.faults import fault_point
from myna.numbers import individual, municipality_code, resident_code
from myna.registry import storage as t
from myna.registry.access import StaffAccess
from myna.registry.affairs import Affair, AffairPolicy
from myna.registry.card_states import card_state_handler
from myna.registry.domain import (
    EventKind,
    HouseholdPlacement,
    PersonDetails,
    Resident,
    Role,
    Staff,
    Status,
    check_address,
    check_postcode,
)
from myna.registry.staff import StaffAccounts
from myna.relationships import HEAD, check_generation, check_relationship
from myna.text import clean_text

CODE_BATCH = 1000


def person_subject(resident: Resident) -> str:
    """The subject of a resident's events to J-LIS: the town's own resident id, which,
    unlike the 住民票コード, stays the same through a code change, so that the receiver
    applies everything about one person in the order it happened."""
    return f"resident:{resident.resident_id}"
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


class RegistryCore:
    """住民基本台帳 of one municipality: state and shared steps of its use cases."""

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
        #: what other organisations tell the town: J-LIS's card centre, its residents'
        #: card states (:mod:`myna.registry.card_states`)
        self.inbox = Inbox(engine, self.node_id,
                           {CARD_STATE_CHANGED: card_state_handler(lambda: self.now())},
                           lambda: self.now())
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

    def create_staff(self, staff_id: str, name: str, role: Role | str, password: str) -> Staff:
        return self.accounts.create(staff_id, name, role, password)

    def authenticate(self, staff_id: str, password: str) -> Staff:
        """Check a staff password (see :meth:`StaffAccounts.authenticate`)."""
        return self.accounts.authenticate(staff_id, password)

    def get_staff(self, staff_id: str) -> Staff:
        return self.accounts.get(staff_id)

    def list_staff(self) -> list[Staff]:
        return self.accounts.active()

    def ensure_codes(self, needed: int) -> None:
        """Keep at least ``needed`` unused 住民票コード in the local pool.

        The request is recorded first, J-LIS is asked outside any transaction of ours,
        and the batch is stored after: killed in between, the next call asks again
        under the same request and gets the same batch, so no code J-LIS issued to the
        town is lost and none is taken twice."""
        while True:
            r = t.code_requests.c
            with self.engine.begin() as conn:
                free = conn.execute(select(func.count()).select_from(t.code_pool).where(
                    t.code_pool.c.used.is_(False))).scalar_one()
                open_request = conn.execute(select(r.request_id, r.count).where(
                    r.received_at.is_(None)).order_by(r.requested_at).limit(1)).first()
                if open_request is None:
                    if free >= needed:
                        return
                    request_id, count = uuid.uuid4().hex, max(CODE_BATCH, needed - free)
                    conn.execute(insert(t.code_requests).values(
                        request_id=request_id, count=count, requested_at=self.now()))
                else:
                    request_id, count = str(open_request[0]), int(open_request[1])
            fault_point("registry:codes-requested")
            codes = self.jlis.issue_resident_codes(self.code, count, request_id=request_id)
            fault_point("registry:codes-issued")
            with self.engine.begin() as conn:
                closed = conn.execute(update(t.code_requests).where(
                    r.request_id == request_id, r.received_at.is_(None))
                    .values(received_at=self.now()))
                if closed.rowcount:  # (another process may have stored it meanwhile)
                    now = self.now()
                    bulk_insert(conn, t.code_pool, [(c, False, now) for c in codes],
                                ["code", "used", "received_at"])

    def open_code_requests(self) -> int:
        """Requests for 住民票コード sent to J-LIS whose batch is not in the pool yet."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.code_requests).where(
                t.code_requests.c.received_at.is_(None))).scalar_one())

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

    def _log_each(
        self, conn: Connection, staff: Staff, resident_ids: Iterable[int], action: str,
        purpose: str, detail: dict[str, Any],
    ) -> None:
        """The same access-log entry on each of ``resident_ids``' records, in one write."""
        now = self.now()
        rows = [{"staff_id": staff.staff_id, "resident_id": rid, "action": action,
                 "purpose": purpose, "detail": detail, "at": now} for rid in resident_ids]
        if rows:
            conn.execute(insert(t.access_log), rows)

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
        self.outbox.add(conn, JLIS, "identity.recorded", person_subject(resident), payload)

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

    def _redacted(self, staff: Staff, resident: Resident, granted: bool = False) -> Resident:
        """What a search row or a household list may show of a 支援措置 person without an
        approval: no address, no number (clerks never get such a row from a search)."""
        if not resident.support_measure or staff.interface or granted:
            return resident
        return replace(resident, postcode="", address=PROTECTED, previous_address=None,
                       individual_number=None)


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
