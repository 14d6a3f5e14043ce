"""個人番号 (Individual Number, "My Number").

Twelve digits: eleven digits carrying no meaning followed by one check digit.
The check digit is defined in 総務省令第85号（行政手続における特定の個人を識別するための
番号の利用等に関する法律の規定による通知カード及び個人番号カード並びに情報提供ネットワーク
システムによる特定個人情報の提供等に関する省令）第5条::

    check = 11 - (Σ Pn × Qn  mod 11)     (0 when the remainder is 0 or 1)

where Pn is the n-th digit counted from the right of the eleven-digit base and
Qn = n + 1 for 1 ≤ n ≤ 6, n − 5 for 7 ≤ n ≤ 11. Read left to right the weights
are 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2.

**The check digit does not catch every typo.** Because remainders 0 and 1 both
give check digit 0, a single-digit substitution that moves the remainder from 0
to 1 (or back) goes unnoticed. Counted exactly over all 10¹¹ bases and all 108
single-digit substitutions of the 12-digit number (12 positions × 9 other
digits), 180,000,000,004 of 10,800,000,000,000 substitutions — 1.6667 %, just
over one in sixty — still produce a valid number (1.818 % of substitutions in
the eleven base digits; changing the check digit itself is always caught).
``tests/test_numbers.py`` recomputes this figure by brute force over a random
sample and exactly by counting remainders.

>>> validate('1234 5678 9018')
'123456789018'
>>> validate('１２３４－５６７８－９０１８')
'123456789018'
>>> validate('12345678901')
Traceback (most recent call last):
    ...
myna.errors.InvalidLength: 個人番号は12桁です（入力は11桁） ...

Every error carries a Japanese and an English message saying what is wrong:

>>> from myna.errors import InvalidChecksum
>>> try:
...     validate('123456789019')
... except InvalidChecksum as error:
...     print(error.message_ja)
...     print(error.message_en)
個人番号のチェックデジットが一致しません（正しくは8ですが、9が入力されました）
Individual Number check digit does not match: expected 8, got 9
>>> is_valid('621498320257'), is_valid('012345678908')
(True, False)
>>> format('123456789018')
'1234 5678 9018'
>>> mask('123456789018')
'**** **** 9018'
"""

from __future__ import annotations

from operator import mul

from myna.numbers._util import checked, checked_base, clean, compacted, grouped, masked, valid

__all__ = ["LENGTH", "WEIGHTS", "calc_check_digit", "compact", "format", "is_valid", "mask",
           "validate"]

NAME_JA = "個人番号"
NAME_EN = "Individual Number"
#: Number of digits including the check digit.
LENGTH = 12
#: Weights of the eleven base digits, left to right.
WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Σ w·(c − 48) = Σ w·c − 48·Σ w: lets us work on the ASCII codes directly.
_OFFSET = 48 * sum(WEIGHTS)
# check digit for each remainder 0..10
_CHECK = "00987654321"


def _check_digit(base: str) -> str:
    """Check digit of an 11-character string of ASCII digits (not validated)."""
    return _CHECK[(sum(map(mul, WEIGHTS, base.encode("ascii"))) - _OFFSET) % 11]


def compact(number: str) -> str:
    """Strip spaces and hyphens and turn full-width digits into ASCII.

    >>> compact(' 1234-5678-9018 ')
    '123456789018'
    """
    return clean(number, NAME_JA, NAME_EN)


def calc_check_digit(number: str) -> str:
    """Calculate the check digit for the eleven-digit base ``number``.

    >>> calc_check_digit('12345678901')
    '8'
    >>> calc_check_digit('12345678900')  # remainder 1 gives 0
    '0'
    """
    return _check_digit(checked_base(number, LENGTH - 1, -1, NAME_JA, NAME_EN))


def validate(number: str) -> str:
    """Check the format, length and check digit; return the compact number.

    >>> validate('023456789013')
    '023456789013'
    """
    return checked(number, LENGTH, _check_digit, -1, NAME_JA, NAME_EN)


def is_valid(number: str) -> bool:
    """Return whether ``number`` is a valid Individual Number.

    >>> is_valid('123456789000'), is_valid('1234 5678 9018'), is_valid('12345678901X')
    (True, True, False)
    """
    if type(number) is str and len(number) == LENGTH and number.isascii() and number.isdigit():
        return number[-1] == _check_digit(number[:-1])  # fast path, no exceptions
    digits = compacted(number)  # as typed: separators, full-width digits
    if digits is not None:
        return len(digits) == LENGTH and digits[-1] == _check_digit(digits[:-1])
    return valid(validate, number)


def format(number: str) -> str:
    """Group the digits 4-4-4, as printed on the card.

    The length is checked (:class:`~myna.errors.InvalidLength`) but the check
    digit is not, so test numbers can be displayed too.

    >>> format('123456789018')
    '1234 5678 9018'
    """
    return grouped(number, (4, 4, 4), " ", NAME_JA, NAME_EN)


def mask(number: str) -> str:
    """Hide all but the last four digits, for screens and logs.

    >>> mask('6214-9832-0257')
    '**** **** 0257'
    """
    return masked(number, (4, 4, 4), " ", 4, NAME_JA, NAME_EN)
