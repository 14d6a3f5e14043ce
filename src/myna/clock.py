"""The one clock every node uses, and the one way a time is shown to a person.

Services store and exchange times in UTC (``now=`` is injectable for tests);
whatever a person reads — a screen, a command's output, a document — shows
Japan Standard Time and says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator

#: Japan Standard Time (no daylight saving).
JST = dt.timezone(dt.timedelta(hours=9), "JST")

#: A node process started with this set (an ISO instant in the past) runs as if it
#: had been started then: the demo across processes builds its history months ago
#: the way :func:`backdated` does in one process.  Only backwards; time moves on.
BACKDATE_ENV = "MYNA_BACKDATED_TO"


def _start_offset() -> dt.timedelta:
    value = os.environ.get(BACKDATE_ENV)
    if not value:
        return dt.timedelta(0)
    moment = dt.datetime.fromisoformat(value)
    shift = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)) - dt.datetime.now(
        dt.UTC)
    if shift > dt.timedelta(0):
        raise ValueError(f"{BACKDATE_ENV} goes back in time only")
    return shift


_offset = _start_offset()
_started_backdated = _offset != dt.timedelta(0)


def end_backdating() -> bool:
    """Bring a process started with :data:`BACKDATE_ENV` to the present (the demo across
    processes, once its history is built).  Only ever forwards, to the real time; a
    process started without it is left alone (False)."""
    global _offset, _started_backdated
    if not _started_backdated:
        return False
    _offset = dt.timedelta(0)
    _started_backdated = False
    return True


def utcnow() -> dt.datetime:
    """The current time in UTC, time-zone aware."""
    return dt.datetime.now(dt.UTC) + _offset


@contextlib.contextmanager
def backdated(moment: dt.datetime) -> Iterator[None]:
    """Run a block as if it were ``moment`` (in the past), then return to the present.

    Only the demo uses this, to give its synthetic installation a history that
    happened before the day it is built (the initial numbering and the mailing of
    the notifications months ago, today's 届出 today), so that nothing it records
    lies after the day it was run.  Time moves on normally inside the block.
    """
    global _offset
    previous = _offset
    shift = moment - dt.datetime.now(dt.UTC)
    if shift > dt.timedelta(0):
        raise ValueError("backdated() goes back in time only")
    _offset = shift
    try:
        yield
    finally:
        _offset = previous


def aware(value: dt.datetime) -> dt.datetime:
    """A stored timestamp with its zone: SQLite hands UTC values back naive.

    >>> aware(dt.datetime(2024, 1, 4, 15, 30)).isoformat()
    '2024-01-04T15:30:00+00:00'
    """
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """The same instant as aware UTC (naive values are UTC, as stored).

    >>> as_utc(dt.datetime(2024, 1, 5, 0, 30, tzinfo=JST)).isoformat()
    '2024-01-04T15:30:00+00:00'
    """
    return aware(value).astimezone(dt.UTC)


def to_jst(value: dt.datetime) -> dt.datetime:
    """The same instant in Japan time (naive values are UTC, as stored)."""
    return aware(value).astimezone(JST)


def jst_date(value: dt.datetime) -> dt.date:
    """The calendar day in Japan of an instant.

    >>> jst_date(dt.datetime(2024, 1, 4, 15, 30, tzinfo=dt.UTC))
    datetime.date(2024, 1, 5)
    """
    return to_jst(value).date()


def jst_today() -> dt.date:
    """Today in Japan: the day every 届出, letter and record is dated by (not the
    machine's local date, which is yesterday's before 09:00 JST on a UTC machine)."""
    return jst_date(utcnow())


def iso_jst(value: dt.datetime) -> str:
    """A time for machine-readable output (``--json``): ISO 8601 with Japan's offset.

    >>> iso_jst(dt.datetime(2024, 1, 4, 15, 30))
    '2024-01-05T00:30:00+09:00'
    """
    return to_jst(value).isoformat()


def json_default(value: object) -> str:
    """``json.dumps(..., default=json_default)``: times in Japan time, dates as ISO."""
    if isinstance(value, dt.datetime):
        return iso_jst(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def show_time(value: dt.datetime | None, *, seconds: bool = False) -> str:
    """A time as people read it everywhere in Myna: Japan time, labelled.

    >>> show_time(dt.datetime(2024, 1, 4, 15, 30))
    '2024-01-05 00:30 JST'
    >>> show_time(dt.datetime(2024, 1, 4, 15, 30, 7, tzinfo=dt.UTC), seconds=True)
    '2024-01-05 00:30:07 JST'
    >>> show_time(None)
    '―'
    """
    if value is None:
        return "―"
    return to_jst(value).strftime("%Y-%m-%d %H:%M:%S JST" if seconds else "%Y-%m-%d %H:%M JST")
