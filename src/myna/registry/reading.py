"""Reading the registry: views for an affair, searches in pages, household lists,
histories, and the approvals that open a 支援措置 record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, not_, or_, select

from myna.clock import aware
from myna.errors import Conflict, NotFound, ValidationError
from myna.numbers import individual
from myna.registry import storage as t
from myna.registry.access import AccessRequest, ProtectedRecord
from myna.registry.card_states import states_of
from myna.registry.core import (
    PER_PAGE,
    PROTECTED,
    SYSTEM,
    AccessLogEntry,
    RegistryCore,
    SearchPage,
    _escape_like,
    _masked,
    _page_number,
    _per_page,
    _to_resident,
)
from myna.registry.domain import (
    LIMITS,
    CardState,
    HistoryEntry,
    MoveOutCertificate,
    Resident,
    Staff,
    Status,
    check_purpose,
)
from myna.text import clean_text


@dataclass(frozen=True)
class Listed:
    """A person as a list page may show them (see :meth:`Reading.list_view`)."""

    resident: Resident  # numbers masked; address withheld when ``redacted``
    shown: bool  # False: the page leaves them out (a clerk without an approval)
    redacted: bool  # shown without address (a supervisor without an approval)


class Reading(RegistryCore):
    """Views and searches of one municipality, every one logged."""

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
        Their address is no search criterion for anyone without such an approval,
        supervisors included: a search with an address term leaves them out — row and
        total — as if that address did not exist, so a fragment of it cannot tell who
        lives there.  A supervisor still finds them by the other items, the row
        without address, until approved.  That a search matched a person it left out
        is logged on their record only.  Numbers always come masked.
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
            # a 支援措置 person without an approval is left out of a clerk's search
            # always, and of anyone's search with an address term: their address
            # matches nothing, so a fragment of it cannot point at them
            if not staff.interface and (address or not staff.may_view_protected):
                shielded = and_(t.residents.c.support_measure.is_(True),
                                t.residents.c.resident_id.not_in(granted))
                visible = and_(matching, not_(shielded))
                hidden = conn.execute(select(t.residents.c.resident_id).where(
                    matching, shielded)).scalars().all()
                # on their own record only: the search left them out
                self._log_each(conn, staff, hidden, "search_hidden", logged, criteria)
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
            # each person found sees the search in their own access log
            self._log_each(conn, staff, [r.resident_id for r in rows], "search_hit", logged,
                           criteria | {"page": page})
        found = [_to_resident(r._mapping) for r in rows]
        shown = [r if staff.interface else
                 _masked(self._redacted(staff, r, r.resident_id in granted)) for r in found]
        return SearchPage(shown, total, page, per_page, affair)

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

    def list_view(
        self, staff: Staff, resident_ids: Iterable[int], purpose: str, note: str | None = None,
    ) -> dict[int, Listed]:
        """The people a page lists from another system's records (番号通知の通知書一覧,
        未達の一覧 …), each logged once as shown (``view_list``) for the affair.

        As in a search, a person under 支援措置 is left off a clerk's page unless the
        clerk holds a live approval for the record and affair — that the page would have
        listed them is logged on their record only (``list_hidden``) — and a supervisor
        sees them without address until approved.  Unknown ids are left out.
        """
        wanted = sorted({int(i) for i in resident_ids})
        out: dict[int, Listed] = {}
        with self.engine.begin() as conn:
            affair, logged, detail = self._purpose(conn, staff, purpose, note)
            for start in range(0, len(wanted), 500):
                rows = conn.execute(select(t.residents).where(
                    t.residents.c.resident_id.in_(wanted[start:start + 500]))).all()
                for row in rows:
                    resident = _to_resident(row._mapping)
                    rid = resident.resident_id
                    opened, approval = self._may_open(conn, staff, resident, affair)
                    if not opened and not staff.may_view_protected:
                        self._log(conn, staff, rid, "list_hidden", logged, detail)
                        out[rid] = Listed(replace(_masked(self._redacted(staff, resident)),
                                                  name=PROTECTED, furigana=""), False, True)
                        continue
                    extra: dict[str, Any] = {"approval": approval} if approval else {}
                    if not opened:
                        extra["redacted"] = True
                    self._log(conn, staff, rid, "view_list", logged, detail | extra)
                    out[rid] = Listed(_masked(self._redacted(staff, resident, opened)), True,
                                      not opened)
        return out

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

    def card_states(self, resident_id: int) -> list[CardState]:
        """The resident's 個人番号カード as J-LIS's card centre last told the town (the
        newest news first; shown on the resident's page, itself a logged view)."""
        with self.engine.connect() as conn:
            return states_of(conn, resident_id)

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
