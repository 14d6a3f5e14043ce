"""住民票の写し: issued for an affair, with the number only when specially asked.

Issuing a copy, and showing an issued copy again, is 住民基本台帳事務
(:data:`~myna.registry.affairs.RESIDENT_REGISTRY`) and follows the rule for
opening a record (:meth:`myna.registry.reading.Reading.view`): a person under
支援措置 appears on a copy only for a member of staff — of any role, supervisors
included — who holds a live approval for that person and that affair (asked for
by them, approved by another supervisor: :mod:`myna.registry.access`).  Each
refusal is logged on the protected person's record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from myna.db import reserve
from myna.errors import NotFound, PermissionDenied, ValidationError
from myna.registry import storage as t
from myna.registry.access import ProtectedRecord
from myna.registry.affairs import RESIDENT_REGISTRY, Affair
from myna.registry.core import (
    RegistryCore,
    _to_resident,
)
from myna.registry.documents import (
    OMITTED,
    CopyEntry,
    ResidentRecordCopy,
    copy_from_json,
    copy_to_json,
    to_wareki,
)
from myna.registry.domain import (
    Resident,
    Staff,
    Status,
    check_purpose,
)
from myna.relationships import HEAD


def _refused(issuing: bool) -> ProtectedRecord:
    what = "交付" if issuing else "再表示"
    return ProtectedRecord(
        f"支援措置の対象者が記載される写しです。{what}には、住民基本台帳事務として"
        "その方の記録を開く申請をし、別の監督者の承認を受けてください",
        "the copy would show a person under support measures: ask for approval to open "
        "their record for resident-registry; a different supervisor approves",
    )


@dataclass
class _Shown:
    """Who a copy may show: the people on it, the 世帯主 it names, and who it leaves off."""

    people: list[Resident]
    head: str
    named_head: Resident | None  # the 世帯主 named on it but not among ``people``
    approvals: dict[int, int] = field(default_factory=dict)  # resident id → approval used
    withheld: list[Resident] = field(default_factory=list)  # left off: 支援措置, no approval
    head_withheld: Resident | None = None  # a 世帯主 not on it and not named (（省略）)


class Copies(RegistryCore):
    """住民票の写し of one municipality."""

    def issue_copy(
        self, staff: Staff, resident_id: int, purpose: str, *, whole_household: bool = True,
        include_number: bool = False, number_reason: str | None = None,
    ) -> ResidentRecordCopy:
        """住民票の写し of a resident (and, by default, of their whole current household).

        ``purpose`` is the use the requester states; it is logged on the record of
        everyone the copy shows.  The number is omitted unless specially requested
        with a reason (logged as its own entry).  Issuing is 住民基本台帳事務: a role
        that does not perform it here is refused before anything is read.

        支援措置, as when opening the record (:meth:`Reading.view`), for every role:

        * the copy's own subject under 支援措置 is issued only under a live approval
          for them and 住民基本台帳事務 held by ``staff``; without one, nothing is
          issued, the attempt is logged on their record (``issue_copy_denied``) and
          :class:`ProtectedRecord` says another supervisor's approval is needed;
        * a household member under 支援措置 without such an approval is left off the
          household copy, as the household list of a page hides them
          (:meth:`Reading.household_view`) instead of refusing the household.  Left off
          altogether — no row, no placeholder — because the copy leaves the office and
          a placeholder would tell whoever reads it that someone protected lives at
          that address.  ``withheld`` on the copy counts them for the staff screen (it
          is never printed), and each is logged on their own record only
          (``copy_withheld``);
        * a 世帯主 under 支援措置 without such an approval is not named: the 世帯主
          column reads （省略）, as an item left out under 住基法12条5項.

        Who asks is not modelled (a request by the protected person themselves is an
        ordinary request here): their own copy too needs the approval.
        """
        purpose = check_purpose(purpose)
        if include_number:
            if not number_reason or len(number_reason.strip()) < 2:
                raise ValidationError(
                    "個人番号の記載を求めるには、その理由（提出先と利用目的）が必要です",
                    "including the number needs a stated reason",
                )
            number_reason = number_reason.strip()
        with self.engine.begin() as conn:
            affair, _, base = self._purpose(conn, staff, RESIDENT_REGISTRY, None)
            subject = self._get(conn, resident_id)
            allowed, approval = self._may_open(conn, staff, subject, affair)
            if not allowed:
                self._log(conn, staff, resident_id, "issue_copy_denied", purpose,
                          base | {"whole_household": whole_household})
                copy = None
            else:
                shown = self._shown(conn, staff, subject, affair, whole_household)
                if approval is not None:
                    shown.approvals[subject.resident_id] = approval
                copy = self._issue(conn, staff, subject, shown, purpose, base,
                                   include_number, number_reason)
        if copy is None:
            raise _refused(issuing=True)
        return copy

    def _shown(self, conn: Connection, staff: Staff, subject: Resident, affair: Affair,
               whole_household: bool) -> _Shown:
        if whole_household and subject.is_resident:
            rows = conn.execute(
                select(t.residents).where(
                    t.residents.c.household_number == subject.household_number,
                    t.residents.c.status == Status.RESIDENT,
                ).order_by(t.residents.c.resident_id)
            ).all()
            household = [_to_resident(r._mapping) for r in rows]
            household.sort(key=lambda r: (r.relationship != HEAD, r.resident_id))
        else:
            household = [subject]
        approvals: dict[int, int] = {}
        people: list[Resident] = []
        withheld: list[Resident] = []
        for member in household:
            if member.resident_id == subject.resident_id:
                people.append(member)  # the caller has checked the subject
                continue
            opened, grant = self._may_open(conn, staff, member, affair)
            if grant is not None:
                approvals[member.resident_id] = grant
            (people if opened else withheld).append(member)
        head = next((p for p in household if p.relationship == HEAD), None) \
            or self._head(conn, subject.household_number)
        shown = _Shown(people, "", None, approvals, withheld)
        if head is None:
            return shown
        if head.resident_id == subject.resident_id:
            opened = True  # checked by the caller
        else:
            opened, grant = self._may_open(conn, staff, head, affair)
            if grant is not None:
                approvals[head.resident_id] = grant
        if not opened:
            shown.head = OMITTED
            if all(p.resident_id != head.resident_id for p in withheld):
                shown.head_withheld = head
        else:
            shown.head = head.name
            if all(p.resident_id != head.resident_id for p in people):
                shown.named_head = head
        return shown

    def _issue(
        self, conn: Connection, staff: Staff, subject: Resident, shown: _Shown, purpose: str,
        base: dict[str, Any], include_number: bool, number_reason: str | None,
    ) -> ResidentRecordCopy:
        serial = reserve(conn, t.counters, "copy") + 1
        certificate_number = f"{self.code}-{self.today():%Y%m%d}-{serial:06d}"
        copy = self._build_copy(subject, shown.people, shown.head, certificate_number,
                                include_number, len(shown.withheld))
        named = [*shown.people, *([shown.named_head] if shown.named_head else [])]
        conn.execute(
            insert(t.copies).values(
                certificate_number=certificate_number,
                household_number=subject.household_number,
                resident_ids=[p.resident_id for p in named],
                includes_number=include_number,
                reason=number_reason,
                staff_id=staff.staff_id,
                issued_at=copy.issued_at,
                document=copy_to_json(copy),
            )
        )
        on_copy = base | {"certificate_number": certificate_number}
        for p in shown.people:
            detail = on_copy | {"includes_number": include_number}
            if p.resident_id in shown.approvals:
                detail["approval"] = shown.approvals[p.resident_id]
            self._log(conn, staff, p.resident_id, "issue_copy", purpose, detail)
            if include_number:
                self._log(conn, staff, p.resident_id, "number_on_copy", purpose,
                          on_copy | {"reason": number_reason})
        if shown.named_head is not None:  # named as 世帯主 only: no number of theirs
            head_id = shown.named_head.resident_id
            detail = on_copy | {"item": "世帯主の氏名"}
            if head_id in shown.approvals:
                detail["approval"] = shown.approvals[head_id]
            self._log(conn, staff, head_id, "issue_copy", purpose, detail)
        for p in shown.withheld:  # on their own record only: the copy left them off
            self._log(conn, staff, p.resident_id, "copy_withheld", purpose,
                      on_copy | {"listed_with": subject.resident_id})
        if shown.head_withheld is not None:
            self._log(conn, staff, shown.head_withheld.resident_id, "copy_withheld", purpose,
                      on_copy | {"listed_with": subject.resident_id, "item": "世帯主の氏名"})
        return copy

    def _build_copy(
        self, subject: Resident, people: Sequence[Resident], head: str,
        certificate_number: str, include_number: bool, withheld: int,
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
            withheld=withheld,
        )

    def get_copy(
        self, staff: Staff, certificate_number: str, purpose: str = "交付済みの写しの再表示",
    ) -> ResidentRecordCopy:
        """An issued copy exactly as issued, for the member of staff who issued it or a
        supervisor; each re-display is logged on the record of everyone it shows.

        Showing it again is 住民基本台帳事務 and follows the rule of issuing it
        (:meth:`issue_copy`): when anyone it shows (on it, or named as 世帯主) is under
        支援措置 now, it is shown only to a member of staff holding a live approval for
        each of them and that affair — whoever issued it, supervisors included.
        Without one, :class:`ProtectedRecord` is raised and the attempt is logged on
        the record of each protected person it shows (``view_copy_denied``).
        """
        purpose = check_purpose(purpose)
        refused = False
        with self.engine.begin() as conn:
            affair, _, base = self._purpose(conn, staff, RESIDENT_REGISTRY, None)
            row = conn.execute(
                select(t.copies).where(t.copies.c.certificate_number == certificate_number)
            ).first()
            if row is None:
                raise NotFound(
                    f"証明書番号 {certificate_number} の写しはありません",
                    f"no issued copy {certificate_number}",
                )
            if (row.staff_id != staff.staff_id and not staff.interface
                    and not staff.may_view_protected):
                raise PermissionDenied(
                    "この写しは交付した職員または監督者のみ表示できます",
                    "only the issuing staff member or a supervisor may open this copy",
                )
            detail = base | {"certificate_number": certificate_number}
            rows = conn.execute(select(t.residents).where(
                t.residents.c.resident_id.in_(row.resident_ids))).all()
            approvals: dict[int, int] = {}
            closed: list[int] = []
            for found in rows:
                opened, grant = self._may_open(conn, staff, _to_resident(found._mapping), affair)
                if grant is not None:
                    approvals[found.resident_id] = grant
                if not opened:
                    closed.append(found.resident_id)
            if closed:
                for rid in closed:
                    self._log(conn, staff, rid, "view_copy_denied", purpose, detail)
                refused = True
            else:
                for rid in row.resident_ids:
                    extra = {"approval": approvals[rid]} if rid in approvals else {}
                    self._log(conn, staff, rid, "view_copy", purpose, detail | extra)
        if refused:
            raise _refused(issuing=False)
        return copy_from_json(row.document)

    def _head(self, conn: Connection, household_number: str) -> Resident | None:
        head = conn.execute(
            select(t.residents).where(
                t.residents.c.household_number == household_number,
                t.residents.c.relationship == HEAD,
            ).order_by(t.residents.c.resident_id.desc())
        ).first()
        return _to_resident(head._mapping) if head is not None else None
