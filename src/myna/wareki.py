"""和暦 (the Japanese era calendar) for printed documents: shared by every node.

A pure helper of the kernel: the registry prints it on 住民票の写し, J-LIS on the
個人番号通知書 and the card, the staff screens beside ISO dates.
"""

from __future__ import annotations

import datetime

__all__ = ["ERAS", "to_wareki"]

# (first day of the era, era name), newest first. 明治 is counted from 1868-01-25
# (明治元年1月1日 in the old calendar); the Gregorian calendar was only adopted in 1873,
# so dates before that are treated proleptically.
ERAS: tuple[tuple[datetime.date, str], ...] = (
    (datetime.date(2019, 5, 1), "令和"),
    (datetime.date(1989, 1, 8), "平成"),
    (datetime.date(1926, 12, 25), "昭和"),
    (datetime.date(1912, 7, 30), "大正"),
    (datetime.date(1868, 1, 25), "明治"),
)


def to_wareki(d: datetime.date) -> str:
    """Format a date in the Japanese era calendar (和暦), with 元年 for the first year.

    >>> from datetime import date
    >>> to_wareki(date(2019, 5, 1))
    '令和元年5月1日'
    >>> to_wareki(date(2019, 4, 30))
    '平成31年4月30日'
    >>> to_wareki(date(1989, 1, 8)), to_wareki(date(1989, 1, 7))
    ('平成元年1月8日', '昭和64年1月7日')
    >>> to_wareki(date(1926, 12, 25)), to_wareki(date(1926, 12, 24))
    ('昭和元年12月25日', '大正15年12月24日')
    >>> to_wareki(date(1912, 7, 30)), to_wareki(date(1912, 7, 29))
    ('大正元年7月30日', '明治45年7月29日')
    """
    if isinstance(d, datetime.datetime):
        d = d.date()
    for start, era in ERAS:
        if d >= start:
            year = d.year - start.year + 1
            year_text = "元" if year == 1 else str(year)
            return f"{era}{year_text}年{d.month}月{d.day}日"
    raise ValueError(f"{d.isoformat()} is before the Meiji era; no 和暦 is defined for it")
