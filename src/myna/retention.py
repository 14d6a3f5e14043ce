"""保存期間: when a record that must be kept for some years may be erased.

情報提供等の記録 (番号法23条) is kept for the period the 政令 sets: 7 years
(番号法施行令30条).  Periods of years are counted as 民法 says (138条: unless a
law says otherwise):

* 140条: a period that does not begin at midnight does not count its first day
  (初日不算入) — the 起算日 is the day after the record was made;
* 141条: the period ends at the end of its last day;
* 143条2項: counted by the calendar, it ends on the day before the day of the
  last year that corresponds to the 起算日; if that year has no such day
  (29 February in a common year), at the end of that month.

So a record made on 2024-02-29 has its 起算日 on 2024-03-01 and its seven years
end at the end of 2031-02-28; it may be erased from 2031-03-01.  A record made on
2024-02-28 (起算日 2024-02-29, no 29 February in 2031) ends at the end of
2031-02-28 too.  Days are days in Japan (JST).  A record made at exactly
00:00:00 would count its first day under 140条ただし書; it is treated like any
other, which keeps it one day longer, never shorter.
"""

from __future__ import annotations

import datetime as dt

from myna.clock import JST, aware


def years_after(moment: dt.datetime, years: int) -> dt.datetime:
    """The same calendar moment ``years`` later (earlier when negative).

    A 29 February with no counterpart becomes the end of February — the first
    instant of 1 March (民法143条2項ただし書), so that later moments never map to
    earlier ones.

    >>> years_after(dt.datetime(2024, 2, 29, 10, 0), 7)
    datetime.datetime(2031, 3, 1, 0, 0)
    >>> years_after(dt.datetime(2024, 2, 29, 10, 0), 4)
    datetime.datetime(2028, 2, 29, 10, 0)
    """
    year = moment.year + years
    try:
        return moment.replace(year=year)
    except ValueError:  # 29 February in a common year
        return moment.replace(year=year, month=3, day=1, hour=0, minute=0, second=0,
                              microsecond=0)


def years_before(moment: dt.datetime, years: int) -> dt.datetime:
    """The same calendar moment ``years`` earlier (29 Feb as in :func:`years_after`).

    >>> years_before(dt.datetime(2031, 2, 28, 12, 0), 7)
    datetime.datetime(2024, 2, 28, 12, 0)
    >>> years_before(dt.datetime(2032, 2, 29, 12, 0), 7)
    datetime.datetime(2025, 3, 1, 0, 0)
    """
    return years_after(moment, -years)


def _same_day(day: dt.date, years: int) -> dt.date | None:
    """``day`` in the year ``years`` later, or None when that year has no such day."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return None


def last_day(made_on: dt.date, years: int) -> dt.date:
    """The last day a record made on ``made_on`` (a day in Japan) must be kept.

    >>> last_day(dt.date(2024, 2, 29), 7)
    datetime.date(2031, 2, 28)
    >>> last_day(dt.date(2024, 2, 28), 7)
    datetime.date(2031, 2, 28)
    >>> last_day(dt.date(2029, 2, 28), 7)
    datetime.date(2036, 2, 29)
    >>> last_day(dt.date(2024, 6, 10), 7)
    datetime.date(2031, 6, 10)
    """
    start = made_on + dt.timedelta(days=1)  # 民法140条: the first day is not counted
    corresponding = _same_day(start, years)
    if corresponding is None:  # 143条2項ただし書: the end of that month (28 February)
        return dt.date(start.year + years, 2, 28)
    return corresponding - dt.timedelta(days=1)  # 143条2項本文: the day before


def _midnight(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in Japan, in UTC."""
    return dt.datetime.combine(day, dt.time(), JST).astimezone(dt.UTC)


def erasable_from(made_at: dt.datetime, years: int) -> dt.datetime:
    """The first instant (UTC) at which a record made at ``made_at`` may be erased.

    >>> erasable_from(dt.datetime(2024, 2, 29, 1, 0, tzinfo=JST), 7).astimezone(JST).isoformat()
    '2031-03-01T00:00:00+09:00'
    """
    made_on = aware(made_at).astimezone(JST).date()
    return _midnight(last_day(made_on, years) + dt.timedelta(days=1))


def retention_cutoff(now: dt.datetime, years: int) -> dt.datetime:
    """Records made before this instant (UTC) have outlived their period at ``now``.

    Exactly: ``made_at < retention_cutoff(now, years)`` if and only if
    ``erasable_from(made_at, years) <= now``.  Naive ``now`` is UTC.
    """
    today = aware(now).astimezone(JST).date()
    # the first day whose records are still kept today: close to ``years`` before today
    back = _same_day(today, -years) or dt.date(today.year - years, 2, 28)
    day = back - dt.timedelta(days=3)
    while last_day(day, years) < today:
        day += dt.timedelta(days=1)
    return _midnight(day)
