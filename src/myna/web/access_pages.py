"""The screens of who may open what: the town's table of affairs, and the requests to
open 支援措置 records with their approvals.

Any member of staff may read the table; a supervisor changes it.  A request names
the record, the affair and the reason; a supervisor other than the one who asked
approves or declines it; every step is logged on the person's record.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from myna.errors import MynaError, ValidationError
from myna.registry.access import APPROVAL_VALID
from myna.registry.affairs import CATALOGUE, role_labels
from myna.registry.domain import Role
from myna.web.pages import ClerkDep, FormDep, form_error, redirect, render, resident_url
from myna.web.state import Clerk, flash

router = APIRouter(include_in_schema=False)


# -- the table of affairs -------------------------------------------------------------------


def _table_context(clerk: Clerk) -> dict[str, Any]:
    policy = clerk.registry.affair_policy()
    return {
        "clerk": clerk, "catalogue": CATALOGUE, "roles": list(Role), "policy": policy,
        "number_roles": policy.number_roles, "may_change": clerk.staff.may_view_protected,
        "role_labels": role_labels,
    }


@router.get("/m/{code}/affairs", response_class=HTMLResponse)
def affairs_page(request: Request, clerk: ClerkDep) -> Response:
    """The affairs a view or search may be for here, the roles that perform each, and
    who sees full numbers."""
    return render(request, "affairs.html", _table_context(clerk))


@router.post("/m/{code}/affairs", response_class=HTMLResponse)
def change_affairs(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """A supervisor sets the roles of every affair (``role:<affair>:<role>`` checked) and
    of full numbers (``number:<role>``), in one change."""
    roles = {a.id: [r for r in Role if form.flag(f"role:{a.id}:{r.value}")] for a in CATALOGUE}
    numbers = [r for r in Role if form.flag(f"number:{r.value}")]
    try:
        clerk.registry.set_affair_roles(clerk.staff, roles, numbers)
    except MynaError as exc:
        return form_error(request, "affairs.html", exc, _table_context(clerk))
    flash(request, "事務と役割の設定を保存しました（変更はアクセス記録に残ります）")
    return redirect(f"/m/{clerk.code}/affairs")


# -- requests to open 支援措置 records --------------------------------------------------------


def _requests_context(clerk: Clerk, values: dict[str, str]) -> dict[str, Any]:
    registry = clerk.registry
    now = registry.now()
    return {
        "clerk": clerk, "values": values, "now": now,
        "requests": registry.protected_requests(clerk.staff),
        "may_decide": clerk.staff.may_view_protected,
        "valid_minutes": int(APPROVAL_VALID.total_seconds() // 60),
        "open_url": lambda r: resident_url(clerk, r.resident_id, r.affair.id),
    }


@router.get("/m/{code}/protected", response_class=HTMLResponse)
def requests_page(request: Request, clerk: ClerkDep, resident_id: str = "",
                  purpose: str = "") -> Response:
    """The form to ask, one's requests (every request, for a supervisor) and decisions."""
    values = {"resident_id": resident_id.strip(), "purpose": purpose.strip()}
    return render(request, "protected.html", _requests_context(clerk, values))


def _resident_id(form_value: str) -> int:
    if not form_value.isascii() or not form_value.isdigit() or len(form_value) > 9:
        raise ValidationError("住民IDは数字で入力してください", "resident id must be digits")
    return int(form_value)


@router.post("/m/{code}/protected", response_class=HTMLResponse)
def ask(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """Ask to open a 支援措置 record for an affair, with the reason."""
    values = form.values()
    try:
        resident_id = _resident_id(form.required("resident_id", "住民ID"))
        asked = clerk.registry.request_protected_view(
            clerk.staff, resident_id, form.text("purpose"), form.text("reason"))
    except MynaError as exc:
        return form_error(request, "protected.html", exc, _requests_context(clerk, values))
    flash(request, f"申請しました（申請番号 {asked.request_id}）。"
                   "自分以外の監督者の承認を受けると、記録を開けます")
    return redirect(f"/m/{clerk.code}/protected")


@router.post("/m/{code}/protected/{request_id}/{decision}", response_class=HTMLResponse)
def decide(request: Request, clerk: ClerkDep, request_id: int, decision: str,
           form: FormDep) -> Response:
    """A supervisor other than the one who asked approves or declines a request."""
    try:
        if decision not in ("approve", "decline"):
            raise ValidationError("決定は「承認」か「不承認」です", "approve or decline")
        decided = clerk.registry.decide_protected_view(clerk.staff, request_id,
                                                       approve=decision == "approve")
    except MynaError as exc:
        return form_error(request, "protected.html", exc, _requests_context(clerk, {}))
    flash(request, f"申請番号 {decided.request_id} を{decided.status.label}としました")
    return redirect(f"/m/{clerk.code}/protected")
