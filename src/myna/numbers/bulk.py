"""Vectorised (NumPy) check digits for millions of numbers at once.

The scalar modules (:mod:`~myna.numbers.individual`,
:mod:`~myna.numbers.resident_code`) are the reference; these functions give
the same answers (a Hypothesis test checks it) but work on whole arrays.

Numbers can be given as

* integers (any integer dtype, or a list of ``int``): the digits are the
  decimal value padded with leading zeros, so ``23456789013`` means
  ``023456789013``. Negative values and values with too many digits are
  invalid;
* byte strings (``'S12'``) or ``str`` (``'U12'`` arrays or lists of ``str``):
  exactly the digits, nothing else — no spaces, hyphens or full-width digits
  (run :func:`~myna.numbers.individual.compact` first if needed). Anything
  else is simply invalid.

The result has the same shape as the input.

>>> validate_individual([123456789018, 621498320257, 12345678908]).tolist()
[True, True, False]
>>> validate_individual(['123456789018', '023456789013', '1234-5678-9018']).tolist()
[True, True, False]
>>> append_individual_check_digit([12345678901, 2345678901]).tolist()
[123456789018, 23456789013]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from myna.errors import InvalidFormat, InvalidLength
from myna.numbers import individual, resident_code
from myna.numbers._util import SEPARATORS

__all__ = [
    "append_individual_check_digit",
    "append_resident_code_check_digit",
    "individual_check_digits",
    "resident_code_check_digits",
    "validate_individual",
    "validate_resident_code",
]

# check digit for remainders 0..10 of the modulus-11 schemes: 0 if r <= 1 else 11 - r
_MOD11_CHECK = np.array([0, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1], dtype=np.int64)
_CHUNK_DIGITS = 4  # digits handled per lookup table (tables of 10**4 entries)
_BLOCK = 1 << 16  # elements per block, keeps temporaries in cache


@functools.cache
def _tables(weights: tuple[int, ...]) -> tuple[tuple[int, int, NDArray[np.int64]], ...]:
    """Lookup tables ``(divisor, modulus, table)`` so that
    Σ digit·weight ≡ Σ table[(base // divisor) % modulus]  (mod 11)."""
    tables = []
    n = len(weights)
    for end in range(n, 0, -_CHUNK_DIGITS):  # chunks of digits, from the right
        start = max(0, end - _CHUNK_DIGITS)
        chunk = weights[start:end]
        values = np.arange(10 ** len(chunk), dtype=np.int64)
        table = np.zeros_like(values)
        for i, w in enumerate(reversed(chunk)):  # i-th digit from the right of the chunk
            table += w * (values // 10**i % 10)
        tables.append((10 ** (n - end), 10 ** len(chunk), table % 11))
    return tuple(tables)


def _remainders(bases: NDArray[np.int64], weights: tuple[int, ...]) -> NDArray[np.int64]:
    """Σ digit·weight mod 11 for non-negative integer bases of ``len(weights)`` digits."""
    total = np.zeros(bases.shape, dtype=np.int64)
    for divisor, modulus, table in _tables(weights):
        part = bases // divisor if divisor > 1 else bases
        total += table[part % modulus]
    return total % 11


def _integer_bases(values: ArrayLike, digits: int, name_ja: str, name_en: str) -> NDArray[np.int64]:
    """Validate bases for check-digit calculation (non-negative, at most ``digits`` digits)."""
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidFormat(
            f"{name_ja}の基礎番号は整数の配列で指定してください（dtype={arr.dtype}）",
            f"{name_en} bases must be an integer array, got dtype {arr.dtype}",
        )
    if arr.dtype.kind == "u" and arr.max() >= 10**digits:
        bad = int(np.argmax(arr >= 10**digits))
        raise InvalidLength(
            f"{name_ja}の基礎番号は{digits}桁以内です（{bad}番目: {arr.flat[bad]}）",
            f"{name_en} bases have at most {digits} digits, got {arr.flat[bad]} at index {bad}",
        )
    bases = arr.astype(np.int64, copy=False)
    flat = bases.reshape(-1)
    if (flat < 0).any():
        bad = int(np.argmax(flat < 0))
        raise InvalidFormat(
            f"{name_ja}の基礎番号に負の値があります（{bad}番目: {flat[bad]}）",
            f"{name_en} bases must not be negative, got {flat[bad]} at index {bad}",
        )
    if (flat >= 10**digits).any():
        bad = int(np.argmax(flat >= 10**digits))
        raise InvalidLength(
            f"{name_ja}の基礎番号は{digits}桁以内です（{bad}番目: {flat[bad]}）",
            f"{name_en} bases have at most {digits} digits, got {flat[bad]} at index {bad}",
        )
    return bases


def _check_digits(bases: NDArray[np.int64], weights: tuple[int, ...]) -> NDArray[np.int64]:
    flat = bases.reshape(-1)
    out = np.empty(flat.shape, dtype=np.int64)
    for i in range(0, flat.size, _BLOCK):
        out[i : i + _BLOCK] = _MOD11_CHECK[_remainders(flat[i : i + _BLOCK], weights)]
    return out.reshape(bases.shape)


def _validate_integers(arr: NDArray[Any], weights: tuple[int, ...]) -> NDArray[np.bool_]:
    length = len(weights) + 1
    flat = arr.reshape(-1)
    out = np.empty(flat.shape, dtype=np.bool_)
    for i in range(0, flat.size, _BLOCK):
        block = flat[i : i + _BLOCK]
        if block.dtype == np.uint64:  # avoid wrapping huge values into the valid range
            in_range = block < 10**length
            block = np.where(in_range, block, 0).astype(np.int64)
        else:
            block = block.astype(np.int64, copy=False)
            in_range = (block >= 0) & (block < 10**length)
            block = np.where(in_range, block, 0)
        given = block % 10
        expected = _MOD11_CHECK[_remainders(block // 10, weights)]
        out[i : i + _BLOCK] = in_range & (given == expected)
    return out.reshape(arr.shape)


def _validate_characters(arr: NDArray[Any], weights: tuple[int, ...]) -> NDArray[np.bool_]:
    """``arr`` is an 'S' or 'U' array: check each entry is exactly the right digits."""
    length = len(weights) + 1
    unit = np.uint8 if arr.dtype.kind == "S" else np.uint32
    width = arr.dtype.itemsize // np.dtype(unit).itemsize
    if width < length:  # every entry is too short
        return np.zeros(arr.shape, dtype=np.bool_)
    codes: NDArray[Any] = np.ascontiguousarray(arr).reshape(-1).view(unit).reshape(-1, width)
    out = np.empty(codes.shape[0], dtype=np.bool_)
    for i in range(0, codes.shape[0], _BLOCK):
        block = codes[i : i + _BLOCK]
        digits: NDArray[Any] = block[:, :length] - unit(48)  # wraps around for characters below '0'
        ok = (digits <= 9).all(axis=1)
        if width > length:  # longer entries are padded with NUL; anything else is too long
            ok &= (block[:, length:] == 0).all(axis=1)
        # rows that are not ok hold garbage here; they are masked out below
        total = np.zeros(block.shape[0], dtype=np.int64)
        for j, w in enumerate(weights):
            total += digits[:, j] * np.int64(w)
        expected = _MOD11_CHECK[total % 11]
        out[i : i + _BLOCK] = ok & (digits[:, -1] == expected)
    return out.reshape(arr.shape)


def _validate(values: ArrayLike, weights: tuple[int, ...], name_en: str) -> NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.bool_)
    if arr.dtype.kind == "O":
        items = arr.reshape(-1).tolist()
        if all(isinstance(v, str) for v in items):
            arr = arr.astype(str)
        elif all(isinstance(v, bytes) for v in items):
            arr = arr.astype(bytes)
        else:
            raise TypeError(f"{name_en} values must be all integers, all str or all bytes")
    if arr.dtype.kind in "iu":
        return _validate_integers(arr, weights)
    if arr.dtype.kind in "SU":
        return _validate_characters(arr, weights)
    raise TypeError(
        f"{name_en} values must be integers, str or bytes, not dtype {arr.dtype}"
    )


def validate_individual(values: ArrayLike) -> NDArray[np.bool_]:
    """Which of ``values`` are valid Individual Numbers (12 digits).

    >>> import numpy as np
    >>> validate_individual(np.array([b'123456789018', b'123456789000', b'012345678908']))
    array([ True,  True, False])
    """
    return _validate(values, individual.WEIGHTS, individual.NAME_EN)


_SEPARATOR_CODES = np.array(sorted(ord(c) for c in SEPARATORS), dtype=np.uint32)
_FULL_WIDTH_ZERO = 0xFF10


def _validate_typed(values: Sequence[str], weights: tuple[int, ...],
                    scalar: Callable[[str], bool]) -> NDArray[np.bool_]:
    """Which of ``values``, typed by people, are valid: the answers of ``scalar``, computed
    a block at a time.  Digits (ASCII or full-width) and the separators :func:`clean`
    removes are handled here; a row with any other character goes to ``scalar``."""
    length = len(weights) + 1
    out = np.zeros(len(values), dtype=np.bool_)
    weight_row = np.array(weights, dtype=np.int64)
    for start in range(0, len(values), _BLOCK // 16):
        part = list(values[start:start + _BLOCK // 16])
        arr = np.asarray(part, dtype=str)
        if arr.dtype.itemsize == 0:
            continue  # every entry empty
        width = arr.dtype.itemsize // 4
        codes = arr.view(np.uint32).reshape(len(part), width).copy()
        full = (codes >= _FULL_WIDTH_ZERO) & (codes <= _FULL_WIDTH_ZERO + 9)
        codes[full] -= _FULL_WIDTH_ZERO - 48
        digit = (codes >= 48) & (codes <= 57)
        simple = (digit | (codes == 0) | np.isin(codes, _SEPARATOR_CODES)).all(axis=1)
        count = digit.sum(axis=1)
        order = np.argsort(~digit, axis=1, kind="stable")  # digits first, in order
        packed = np.take_along_axis(np.where(digit, codes, 48), order, axis=1)
        if width < length:
            packed = np.pad(packed, ((0, 0), (0, length - width)), constant_values=48)
        digits = packed[:, :length].astype(np.int64) - 48
        expected = _MOD11_CHECK[(digits[:, :-1] @ weight_row) % 11]
        ok = simple & (count == length) & (digits[:, -1] == expected)
        for i in np.flatnonzero(~simple):
            ok[i] = scalar(part[i])
        out[start:start + len(part)] = ok
    return out


def validate_individual_typed(values: Sequence[str]) -> NDArray[np.bool_]:
    """Which Individual Numbers, as people type them, are valid — the answers of
    :func:`myna.numbers.individual.is_valid`, for many at once.

    >>> validate_individual_typed(['1234 5678 9018', '１２３４－５６７８－９０１８',
    ...                            '123456789000', '1234 5678 9019', '', '12345678901８x'])
    array([ True,  True,  True, False, False, False])
    """
    return _validate_typed(values, individual.WEIGHTS, individual.is_valid)


def individual_check_digits(bases: ArrayLike) -> NDArray[np.int64]:
    """Check digits for an integer array of 11-digit Individual Number bases.

    >>> individual_check_digits([12345678901, 62149832025, 2345678901]).tolist()
    [8, 7, 3]
    """
    arr = _integer_bases(bases, len(individual.WEIGHTS), individual.NAME_JA, individual.NAME_EN)
    return _check_digits(arr, individual.WEIGHTS)


def append_individual_check_digit(bases: ArrayLike) -> NDArray[np.int64]:
    """Complete Individual Numbers (``base * 10 + check``) as an int64 array."""
    arr = _integer_bases(bases, len(individual.WEIGHTS), individual.NAME_JA, individual.NAME_EN)
    return arr * 10 + _check_digits(arr, individual.WEIGHTS)


def validate_resident_code(values: ArrayLike) -> NDArray[np.bool_]:
    """Which of ``values`` are valid 住民票コード (11 digits, stand-in check digit).

    >>> validate_resident_code(['31415926531', '31415926532']).tolist()
    [True, False]
    """
    return _validate(values, resident_code.WEIGHTS, resident_code.NAME_EN)


def resident_code_check_digits(bases: ArrayLike) -> NDArray[np.int64]:
    """Check digits for an integer array of 10-digit 住民票コード bases.

    >>> resident_code_check_digits([3141592653, 123456789]).tolist()
    [1, 3]
    """
    arr = _integer_bases(
        bases, len(resident_code.WEIGHTS), resident_code.NAME_JA, resident_code.NAME_EN
    )
    return _check_digits(arr, resident_code.WEIGHTS)


def append_resident_code_check_digit(bases: ArrayLike) -> NDArray[np.int64]:
    """Complete 住民票コード (``base * 10 + check``) as an int64 array."""
    arr = _integer_bases(
        bases, len(resident_code.WEIGHTS), resident_code.NAME_JA, resident_code.NAME_EN
    )
    return arr * 10 + _check_digits(arr, resident_code.WEIGHTS)
