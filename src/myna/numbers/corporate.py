"""法人番号 (Corporate Number).

Thirteen digits assigned by the National Tax Agency (国税庁) to companies,
government bodies and other organisations. Unlike the Individual Number the
check digit comes *first*: per 財務省令第70号（行政手続における特定の個人を識別するための
番号の利用等に関する法律の規定による法人番号の指定等に関する省令）第2条::

    check = 9 − (Σ Pn × Qn  mod 9)

where Pn is the n-th digit counted from the right of the twelve-digit base and
Qn is 1 for odd n and 2 for even n. The check digit is therefore always 1–9.

Corporate Numbers are public (国税庁法人番号公表サイト), so :func:`mask`
does not hide anything.

>>> validate('5-8356-7825-6246')
'5835678256246'
>>> validate('2835678256246')
Traceback (most recent call last):
    ...
myna.errors.InvalidChecksum: 法人番号のチェックデジットが一致しません（正しくは5ですが、...
>>> format('5835678256246')
'5-8356-7825-6246'
"""

from __future__ import annotations

from myna.numbers._util import checked, checked_base, clean, grouped, valid

__all__ = ["LENGTH", "calc_check_digit", "compact", "format", "is_valid", "mask", "validate"]

NAME_JA = "法人番号"
NAME_EN = "Corporate Number"
#: Number of digits including the (leading) check digit.
LENGTH = 13
_DOUBLE_SUM = 3 * 48  # each pair of digits (weights 1 and 2) contributes 3·48 in ASCII


def _check_digit(base: str) -> str:
    """Check digit of a 12-character string of ASCII digits (not validated)."""
    codes = base.encode("ascii")
    # weights from the right: 1, 2, 1, 2, ... -> even indices (from the left) weigh 2
    total = 2 * sum(codes[0::2]) + sum(codes[1::2]) - 6 * _DOUBLE_SUM
    return str(9 - total % 9)


def compact(number: str) -> str:
    """Strip spaces and hyphens and turn full-width digits into ASCII.

    >>> compact('5-8356-7825-6246')
    '5835678256246'
    """
    return clean(number, NAME_JA, NAME_EN)


def calc_check_digit(number: str) -> str:
    """Calculate the (leading) check digit for the twelve-digit base ``number``.

    >>> calc_check_digit('835678256246')
    '5'
    """
    return _check_digit(checked_base(number, LENGTH - 1, 0, NAME_JA, NAME_EN))


def validate(number: str) -> str:
    """Check the format, length and check digit; return the compact number.

    >>> validate('5835678256246')
    '5835678256246'
    """
    return checked(number, LENGTH, _check_digit, 0, NAME_JA, NAME_EN)


def is_valid(number: str) -> bool:
    """Return whether ``number`` is a valid Corporate Number.

    >>> is_valid('5835678256246'), is_valid('0835678256246')
    (True, False)
    """
    return valid(validate, number)


def format(number: str) -> str:
    """Format as ``X-XXXX-XXXX-XXXX`` (length checked, check digit not).

    >>> format('5835678256246')
    '5-8356-7825-6246'
    """
    return grouped(number, (1, 4, 4, 4), "-", NAME_JA, NAME_EN)


def mask(number: str) -> str:
    """Corporate Numbers are public, so this is the same as :func:`format`.

    >>> mask('5835678256246')
    '5-8356-7825-6246'
    """
    return format(number)
