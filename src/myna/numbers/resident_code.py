"""住民票コード (Resident Record Code).

Eleven digits: ten random digits chosen by the 住民基本台帳ネットワーク plus one
check digit. It is personal information like the Individual Number, so
:func:`mask` shows only the last three digits.

.. warning::

   The official check-digit formula for the 住民票コード could not be confirmed
   from a published source. Myna uses a **stand-in**, isolated in
   :func:`calc_check_digit`; see its docstring. Do not rely on these numbers
   matching real 住民票コード.

>>> validate('3141 5926 531')
'31415926531'
>>> validate('31415926532')
Traceback (most recent call last):
    ...
myna.errors.InvalidChecksum: 住民票コードのチェックデジットが一致しません（正しくは1ですが、...
>>> format('31415926531'), mask('31415926531')
('3141 5926 531', '**** **** 531')
"""

from __future__ import annotations

from myna.numbers._util import checked, checked_base, clean, grouped, masked, valid

__all__ = ["LENGTH", "WEIGHTS", "calc_check_digit", "compact", "format", "is_valid", "mask",
           "validate"]

NAME_JA = "住民票コード"
NAME_EN = "Resident Record Code"
#: Number of digits including the check digit.
LENGTH = 11
#: Weights of the ten base digits, left to right (stand-in, see calc_check_digit).
#: :mod:`myna.numbers.bulk` uses the same constant.
WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3)


def calc_check_digit(number: str) -> str:
    """Calculate the check digit for the ten-digit base ``number``.

    **Unconfirmed formula.** The rule the 住民基本台帳ネットワーク uses for the
    住民票コード check digit could not be confirmed from a published source
    (it is set by 総務省告示 / the 住基ネット technical standards, which we
    could not check). As a stand-in Myna uses the same modulus-11 weights
    scheme as the Individual Number and other local-government codes::

        weights 6, 5, 4, 3, 2, 7, 6, 5, 4, 3 over the ten digits, left to right
        r = Σ digit × weight mod 11
        check = 0 if r ≤ 1 else 11 − r

    This function (with :data:`WEIGHTS`) is the only place the rule lives;
    replace it if the official rule becomes known, and update the vectorised
    copy in :mod:`myna.numbers.bulk` — ``tests/test_numbers.py`` checks that
    the two agree.

    >>> calc_check_digit('3141592653')
    '1'
    >>> calc_check_digit('0123456789')
    '3'
    """
    base = checked_base(number, LENGTH - 1, -1, NAME_JA, NAME_EN)
    r = sum(w * int(d) for w, d in zip(WEIGHTS, base, strict=True)) % 11
    return "0" if r <= 1 else str(11 - r)


def compact(number: str) -> str:
    """Strip spaces and hyphens and turn full-width digits into ASCII.

    >>> compact('３１４１５ ９２６５３ １')
    '31415926531'
    """
    return clean(number, NAME_JA, NAME_EN)


def validate(number: str) -> str:
    """Check the format, length and check digit; return the compact code.

    >>> validate('01234567893')
    '01234567893'
    """
    return checked(number, LENGTH, calc_check_digit, -1, NAME_JA, NAME_EN)


def is_valid(number: str) -> bool:
    """Return whether ``number`` is a valid Resident Record Code.

    >>> is_valid('31415926531'), is_valid('31415926532')
    (True, False)
    """
    return valid(validate, number)


def format(number: str) -> str:
    """Group the digits 4-4-3 (length checked, check digit not).

    >>> format('31415926531')
    '3141 5926 531'
    """
    return grouped(number, (4, 4, 3), " ", NAME_JA, NAME_EN)


def mask(number: str) -> str:
    """Hide all but the last three digits.

    >>> mask('3141-5926-531')
    '**** **** 531'
    """
    return masked(number, (4, 4, 3), " ", 3, NAME_JA, NAME_EN)
