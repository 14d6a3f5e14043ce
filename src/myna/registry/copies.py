"""住民票の写し: issued for an affair, with the number only when specially asked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, insert, select

from myna.db import reserve
from myna.errors import NotFound, PermissionDenied, ValidationError
from myna.registry import storage as t
from myna.registry.core import (
    RegistryCore,
    _to_resident,
)
from myna.registry.documents import (
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


class Copies(RegistryCore):
    """住民票の写し of one municipality."""

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
