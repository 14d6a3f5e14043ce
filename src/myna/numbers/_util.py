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

from myna.errors import InvalidChecksum, InvalidFormat, InvalidLength

__all__ = ["SEPARATORS", "check_length", "checksum_error", "clean"]

#: Characters removed by :func:`clean`: white space and the dashes, hyphens and
#: prolonged-sound marks people type between groups of digits. Both the
#: original and the NFKC-normalised forms are listed.
SEPARATORS = frozenset(
    " \t\r\n\u00a0\u3000"  # spaces, tab, line breaks, no-break space, ideographic space
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043"  # - ‐ ‑ ‒ – — ― − ⁃
    "\u30fc\uff70\uff0d\ufe63"  # ー ｰ － ﹣
)
_DELETE_SEPARATORS = {ord(c): None for c in SEPARATORS}
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
    result = unicodedata.normalize("NFKC", value).translate(_DELETE_SEPARATORS)
    if not (result.isascii() and result.isdigit()) and result:
        raise _invalid_character(value, name_ja, name_en)
    return result


def check_length(number: str, length: int, name_ja: str, name_en: str) -> None:
    """Raise :class:`InvalidLength` unless ``number`` has ``length`` digits."""
    if len(number) != length:
        raise InvalidLength(
            f"{name_ja}は{length}桁です（入力は{len(number)}桁）",
            f"{'an' if name_en[0] in 'AEIOU' else 'a'} {name_en} has {length} digits, "
            f"got {len(number)}",
        )


def checksum_error(name_ja: str, name_en: str, expected: str, given: str) -> InvalidChecksum:
    """Build the error for a check digit that does not match."""
    return InvalidChecksum(
        f"{name_ja}のチェックデジットが一致しません（正しくは{expected}ですが、{given}が入力されました）",
        f"{name_en} check digit does not match: expected {expected}, got {given}",
    )
