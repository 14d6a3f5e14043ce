"""The one clock every node uses by default (services take ``now=`` for tests)."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time in UTC, time-zone aware."""
    return dt.datetime.now(dt.UTC)
