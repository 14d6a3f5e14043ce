"""What an HTTP node does with an error nobody expected: answer, log, and keep data out.

Every request gets an id (``X-Request-ID`` on the answer).  An exception that
no handler turned into an answer becomes a 500 answer in Japanese and English
that quotes the id, and one log line with the id, the error's class and where
it was raised — never the exception's message nor the request's parameters,
because those may hold an individual number, a 住民票コード or a name (a
database error quotes the statement's parameters; a ``KeyError`` quotes the key).
"""

from __future__ import annotations

import logging
import re
import secrets
import traceback
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("myna.errors")

#: Runs of digits as long as a 住民票コード (11) or longer are never logged, even in a path.
_LONG_DIGITS = re.compile(r"\d{8,}")

SERVER_ERROR_JA = ("システムエラーが発生しました。時間をおいてもう一度お試しください。"
                   "続く場合は、受付番号を添えて管理者に連絡してください")
SERVER_ERROR_EN = "internal error"


def request_id(scope: Scope) -> str:
    """The id :class:`ErrorGuard` gave this request ("-" outside one)."""
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def where(exc: BaseException) -> str:
    """Where ``exc`` was raised, as ``file:line in function`` steps inside Myna (no values).

    >>> try:
    ...     {}["123456789018"]
    ... except KeyError as e:
    ...     "123456789018" in where(e) or "123456789018" in describe(e)
    False
    """
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/myna/" in f.filename.replace("\\", "/")] or frames[-1:]
    steps = [f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in ours[-6:]]
    return " ← ".join(reversed(steps)) or "?"


def describe(exc: BaseException) -> str:
    """The error's class and the classes of what caused it (e.g. a driver's error).

    >>> try:
    ...     try:
    ...         raise ValueError("secret 123456789018")
    ...     except ValueError as inner:
    ...         raise RuntimeError("wrapped") from inner
    ... except RuntimeError as e:
    ...     describe(e)
    'RuntimeError ← ValueError'
    """
    names: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(names) < 4:
        seen.add(id(current))
        cls = type(current)
        module = cls.__module__
        names.append(cls.__name__ if module in ("builtins", "__main__") else
                     f"{module.split('.')[0]}.{cls.__name__}")
        current = current.__cause__ or current.__context__
    return " ← ".join(n.removeprefix("myna.") for n in names)


def _short(filename: str) -> str:
    path = filename.replace("\\", "/")
    return path[path.rfind("/myna/") + 1:] if "/myna/" in path else path.rsplit("/", 1)[-1]


def log_unexpected(exc: BaseException, scope: Scope) -> None:
    """One line about an unexpected error: request id, method, path, class, place."""
    path = _LONG_DIGITS.sub("…", str(scope.get("path", "")))
    log.error("unexpected error %s (request %s, %s %s) at %s", describe(exc),
              request_id(scope), scope.get("method", "-"), path, where(exc))


def error_json(status: int, code: str, message_ja: str, message_en: str,
               **extra: str) -> JSONResponse:
    """An error answer as the API and the nodes give them (``error`` and ``kind`` alike)."""
    return JSONResponse({"error": code, "kind": code, "message": message_ja,
                         "message_en": message_en, **extra}, status_code=status)


def default_error_response(scope: Scope) -> Response:
    """A JSON 500 answer quoting the request id (nodes speak JSON)."""
    rid = request_id(scope)
    return error_json(500, "internal", f"{SERVER_ERROR_JA}（受付番号 {rid}）",
                      f"{SERVER_ERROR_EN} (request {rid})", request_id=rid)


class ErrorGuard:
    """ASGI middleware: request ids, and a safe answer and log line for unexpected errors.

    ``render(scope)`` builds the 500 answer (an HTML page for people, JSON for
    programs); it must not raise, and falls back to JSON if it does.
    """

    def __init__(self, app: ASGIApp,
                 render: Callable[[Scope], Response] = default_error_response) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(6)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).setdefault("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            log_unexpected(exc, scope)
            if started:
                return  # the answer is under way: the client sees a cut connection
            try:
                response = self.render(scope)
            except Exception:  # noqa: BLE001
                response = default_error_response(scope)
            response.headers.setdefault("X-Request-ID", rid)
            await response(scope, receive, send)
