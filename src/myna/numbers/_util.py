"""Helpers shared by the identifier modules.

Only ever use these for *identifiers* (numbers and codes). Names and addresses
must never go through :func:`clean`: NFKC normalisation changes how a name is
written (for example half-width katakana become full-width, ``㈱`` becomes
``(株)``), and a person's name has to be kept exactly as registered.

>>> clean('１２３４－５６７８　９０１８', '個人番号', 'Individual Number')
'123456789018'
>>> clean('1234 5678 901X', '個人番号', 'Individual Number')
Traceback (most recent call last):
    ...
myna.errors.InvalidFormat: 個人番号に使用できない文字「X」（U+0058）が含まれています（14文字目） ...
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Literal

from myna.errors import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

__all__ = ["SEPARATORS", "check_length", "checked", "checked_base", "checksum_error", "clean",
           "compacted", "grouped", "masked", "valid"]

#: Where the check digit stands: ``0`` first (法人番号), ``-1`` last (the others).
Position = Literal[0, -1]

#: Characters removed by :func:`clean`: white space and the dashes, hyphens and
#: prolonged-sound marks people type between groups of digits. Both the
#: original and the NFKC-normalised forms are listed.
SEPARATORS = frozenset(
    " \t\r\n\u00a0\u3000"  # spaces, tab, line breaks, no-break space, ideographic space
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043"  # - ‐ ‑ ‒ – — ― − ⁃
    "\u30fc\uff70\uff0d\ufe63"  # ー ｰ － ﹣
)
_DELETE_SEPARATORS = {ord(c): None for c in SEPARATORS}
#: full-width digits to ASCII and separators away: what NFKC and the separators'
#: removal do to the characters people type most, without normalising everything
_TYPED = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | _DELETE_SEPARATORS)
_ASCII_DIGITS = frozenset("0123456789")


def _describe_ja(char: str) -> str:
    code = f"U+{ord(char):04X}"
    return f"「{char}」（{code}）" if char.isprintable() else f"（{code}）"


def _describe_en(char: str) -> str:
    code = f"U+{ord(char):04X}"
    return f"{char!r} ({code})" if char.isprintable() else code


def _invalid_character(value: str, name_ja: str, name_en: str) -> InvalidFormat:
    """Build the error for the first character of ``value`` that is not allowed."""
    for position, char in enumerate(value, start=1):
        normalised = unicodedata.normalize("NFKC", char)
        if not all(c in _ASCII_DIGITS or c in SEPARATORS for c in normalised):
            return InvalidFormat(
                f"{name_ja}に使用できない文字{_describe_ja(char)}が含まれています（{position}文字目）",
                f"{name_en} contains an invalid character {_describe_en(char)} "
                f"at position {position}",
            )
    # only reachable for exotic combining sequences; report the whole value
    return InvalidFormat(
        f"{name_ja}には数字以外の文字を使用できません（入力: {value!r}）",
        f"{name_en} may only contain digits, got {value!r}",
    )


def clean(value: str, name_ja: str, name_en: str) -> str:
    """Return the ASCII digits of an identifier typed by a person.

    The value is NFKC-normalised (full-width digits become ASCII), white space
    and dashes are removed, and anything else raises :class:`InvalidFormat`
    naming the first offending character and its (1-based) position in the
    original input. ``name_ja``/``name_en`` name the identifier in the message.
    Note that NFKC also turns compatibility digits such as ``①`` or ``¹`` into
    ``1``; they are accepted like full-width digits.

    >>> clean('1234-5678-9018', '個人番号', 'Individual Number')
    '123456789018'
    >>> clean('', '個人番号', 'Individual Number')
    ''
    """
    if not isinstance(value, str):
        raise InvalidFormat(
            f"{name_ja}は文字列で指定してください（{type(value).__name__}型が渡されました）",
            f"{name_en} must be given as a string, got {type(value).__name__}",
        )
    if value.isascii() and value.isdigit():  # fast path: already compact
        return value
    result = _without_separators(value)
    if not (result.isascii() and result.isdigit()) and result:
        raise _invalid_character(value, name_ja, name_en)
    return result


def _article(name_en: str) -> str:
    return "an" if name_en[0] in "AEIOU" else "a"


def check_length(number: str, length: int, name_ja: str, name_en: str) -> None:
    """Raise :class:`InvalidLength` unless ``number`` has ``length`` digits."""
    if len(number) != length:
        raise InvalidLength(
            f"{name_ja}は{length}桁です（入力は{len(number)}桁）",
            f"{_article(name_en)} {name_en} has {length} digits, got {len(number)}",
        )


def checksum_error(name_ja: str, name_en: str, expected: str, given: str) -> InvalidChecksum:
    """Build the error for a check digit that does not match."""
    return InvalidChecksum(
        f"{name_ja}のチェックデジットが一致しません（正しくは{expected}ですが、{given}が入力されました）",
        f"{name_en} check digit does not match: expected {expected}, got {given}",
    )


def checked_base(
    number: str, digits: int, position: Position, name_ja: str, name_en: str, label_ja: str = ""
) -> str:
    """Clean the base of a number for ``calc_check_digit`` and check it has ``digits`` digits.

    ``position`` is where the check digit goes, so the base is the leading (``-1``) or
    trailing (``0``) digits; ``label_ja`` is a shorter Japanese name for the message.
    Raises :class:`~myna.errors.ValidationError`.

    >>> checked_base('1234', 5, -1, '全国地方公共団体コード', 'Local Government Code', '団体コード')
    Traceback (most recent call last):
        ...
    myna.errors.ValidationError: チェックデジットの計算には団体コードの先頭5桁が必要です...
    """
    base = clean(number, name_ja, name_en)
    if len(base) != digits:
        raise ValidationError(
            f"チェックデジットの計算には{label_ja or name_ja}の{'先頭' if position else '末尾'}"
            f"{digits}桁が必要です（入力は{len(base)}桁）",
            f"calc_check_digit needs the {digits}-digit base of {_article(name_en)} {name_en}, "
            f"got {len(base)}",
        )
    return base


def checked(
    number: str,
    length: int,
    expected_digit: Callable[[str], str],
    position: Position,
    name_ja: str,
    name_en: str,
) -> str:
    """Clean ``number``, check its length and its check digit; return it compact.

    ``expected_digit`` computes the check digit from the other digits (ASCII,
    already cleaned); ``position`` says where the check digit stands. Raises
    :class:`InvalidFormat`, :class:`InvalidLength` or :class:`InvalidChecksum`.
    """
    number = clean(number, name_ja, name_en)
    check_length(number, length, name_ja, name_en)
    base, given = (number[:-1], number[-1]) if position else (number[1:], number[0])
    expected = expected_digit(base)
    if given != expected:
        raise checksum_error(name_ja, name_en, expected, given)
    return number


def compacted(value: object) -> str | None:
    """The ASCII digits of ``value`` as :func:`clean` returns them, or None where
    :func:`clean` would refuse it — without raising (for ``is_valid``).

    >>> compacted('１２３４ ５６７８'), compacted('12a4')
    ('12345678', None)
    """
    if not isinstance(value, str):
        return None
    result = _without_separators(value)
    return result if not result or (result.isascii() and result.isdigit()) else None


def _without_separators(value: str) -> str:
    """``value`` NFKC-normalised without its separators — by the shortest way for what
    people type most (ASCII needs no normalising; full-width digits only a translation)."""
    if value.isascii():
        result = value.replace(" ", "").replace("-", "")
        return result if result.isdigit() else result.translate(_DELETE_SEPARATORS)
    result = value.translate(_TYPED)
    if result.isascii() and result.isdigit():
        return result
    return unicodedata.normalize("NFKC", value).translate(_DELETE_SEPARATORS)


def valid(validate: Callable[[str], object], number: str) -> bool:
    """Whether ``validate(number)`` succeeds (raises no :class:`ValidationError`)."""
    try:
        validate(number)
    except ValidationError:
        return False
    return True


def _join(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    parts = []
    start = 0
    for size in sizes:
        parts.append(digits[start : start + size])
        start += size
    return sep.join(parts)


def grouped(number: str, sizes: tuple[int, ...], sep: str, name_ja: str, name_en: str) -> str:
    """Clean ``number``, check it has ``sum(sizes)`` digits and join the groups with ``sep``.

    The check digit is not checked, so test numbers can be displayed too.

    >>> grouped('５８３５６７８２５６２４６', (1, 4, 4, 4), '-', '法人番号', 'Corporate Number')
    '5-8356-7825-6246'
    """
    number = clean(number, name_ja, name_en)
    check_length(number, sum(sizes), name_ja, name_en)
    return _join(number, sizes, sep)


def masked(
    number: str, sizes: tuple[int, ...], sep: str, shown: int, name_ja: str, name_en: str
) -> str:
    """Like :func:`grouped` but with all digits except the last ``shown`` replaced by ``*``.

    >>> masked('3141-5926-531', (4, 4, 3), ' ', 3, '住民票コード', 'Resident Record Code')
    '**** **** 531'
    """
    number = clean(number, name_ja, name_en)
    check_length(number, sum(sizes), name_ja, name_en)
    hidden = len(number) - shown
    return _join("*" * hidden + number[hidden:], sizes, sep)
