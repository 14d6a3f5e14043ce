"""Numbering rules of J-LIS, free of storage and transport.

The individual number is generated from the 住民票コード only (番号法8条 2項):

    number = base ‖ check,   base = FF1_K( D(code, k) ),   check per 総務省令85号 第5条

FF1 (NIST SP 800-38G) under a J-LIS AES-256 key is a permutation of the
11-digit space, so distinct inputs give distinct numbers: collisions are
impossible by construction and no number is ever issued twice.  Without the
key the mapping can neither be predicted nor inverted.

``D(code, k)`` keeps the code's first ten digits and adds ``k`` (mod 10) to its
check digit.  ``k`` is the *generation*: 0 for the first number, 1, 2, … for
numbers issued after a leak (番号法7条2項).  For k ≠ 0 the input is not a valid
住民票コード, so the inputs (code, k) of all residents and all generations are
pairwise distinct and never collide with another resident's first number.
Each code therefore supports nine number changes; a tenth needs a new code.

住民票コード themselves are handed out the same way: the ten random digits are
``FF1_K2(counter)`` over the 10-digit space, so a code is never issued twice
while looking random.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from myna.crypto.ff1 import FF1
from myna.errors import ValidationError
from myna.numbers import bulk, individual, resident_code

MAX_GENERATION = 9


class Sex(StrEnum):
    MALE = "男"
    FEMALE = "女"


@dataclass(frozen=True)
class IdentityInfo:
    """本人確認情報: the four basic items (基本4情報) with the 住民票コード."""

    resident_code: str
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    address: str


def number_input(code: str, generation: int) -> str:
    """The 11-digit FF1 input D(code, k) for a 住民票コード and generation.

    >>> number_input("12345678900", 0)
    '12345678900'
    >>> number_input("12345678900", 5)
    '12345678905'
    """
    if not 0 <= generation <= MAX_GENERATION:
        raise ValidationError(
            f"番号の変更回数が上限（{MAX_GENERATION}回）を超えています。住民票コードを変更してください",
            f"generation {generation} out of range 0..{MAX_GENERATION}",
        )
    code = resident_code.validate(code)
    return code[:10] + str((int(code[10]) + generation) % 10)


class NumberGenerator:
    """Keyed generator of individual numbers and 住民票コード."""

    def __init__(self, number_key: bytes, code_key: bytes) -> None:
        self._numbers = FF1(number_key, radix=10)
        self._codes = FF1(code_key, radix=10)

    def number_for(self, code: str, generation: int = 0) -> str:
        """The individual number for ``code`` at ``generation``."""
        base = self._numbers.encrypt(number_input(code, generation))
        return base + individual.calc_check_digit(base)

    def numbers_for(self, codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Vectorised first-generation numbers for valid 住民票コード given as integers."""
        bases = self._numbers.encrypt_batch(codes.astype(np.int64), 11)
        return bulk.append_individual_check_digit(bases)

    def resident_codes(self, first_counter: int, count: int) -> list[str]:
        """``count`` fresh 住民票コード from the code counter ``first_counter`` on."""
        if first_counter + count > 10**10:
            raise ValidationError(
                "住民票コードの空間を使い切りました", "resident-code space exhausted"
            )
        counters = np.arange(first_counter, first_counter + count, dtype=np.int64)
        tens = self._codes.encrypt_batch(counters, 10)
        checks = bulk.resident_code_check_digits(tens)
        full = tens * 10 + checks
        return [f"{v:011d}" for v in full.tolist()]
