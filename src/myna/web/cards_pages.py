"""The 個人番号カード screens: applications, cards waiting at the counter, the card's life.

Applications are taken at the counter from the resident's page (with a photo);
a supervisor has J-LIS produce the waiting ones; staff hand the card over with
the holder's identity documents and the PINs the holder sets, and record
suspension, resumption, reissue and the end of a card.  PINs are passed to the
service and never shown again, logged or kept in the form values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from myna.clock import jst_date
from myna.contracts.cards import (
    ONE_DOCUMENT,
    TWO_DOCUMENTS,
    Application,
    Card,
    CardsApi,
    CardStatus,
    Channel,
    EndReason,
    Reporter,
    check_card_number,
)
from myna.errors import MynaError, NotFound, PermissionDenied, ValidationError
from myna.registry.service import MunicipalityRegistry
from myna.web.cards import STATUS_LABELS, card_line, town_pending
from myna.web.errors import status_of
from myna.web.forms import Form
from myna.web.linkage import resident_brief
from myna.web.linkage_pages import require_supervisor
from myna.web.pages import (
    ClerkDep,
    FormDep,
    redirect,
    render,
    resident_response,
    resident_url,
)
from myna.web.presenters import HIDDEN
from myna.web.state import Clerk, ResidentId, flash, get_state

router = APIRouter(include_in_schema=False)

CardNumber = Annotated[str, Path(min_length=1, max_length=40, description="カード番号")]

#: Form fields never kept to show a form again (nor logged, nor echoed).
SECRET_FIELDS = frozenset({"auth_pin", "signing_pin", "photo"})

#: Reasons staff may choose to end a card (the others are recorded by the system).
END_REASONS = (EndReason.RETURNED, EndReason.DEATH, EndReason.EMIGRATION, EndReason.REMOVED)


def _cards(request: Request) -> CardsApi:
    return get_state(request).system.cards


def _base(clerk: Clerk) -> str:
    return f"/m/{clerk.code}/cards"


def safe_values(form: Form) -> dict[str, str]:
    """What was typed, without the PINs or the photo."""
    return {k: v for k, v in form.values().items() if k not in SECRET_FIELDS}


def _hidden(registry: MunicipalityRegistry, clerk: Clerk, resident_id: int) -> bool:
    if clerk.staff.may_view_protected:
        return False
    resident = resident_brief(registry, resident_id)
    return resident is not None and resident.support_measure


def _documents(form: Form) -> list[str]:
    return [d for d in (form.text("document_one"), form.text("document_two_a"),
                        form.text("document_two_b")) if d]


# -- lines for the pages ---------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationLine:
    app: Application
    name: str
    hidden: bool


def _application_line(clerk: Clerk, app: Application) -> ApplicationLine:
    resident = resident_brief(clerk.registry, app.resident_id)
    hidden = (resident is not None and resident.support_measure
              and not clerk.staff.may_view_protected)
    name = HIDDEN if hidden else (resident.name if resident else "―")
    return ApplicationLine(app, name, hidden)


# -- overview --------------------------------------------------------------------------------


#: How many cards the list on the overview shows (newest first).
LIST_LIMIT = 200


def _overview_context(request: Request, clerk: Clerk, status: str = "") -> dict[str, Any]:
    service = _cards(request)
    unclaimed = service.unclaimed(clerk.code)
    today = jst_date(service.now())
    chosen = next((s for s in CardStatus if s.name.lower() == status), None)
    listed = service.cards(clerk.code, chosen, limit=LIST_LIMIT)
    return {
        "cards": [card_line(service, c, _hidden(clerk.registry, clerk, c.resident_id))
                  for c in listed],
        "statuses": [(s.name.lower(), STATUS_LABELS[s][0]) for s in CardStatus],
        "status": chosen.name.lower() if chosen else "",
        "list_limit": LIST_LIMIT,
        "clerk": clerk,
        "pending": [_application_line(clerk, a) for a in town_pending(service, clerk.code)],
        "unclaimed": [(card_line(service, c, _hidden(clerk.registry, clerk, c.resident_id)),
                       c.hold_until < today) for c in unclaimed],
        "expired": sum(c.hold_until < today for c in unclaimed),
        "holding_months": service.holding_months,
        "may_decide": clerk.staff.may_view_protected,
    }


@router.get("/m/{code}/cards", response_class=HTMLResponse)
def overview_page(request: Request, clerk: ClerkDep, status: str = "") -> Response:
    """Applications waiting for J-LIS, cards waiting at the counter, and every card made
    for the town with its state and its certificates' (``?status=active`` …)."""
    return render(request, "cards.html", _overview_context(request, clerk, status))


@router.post("/m/{code}/cards/produce", response_class=HTMLResponse)
def produce(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """Have J-LIS produce the town's waiting applications (each on its own)."""
    require_supervisor(clerk, "カードの作成依頼")
    service = _cards(request)
    made, refused = [], []
    for app in town_pending(service, clerk.code):
        try:
            made.append(service.produce(app.receipt_no))
        except MynaError as exc:
            refused.append(f"受付番号 {app.receipt_no}: {exc.message_ja}")
    if made:
        flash(request, f"カード {len(made)}枚を作成しました。窓口で交付できます")
    elif not refused:
        flash(request, "作成待ちの申請はありません")
    for line in refused:
        flash(request, f"作成できませんでした（{line}）")
    return redirect(_base(clerk))


@router.post("/m/{code}/cards/void-unclaimed", response_class=HTMLResponse)
def void_unclaimed(request: Request, clerk: ClerkDep, form: FormDep) -> Response:
    """廃止 of the cards not collected by their holding deadline."""
    require_supervisor(clerk, "保管期間を過ぎたカードの廃止")
    voided = _cards(request).void_unclaimed(clerk.code)
    if voided:
        flash(request, f"保管期間を過ぎたカード {len(voided)}枚を廃止しました"
                       "（電子証明書は失効、カードは廃棄してください）")
    else:
        flash(request, "保管期間を過ぎたカードはありません")
    return redirect(_base(clerk))


# -- application at the counter (from the resident's page) -----------------------------------


@router.post("/m/{code}/residents/{resident_id}/cards/apply", response_class=HTMLResponse)
def apply(request: Request, clerk: ClerkDep, resident_id: ResidentId, form: FormDep) -> Response:
    """交付申請 at the counter, with the photo taken or brought by the resident."""
    purpose = form.text("purpose")
    resident = clerk.registry.view(clerk.staff, resident_id, purpose,
                                   note="個人番号カードの交付申請")
    upload = form.data.get("photo")
    try:
        photo = upload.file.read() if isinstance(upload, UploadFile) else b""
        if not photo:
            raise ValidationError("写真のファイルを選んでください", "no photo uploaded")
        app = _cards(request).apply(
            photo, channel=Channel.COUNTER, municipality_code=clerk.code,
            resident_id=resident_id, staff_id=clerk.staff.staff_id,
            signing_certificate=form.text("signing") != "no",
        )
    except MynaError as exc:
        return resident_response(request, clerk, resident, purpose, error=exc, extra={
            "card_values": safe_values(form), "card_error": exc,
        })
    flash(request, f"個人番号カードの交付申請を受け付けました（受付番号 {app.receipt_no}）")
    return redirect(resident_url(clerk, resident_id, purpose) + "#cards")


# -- one card ------------------------------------------------------------------------------


def _town_card(service: CardsApi, clerk: Clerk, card_number: str) -> Card:
    card = service.card(check_card_number(card_number))
    if card.municipality_code != clerk.code:
        raise NotFound(f"カード {card.card_number} はありません",
                       f"card {card.card_number} is not of {clerk.code}")
    return card


def _check_visible(clerk: Clerk, card: Card, what: str) -> None:
    if _hidden(clerk.registry, clerk, card.resident_id):
        raise PermissionDenied(f"支援措置の対象者のカードです。{what}は監督者が行ってください",
                               f"card of a person under support measures: {what}")


def _card_page(
    request: Request, clerk: Clerk, card_number: str, error: MynaError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    service = _cards(request)
    card = _town_card(service, clerk, card_number)
    hidden = _hidden(clerk.registry, clerk, card.resident_id)
    today = jst_date(service.now())
    return render(request, "card.html", {
        "clerk": clerk, "c": card, "l": card_line(_cards(request), card, hidden),
        "history": service.history(card.card_number),
        "suspensions": service.suspensions(card.card_number),
        "overdue": card.status is CardStatus.PRODUCED and card.hold_until < today,
        "one_documents": ONE_DOCUMENT, "two_documents": TWO_DOCUMENTS,
        "reporters": list(Reporter), "end_reasons": END_REASONS,
        "error": error, "values": values or {},
    }, status_of(error) if error else 200)


@router.get("/m/{code}/cards/{card_number}", response_class=HTMLResponse)
def card_page(request: Request, clerk: ClerkDep, card_number: CardNumber) -> Response:
    """One card: its state, history, front and the counter's actions."""
    return _card_page(request, clerk, card_number)


@router.get("/m/{code}/cards/{card_number}/front.png")
def front(request: Request, clerk: ClerkDep, card_number: CardNumber) -> Response:
    """The front of the card (name, address, photo, expiry) as a PNG."""
    service = _cards(request)
    card = _town_card(service, clerk, card_number)
    _check_visible(clerk, card, "カード券面の表示")
    return Response(service.render_front(card.card_number), media_type="image/png")


def _act(request: Request, clerk: Clerk, card_number: str, form: Form, what: str) -> Card:
    card = _town_card(_cards(request), clerk, card_number)
    _check_visible(clerk, card, what)
    return card


@router.post("/m/{code}/cards/{card_number}/issue", response_class=HTMLResponse)
def issue(request: Request, clerk: ClerkDep, card_number: CardNumber, form: FormDep) -> Response:
    """交付: identity checked with documents, the holder sets the PINs."""
    card = _act(request, clerk, card_number, form, "交付")
    try:
        signing_pin = form.raw("signing_pin") or None
        if not form.raw("auth_pin"):
            raise ValidationError("利用者証明用の暗証番号（数字4桁）を入力してください",
                                  "auth PIN is required")
        _cards(request).issue(card.card_number, staff_id=clerk.staff.staff_id,
                              documents=_documents(form), auth_pin=form.raw("auth_pin"),
                              signing_pin=signing_pin)
    except MynaError as exc:
        return _card_page(request, clerk, card.card_number, exc,
                          safe_values(form) | {"action": "issue"})
    flash(request, f"カード {card.card_number} を交付しました")
    return redirect(f"{_base(clerk)}/{card.card_number}")


@router.post("/m/{code}/cards/{card_number}/suspend", response_class=HTMLResponse)
def suspend(request: Request, clerk: ClerkDep, card_number: CardNumber, form: FormDep) -> Response:
    """一時停止 (紛失・盗難の届出): the certificates are revoked at once."""
    card = _act(request, clerk, card_number, form, "一時停止")
    try:
        _cards(request).suspend(card.card_number, reported_by=form.text("reported_by") or "本人",
                                note=form.text("note"))
    except MynaError as exc:
        return _card_page(request, clerk, card.card_number, exc,
                          safe_values(form) | {"action": "suspend"})
    flash(request, f"カード {card.card_number} を一時停止しました（電子証明書は失効しました）")
    return redirect(f"{_base(clerk)}/{card.card_number}")


@router.post("/m/{code}/cards/{card_number}/resume", response_class=HTMLResponse)
def resume(request: Request, clerk: ClerkDep, card_number: CardNumber, form: FormDep) -> Response:
    """一時停止の解除: the card was found; identity checked at the counter."""
    card = _act(request, clerk, card_number, form, "一時停止の解除")
    try:
        _cards(request).resume(card.card_number, staff_id=clerk.staff.staff_id,
                               documents=_documents(form))
    except MynaError as exc:
        return _card_page(request, clerk, card.card_number, exc,
                          safe_values(form) | {"action": "resume"})
    flash(request, f"カード {card.card_number} の一時停止を解除しました")
    return redirect(f"{_base(clerk)}/{card.card_number}")


@router.post("/m/{code}/cards/{card_number}/reissue", response_class=HTMLResponse)
def reissue(request: Request, clerk: ClerkDep, card_number: CardNumber, form: FormDep) -> Response:
    """再交付の申請: this card ends and a new one is applied for (same photo)."""
    card = _act(request, clerk, card_number, form, "再交付の申請")
    try:
        app = _cards(request).reissue(card.card_number, staff_id=clerk.staff.staff_id,
                                      documents=_documents(form),
                                      signing_certificate=form.text("signing") != "no")
    except MynaError as exc:
        return _card_page(request, clerk, card.card_number, exc,
                          safe_values(form) | {"action": "reissue"})
    flash(request, f"カード {card.card_number} を廃止し、再交付の申請を受け付けました"
                   f"（受付番号 {app.receipt_no}）")
    return redirect(_base(clerk))


@router.post("/m/{code}/cards/{card_number}/end", response_class=HTMLResponse)
def end(request: Request, clerk: ClerkDep, card_number: CardNumber, form: FormDep) -> Response:
    """廃止 (返納・死亡・国外転出・職権消除): certificates revoked, chip retired."""
    card = _act(request, clerk, card_number, form, "廃止")
    try:
        reason = EndReason.parse(form.required("reason", "廃止の理由"))
        if reason not in END_REASONS:
            raise ValidationError(f"廃止の理由「{reason.value}」は窓口では選べません",
                                  f"{reason.name} is not chosen at the counter")
        _cards(request).end(card.card_number, reason, actor=clerk.staff.staff_id)
    except MynaError as exc:
        return _card_page(request, clerk, card.card_number, exc,
                          safe_values(form) | {"action": "end"})
    flash(request, f"カード {card.card_number} を廃止しました（{reason.value}）")
    return redirect(f"{_base(clerk)}/{card.card_number}")
