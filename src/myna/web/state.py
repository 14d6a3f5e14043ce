"""Per-application state shared by the pages and the API, and who is signed in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, cast
from urllib.parse import quote, urlencode

from fastapi import Path, Request, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from myna.contracts.cards import CardsApi
from myna.contracts.hub import HubApi
from myna.contracts.municipality import MoveOutSource
from myna.contracts.notify import NotifyApi
from myna.errors import PermissionDenied
from myna.expiry import RetentionTask
from myna.keys import KeyStore
from myna.municipality import Municipality
from myna.registry.documents import ResidentRecordCopy, render_html, render_pdf
from myna.registry.domain import Staff
from myna.registry.service import MunicipalityRegistry
from myna.registry.staff import SessionKind
from myna.web.errors import Unauthorized

#: API bearer tokens and staff sign-ins last one working day.
TOKEN_MAX_AGE = 8 * 3600

#: How long the link to a 情報照会 result stays valid (a pending one may wait for days).
LINKAGE_LINK_MAX_AGE = 90 * 24 * 3600

#: A resident's ID in a URL: bounded so that it fits the database's INTEGER column
#: (anything larger would fail in the driver rather than be "not found").
ResidentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="住民ID")]


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A separate key per use of the one application secret (HMAC-SHA256)."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


class StaffServices(Protocol):
    """What the staff web app reaches: its own towns' systems, and the other
    organisations only through their interfaces.

    :class:`myna.system.MynaSystem` provides it in one process (every town of the
    installation); :class:`myna.town.TownHost` in a municipality's own process (that
    town alone, the others over HTTP).
    """

    @property
    def keys(self) -> KeyStore: ...

    @property
    def registries(self) -> Mapping[str, MunicipalityRegistry]: ...

    def registry(self, code: str) -> MunicipalityRegistry: ...

    def municipality(self, code: str) -> Municipality: ...

    @property
    def notify(self) -> NotifyApi: ...

    @property
    def cards(self) -> CardsApi: ...

    @property
    def hub(self) -> HubApi: ...

    def retention_tasks(self) -> list[RetentionTask]: ...

    def moveout_source(self, code: str, asking: str) -> MoveOutSource | None:
        """The town ``code`` that issued a 転出証明書, as town ``asking`` reaches it
        (None for a town outside the installation)."""
        ...


@dataclass(frozen=True)
class Clerk:
    """A signed-in member of staff acting for one municipality."""

    registry: MunicipalityRegistry
    staff: Staff

    @property
    def code(self) -> str:
        return self.registry.code


@dataclass
class IssuedCopy:
    """A 住民票の写し as the web app shows it, its HTML and PDF rendered once."""

    code: str
    copy: ResidentRecordCopy
    html: str
    pdf: bytes | None = None


@dataclass
class CopyStore:
    """Rendered copies in memory, by certificate number (oldest dropped beyond ``limit``).

    Only the rendering is kept: every display asks the registry for the copy
    (:meth:`~myna.registry.copies.Copies.get_copy`), which lets only the member of
    staff who issued it or a supervisor see it, refuses a copy showing a person
    under 支援措置 to anyone without a live approval, and logs each display.
    """

    limit: int = 500
    _items: OrderedDict[str, IssuedCopy] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, clerk: Clerk, copy: ResidentRecordCopy) -> IssuedCopy:
        """Keep the rendering of a copy just issued or read (the registry's checks passed)."""
        issued = IssuedCopy(clerk.code, copy, render_html(copy))
        with self._lock:
            self._items[copy.certificate_number] = issued
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return issued

    def get(self, clerk: Clerk, certificate_number: str) -> IssuedCopy:
        """The copy, shown again under the registry's rules (each display logged)."""
        copy = clerk.registry.get_copy(clerk.staff, certificate_number)
        with self._lock:
            issued = self._items.get(certificate_number)
        if issued is None or issued.code != clerk.code or issued.copy != copy:
            issued = self.add(clerk, copy)
        return issued

    def pdf(self, issued: IssuedCopy) -> bytes:
        if issued.pdf is None:
            issued.pdf = render_pdf(issued.copy)
        return issued.pdf

    def pdf_response(self, clerk: Clerk, certificate_number: str) -> Response:
        """The PDF of an issued copy, as a download."""
        issued = self.get(clerk, certificate_number)
        return Response(
            self.pdf(issued), media_type="application/pdf",
            headers={"Content-Disposition":
                     f'attachment; filename="juminhyo-{issued.copy.certificate_number}.pdf"'},
        )


@dataclass(frozen=True)
class LinkageContext:
    """Who sent a 情報照会, about whom and why (signed into the result page's link)."""

    request_id: str
    staff_id: str
    resident_id: int
    purpose: str


@dataclass
class WebState:
    """Everything the handlers need, stored on ``app.state.myna``."""

    system: StaffServices
    templates: Jinja2Templates
    tokens: URLSafeTimedSerializer
    #: Signs the links to 情報照会 results (a key of its own: never a bearer token).
    links: URLSafeTimedSerializer
    copies: CopyStore = field(default_factory=CopyStore)

    # -- links to 情報照会 results --------------------------------------------------------

    def linkage_url(self, clerk: Clerk, request_id: str, resident_id: int, purpose: str) -> str:
        """The result page of a request sent by ``clerk`` (survives restarts: no server state)."""
        token = self.links.dumps({"m": clerk.code, "r": request_id, "s": clerk.staff.staff_id,
                                  "p": resident_id, "q": purpose})
        return (f"/m/{clerk.code}/linkage/requests/{quote(request_id)}?"
                + urlencode({"t": token}))

    def linkage_context(self, clerk: Clerk, request_id: str, token: str) -> LinkageContext:
        """The context of a result link; only its sender or a supervisor may open it."""
        invalid = PermissionDenied(
            "照会結果を表示するためのリンクが無効か、期限（90日）が切れています。"
            "結果は情報提供等記録で確認できます",
            "invalid or expired link to a linkage result",
        )
        try:
            data = self.links.loads(token, max_age=LINKAGE_LINK_MAX_AGE)
        except (BadSignature, SignatureExpired):
            raise invalid from None
        if (not isinstance(data, dict) or data.get("m") != clerk.code
                or data.get("r") != request_id or not isinstance(data.get("p"), int)
                or not isinstance(data.get("q"), str) or not isinstance(data.get("s"), str)):
            raise invalid
        if data["s"] != clerk.staff.staff_id and not clerk.staff.may_view_protected:
            raise PermissionDenied(
                "この照会結果は照会した職員または監督者のみ表示できます",
                "only the staff member who sent the request or a supervisor may open it",
            )
        return LinkageContext(request_id, data["s"], data["p"], data["q"])

    # -- API bearer tokens -----------------------------------------------------------

    def issue_token(self, clerk: Clerk) -> str:
        """A bearer token for a new server-side API session of ``clerk``."""
        session = clerk.registry.accounts.start_session(clerk.staff, SessionKind.API)
        return self.tokens.dumps({"m": clerk.code, "t": session})

    def clerk_from_token(self, code: str, token: str | None) -> Clerk:
        """The staff member a bearer token speaks for, checked against ``code``."""
        if not token:
            raise Unauthorized(
                "認証が必要です。/api/v1/token でトークンを取得してください",
                "authentication required: get a token from /api/v1/token",
            )
        try:
            data = self.tokens.loads(token, max_age=TOKEN_MAX_AGE)
        except SignatureExpired:
            raise Unauthorized(
                "トークンの有効期限（8時間）が切れました。取得し直してください", "token expired"
            ) from None
        except BadSignature:
            raise Unauthorized("トークンが不正です", "invalid token") from None
        if (not isinstance(data, dict) or not isinstance(data.get("m"), str)
                or not isinstance(data.get("t"), str)):
            raise Unauthorized("トークンが不正です", "invalid token")
        registry = self.system.registry(code)
        if data["m"] != registry.code:
            raise PermissionDenied(
                f"このトークンでは市区町村 {code} の事務は行えません"
                f"（{data['m']} の職員のトークンです）",
                f"token belongs to municipality {data['m']}, not {code}",
            )
        try:
            staff = registry.accounts.session(data["t"], SessionKind.API)
        except PermissionDenied:
            raise Unauthorized(
                "トークンのセッションは終了しています（サインアウト・アカウントのロックや役割の"
                "変更・30分間の無操作・8時間の経過）。取得し直してください",
                "the token's session has ended: get a new token",
            ) from None
        return Clerk(registry, staff)

    def revoke_token(self, clerk: Clerk, token: str) -> None:
        """End the API session of a bearer token (``POST /api/v1/token/revoke``)."""
        try:
            data = self.tokens.loads(token)
        except BadSignature:
            return
        if isinstance(data, dict) and isinstance(data.get("t"), str):
            clerk.registry.accounts.end_session(data["t"])

    # -- page sessions -----------------------------------------------------------------

    def sign_in(self, request: Request, registry: MunicipalityRegistry, staff: Staff) -> None:
        """Start a server-side session; the cookie carries only its random token."""
        token = registry.accounts.start_session(staff, SessionKind.WEB)
        request.session.clear()  # a fresh cookie: no fixation of an earlier one
        request.session.update({"m": registry.code, "sid": token})

    def sign_out(self, request: Request) -> None:
        """End the session on the server, then forget the cookie's contents."""
        code, token = request.session.get("m"), request.session.get("sid")
        registry = self.system.registries.get(code) if isinstance(code, str) else None
        if registry is not None and isinstance(token, str):
            registry.accounts.end_session(token)
        request.session.clear()

    def session_clerk(self, request: Request) -> Clerk | None:
        """Who is signed in to the pages (None when nobody, or the session has ended)."""
        cached = request.scope.get("state", {}).get("myna_clerk")
        if isinstance(cached, Clerk):
            return cached
        session = request.session
        code, token = session.get("m"), session.get("sid")
        if not isinstance(code, str) or not isinstance(token, str):
            return None
        registry = self.system.registries.get(code)
        if registry is None:
            return None
        try:
            clerk = Clerk(registry, registry.accounts.session(token, SessionKind.WEB))
        except PermissionDenied:
            session.pop("sid", None)
            return None
        request.scope.setdefault("state", {})["myna_clerk"] = clerk
        return clerk


def get_state(request: Request) -> WebState:
    """The app's :class:`WebState`."""
    return cast(WebState, request.app.state.myna)


def csrf_token(request: Request) -> str:
    """The form token of this browser session (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def flash(request: Request, message: str) -> None:
    """Show ``message`` once on the next page."""
    messages: list[Any] = list(request.session.get("flash", []))
    messages.append(message)
    request.session["flash"] = messages[-5:]


def pop_flashes(request: Request) -> list[str]:
    messages = request.session.pop("flash", [])
    return [str(m) for m in messages] if isinstance(messages, list) else []
