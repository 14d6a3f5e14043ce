"""The 番号通知 screens: batches and statistics, letters at the counter, follow-up, 居所.

J-LIS prepares and mails the letters (個人番号通知書) for the municipalities; the
town's staff hand over its households, register alternative destinations
(居所情報登録), record what happens to returned letters at the counter and
follow up the households never reached (実態調査, possibly 職権消除).  Forms
are POST-redirect-GET like the rest.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from myna.contracts.notify import (
    AFTER_MAILING,
    STATS_STATES,
    LetterKind,
    LetterState,
    NotifyApi,
    ReturnReason,
)
from myna.errors import Conflict, MynaError, PermissionDenied, ValidationError
from myna.registry.affairs import role_labels
from myna.web import notify as nv
from myna.web.errors import status_of
from myna.web.forms import household_number
from myna.web.linkage_pages import require_supervisor
from myna.web.pages import (
    ClerkDep,
    FormDep,
    redirect,
    render,
    resident_response,
    resident_url,
)
from myna.web.state import Clerk, ResidentId, flash, get_state

router = APIRouter(include_in_schema=False)

#: IDs in URLs, bounded to the database's INTEGER column.
LetterId = Annotated[int, Path(ge=1, le=2**31 - 1, description="通知番号")]
BatchId = Annotated[int, Path(ge=1, le=2**31 - 1, description="一括番号")]


def _notify(request: Request) -> NotifyApi:
    return get_state(request).system.notify


def _purpose(purpose: str) -> str:
    """The affair a page is read for: 番号通知 unless the viewer chose another."""
    return purpose.strip() or nv.PURPOSE


def _base(clerk: Clerk) -> str:
    return f"/m/{clerk.code}/notify"


# -- overview: batches and statistics ----------------------------------------------------------


def _overview_context(request: Request, clerk: Clerk) -> dict[str, Any]:
    service = _notify(request)
    letters = nv.town_letters(service, clerk.code)
    pending = nv.to_notify(clerk.registry, service, letters)
    stats = service.stats(clerk.code).overall
    batches = service.batches(clerk.code)
    return {
        "clerk": clerk,
        "batches": list(reversed(batches)),
        "prepared_batches": sum(b.mailed_at is None for b in batches),
        "mailed_batches": sum(b.mailed_at is not None for b in batches),
        "pending_people": len(pending),
        "pending_households": len({r.household_number for r in pending}),
        "stats": stats,
        "states": [(s, nv.STATE_CSS[s]) for s in STATS_STATES],
        "after_mailing": AFTER_MAILING,
        "reasons": list(ReturnReason),
        "may_decide": clerk.staff.may_view_protected,
        "follow_up": len(service.follow_up(clerk.code)),
    }


@router.get("/m/{code}/notify", response_class=HTMLResponse)
def overview_page(request: Request, clerk: ClerkDep) -> Response:
    """The town's batches, who is still to be notified, and how the letters fared."""
    return render(request, "notify.html", _overview_context(request, clerk))


@router.get("/m/{code}/notify/chart.png")
def chart(request: Request, clerk: ClerkDep) -> Response:
    """The chart of the town's letters by state and return reason (PNG)."""
    return Response(_notify(request).chart_png(clerk.code), media_type="image/png")


@router.post("/m/{code}/notify/batches", response_class=HTMLResponse)
def prepare(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """Hand the town's households still to be notified to J-LIS: one batch of letters."""
    require_supervisor(clerk, "番号通知の通知書の作成")
    try:
        batch = nv.prepare_batch(clerk.registry, _notify(request))
    except MynaError as exc:
        return render(request, "notify.html",
                      _overview_context(request, clerk) | {"error": exc}, status_of(exc))
    alternative = (f"、うち居所あて {batch.alternative_letters}通"
                   if batch.alternative_letters else "")
    flash(request, f"一括 {batch.batch_id} を作成しました（通知書 "
                   f"{batch.household_letters + batch.alternative_letters}通{alternative}、"
                   f"{batch.people}人）。内容を確認して発送を記録してください")
    return redirect(_base(clerk))


@router.post("/m/{code}/notify/batches/{batch_id}/mailed", response_class=HTMLResponse)
def mark_mailed(request: Request, clerk: ClerkDep, batch_id: BatchId, form: FormDep) -> Response:
    """発送: every prepared letter of the batch was handed to the post office."""
    require_supervisor(clerk, "通知書の発送の記録")
    service = _notify(request)
    try:
        nv.town_batch(service, clerk.code, batch_id)
        batch = service.mark_mailed(batch_id)
    except Conflict as exc:  # already mailed; not found: the error page
        return render(request, "notify.html",
                      _overview_context(request, clerk) | {"error": exc}, status_of(exc))
    flash(request, f"一括 {batch.batch_id} の発送を記録しました（{len(batch.letter_ids)}通）")
    return redirect(_base(clerk))


# -- letters ----------------------------------------------------------------------------------


@router.get("/m/{code}/notify/letters", response_class=HTMLResponse)
def letters_page(
    request: Request, clerk: ClerkDep, state: str = "", household: str = "", batch: str = "",
    purpose: str = "",
) -> Response:
    """The town's letters, by state, household or batch; everyone listed is logged as
    shown for the page's affair, and a 支援措置 person is left off a clerk's list."""
    service = _notify(request)
    purpose = _purpose(purpose)
    letters = nv.town_letters(service, clerk.code)
    household = household_number(household) if household.strip() else ""
    batch_id = int(batch) if batch.strip().isdigit() else None
    matched = nv.filter_letters(letters, state, household, batch_id)
    first = matched[:nv.LETTERS_LIMIT]
    shown = nv.Shown.of_letters(clerk.registry, clerk.staff, first, purpose,
                                "番号通知: 通知書一覧")
    lines = nv.letter_lines(first, shown)
    # letters listing only people the viewer may not see are left off, and out of the
    # count: as in a search, no total tells that they exist
    left_off = len(first) - len(lines)
    return render(request, "notify_letters.html", {
        "clerk": clerk, "lines": lines, "matched": len(matched) - left_off,
        "limit": nv.LETTERS_LIMIT,
        "states": [(nv.form_name(s), s) for s in LetterState if s is not LetterState.CANCELLED],
        "batches": [b.batch_id for b in service.batches(clerk.code)],
        "values": {"state": state, "household": household,
                   "batch": str(batch_id) if batch_id else "", "purpose": purpose},
    })


def _letter_page(
    request: Request, clerk: Clerk, letter_id: int, purpose: str, error: MynaError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    service = _notify(request)
    letter = nv.town_letter(service, clerk.code, letter_id)
    shown = nv.Shown.of_letters(clerk.registry, clerk.staff, [letter], purpose,
                                f"番号通知: 通知 {letter_id}")
    nv.check_visible(letter, shown)
    line = nv.letter_line(letter, shown)
    assert line is not None  # check_visible: someone on it is shown
    until = letter.holding_until
    return render(request, "notify_letter.html", {
        "clerk": clerk, "l": line, "letter": letter,
        "members": nv.member_lines(letter, shown),
        "history": [(e, nv.STATE_CSS[e.state]) for e in letter.history],
        "steps": [] if line.hidden else nv.next_steps(letter),
        "holding_until": until, "may_dispose": nv.may_dispose(until, clerk.registry.now()),
        "holding_months": service.holding_months,
        "reasons": list(ReturnReason), "documents": nv.IDENTITY_DOCUMENTS,
        "alternative": letter.kind is LetterKind.ALTERNATIVE,
        "error": error, "values": {"purpose": purpose} | (values or {}), "purpose": purpose,
    }, status_of(error) if error else 200)


@router.get("/m/{code}/notify/letters/{letter_id}", response_class=HTMLResponse)
def letter_page(
    request: Request, clerk: ClerkDep, letter_id: LetterId, purpose: str = "",
) -> Response:
    """One letter: who is on it, where it went, its history and the counter's actions.
    Everyone on it is logged as shown for the page's affair."""
    return _letter_page(request, clerk, letter_id, _purpose(purpose))


@router.post("/m/{code}/notify/letters/{letter_id}/events", response_class=HTMLResponse)
def record(request: Request, clerk: ClerkDep, letter_id: LetterId, form: FormDep) -> Response:
    """Record what happened to a mailed letter (返戻・窓口保管・交付・廃棄・配達済み)."""
    service = _notify(request)
    purpose = _purpose(form.text("purpose"))
    letter = nv.town_letter(service, clerk.code, letter_id)
    nv.Shown.of_letters(clerk.registry, clerk.staff, [letter], purpose,
                        f"番号通知: 通知 {letter_id} の記録").check_letter(letter, "記録")
    values = form.values()
    try:
        state = nv.state_by_name(form.required("state", "記録する内容"))
        if state is None:
            raise ValidationError("記録する内容が不正です", f"unknown state {form.text('state')!r}")
        reason = form.text("reason") or None
        document = form.text("identity_document") or None
        event = service.record(
            letter_id, state, reason if state is LetterState.RETURNED else None,
            note=form.text("note") or None,
            identity_document=document if state is LetterState.HANDED_OVER else None,
        )
    except MynaError as exc:
        return _letter_page(request, clerk, letter_id, purpose, exc, values)
    what = f"{event.state.value}（{event.reason.value}）" if event.reason else event.state.value
    flash(request, f"通知 {letter_id} に「{what}」を記録しました")
    return redirect(f"{_base(clerk)}/letters/{letter_id}?" + urlencode({"purpose": purpose}))


@router.get("/m/{code}/notify/letters/{letter_id}/pdf")
def letter_pdf(
    request: Request, clerk: ClerkDep, letter_id: LetterId, purpose: str = "",
) -> Response:
    """The letter as a PDF: it carries everyone's individual number in full, so it is
    given for an affair only, to a role the town lets see numbers, logged as a view of
    each person's record and a disclosure of their number."""
    service = _notify(request)
    letter = nv.town_letter(service, clerk.code, letter_id)
    registry = clerk.registry
    try:
        if not purpose.strip():
            raise ValidationError("通知書PDFの出力には目的（事務）を選んでください",
                                  "the letter PDF needs a purpose")
        affair = registry.affair_policy().check(clerk.staff, purpose)
        if not registry.affair_policy().may_see_numbers(clerk.staff):
            raise PermissionDenied(
                "通知書PDFには個人番号が全桁で記載されるため、個人番号を表示できる役割"
                f"（{role_labels(registry.affair_policy().number_roles)}）の職員が出力します",
                "the letter carries full numbers: only a role allowed to see numbers prints it",
            )
    except (ValidationError, PermissionDenied) as exc:
        return _letter_page(request, clerk, letter_id, _purpose(purpose), exc,
                            {"purpose": purpose})
    for m in letter.members:  # refused (and logged as refused) for a protected person
        registry.view(clerk.staff, m.resident_id, affair.id, reveal_number=True,
                      note=f"番号通知書の出力: 通知 {letter_id}")
    return Response(
        service.letter_pdf(letter_id), media_type="application/pdf",
        headers={"Content-Disposition":
                 f'attachment; filename="tsuchisho-{clerk.code}-{letter_id}.pdf"'},
    )


# -- follow-up: households never reached ------------------------------------------------------


@router.get("/m/{code}/notify/follow-up", response_class=HTMLResponse)
def follow_up_page(request: Request, clerk: ClerkDep, purpose: str = "") -> Response:
    """Letters that never reached their household, for 実態調査 and possibly 職権消除;
    everyone listed is logged as shown for the page's affair."""
    service = _notify(request)
    purpose = _purpose(purpose)
    entries = service.follow_up(clerk.code)
    shown = nv.Shown(clerk.registry, clerk.staff, [i for e in entries for i in e.resident_ids],
                     purpose, "番号通知: 未達世帯の一覧")
    return render(request, "notify_follow_up.html", {
        "clerk": clerk, "rows": nv.follow_up_lines(entries, shown),
        "may_decide": clerk.staff.may_view_protected,
        "holding_months": service.holding_months, "values": {"purpose": purpose},
    })


@router.post("/m/{code}/notify/dispose-expired", response_class=HTMLResponse)
def dispose_expired(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """廃棄 of every letter kept at the counter past its holding period."""
    require_supervisor(clerk, "保管期間を過ぎた通知書の廃棄")
    disposed = _notify(request).dispose_expired(clerk.code)
    if disposed:
        flash(request, f"保管期間を過ぎた通知書 {len(disposed)}通を廃棄として記録しました"
                       f"（通知 {'、'.join(str(i) for i in disposed[:10])}"
                       f"{' ほか' if len(disposed) > 10 else ''}）")
    else:
        flash(request, "保管期間を過ぎた通知書はありません")
    return redirect(f"{_base(clerk)}/follow-up")


# -- 居所情報登録 (from the resident's page) -----------------------------------------------------


def _viewed(clerk: Clerk, resident_id: int, purpose: str, what: str) -> Any:
    """The person's record, viewed (and logged) for the page's affair and this procedure."""
    return clerk.registry.view(clerk.staff, resident_id, purpose, note=what)


@router.post("/m/{code}/residents/{resident_id}/notify/alternative",
             response_class=HTMLResponse)
def register_alternative(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """居所情報登録: this person's letter goes to another address (DV, facility, hospital…)."""
    purpose = form.text("purpose")
    resident = _viewed(clerk, resident_id, purpose, "居所情報登録")
    service = _notify(request)
    remailing = form.flag("for_remailing")
    try:
        if not resident.is_resident:
            raise Conflict("除票の方には居所を登録できません",
                           "no alternative destination for a removed resident")
        reason = form.required("reason", "登録の事由")
        registration = service.register_alternative(
            clerk.code, resident_id, reason, form.required("postcode", "居所の郵便番号"),
            form.required("address", "居所の住所"), form.text("care_of") or None,
            form.text("note") or None, for_remailing=remailing,
        )
    except MynaError as exc:
        offer = isinstance(exc, Conflict) and not remailing and nv.person_notify(
            clerk.registry, service, clerk.staff, resident_id).mailed
        return resident_response(request, clerk, resident, purpose, error=exc, extra={
            "alt_values": form.values(), "alt_error": exc, "offer_remailing": offer,
        })
    if registration.moved_to_letter is not None:
        flash(request, f"居所を登録しました。発送前の世帯あての通知からこの方を分け、居所あての"
                       f"通知（通知 {registration.moved_to_letter}）を作成しました")
    elif registration.for_remailing:
        flash(request, "居所を再送付用として登録しました。次に作成する通知書から居所あてになります")
    else:
        flash(request, "居所を登録しました。次に作成する通知書から居所あてになります")
    return redirect(resident_url(clerk, resident_id, purpose) + "#notify")


@router.post("/m/{code}/residents/{resident_id}/notify/alternative/withdraw",
             response_class=HTMLResponse)
def withdraw_alternative(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """Withdraw the person's 居所情報登録 (letters already prepared stay as they are)."""
    purpose = form.text("purpose")
    resident = _viewed(clerk, resident_id, purpose, "居所情報登録の取下げ")
    try:
        _notify(request).withdraw_alternative(clerk.code, resident_id)
    except MynaError as exc:
        return resident_response(request, clerk, resident, purpose, error=exc,
                                 extra={"alt_error": exc})
    flash(request, "居所情報登録を取り下げました。次に作成する通知書から住民登録地あてになります")
    return redirect(resident_url(clerk, resident_id, purpose) + "#notify")

