"""The staff screens: sign-in, search, the 住民票, the 届出 forms and 住民票の写し.

Every form is POST-redirect-GET; errors are shown on the page in Japanese with
the HTTP status of the error (see :func:`myna.web.errors.status_of`).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from myna.errors import MynaError, PermissionDenied, ValidationError
from myna.registry.access import ProtectedRecord
from myna.registry.affairs import RESIDENT_REGISTRY, AffairNotPermitted, role_labels
from myna.registry.domain import Resident, check_sex
from myna.relationships import RELATIONSHIPS
from myna.web import cards, linkage, notify
from myna.web.errors import SignInRequired, status_of
from myna.web.forms import (
    Form,
    certificate_from_fields,
    certificate_from_json,
    field_limit,
    person_from,
    placement_from,
    read_form,
    verify_certificate,
)
from myna.web.presenters import (
    HIDDEN,
    access_lines,
    event_lines,
)
from myna.web.schemas import ResidentSummary
from myna.web.state import Clerk, ResidentId, csrf_token, flash, get_state, pop_flashes

router = APIRouter(include_in_schema=False)



def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200,
) -> HTMLResponse:
    """A page with the common layout context (signed-in staff, flashes, form token)."""
    state = get_state(request)
    ctx: dict[str, Any] = dict(context or {})
    if "clerk" not in ctx:
        ctx["clerk"] = state.session_clerk(request)
    ctx.setdefault("error", None)
    ctx.setdefault("values", {})
    ctx["flashes"] = pop_flashes(request)
    ctx["csrf"] = csrf_token(request)
    ctx["relationships"] = RELATIONSHIPS
    ctx["field_limit"] = field_limit
    clerk = ctx["clerk"]
    if isinstance(clerk, Clerk) and "affairs" not in ctx:
        ctx["affairs"] = clerk.registry.affairs_for(clerk.staff)
    return state.templates.TemplateResponse(request, template, ctx, status_code=status)


def form_error(
    request: Request, template: str, exc: MynaError, context: dict[str, Any],
) -> HTMLResponse:
    """The form again, with what was typed and the error in Japanese."""
    return render(request, template, context | {"error": exc}, status_of(exc))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def page_clerk(request: Request, code: str) -> Clerk:
    """The signed-in staff member, who must belong to municipality ``code``."""
    state = get_state(request)
    clerk = state.session_clerk(request)
    if clerk is not None and clerk.code == code:
        return clerk
    state.system.registry(code)  # unknown municipality: 404
    next_url = request.url.path
    if request.method == "GET" and request.url.query:
        next_url += "?" + request.url.query
    raise SignInRequired(
        next_url,
        None if clerk is None else f"{clerk.registry.title}の職員としてサインインしています。"
        "この市区町村の事務を行うには、その職員IDでサインインし直してください",
    )


ClerkDep = Annotated[Clerk, Depends(page_clerk)]
FormDep = Annotated[Form, Depends(read_form)]


def resident_url(clerk: Clerk, resident_id: int, purpose: str, **extra: str) -> str:
    query = urlencode({"purpose": purpose, **extra})
    return f"/m/{clerk.code}/residents/{resident_id}?{query}"


# -- sign-in ---------------------------------------------------------------------------


def _safe_next(next_url: str, code: str) -> str:
    if next_url.startswith(f"/m/{code}/") and "//" not in next_url and "\\" not in next_url:
        return next_url
    return f"/m/{code}/residents"


def _municipalities(request: Request) -> list[tuple[str, str]]:
    registries = get_state(request).system.registries
    return sorted((code, r.title) for code, r in registries.items())


@router.get("/", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "") -> Response:
    """Choose the municipality, staff ID and password."""
    clerk = get_state(request).session_clerk(request)
    if clerk is not None:
        return redirect(_safe_next(next, clerk.code))
    return render(request, "signin.html", {
        "clerk": None, "municipalities": _municipalities(request), "next": next,
    })


@router.post("/signin", response_class=HTMLResponse)
def sign_in(request: Request, form: FormDep) -> Response:
    state = get_state(request)
    context = {"clerk": None, "municipalities": _municipalities(request),
               "next": form.text("next"), "values": form.values()}
    try:
        registry = state.system.registry(form.required("municipality", "市区町村"))
        staff = registry.authenticate(form.required("staff_id", "職員ID"), form.raw("password"))
    except MynaError as exc:
        return form_error(request, "signin.html", exc, context)
    state.sign_in(request, registry, staff)
    flash(request, f"{staff.name}さん（{staff.role.label}）としてサインインしました")
    return redirect(_safe_next(form.text("next"), registry.code))


@router.post("/signout")
def sign_out(request: Request, form: FormDep) -> Response:
    get_state(request).sign_out(request)
    flash(request, "サインアウトしました")
    return redirect("/")


# -- search ----------------------------------------------------------------------------


@router.get("/m/{code}/residents", response_class=HTMLResponse)
def search_page(request: Request, clerk: ClerkDep, purpose: str = "") -> Response:
    return render(request, "search.html", {"clerk": clerk, "values": {"purpose": purpose}})


#: The search form's fields that a next or previous page sends again.
_SEARCH_FIELDS = ("purpose", "name", "birth_date", "address", "sex", "number",
                  "include_removed")


def _page_of(form: Form) -> int:
    value = form.text("page") or "1"
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise ValidationError(f"ページ番号は1以上の整数です（指定: {value}）",
                              f"page must be a whole number from 1 (got {value!r})")
    return int(value)


@router.post("/m/{code}/residents", response_class=HTMLResponse)
def search(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """Search by the four basic items or by individual number, 50 a page (POST: keeps
    numbers out of URLs; the next and previous pages are forms too)."""
    context: dict[str, Any] = {"clerk": clerk, "values": form.values()}
    try:
        sex = form.text("sex")
        purpose = form.text("purpose")
        found = clerk.registry.search(
            clerk.staff, purpose, name=form.text("name") or None,
            birth_date=form.optional_date("birth_date", "生年月日"),
            sex=check_sex(sex) if sex else None, address=form.text("address") or None,
            number=form.text("number") or None, include_removed=form.flag("include_removed"),
            page=_page_of(form),
        )
    except MynaError as exc:
        return form_error(request, "search.html", exc, context)
    rows = [
        (ResidentSummary.of(r, clerk.staff), resident_url(clerk, r.resident_id, found.affair.id))
        for r in found
    ]
    kept = {k: form.text(k) for k in _SEARCH_FIELDS if form.text(k)}
    return render(request, "search.html", context | {
        "rows": rows, "found": found, "kept": kept, "affair": found.affair,
    })


# -- the 住民票 -------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    resident_id: int
    name: str
    furigana: str
    relationship: str
    birth_date: Any
    sex: str
    is_subject: bool
    hidden: bool


@router.get("/m/{code}/residents/{resident_id}", response_class=HTMLResponse)
def resident_page(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, purpose: str = "",
    reveal: bool = False,
) -> Response:
    """One 住民票, only for an affair the role performs; every view, every person listed
    and every full number shown is logged.  A 支援措置 record without an approval shows
    the form to ask for one."""
    if not purpose.strip():
        return render(request, "purpose.html", {"clerk": clerk, "resident_id": resident_id})
    try:
        resident = clerk.registry.view(clerk.staff, resident_id, purpose, reveal_number=reveal)
    except (ValidationError, AffairNotPermitted) as exc:  # the purpose
        return form_error(request, "purpose.html", exc, {
            "clerk": clerk, "resident_id": resident_id, "values": {"purpose": purpose},
        })
    except ProtectedRecord as exc:
        return form_error(request, "protected_ask.html", exc, {
            "clerk": clerk, "values": {"resident_id": str(resident_id), "purpose": purpose},
        })
    return resident_response(request, clerk, resident, purpose, reveal)


def resident_response(
    request: Request, clerk: Clerk, resident: Resident, purpose: str, reveal: bool = False,
    error: MynaError | None = None, extra: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The 住民票 page of a resident the caller has just viewed (a logged view).

    ``error`` and ``extra`` show a form of the page again after a refused POST.
    """
    registry = clerk.registry
    system = get_state(request).system
    resident_id = resident.resident_id
    purpose = purpose.strip()
    members = [  # every person listed is logged as viewed (hidden ones as hidden)
        Member(m.resident_id, HIDDEN if hidden else m.name, "" if hidden else m.furigana,
               m.relationship, m.birth_date, m.sex, m.resident_id == resident.resident_id,
               hidden)
        for m, hidden in registry.household_view(clerk.staff, resident, purpose)
    ]
    members.sort(key=lambda m: (m.relationship != "世帯主", m.resident_id))
    policy = registry.affair_policy()
    context: dict[str, Any] = {
        "clerk": clerk,
        "r": resident,
        "purpose": purpose,
        "affair": policy.check(clerk.staff, purpose),
        "may_reveal": policy.may_see_numbers(clerk.staff),
        "number_roles": role_labels(policy.number_roles),
        "reveal": reveal and "*" not in (resident.individual_number or "*"),
        "reveal_url": resident_url(clerk, resident_id, purpose.strip(), reveal="1"),
        "hide_url": resident_url(clerk, resident_id, purpose.strip()),
        "members": members,
        "member_url": lambda rid: resident_url(clerk, rid, purpose.strip()),
        "events": event_lines(registry, registry.history(resident_id)),
        "log": access_lines(registry, resident_id, registry.access_log(resident_id)),
        "linkage": {
            "person": linkage.person_linkage(system.municipality(clerk.code), resident_id),
            "rows": linkage.request_rows(system),
            "affairs": linkage.provider_affairs(system),
            "may_decide": clerk.staff.may_view_protected,
        },
        "notify": notify.person_notify(registry, system.notify, clerk.staff, resident_id),
        "card_section": cards.person_cards(system.cards, clerk.code, resident_id),
        "town_cards": cards.town_cards(registry.card_states(resident_id)),
        "certificates": [
            (cid, at, f"/m/{clerk.code}/residents/{resident_id}/certificates/{quote(cid)}?"
             + urlencode({"purpose": purpose.strip()}))
            for cid, at in registry.moveout_certificates_of(resident_id)
        ],
        "error": error,
    }
    context.update(extra or {})
    return render(request, "resident.html", context, status_of(error) if error else 200)


# -- 出生届 / 転入届 --------------------------------------------------------------------------


@router.get("/m/{code}/births/new", response_class=HTMLResponse)
def birth_page(request: Request, clerk: ClerkDep) -> Response:
    return render(request, "birth.html", {"clerk": clerk, "values": {"relationship": "子"}})


@router.post("/m/{code}/births", response_class=HTMLResponse)
def birth(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """出生届: a new 住民票 and individual number."""
    try:
        resident = clerk.registry.register_birth(
            clerk.staff, person_from(form), placement_from(form),
            confirm_not_duplicate=form.flag("confirm_not_duplicate"),
        )
    except MynaError as exc:
        return form_error(request, "birth.html", exc, {"clerk": clerk, "values": form.values()})
    flash(request, f"出生届を受け付けました（住民ID {resident.resident_id}、"
                   f"世帯番号 {resident.household_number}）。個人番号を指定しました")
    return redirect(resident_url(clerk, resident.resident_id, RESIDENT_REGISTRY))


@router.get("/m/{code}/move-ins/new", response_class=HTMLResponse)
def move_in_page(request: Request, clerk: ClerkDep) -> Response:
    return render(request, "move_in.html", {
        "clerk": clerk, "values": {"relationship": "世帯主", "mode": "json"},
    })


@router.post("/m/{code}/move-ins", response_class=HTMLResponse)
def move_in(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """転入届: with the 転出証明書 as JSON or typed in field by field."""
    state = get_state(request)
    try:
        if form.text("mode") == "fields":
            certificate = certificate_from_fields(form)
        else:
            certificate = certificate_from_json(form.required("certificate_json", "転出証明書"))
        certificate = verify_certificate(state.system, certificate, clerk.code)
        resident = clerk.registry.move_in(
            clerk.staff, certificate, placement_from(form), form.date("moved_on", "転入日")
        )
    except MynaError as exc:
        return form_error(request, "move_in.html", exc, {"clerk": clerk, "values": form.values()})
    flash(request, f"転入届を受け付けました（住民ID {resident.resident_id}）。"
                   "個人番号と住民票コードは転出元から引き継がれました")
    return redirect(resident_url(clerk, resident.resident_id, RESIDENT_REGISTRY))


# -- 届出 about one resident ---------------------------------------------------------------

_PROCEDURES = {
    "move-out": ("転出届", "move_out.html"),
    "move-within": ("転居届", "move_within.html"),
    "death": ("死亡届", "death.html"),
    "copy": ("住民票の写しの交付", "copy_form.html"),
}


def _procedure_page(
    request: Request, clerk: Clerk, resident_id: int, kind: str,
    error: MynaError | None = None, values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The form of a procedure about one resident (opening it is a logged view)."""
    title, template = _PROCEDURES[kind]
    subject: Resident = clerk.registry.view(clerk.staff, resident_id, RESIDENT_REGISTRY,
                                            note=f"{title}の受付")
    context = {"clerk": clerk, "r": subject, "title": title, "values": values or {},
               "error": error}
    return render(request, template, context, status_of(error) if error else 200)


@router.get("/m/{code}/residents/{resident_id}/move-out", response_class=HTMLResponse)
def move_out_page(request: Request, clerk: ClerkDep, resident_id: ResidentId) -> Response:
    return _procedure_page(request, clerk, resident_id, "move-out")


@router.post("/m/{code}/residents/{resident_id}/move-out", response_class=HTMLResponse)
def move_out(request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep) -> Response:
    """転出届: the 住民票 becomes a 除票 and a 転出証明書 is issued."""
    try:
        certificate = clerk.registry.move_out(
            clerk.staff, resident_id, form.required("destination", "転出先の住所"),
            form.date("moving_on", "転出予定日"),
        )
    except MynaError as exc:
        return _procedure_page(request, clerk, resident_id, "move-out", exc, form.values())
    issued: deque[str] = deque(request.session.get("certificates", []), maxlen=20)
    issued.append(certificate.certificate_id)
    request.session["certificates"] = list(issued)
    flash(request, "転出届を受け付けました。転出証明書を交付してください")
    return redirect(f"/m/{clerk.code}/certificates/{quote(certificate.certificate_id)}")


def _certificate(request: Request, clerk: Clerk, certificate_id: str) -> dict[str, Any]:
    if (certificate_id not in request.session.get("certificates", [])
            and not clerk.staff.may_view_protected):
        raise PermissionDenied(
            "転出証明書は、発行した職員のサインイン中か監督者のみ表示できます",
            "only the issuing session or a supervisor may open a move-out certificate",
        )
    return clerk.registry.moveout_certificate(
        certificate_id, clerk.staff, "転出証明書の表示"
    ).as_json()


def _certificate_response(
    request: Request, clerk: Clerk, data: dict[str, Any], json_url: str, download: bool,
) -> Response:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if download:
        return Response(text, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="{data["certificate_id"]}.json"'})
    return render(request, "certificate.html", {
        "clerk": clerk, "c": data, "json_text": text, "json_url": json_url,
    })


@router.get("/m/{code}/certificates/{certificate_id}", response_class=HTMLResponse)
def certificate_page(request: Request, clerk: ClerkDep, certificate_id: str) -> Response:
    """The issued 転出証明書, with its JSON for the new municipality."""
    data = _certificate(request, clerk, certificate_id)
    return _certificate_response(
        request, clerk, data, f"/m/{clerk.code}/certificates/{quote(certificate_id)}/json", False)


@router.get("/m/{code}/residents/{resident_id}/certificates/{certificate_id}",
            response_class=HTMLResponse)
def reprint_certificate(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, certificate_id: str,
    purpose: str = RESIDENT_REGISTRY, download: bool = False,
) -> Response:
    """再交付 of a 転出証明書 from the resident's page, by any clerk (logged with the
    purpose; a record under 支援措置 needs a supervisor)."""
    certificate = clerk.registry.reprint_moveout_certificate(
        clerk.staff, resident_id, certificate_id, purpose)
    url = (f"/m/{clerk.code}/residents/{resident_id}/certificates/{quote(certificate_id)}?"
           + urlencode({"purpose": purpose, "download": "1"}))
    return _certificate_response(request, clerk, certificate.as_json(), url, download)


@router.get("/m/{code}/certificates/{certificate_id}/json")
def certificate_json(request: Request, clerk: ClerkDep, certificate_id: str) -> Response:
    data = _certificate(request, clerk, certificate_id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2), media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{certificate_id}.json"'},
    )


@router.get("/m/{code}/residents/{resident_id}/move-within", response_class=HTMLResponse)
def move_within_page(request: Request, clerk: ClerkDep, resident_id: ResidentId) -> Response:
    return _procedure_page(request, clerk, resident_id, "move-within",
                           values={"relationship": "世帯主"})


@router.post("/m/{code}/residents/{resident_id}/move-within", response_class=HTMLResponse)
def move_within(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """転居届: a new address in the same municipality."""
    try:
        clerk.registry.move_within(
            clerk.staff, resident_id, placement_from(form), form.date("moved_on", "転居日")
        )
    except MynaError as exc:
        return _procedure_page(request, clerk, resident_id, "move-within", exc, form.values())
    flash(request, "転居届を受け付けました")
    return redirect(resident_url(clerk, resident_id, RESIDENT_REGISTRY))


@router.get("/m/{code}/residents/{resident_id}/death", response_class=HTMLResponse)
def death_page(request: Request, clerk: ClerkDep, resident_id: ResidentId) -> Response:
    return _procedure_page(request, clerk, resident_id, "death")


@router.post("/m/{code}/residents/{resident_id}/death", response_class=HTMLResponse)
def death(request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep) -> Response:
    """死亡届: the 住民票 becomes a 除票."""
    try:
        clerk.registry.record_death(clerk.staff, resident_id, form.date("died_on", "死亡日"))
    except MynaError as exc:
        return _procedure_page(request, clerk, resident_id, "death", exc, form.values())
    flash(request, "死亡届を受け付けました。住民票は除票になりました")
    return redirect(resident_url(clerk, resident_id, RESIDENT_REGISTRY))


# -- 住民票の写し ------------------------------------------------------------------------------


@router.get("/m/{code}/residents/{resident_id}/copy", response_class=HTMLResponse)
def copy_page(request: Request, clerk: ClerkDep, resident_id: ResidentId) -> Response:
    return _procedure_page(request, clerk, resident_id, "copy", values={"scope": "household"})


@router.post("/m/{code}/residents/{resident_id}/copy", response_class=HTMLResponse)
def issue_copy(
    request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep,
) -> Response:
    """Issue a 住民票の写し; the number only when asked for with a reason.  A household
    member under 支援措置 without an approval is left off, and the message says so."""
    try:
        copy = clerk.registry.issue_copy(
            clerk.staff, resident_id, form.text("purpose"),
            whole_household=form.text("scope") != "individual",
            include_number=form.flag("include_number"),
            number_reason=form.text("number_reason") or None,
        )
    except MynaError as exc:
        return _procedure_page(request, clerk, resident_id, "copy", exc, form.values())
    get_state(request).copies.add(clerk, copy)
    left_off = (f"。支援措置の対象者{copy.withheld}人は記載していません（記載には、その方の"
                "記録を開く承認が必要です）" if copy.withheld else "")
    flash(request, f"住民票の写しを交付しました（証明書番号 {copy.certificate_number}）{left_off}")
    return redirect(f"/m/{clerk.code}/copies/{quote(copy.certificate_number)}")


@router.get("/m/{code}/copies/{certificate_number}", response_class=HTMLResponse)
def copy_result(request: Request, clerk: ClerkDep, certificate_number: str) -> Response:
    issued = get_state(request).copies.get(clerk, certificate_number)
    return render(request, "copy_result.html", {"clerk": clerk, "issued": issued,
                                                "copy": issued.copy})


@router.get("/m/{code}/copies/{certificate_number}/document", response_class=HTMLResponse)
def copy_document(request: Request, clerk: ClerkDep, certificate_number: str) -> Response:
    """The copy itself as a standalone HTML page (shown in a frame, printable)."""
    return HTMLResponse(get_state(request).copies.get(clerk, certificate_number).html)


@router.get("/m/{code}/copies/{certificate_number}/pdf")
def copy_pdf(request: Request, clerk: ClerkDep, certificate_number: str) -> Response:
    return get_state(request).copies.pdf_response(clerk, certificate_number)
