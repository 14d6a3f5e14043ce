"""The days public offices are closed (行政機関の休日に関する法律 第1条).

Saturdays and Sundays, the national holidays of 国民の祝日に関する法律 (with
substitute and in-between holidays, from ``jpholiday``), and the year-end days
12月29日から翌年1月3日.

>>> import datetime as dt
>>> office_closed(dt.date(2027, 1, 11)), office_closed(dt.date(2026, 12, 30))
('成人の日', '年末年始（12月29日〜1月3日）')
>>> office_closed(dt.date(2026, 12, 1)) is None
True
"""

from __future__ import annotations

import datetime as dt

import jpholiday


def office_closed(day: dt.date) -> str | None:
    """Why offices are closed on ``day`` (in Japanese), or None on a working day."""
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return "年末年始（12月29日〜1月3日）"
    if day.weekday() == 5:
        return "土曜日"
    if day.weekday() == 6:
        return "日曜日"
    name = jpholiday.is_holiday_name(day)
    return str(name) if name else None
