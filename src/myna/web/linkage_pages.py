"""The 情報連携 screens: 情報照会, its result, 符号, flags, the approval queue, records.

A municipality asks (情報照会) under a Table 2 row for one of its residents and
answers (情報提供) other institutions' requests through its intermediate server;
the hub keeps the 情報提供等記録.  Forms are POST-redirect-GET like the rest.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from myna.errors import Conflict, MynaError, PermissionDenied, ValidationError
from myna.linkage.messages import Result
from myna.municipality import ROLE, Municipality
from myna.registry.affairs import AffairNotPermitted
from myna.registry.affairs import affair as affair_of
from myna.web import linkage
from myna.web.errors import status_of
from myna.web.pages import ClerkDep, FormDep, form_error, redirect, render, resident_url
from myna.web.presenters import HIDDEN, hidden_from
from myna.web.state import Clerk, ResidentId, flash, get_state

router = APIRouter(include_in_schema=False)

#: A request id in a URL (the hub's column holds 64 characters).
RequestId = Annotated[str, Path(min_length=1, max_length=64, description="照会番号")]
_OUR_ID = re.compile(r"^[0-9a-f]{32}$")

PREPARE = "情報照会の準備"


def town_of(request: Request, clerk: Clerk) -> Municipality:
    return get_state(request).system.municipality(clerk.code)


def require_supervisor(clerk: Clerk, what: str) -> None:
    """Decisions on provision are for supervisors and administrators only."""
    if not clerk.staff.may_view_protected:
        raise PermissionDenied(
            f"{what}は監督者または管理者のみ行えます（担当者は閲覧のみです）",
            f"{what}: a supervisor or administrator is required",
        )


# -- 情報照会 ----------------------------------------------------------------------------------


def _request_page(
    request: Request, clerk: Clerk, resident_id: int, row_id: str,
    values: dict[str, str], error: MynaError | None = None,
) -> HTMLResponse:
    """The 情報照会 form (opening it shows the person, so it is a logged view)."""
    state = get_state(request)
    system = state.system
    town = town_of(request, clerk)
    stated = values.get("purpose", "").strip()
    try:
        subject = clerk.registry.view(clerk.staff, resident_id, stated, note=PREPARE)
    except (ValidationError, AffairNotPermitted) as exc:  # no affair: nothing is shown
        return _purpose_page(request, clerk, resident_id, row_id, stated,
                             error if error is not None and not stated else exc)
    row = linkage.row_of(system, row_id) if row_id else None
    if row is not None and row.requester != ROLE:
        row = None
    context: dict[str, Any] = {
        "clerk": clerk, "r": subject, "values": values, "error": error,
        "rows": linkage.request_rows(system), "row": row,
        "providers": linkage.providers_for(system, row, town.institution) if row else [],
        "person": linkage.person_linkage(town, resident_id),
    }
    return render(request, "linkage_request.html", context,
                  status_of(error) if error is not None else 200)


@router.get("/m/{code}/residents/{resident_id}/linkage", response_class=HTMLResponse)
def request_page(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, row: str = "",
    purpose: str = "",
) -> Response:
    """Choose the Table 2 row, then the provider, the item and the purpose.

    The page shows the person, so like the 住民票 it opens only for a stated purpose,
    which the view's log entry keeps."""
    if not purpose.strip():
        return _purpose_page(request, clerk, resident_id, row.strip(), "")
    return _request_page(request, clerk, resident_id, row.strip(),
                         {"row": row.strip(), "purpose": purpose.strip()})


def _purpose_page(
    request: Request, clerk: Clerk, resident_id: int, row_id: str, purpose: str,
    error: MynaError | None = None,
) -> HTMLResponse:
    """Choose the affair first (the row chosen, if any, is kept)."""
    context = {
        "clerk": clerk, "resident_id": resident_id, "values": {"purpose": purpose},
        "action": f"/m/{clerk.code}/residents/{resident_id}/linkage",
        "keep": {"row": row_id} if row_id else {},
    }
    if error is not None:
        return form_error(request, "purpose.html", error, context)
    return render(request, "purpose.html", context)


@router.post("/m/{code}/residents/{resident_id}/linkage", response_class=HTMLResponse)
def send_request(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """情報照会 through the hub; the result (or the hub's refusal) is shown at once."""
    state = get_state(request)
    system = state.system
    town = town_of(request, clerk)
    values = form.values()
    row_id = form.text("row")
    try:
        purpose = linkage.linkage_purpose(form.text("purpose"))
        row_id = form.required("row", "別表第二の項番")
        provider = form.required("provider", "情報提供者")
        item = form.required("item", "特定個人情報")
        if not linkage.person_linkage(town, resident_id).has_code:
            raise Conflict(
                "この方の符号がまだ取得されていません。「符号を取得」を押してから照会してください",
                "no 符号 acquired for this resident",
            )
    except MynaError as exc:
        return _request_page(request, clerk, resident_id, row_id, values, exc)
    row = linkage.row_of(system, row_id)
    affair = row.affair if row is not None else form.text("affair")
    retry = form.text("request_id")
    request_id = retry if _OUR_ID.match(retry) else uuid.uuid4().hex
    try:
        town.request_linkage(clerk.staff, resident_id, purpose, row_id, affair, provider, item,
                             request_id)
    except PermissionDenied as exc:
        hub = linkage.hub_of(system)
        if not hub.records_of_request(town.institution, request_id):
            raise  # refused before reaching the hub's records
        names = linkage.InstitutionNames(hub)
        # the request viewed the record (logged) before the hub refused it
        resident = linkage.resident_brief(clerk.registry, resident_id)
        if resident is not None and hidden_from(clerk.staff, resident):
            resident = None
        return render(request, "linkage_result.html", {
            "clerk": clerk, "denied": True, "reason": exc.message_ja,
            "resident_id": resident_id, "resident": resident, "purpose": purpose,
            "request_id": request_id, "row_id": row_id, "affair": affair,
            "provider": names(provider), "item": item, "result": Result.DENIED,
            "css": "danger", "record": None, "received": None, "fields": [],
            "back_url": resident_url(clerk, resident_id, purpose),
            "retry_url": (f"/m/{clerk.code}/residents/{resident_id}/linkage?"
                          + _query(row=row_id if row is not None else "", purpose=purpose)),
        }, 403)
    except MynaError as exc:
        return _request_page(request, clerk, resident_id, row_id, values, exc)
    return redirect(state.linkage_url(clerk, request_id, resident_id, purpose))


def _query(**params: str) -> str:
    return urlencode(params)


@router.get("/m/{code}/linkage/requests/{request_id}", response_class=HTMLResponse)
def result_page(request: Request, clerk: ClerkDep, request_id: RequestId, t: str = "") -> Response:
    """The current answer to one of our requests, fetched from the hub and opened here.

    Showing it is a view of the person's record for the request's purpose (logged)."""
    state = get_state(request)
    system = state.system
    town = town_of(request, clerk)
    ctx = state.linkage_context(clerk, request_id, t)
    record = linkage.latest_record(system, request_id, town.institution)
    resident = clerk.registry.view(clerk.staff, ctx.resident_id, ctx.purpose,
                                   note=f"照会結果の表示: {record.item}")
    received = town.intermediate.fetch(request_id)
    record = linkage.latest_record(system, request_id, town.institution)
    names = linkage.InstitutionNames(linkage.hub_of(system))
    return render(request, "linkage_result.html", {
        "clerk": clerk, "denied": False, "reason": received.reason,
        "resident_id": ctx.resident_id, "resident": resident, "purpose": ctx.purpose,
        "request_id": request_id, "row_id": record.row_id, "affair": record.affair,
        "provider": names(record.provider), "provider_id": record.provider,
        "item": record.item, "result": received.result,
        "css": linkage.RESULT_CLASS.get(received.result.value, "muted"),
        "record": record, "received": received,
        "fields": linkage.payload_rows(record.item, received.payload),
        "recheck_url": state.linkage_url(clerk, request_id, ctx.resident_id, ctx.purpose),
        "back_url": resident_url(clerk, ctx.resident_id, ctx.purpose),
        "paper": linkage.PAPER,
    })


# -- 符号 and the person's flags --------------------------------------------------------------


def _back(clerk: Clerk, resident_id: int, form_purpose: str) -> str:
    """Back to the record, for the affair it was opened for (none: it asks for one)."""
    return resident_url(clerk, resident_id, form_purpose.strip())


@router.post("/m/{code}/residents/{resident_id}/linkage/codes")
def acquire_code(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """符号の取得 for one resident through J-LIS."""
    town = town_of(request, clerk)
    if town.acquire_codes([resident_id]):
        flash(request, "符号を取得しました。情報照会ができます")
    else:
        flash(request, "符号を取得できませんでした（住民でない方、または個人番号のない方です）")
    if form.text("next") == "request":
        return redirect(f"/m/{clerk.code}/residents/{resident_id}/linkage?"
                        + _query(row=form.text("row"), purpose=form.text("purpose")))
    return redirect(_back(clerk, resident_id, form.text("purpose")))


def _atena_no_of(town: Municipality, resident_id: int) -> str:
    person = linkage.person_linkage(town, resident_id)
    if not person.has_code:
        raise Conflict("この方の符号がまだ取得されていません。先に符号を取得してください",
                       "no 符号 acquired for this resident")
    return town.atena_no(resident_id)


@router.post("/m/{code}/residents/{resident_id}/linkage/refusals")
def set_refusal(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """本人の申出による提供拒否 for an affair (or its withdrawal)."""
    require_supervisor(clerk, "提供拒否の登録・撤回")
    town = town_of(request, clerk)
    affair = form.required("affair", "事務")
    if affair not in linkage.provider_affairs(get_state(request).system):
        raise ValidationError(f"「{affair}」は市町村が情報提供する事務ではありません",
                              f"{affair!r} is not an affair a municipality provides for")
    refused = form.flag("refused")
    town.intermediate.set_refusal(_atena_no_of(town, resident_id), affair, refused)
    what = "登録" if refused else "撤回"
    flash(request, f"「{affair}」への情報提供の拒否を{what}しました")
    return redirect(_back(clerk, resident_id, form.text("purpose")))


@router.post("/m/{code}/residents/{resident_id}/linkage/manual-approval")
def set_manual_approval(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """自動応答不可: each provision of the item waits for a supervisor."""
    require_supervisor(clerk, "自動応答不可の設定")
    town = town_of(request, clerk)
    item = form.required("item", "特定個人情報")
    on = form.flag("on")
    town.intermediate.set_manual_approval(_atena_no_of(town, resident_id), item, on)
    what = "設定" if on else "解除"
    flash(request, f"「{item}」の自動応答不可を{what}しました")
    return redirect(_back(clerk, resident_id, form.text("purpose")))


# -- 承認待ち ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingLine:
    request_id: str
    received_at: Any
    requester: str
    affair: str
    item: str
    resident_id: int | None
    name: str
    protected: bool


def _pending_context(request: Request, clerk: Clerk, purpose: str) -> dict[str, Any]:
    """The queue for ``purpose``: every resident it lists is logged as shown."""
    system = get_state(request).system
    town = town_of(request, clerk)
    names = linkage.InstitutionNames(linkage.hub_of(system))
    lines = []
    for waiting, resident_id in town.pending_for_staff(clerk.staff, purpose):
        name, protected = "", False
        if resident_id is not None:
            resident = linkage.resident_brief(clerk.registry, resident_id)
            if resident is not None:
                protected = resident.support_measure
                name = HIDDEN if hidden_from(clerk.staff, resident) else resident.name
        lines.append(PendingLine(waiting.request_id, waiting.received_at,
                                 names(waiting.requester), waiting.affair, waiting.item,
                                 resident_id, name, protected))
    return {"clerk": clerk, "lines": lines, "may_decide": clerk.staff.may_view_protected,
            "purpose": purpose, "purpose_name": affair_of(purpose).name, "values": {}}


def _pending_purpose(request: Request, clerk: Clerk, purpose: str,
                     error: MynaError | None = None) -> HTMLResponse:
    """The queue shows people: like a 住民票, it opens only for a stated affair."""
    context = {"clerk": clerk, "purpose_needed": True, "lines": [], "may_decide": False,
               "values": {"purpose": purpose}}
    if error is not None:
        return form_error(request, "linkage_pending.html", error, context)
    return render(request, "linkage_pending.html", context)


def _pending_url(clerk: Clerk, purpose: str) -> str:
    return f"/m/{clerk.code}/linkage/pending?" + _query(purpose=purpose)


@router.get("/m/{code}/linkage/pending", response_class=HTMLResponse)
def pending_page(request: Request, clerk: ClerkDep, purpose: str = "") -> Response:
    """Requests for 自動応答不可 items, waiting for a supervisor's decision (for a stated
    affair, with which each person listed is logged as shown)."""
    purpose = purpose.strip()
    if not purpose:
        return _pending_purpose(request, clerk, "")
    try:
        context = _pending_context(request, clerk, purpose)
    except (ValidationError, AffairNotPermitted) as exc:  # no affair: nothing is shown
        return _pending_purpose(request, clerk, purpose, exc)
    return render(request, "linkage_pending.html", context)


@router.post("/m/{code}/linkage/pending/{request_id}", response_class=HTMLResponse)
def decide(request: Request, clerk: ClerkDep, request_id: RequestId, form: FormDep) -> Response:
    """Approve (the copy is sealed for the requester) or refuse with a reason."""
    require_supervisor(clerk, "情報提供の承認・拒否")
    town = town_of(request, clerk)
    decision = form.text("decision")
    reason = form.text("reason")
    purpose = form.text("purpose")
    try:
        if decision not in ("approve", "refuse"):
            raise ValidationError("承認するか提供しないかを選んでください",
                                  "decision must be approve or refuse")
        town.intermediate.decide(request_id, clerk.staff.staff_id, decision == "approve",
                                 reason)
    except MynaError as exc:
        try:
            context = _pending_context(request, clerk, purpose) | {
                "values": {"request_id": request_id, "reason": reason}}
        except (ValidationError, AffairNotPermitted):
            return _pending_purpose(request, clerk, purpose, exc)
        return form_error(request, "linkage_pending.html", exc, context)
    if decision == "approve":
        flash(request, f"照会 {request_id[:8]}… を承認し、情報を提供しました")
    else:
        flash(request, f"照会 {request_id[:8]}… について情報を提供しないことを決定しました"
                       "（照会機関には書面での手続を案内します）")
    return redirect(_pending_url(clerk, purpose) if purpose
                    else f"/m/{clerk.code}/linkage/pending")


# -- 情報提供等記録 --------------------------------------------------------------------------------

RECORDS_LIMIT = 500


@router.get("/m/{code}/linkage/records", response_class=HTMLResponse)
def records_page(
    request: Request, clerk: ClerkDep, result: str = "", direction: str = "",
) -> Response:
    """The hub's provision records in which this municipality took part, newest first."""
    system = get_state(request).system
    town = town_of(request, clerk)
    records = linkage.records_of(system, town.institution)
    total = len(records)
    if result:
        records = [r for r in records if r.result == result]
    if direction == "request":
        records = [r for r in records if r.requester == town.institution]
    elif direction == "provide":
        records = [r for r in records if r.provider == town.institution]
    shown = records[:RECORDS_LIMIT]
    return render(request, "linkage_records.html", {
        "clerk": clerk, "lines": linkage.record_lines(system, town.institution, shown),
        "matched": len(records), "total": total, "limit": RECORDS_LIMIT,
        "results": linkage.RESULTS, "values": {"result": result, "direction": direction},
    })
