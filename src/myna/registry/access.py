"""Who may open what: the town's table of affairs, and approvals for 支援措置 records.

The table (:class:`myna.registry.affairs.AffairPolicy`) is the town's own and is
changed by a supervisor; each change is written to the access log.

A record under 支援措置 (DV, stalking, child abuse: 住民基本台帳事務処理要領 第6の10)
is opened only under an approval: the member of staff who needs it asks, naming
the affair and the reason; a supervisor *other than the one who asks* approves;
the approval then lets that member of staff open that record for that affair
until it expires (:data:`APPROVAL_VALID`).  Asking, approving, declining and
each view are all logged on the person's record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from myna.clock import aware
from myna.db import inserted_id
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.registry import storage as t
from myna.registry.affairs import CATALOGUE, Affair, AffairPolicy, affair, role_labels
from myna.registry.domain import Role, Staff, check_purpose

#: How long an approval lets its member of staff open the record.
APPROVAL_VALID = dt.timedelta(hours=1)
#: A request nobody has decided on within this time can no longer be approved.
REQUEST_VALID = dt.timedelta(hours=8)


class AccessStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"

    @property
    def label(self) -> str:
        return {"pending": "承認待ち", "approved": "承認済み", "declined": "不承認"}[self.value]


class ProtectedRecord(PermissionDenied):
    """A 支援措置 record, and no live approval to open it for this affair."""


@dataclass(frozen=True)
class AccessRequest:
    """A request to open one 支援措置 record for one affair."""

    request_id: int
    resident_id: int
    staff_id: str
    affair: Affair
    reason: str
    requested_at: dt.datetime
    status: AccessStatus
    decided_by: str | None
    decided_at: dt.datetime | None
    expires_at: dt.datetime | None

    def live(self, now: dt.datetime) -> bool:
        """An approval that still lets its member of staff open the record."""
        return (self.status is AccessStatus.APPROVED and self.expires_at is not None
                and self.expires_at > now)

    def state(self, now: dt.datetime) -> str:
        if self.status is AccessStatus.APPROVED and not self.live(now):
            return "期限切れ"
        if self.status is AccessStatus.PENDING and self.requested_at + REQUEST_VALID <= now:
            return "期限切れ（未決定）"
        return self.status.label


def _request(row: Any) -> AccessRequest:
    return AccessRequest(
        int(row.request_id), int(row.resident_id), str(row.staff_id), affair(row.affair_id),
        str(row.reason), aware(row.requested_at), AccessStatus(row.status), row.decided_by,
        aware(row.decided_at) if row.decided_at else None,
        aware(row.expires_at) if row.expires_at else None,
    )


def _supervisor(staff: Staff, what: str) -> None:
    if staff.interface or not staff.may_view_protected:
        raise PermissionDenied(f"{what}は監督者または管理者が行います",
                               f"{what}: a supervisor or administrator is required")


class StaffAccess:
    """The town's table of affairs and its approvals (its own tables)."""

    def __init__(self, engine: Engine, now: Callable[[], dt.datetime]) -> None:
        self.engine = engine
        self.now = now

    # -- the table of affairs ------------------------------------------------------------

    def policy(self, conn: Connection | None = None) -> AffairPolicy:
        """The table as it stands (read in ``conn``'s transaction when given)."""
        if conn is None:
            with self.engine.connect() as own:
                return self.policy(own)
        roles: dict[str, set[Role]] = {}
        for affair_id, role in conn.execute(select(t.affair_roles)).all():
            if role in Role._value2member_map_:
                roles.setdefault(str(affair_id), set()).add(Role(role))
        numbers = {Role(r) for r in conn.execute(select(t.number_roles.c.role)).scalars()
                   if r in Role._value2member_map_}
        return AffairPolicy({k: frozenset(v) for k, v in roles.items()}, frozenset(numbers))

    def set_policy(self, staff: Staff, roles: Mapping[str, Iterable[Role | str]],
                   number_roles: Iterable[Role | str] | None = None) -> AffairPolicy:
        """Change the roles of the affairs in ``roles`` (others stay as they are) and,
        when given, who sees full numbers; one transaction, each change logged."""
        _supervisor(staff, "事務と役割の設定の変更")
        wanted = {affair(k).id: frozenset(_roles(v)) for k, v in roles.items()}
        numbers = None if number_roles is None else frozenset(_roles(number_roles))
        with self.engine.begin() as conn:
            before = self.policy(conn)
            for affair_id, chosen in wanted.items():
                old = before.roles_of(affair_id)
                if chosen == old:
                    continue
                conn.execute(delete(t.affair_roles).where(t.affair_roles.c.affair_id == affair_id))
                if chosen:
                    conn.execute(insert(t.affair_roles), [
                        {"affair_id": affair_id, "role": r.value} for r in sorted(chosen)])
                self._log(conn, staff, "affair_roles", {
                    "affair": affair_id, "from": role_labels(old), "to": role_labels(chosen)})
            if numbers is not None and numbers != before.number_roles:
                conn.execute(delete(t.number_roles))
                if numbers:
                    conn.execute(insert(t.number_roles),
                                 [{"role": r.value} for r in sorted(numbers)])
                self._log(conn, staff, "number_roles", {
                    "from": role_labels(before.number_roles), "to": role_labels(numbers)})
            return self.policy(conn)

    # -- approvals for 支援措置 records -----------------------------------------------------

    def live_grant(self, conn: Connection, staff: Staff, resident_id: int,
                   affair_id: str) -> AccessRequest | None:
        """The approval that lets ``staff`` open the record now for the affair, if any."""
        now = self.now()
        rows = conn.execute(select(t.protected_access).where(
            t.protected_access.c.resident_id == resident_id,
            t.protected_access.c.staff_id == staff.staff_id,
            t.protected_access.c.affair_id == affair_id,
            t.protected_access.c.status == AccessStatus.APPROVED.value,
        ).order_by(t.protected_access.c.request_id.desc())).all()
        return next((g for g in map(_request, rows) if g.live(now)), None)

    def granted_ids(self, conn: Connection, staff: Staff, affair_id: str) -> set[int]:
        """Records under 支援措置 that ``staff`` may open now for the affair."""
        now = self.now()
        rows = conn.execute(select(t.protected_access).where(
            t.protected_access.c.staff_id == staff.staff_id,
            t.protected_access.c.affair_id == affair_id,
            t.protected_access.c.status == AccessStatus.APPROVED.value,
        )).all()
        return {g.resident_id for g in map(_request, rows) if g.live(now)}

    def ask(self, conn: Connection, staff: Staff, resident_id: int, purpose: Affair,
            reason: str) -> AccessRequest:
        """Record a request (the caller has checked the affair and the record)."""
        reason = check_purpose(reason, "申請の理由")
        if staff.interface:
            raise PermissionDenied("承認の申請は職員が行います", "only staff ask for approval")
        waiting = conn.execute(select(t.protected_access.c.request_id).where(
            t.protected_access.c.resident_id == resident_id,
            t.protected_access.c.staff_id == staff.staff_id,
            t.protected_access.c.affair_id == purpose.id,
            t.protected_access.c.status == AccessStatus.PENDING.value,
            t.protected_access.c.requested_at > self.now() - REQUEST_VALID,
        )).scalar()
        if waiting is not None:
            raise Conflict(
                f"同じ記録・同じ事務の申請（申請番号 {waiting}）が承認待ちです",
                f"request {waiting} for the same record and affair is waiting",
            )
        request_id = int(inserted_id(conn.execute(insert(t.protected_access).values(
            resident_id=resident_id, staff_id=staff.staff_id, affair_id=purpose.id,
            reason=reason, requested_at=self.now(), status=AccessStatus.PENDING.value,
        ))))
        return self.get(conn, request_id)

    def decide(self, conn: Connection, staff: Staff, request_id: int,
               approve: bool) -> AccessRequest:
        """Approve or decline a waiting request: a supervisor other than the one who asked."""
        _supervisor(staff, "支援措置対象者の記録を開く申請の承認")
        request = self.get(conn, request_id)
        if request.staff_id == staff.staff_id:
            raise PermissionDenied(
                "自分の申請は承認・不承認できません。別の監督者が決定します",
                "a request is decided by a supervisor other than the one who asked",
            )
        now = self.now()
        if request.status is not AccessStatus.PENDING:
            raise Conflict(f"申請番号 {request_id} は既に{request.status.label}です",
                           f"request {request_id} is already {request.status.value}")
        if request.requested_at + REQUEST_VALID <= now:
            raise Conflict(f"申請番号 {request_id} は期限切れです。もう一度申請してください",
                           f"request {request_id} has expired; ask again")
        status = AccessStatus.APPROVED if approve else AccessStatus.DECLINED
        changed = conn.execute(update(t.protected_access).where(
            t.protected_access.c.request_id == request_id,
            t.protected_access.c.status == AccessStatus.PENDING.value,
        ).values(status=status.value, decided_by=staff.staff_id, decided_at=now,
                 expires_at=now + APPROVAL_VALID if approve else None))
        if changed.rowcount != 1:
            raise Conflict("他の監督者が同時にこの申請を決定しました",
                           "another supervisor decided the request at the same moment")
        return self.get(conn, request_id)

    def get(self, conn: Connection, request_id: int) -> AccessRequest:
        row = conn.execute(select(t.protected_access).where(
            t.protected_access.c.request_id == request_id)).first() \
            if 1 <= request_id <= 2**31 - 1 else None
        if row is None:
            raise NotFound(f"申請番号 {request_id} の申請はありません",
                           f"no request {request_id}")
        return _request(row)

    def requests(self, staff: Staff, limit: int = 100) -> list[AccessRequest]:
        """Newest first: every request for a supervisor, one's own for anyone else."""
        query = select(t.protected_access).order_by(
            t.protected_access.c.request_id.desc()).limit(limit)
        if not staff.may_view_protected:
            query = query.where(t.protected_access.c.staff_id == staff.staff_id)
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(query).all()]

    def _log(self, conn: Connection, staff: Staff, action: str, detail: dict[str, Any]) -> None:
        conn.execute(insert(t.access_log).values(
            staff_id=staff.staff_id, resident_id=None, action=action,
            purpose="事務と役割の設定", detail=detail, at=self.now()))


def _roles(values: Iterable[Role | str]) -> set[Role]:
    chosen = set()
    for value in values:
        try:
            chosen.add(Role(value))
        except ValueError:
            raise ValidationError(
                f"役割は clerk（担当者）/ supervisor（監督者）/ administrator（管理者）です: "
                f"{value}", f"role must be clerk, supervisor or administrator, not {value!r}",
            ) from None
    return chosen


__all__ = ["StaffAccess", "AccessRequest", "AccessStatus", "ProtectedRecord",
           "APPROVAL_VALID", "REQUEST_VALID", "CATALOGUE"]
