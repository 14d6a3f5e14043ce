"""A ceiling on request bodies, enforced before a handler (or a form parser) reads them.

Text fields have their own, much smaller, limits (:mod:`myna.text`); this stops a
client from making a node buffer a gigabyte to find out.  A body over the limit
gets 413 with a message in Japanese and English, whether it announces its size
(``Content-Length``) or streams without one.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from myna.text import forbidden_kind
from myna.transport.guard import error_json

#: A face photo for the card may be 10 MiB (see ``myna.card.lifecycle.domain``) plus the form.
DEFAULT_MAX_BODY = 11 * 1024 * 1024


class _TooLarge(Exception):
    pass


def too_large(limit: int) -> JSONResponse:
    return error_json(413, "too_large",
                      f"送信された内容が大きすぎます（{limit / (1024 * 1024):.0f} MiB まで）",
                      f"request body larger than {limit} bytes")


class BodyLimit:
    """ASGI middleware refusing request bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await too_large(self.max_bytes)(scope, receive, send)
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await too_large(self.max_bytes)(scope, receive, send)


def _bad_url(scope: Scope) -> str | None:
    """The first character of the path or query no identifier or search term contains."""
    path = str(scope.get("path", ""))
    query = unquote_plus(bytes(scope.get("query_string", b"")).decode("utf-8", "replace"))
    for ch in path + query:
        if ch in "\t\r\n" or forbidden_kind(ch) in ("control", "surrogate", "replacement",
                                                    "noncharacter"):
            return f"U+{ord(ch):04X}"
    return None


class UrlHygiene:
    """ASGI middleware: a path or query with control characters (NUL …), lone surrogates
    or undecodable bytes is refused with 400 before any handler or database sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            bad = _bad_url(scope)
            if bad is not None:
                await error_json(400, "bad_request",
                                 f"アドレス（URL）に使えない文字があります（{bad}）",
                                 f"the URL contains a forbidden character ({bad})",
                                 )(scope, receive, send)
                return
        await self.app(scope, receive, send)
