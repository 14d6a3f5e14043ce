"""届出: the use cases that change a 住民票 (births, moves, deaths, changes of number
and 住民票コード, 支援措置).

Each is one local transaction with its event, snapshot, access-log row and the
events other organisations must learn of (the outbox); J-LIS is called before or
after it, never inside.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import secrets
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import OperationalError

from myna.clock import jst_date
from myna.errors import Conflict, PermissionDenied, ValidationError
from myna.faults import fault_point
from myna.numbers import individual, municipality_code, resident_code
from myna.registry import storage as t
from myna.registry.core import (
    ATTEMPTS,
    JLIS,
    NOTIFY,
    NUMBER_CHANGE_GROUNDS,
    RegistryCore,
    _foreign,
    _probable_duplicate,
    _TakenMeanwhile,
    _to_resident,
    person_subject,
)
from myna.registry.domain import (
    MOVE_OUT_AHEAD,
    EventKind,
    HouseholdPlacement,
    MoveOutCertificate,
    PersonDetails,
    Resident,
    Staff,
    Status,
    check_address,
    check_event_date,
    check_person,
    check_postcode,
    check_purpose,
    same_name_key,
)
from myna.text import clean_text


class Notifications(RegistryCore):
    """届出 of one municipality."""

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
            self.outbox.add(conn, JLIS, "number.changed", person_subject(resident), {
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
            self.outbox.add(conn, JLIS, "resident_code.changed", person_subject(resident),
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
            if resident.status != Status.RESIDENT:
                # a 除票: its copies are protected here; the person's present town tells
                # J-LIS, the mailing and the network (this town no longer may)
                return
            self.outbox.add(conn, JLIS, "support_measure.changed", person_subject(resident), {
                "resident_code": resident.resident_code, "on": on,
                "approved_callers": callers})
            notice: dict[str, Any] = {"resident_id": resident_id, "on": on}
            if on and residence is not None:
                notice |= {"postcode": residence[0], "address": residence[1]}
            self.outbox.add(conn, NOTIFY, "support_measure.changed", str(resident_id), notice)
            self.outbox.add(conn, self.atena_node, "support_measure.changed",
                            str(resident_id), {"resident_id": resident_id, "on": on})
        self.publish()
