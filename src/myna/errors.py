"""Errors shared by every node.

Every error carries a Japanese message for the people using the system and an
English one for developers; ``str()`` shows both.
"""

from __future__ import annotations


class MynaError(Exception):
    """Base of every error Myna raises on purpose."""

    code = "error"

    def __init__(self, message_ja: str, message_en: str | None = None) -> None:
        self.message_ja = message_ja
        self.message_en = message_en or message_ja
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.message_en and self.message_en != self.message_ja:
            return f"{self.message_ja} ({self.message_en})"
        return self.message_ja


class ValidationError(MynaError, ValueError):
    """Input that is not acceptable."""

    code = "invalid"


class InvalidFormat(ValidationError):
    """The value contains characters that are not allowed, or has the wrong shape."""

    code = "invalid_format"


class InvalidLength(ValidationError):
    """The value has the wrong number of digits."""

    code = "invalid_length"


class InvalidChecksum(ValidationError):
    """The check digit does not match."""

    code = "invalid_checksum"


class NotFound(MynaError, LookupError):
    """The requested record does not exist."""

    code = "not_found"


class Conflict(MynaError):
    """The request contradicts the current state (duplicate, already resident, ...)."""

    code = "conflict"


class PermissionDenied(MynaError):
    """The caller is not allowed to do this."""

    code = "forbidden"


class Unavailable(MynaError):
    """A service this operation needs (a database, another node) cannot be reached now;
    nothing was changed, and the same request may simply be made again later."""

    code = "unavailable"
