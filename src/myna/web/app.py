"""The FastAPI application: staff screens, the JSON API, sessions and error pages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Scope

from myna.errors import MynaError, Unavailable
from myna.expiry import Expiry
from myna.transport.guard import (
    SERVER_ERROR_JA,
    ErrorGuard,
    default_error_response,
    log_unexpected,
    request_id,
)
from myna.transport.limits import BodyLimit, UrlHygiene
from myna.web import access_pages, api, cards_pages, linkage_pages, notify_pages, pages
from myna.web.errors import (
    SignInRequired,
    error_body,
    malformed_json,
    request_validation_error,
    status_of,
)
from myna.web.presenters import (
    affair_name,
    format_code,
    format_number,
    jdate,
    jst,
    mask_code,
    mask_number,
    percent,
)
from myna.web.state import (
    TOKEN_MAX_AGE,
    StaffServices,
    WebState,
    derive_key,
    flash,
    get_state,
)

HERE = Path(__file__).parent
log = logging.getLogger(__name__)

#: Pages use no scripts at all; the copy of a 住民票 carries its own inline styles.
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)

DESCRIPTION = """\
Myna の市区町村（住民基本台帳）ノードの API。

* `POST /api/v1/token` で `username` = `市区町村コード:職員ID` と `password` を送り、
  Bearer トークン（有効期間 8 時間）を得ます。
* 閲覧・検索には目的（`purpose`: 職員の役割が行う事務のID、`GET …/affairs`）が必須で、
  すべてアクセス記録に残ります。自由記述の目的は受け付けません。
* 検索は1ページ50件まで（`page`・`per_page`）で、全体の件数（`total`）を返します。
* 個人番号は常にマスクされます。全桁は、番号を表示できる役割が住民票1件の閲覧で
  `reveal_number=true` を指定したときだけ返し、開示として記録します。
* 支援措置の対象者は、担当者の検索には現れません。記録を開くには申請
  （`POST …/protected-access`）と、申請者以外の監督者の承認が必要です。
* エラーは `{"error": コード, "message": 日本語, "message_en": English}` です。
"""


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        jdate=jdate, jst=jst, mask_number=mask_number, mask_code=mask_code,
        format_number=format_number, format_code=format_code, percent=percent,
        affair_name=affair_name,
    )
    return Jinja2Templates(env=env)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(request: Request, exc: MynaError, status: int) -> Response:
    try:
        return pages.render(
            request, "error.html", {"error": exc, "status": status, "error_page": True}, status
        )
    except Exception as failure:  # noqa: BLE001 - the error page itself must not fail
        log_unexpected(failure, request.scope)
        return HTMLResponse(
            f"<!DOCTYPE html><html lang=\"ja\"><meta charset=\"utf-8\"><title>エラー</title>"
            f"<p>{status} エラーが発生しました</p></html>", status_code=status,
        )


def _myna_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MynaError)
    status = status_of(exc)
    if _is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(exc), status_code=status, headers=headers)
    return _error_page(request, exc, status)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    malformed = malformed_json(exc.errors())
    if malformed is not None:
        return _myna_error(request, malformed)
    error = request_validation_error(exc.errors())
    if _is_api(request):
        body = error_body(error) | {"detail": [
            {"loc": list(e.get("loc", ())), "type": e.get("type")} for e in exc.errors()
        ]}
        return JSONResponse(body, status_code=422)
    return _error_page(request, error, 422)


_HTTP_MESSAGES = {
    400: ("リクエストの形式が不正です。送信内容（JSON など）を確認してください",
          "malformed request", "bad_request"),
    404: ("ページが見つかりません。アドレスを確認してください", "not found", "not_found"),
    405: ("この操作はこのページでは行えません", "method not allowed", "method_not_allowed"),
}


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    ja, en, code = _HTTP_MESSAGES.get(
        exc.status_code, ("要求を処理できませんでした", str(exc.detail), "error")
    )
    error = MynaError(ja, en)
    if _is_api(request):
        return JSONResponse({"error": code, "message": ja, "message_en": en},
                            status_code=exc.status_code, headers=exc.headers)
    return _error_page(request, error, exc.status_code)


def _database_busy(request: Request, exc: Exception) -> Response:
    """A database that is locked by another writer or cannot be reached: nothing was
    recorded, and sending the same request again later is the remedy (503)."""
    log_unexpected(exc, request.scope)
    return _myna_error(request, Unavailable(
        "データベースが混み合っているか、接続できません。何も記録されていません。"
        "しばらくしてからもう一度送信してください",
        "the database is busy or unreachable; nothing was recorded, try again later",
    ))


def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    flash(request, exc.message or "サインインしてください")
    query = urlencode({"next": exc.next_url}) if exc.next_url else ""
    return RedirectResponse("/" + (f"?{query}" if query else ""), status_code=303)


def _server_error_page(scope: Scope) -> Response:
    """The answer to an unexpected error (see :class:`myna.transport.guard.ErrorGuard`)."""
    if str(scope.get("path", "")).startswith("/api/"):
        return default_error_response(scope)
    rid = request_id(scope)
    return HTMLResponse(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>システムエラー"
        "</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head><body><main>"
        f"<div class=\"alert error\" role=\"alert\">{SERVER_ERROR_JA}（受付番号 {rid}）</div>"
        "<p lang=\"en\" class=\"hint\">An internal error occurred "
        f"(request {rid}).</p><p><a href=\"/\">トップへ</a></p></main></body></html>",
        status_code=500,
    )


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]],
) -> Response:
    response = await call_next(request)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("Content-Security-Policy", CSP)
    if not request.url.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(system: StaffServices, session_secret: bytes,
               expiry: Expiry | None = None) -> FastAPI:
    """The staff web app and API for every municipality of ``system``.

    ``session_secret`` signs the session cookies and the API tokens (separate
    keys are derived from it); keep it secret and stable across restarts.
    Provision records past their retention period are erased now and then while
    the app serves (``expiry``: by default every store of ``system``, daily).
    """
    if len(session_secret) < 16:
        raise ValueError("session_secret must be at least 16 random bytes")
    expiry = expiry or Expiry(system.retention_tasks())
    expiry.tick()
    app = FastAPI(
        title="Myna", description=DESCRIPTION, version="1",
        openapi_url="/openapi.json", docs_url=None, redoc_url=None,  # no CDN assets offline
        lifespan=expiry.lifespan,
    )
    app.state.myna = WebState(
        system=system,
        templates=_templates(),
        tokens=URLSafeTimedSerializer(derive_key(session_secret, "myna-api-token"),
                                      salt="myna-api-token"),
        links=URLSafeTimedSerializer(derive_key(session_secret, "myna-linkage-link"),
                                     salt="myna-linkage-link"),
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=derive_key(session_secret, "myna-web-session").hex(),
        session_cookie="myna_session",
        max_age=TOKEN_MAX_AGE,
        same_site="strict",
        https_only=False,  # localhost; put TLS in front in production
    )
    app.middleware("http")(_security_headers)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(linkage_pages.router)
    app.include_router(notify_pages.router)
    app.include_router(cards_pages.router)
    app.include_router(access_pages.router)
    app.include_router(api.router)
    app.add_exception_handler(MynaError, _myna_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_middleware(BodyLimit)
    app.add_middleware(UrlHygiene)
    app.add_middleware(ErrorGuard, render=_server_error_page)  # outermost: sees every error
    return app


__all__ = ["create_app", "get_state"]
