"""保存期間 counted as 民法140〜143条 say: 29 February, year ends, days in Japan."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from myna.clock import JST
from myna.retention import (
    erasable_from,
    last_day,
    retention_cutoff,
    years_after,
    years_before,
)

D = dt.date


@pytest.mark.parametrize(("made_on", "years", "last"), [
    (D(2024, 2, 29), 7, D(2031, 2, 28)),   # 起算日 3/1 → 2031-03-01 の前日
    (D(2024, 2, 28), 7, D(2031, 2, 28)),   # 起算日 2/29 に応当する日がない → 2月の末日
    (D(2024, 2, 29), 8, D(2032, 2, 29)),   # 2032-03-01 の前日は閏日
    (D(2029, 2, 28), 7, D(2036, 2, 29)),   # 平年の2/28: 起算日 3/1 → 2036-03-01 の前日
    (D(2023, 2, 28), 1, D(2024, 2, 29)),
    (D(2024, 3, 1), 7, D(2031, 3, 1)),
    (D(2024, 6, 10), 7, D(2031, 6, 10)),
    (D(2024, 12, 31), 7, D(2031, 12, 31)),  # 起算日 2025-01-01 → 2032-01-01 の前日
], ids=lambda v: v.isoformat() if isinstance(v, D) else str(v))
def test_the_last_day_of_the_period(made_on: dt.date, years: int, last: dt.date) -> None:
    assert last_day(made_on, years) == last


def _jst(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=JST)  # type: ignore[misc]


def _kept(made_at: dt.datetime, now: dt.datetime, years: int = 7) -> bool:
    return not made_at < retention_cutoff(now, years)


def test_a_record_of_29_february_2024_is_kept_through_28_february_2031() -> None:
    made = _jst(2024, 2, 29, 12, 0)
    assert _kept(made, _jst(2031, 2, 27, 12, 0))                    # the day before the last
    assert _kept(made, _jst(2031, 2, 28, 23, 59, 59, 999999))       # the end of the last day
    assert not _kept(made, _jst(2031, 3, 1, 0, 0))                  # gone from 1 March
    assert not _kept(made, _jst(2031, 3, 2, 12, 0))                 # and the day after
    assert erasable_from(made, 7) == _jst(2031, 3, 1, 0, 0)


def test_the_day_is_the_day_in_japan() -> None:
    # 15:30 UTC on 29 February is 00:30 JST on 1 March: one more day to keep
    made = dt.datetime(2024, 2, 29, 15, 30, tzinfo=dt.UTC)
    assert _kept(made, _jst(2031, 3, 1, 23, 0))
    assert not _kept(made, _jst(2031, 3, 2, 0, 0))
    assert erasable_from(made, 7) == _jst(2031, 3, 2, 0, 0)
    # and the cutoff compares with stored UTC values
    assert retention_cutoff(_jst(2031, 3, 1, 0, 0), 7).tzinfo == dt.UTC


def test_29_february_in_a_leap_year_far_off() -> None:
    made = _jst(2024, 2, 29, 9, 0)
    assert _kept(made, _jst(2032, 2, 29, 23, 0), years=8)
    assert not _kept(made, _jst(2032, 3, 1, 0, 0), years=8)
    # the cutoff on a 29 February itself (the old helper raised there)
    assert retention_cutoff(_jst(2032, 2, 29, 12, 0), 7) == _jst(2025, 2, 28, 0, 0)


def test_the_moment_helpers_on_29_february() -> None:
    leap = dt.datetime(2024, 2, 29, 10, 30)
    assert years_after(leap, 4) == dt.datetime(2028, 2, 29, 10, 30)
    assert years_after(leap, 7) == dt.datetime(2031, 3, 1)   # the end of February
    assert years_before(leap, 1) == dt.datetime(2023, 3, 1)
    assert years_before(leap, 4) == dt.datetime(2020, 2, 29, 10, 30)
    common = dt.datetime(2023, 2, 28, 23, 0)
    assert years_after(common, 1) == dt.datetime(2024, 2, 28, 23, 0)
    # 28 Feb 23:00 comes before 29 Feb 10:00, and stays before after the shift
    assert years_after(dt.datetime(2024, 2, 28, 23, 0), 7) < years_after(leap, 7)


moments = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31),
                       timezones=st.sampled_from([None, dt.UTC, JST]))
leap_days = st.builds(
    lambda year, hour, minute: dt.datetime(year, 2, 29, hour, minute),
    st.sampled_from([y for y in range(1904, 2200, 4) if y % 100 or y % 400 == 0]),
    st.integers(0, 23), st.integers(0, 59))
shifts = st.integers(-100, 100)


@given(st.one_of(moments, leap_days), shifts)
def test_shifting_by_years_never_raises_and_keeps_the_order_with_the_moment(
    moment: dt.datetime, years: int,
) -> None:
    later, earlier = years_after(moment, years), years_before(moment, years)
    assert later.tzinfo is moment.tzinfo and earlier.tzinfo is moment.tzinfo
    if years >= 0:
        assert earlier <= moment <= later
    if not (moment.month == 2 and moment.day == 29):
        assert years_before(later, years) == moment


@given(st.one_of(moments, leap_days), st.one_of(moments, leap_days), shifts)
def test_shifting_by_years_is_monotonic(a: dt.datetime, b: dt.datetime, years: int) -> None:
    a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    first, second = min(a, b), max(a, b)
    assert years_after(first, years) <= years_after(second, years)
    assert years_before(first, years) <= years_before(second, years)


aware_moments = st.datetimes(min_value=dt.datetime(1950, 1, 1),
                             max_value=dt.datetime(2150, 12, 31), timezones=st.just(dt.UTC))


@given(st.one_of(aware_moments, leap_days.map(lambda m: m.replace(tzinfo=JST))),
       aware_moments, st.integers(1, 30))
def test_the_cutoff_says_exactly_which_records_have_outlived_their_period(
    made: dt.datetime, now: dt.datetime, years: int,
) -> None:
    erasable = erasable_from(made, years)
    assert (made < retention_cutoff(now, years)) == (erasable <= now)
    # kept for at least the whole years and never more than a few days beyond them
    assert erasable - made > dt.timedelta(days=365 * years)
    assert erasable - made <= dt.timedelta(days=366 * years + 2)


@given(aware_moments, aware_moments, st.integers(1, 30))
def test_the_cutoff_moves_forward_with_time(a: dt.datetime, b: dt.datetime,
                                            years: int) -> None:
    first, second = min(a, b), max(a, b)
    assert retention_cutoff(first, years) <= retention_cutoff(second, years)
