"""The JSON API under ``/api/v1`` (OAuth2 password flow, bearer tokens)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from myna.errors import MynaError, NotFound, PermissionDenied
from myna.numbers import individual
from myna.registry.affairs import AFFAIR_IDS, CATALOGUE, RESIDENT_REGISTRY
from myna.registry.domain import Role, check_sex, parse_date
from myna.registry.service import PER_PAGE
from myna.registry.staff import IDLE_TIMEOUT, SIGN_IN_FAILED_EN, SIGN_IN_FAILED_JA
from myna.web.errors import Unauthorized
from myna.web.forms import verify_certificate
from myna.web.schemas import (
    AccessRequestBody,
    AccessRequestInfo,
    Affair,
    AffairsResponse,
    BirthRequest,
    Certificate,
    CopyRequest,
    CopyResponse,
    ErrorResponse,
    MoveInRequest,
    MoveOutRequest,
    NumberCheck,
    NumberToCheck,
    ResidentCreated,
    ResidentDetail,
    ResidentSummary,
    SearchResponse,
    TokenResponse,
)
from myna.web.state import TOKEN_MAX_AGE, Clerk, ResidentId, get_state

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "リクエストの形式が不正です（JSON を解釈できないなど）"),
        (401, "認証が必要です／トークンが無効です"),
        (403, "権限がありません（支援措置の対象者など）"),
        (404, "見つかりません"),
        (409, "現在の状態と矛盾します"),
        (422, "入力が不正です"),
    )
}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/token", auto_error=False)

PURPOSE = Query(
    description="閲覧・検索の目的: 職員の役割が行う事務のID（一覧は GET …/affairs）。"
    "自由記述は受け付けません。事務の名称がアクセス記録に残ります",
    max_length=40, examples=[RESIDENT_REGISTRY],
    json_schema_extra={"enum": list(AFFAIR_IDS)},
)


def api_clerk(
    request: Request, code: str, token: Annotated[str | None, Depends(oauth2)],
) -> Clerk:
    """The staff member of the bearer token, for municipality ``code``."""
    return get_state(request).clerk_from_token(code, token)


ApiClerk = Annotated[Clerk, Depends(api_clerk)]
RequestNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="申請番号")]


@router.post("/token", response_model=TokenResponse, tags=["認証"])
def token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenResponse:
    """Sign in: ``username`` is ``<市区町村コード>:<職員ID>``; the token lasts 8 hours."""
    code, sep, staff_id = form.username.partition(":")
    if not sep or not code or not staff_id:
        raise Unauthorized(
            "ユーザー名は「市区町村コード:職員ID」の形式です（例: 132152:clerk1）",
            "username must be '<municipality code>:<staff id>'",
        )
    state = get_state(request)
    try:
        registry = state.system.registry(code.strip())
        staff = registry.authenticate(staff_id.strip(), form.password)
    except (NotFound, PermissionDenied):
        raise Unauthorized(
            "市区町村コード・" + SIGN_IN_FAILED_JA, SIGN_IN_FAILED_EN
        ) from None
    clerk = Clerk(registry, staff)
    return TokenResponse(
        access_token=state.issue_token(clerk), expires_in=TOKEN_MAX_AGE,
        idle_timeout=int(IDLE_TIMEOUT.total_seconds()),
        municipality_code=registry.code, staff_id=staff.staff_id, role=staff.role.value,
    )


@router.post("/municipalities/{code}/token/revoke", status_code=204, tags=["認証"],
             response_class=Response)
def revoke_token(
    request: Request, clerk: ApiClerk, token: Annotated[str | None, Depends(oauth2)],
) -> Response:
    """Sign out: the token's session ends on the server; the token opens nothing afterwards."""
    get_state(request).revoke_token(clerk, token or "")
    return Response(status_code=204)


@router.get(
    "/municipalities/{code}/residents", response_model=SearchResponse, tags=["住民票"],
)
def search_residents(
    clerk: ApiClerk,
    purpose: Annotated[str, PURPOSE],
    name: Annotated[
        str | None, Query(description="氏名・ふりがなの一部", examples=["髙橋"])
    ] = None,
    birth_date: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    sex: Annotated[str | None, Query(description="男 / 女")] = None,
    address: str | None = None,
    number: Annotated[str | None, Query(description="個人番号（12桁）")] = None,
    include_removed: bool = False,
    page: Annotated[int, Query(ge=1, le=2**31 - 1, description="ページ番号（1から）")] = 1,
    per_page: Annotated[int, Query(ge=1, le=PER_PAGE,
                                   description=f"1ページの件数（{PER_PAGE}件まで）")] = PER_PAGE,
) -> SearchResponse:
    """Search by the four basic items or by number, a page (at most 50) at a time, with
    the total.  Each page is logged with the residents on it.  Numbers are masked; a
    person under 支援措置 is not found by a clerk without an approval for the record, and
    not by anyone through their address (row and total) without one."""
    results = clerk.registry.search(
        clerk.staff, purpose, name=name or None,
        birth_date=parse_date(birth_date, "生年月日") if birth_date else None,
        sex=check_sex(sex) if sex else None, address=address or None, number=number or None,
        include_removed=include_removed, page=page, per_page=per_page,
    )
    summaries = [ResidentSummary.of(r, clerk.staff) for r in results]
    return SearchResponse(purpose=results.affair.id, affair=results.affair.name,
                          count=len(summaries), total=results.total, page=results.page,
                          per_page=results.per_page, pages=results.pages, results=summaries)


@router.get(
    "/municipalities/{code}/residents/{resident_id}", response_model=ResidentDetail,
    tags=["住民票"],
)
def view_resident(
    clerk: ApiClerk, resident_id: ResidentId, purpose: Annotated[str, PURPOSE],
    reveal_number: Annotated[bool, Query(
        description="個人番号・住民票コードの全桁を求める（番号を表示できる役割のみ。"
        "開示として記録されます）")] = False,
) -> ResidentDetail:
    """One 住民票 for an affair; the view is logged with it.  The number comes in full
    only with ``reveal_number`` and a role allowed to see numbers (logged as a
    disclosure); otherwise masked.  A 支援措置 record needs an approved request."""
    resident = clerk.registry.view(clerk.staff, resident_id, purpose,
                                   reveal_number=reveal_number)
    return ResidentDetail.of(resident)


@router.get("/municipalities/{code}/affairs", response_model=AffairsResponse,
            tags=["事務と役割"])
def list_affairs(clerk: ApiClerk) -> AffairsResponse:
    """The affairs a view or search may be for here, and the roles that perform each."""
    policy = clerk.registry.affair_policy()
    return AffairsResponse(
        affairs=[Affair(id=a.id, name=a.name, law=a.law,
                        roles=[r.value for r in Role if r in policy.roles_of(a.id)],
                        yours=clerk.staff.role in policy.roles_of(a.id))
                 for a in CATALOGUE],
        number_roles=[r.value for r in Role if r in policy.number_roles],
    )


@router.get("/municipalities/{code}/protected-access", response_model=list[AccessRequestInfo],
            tags=["支援措置"])
def list_access_requests(clerk: ApiClerk) -> list[AccessRequestInfo]:
    """Requests to open 支援措置 records: every one for a supervisor, one's own otherwise."""
    return [AccessRequestInfo.of(r) for r in clerk.registry.protected_requests(clerk.staff)]


@router.post("/municipalities/{code}/protected-access", response_model=AccessRequestInfo,
             status_code=201, tags=["支援措置"])
def request_access(clerk: ApiClerk, body: AccessRequestBody) -> AccessRequestInfo:
    """Ask to open a 支援措置 record for an affair, with the reason (logged on the record).
    A supervisor other than the one who asks approves it."""
    return AccessRequestInfo.of(clerk.registry.request_protected_view(
        clerk.staff, body.resident_id, body.purpose, body.reason))


@router.post("/municipalities/{code}/protected-access/{request_id}/approve",
             response_model=AccessRequestInfo, tags=["支援措置"])
def approve_access(clerk: ApiClerk, request_id: RequestNumber) -> AccessRequestInfo:
    """Approve a request (a supervisor other than the one who asked); the requester may
    then open the record for that affair for a limited time."""
    return AccessRequestInfo.of(clerk.registry.decide_protected_view(clerk.staff, request_id))


@router.post("/municipalities/{code}/protected-access/{request_id}/decline",
             response_model=AccessRequestInfo, tags=["支援措置"])
def decline_access(clerk: ApiClerk, request_id: RequestNumber) -> AccessRequestInfo:
    """Decline a request (a supervisor other than the one who asked)."""
    return AccessRequestInfo.of(clerk.registry.decide_protected_view(
        clerk.staff, request_id, approve=False))


@router.post(
    "/municipalities/{code}/residents/births", response_model=ResidentCreated,
    status_code=201, tags=["届出"],
)
def register_birth(clerk: ApiClerk, body: BirthRequest, response: Response) -> ResidentCreated:
    """出生届."""
    resident = clerk.registry.register_birth(
        clerk.staff, body.person.to_domain(), body.placement.to_domain(),
        confirm_not_duplicate=body.confirm_not_duplicate,
    )
    response.headers["Location"] = (
        f"/api/v1/municipalities/{clerk.code}/residents/{resident.resident_id}"
    )
    return ResidentCreated(
        **ResidentSummary.of(resident, clerk.staff).model_dump(),
        household_number=resident.household_number, relationship=resident.relationship,
    )


@router.post(
    "/municipalities/{code}/residents/move-ins", response_model=ResidentCreated,
    status_code=201, tags=["届出"],
)
def move_in(
    request: Request, clerk: ApiClerk, body: MoveInRequest, response: Response,
) -> ResidentCreated:
    """転入届 with the 転出証明書 JSON (checked against the issuer when it is in this system)."""
    certificate = verify_certificate(get_state(request).system,
                                     body.certificate.to_domain(), clerk.code)
    resident = clerk.registry.move_in(
        clerk.staff, certificate, body.placement.to_domain(), body.moved_on
    )
    response.headers["Location"] = (
        f"/api/v1/municipalities/{clerk.code}/residents/{resident.resident_id}"
    )
    return ResidentCreated(
        **ResidentSummary.of(resident, clerk.staff).model_dump(),
        household_number=resident.household_number, relationship=resident.relationship,
    )


@router.post(
    "/municipalities/{code}/residents/{resident_id}/move-out", response_model=Certificate,
    status_code=201, tags=["届出"],
)
def move_out(clerk: ApiClerk, resident_id: ResidentId, body: MoveOutRequest) -> Certificate:
    """転出届: returns the 転出証明書 to hand over (it carries the number, by design)."""
    certificate = clerk.registry.move_out(
        clerk.staff, resident_id, body.destination, body.moving_on
    )
    return Certificate.of(certificate)


@router.post(
    "/municipalities/{code}/residents/{resident_id}/copies", response_model=CopyResponse,
    status_code=201, tags=["住民票の写し"],
)
def issue_copy(
    request: Request, clerk: ApiClerk, resident_id: ResidentId, body: CopyRequest,
) -> CopyResponse:
    """住民票の写し: metadata, the HTML, and the URL of the PDF.

    A person under 支援措置 is on it only under a live approval to open their record
    for 住民基本台帳事務: without one, their own copy is refused (403) and a household
    member is left off (``withheld`` counts them).
    """
    copy = clerk.registry.issue_copy(
        clerk.staff, resident_id, body.purpose, whole_household=body.whole_household,
        include_number=body.include_number, number_reason=body.number_reason,
    )
    issued = get_state(request).copies.add(clerk, copy)
    return CopyResponse(
        certificate_number=copy.certificate_number, municipality_code=copy.municipality_code,
        household_number=copy.household_number, issued_at=copy.issued_at,
        includes_number=copy.includes_number, is_removed_record=copy.is_removed_record,
        people=len(copy.entries), withheld=copy.withheld, html=issued.html,
        pdf_url=f"/api/v1/municipalities/{clerk.code}/copies/{copy.certificate_number}/pdf",
    )


@router.get(
    "/municipalities/{code}/copies/{certificate_number}/pdf", tags=["住民票の写し"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "PDF"}},
)
def copy_pdf(request: Request, clerk: ApiClerk, certificate_number: str) -> Response:
    """The PDF of a copy issued earlier (kept in memory by this server)."""
    return get_state(request).copies.pdf_response(clerk, certificate_number)


@router.post("/numbers/check", response_model=NumberCheck, tags=["個人番号"])
def check_number(body: NumberToCheck) -> NumberCheck:
    """Check the format and check digit of an individual number (no lookup, no sign-in).

    The number travels in the body, never in the URL, so that no access log holds it.
    """
    value = body.number
    try:
        number = individual.validate(value)
    except MynaError as exc:
        try:
            compact: str | None = individual.compact(value)
        except MynaError:
            compact = None
        return NumberCheck(valid=False, compact=compact, formatted=None, masked=None,
                           error=exc.message_ja, error_en=exc.message_en)
    return NumberCheck(valid=True, compact=number, formatted=individual.format(number),
                       masked=individual.mask(number), error=None)
