"""Text hygiene: what any text a person types must satisfy before it is stored.

Names and addresses are kept exactly as written (never NFKC-normalised: that
rewrites some kanji), so the only thing done to them here is *refusing* what no
written name, address or note contains, with a message saying which character
and where:

- control characters (C0, DEL, C1) — NUL included, which PostgreSQL cannot store;
- lone surrogates (U+D800–U+DFFF): what broken JSON escapes and undecodable
  command-line bytes turn into;
- U+FFFD, the replacement character a decoder puts where the input was not
  valid UTF-8 — storing it would silently keep mojibake;
- bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069),
  which make a name display differently from how it is stored (``"abc\u202edcba"``
  shows as ``abcabcd``), and every other invisible format character (zero-width
  spaces and joiners, the BOM, tag characters);
- noncharacters (U+FDD0–U+FDEF and U+xFFFE/U+xFFFF).

Variation selectors (U+FE00–U+FE0F, U+E0100–U+E01EF) are allowed: the
registry's kanji variants (異体字, 行政事務標準文字) are written with them.
Characters newer than this Python's Unicode tables are allowed too (rare kanji
of CJK Extension H and later are real names).  Private-use characters are
allowed, because legacy 住基 data writes its 外字 there.

>>> clean_text("国立 花子", "氏名", max_length=100)
'国立 花子'
>>> clean_text("葛\U000e0100城", "氏名", max_length=100)  # an IVS kanji variant
'葛\U000e0100城'
>>> clean_text("abc\u202edcba", "氏名", max_length=100)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
myna.errors.ValidationError: 氏名に使えない文字があります（4文字目: U+202E ...
"""

from __future__ import annotations

import unicodedata

from myna.errors import ValidationError

#: Bidirectional controls, named in messages: they reorder what is displayed.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_KIND_JA = {
    "control": "制御文字",
    "surrogate": "不正な文字コード（サロゲート）",
    "replacement": "文字化け（UTF-8 として読めない入力）",
    "bidi": "文字の表示順を変える制御文字",
    "format": "目に見えない書式文字",
    "noncharacter": "文字として使えない符号位置",
    "newline": "改行",
}
_KIND_EN = {
    "control": "control character",
    "surrogate": "lone surrogate",
    "replacement": "replacement character (input was not valid UTF-8)",
    "bidi": "bidirectional control",
    "format": "invisible format character",
    "noncharacter": "noncharacter",
    "newline": "line break",
}


def forbidden_kind(ch: str, *, multiline: bool = False) -> str | None:
    """Why ``ch`` may not appear in text a person typed, or None when it may.

    >>> forbidden_kind("\\x00"), forbidden_kind("\\ud800"), forbidden_kind("\\ufffd")
    ('control', 'surrogate', 'replacement')
    >>> forbidden_kind("\\u2067"), forbidden_kind("\\u200b"), forbidden_kind("髙")
    ('bidi', 'format', None)
    >>> forbidden_kind("\\n"), forbidden_kind("\\n", multiline=True)
    ('newline', None)
    """
    code = ord(ch)
    if ch in "\n\r":
        return None if multiline else "newline"
    if ch == "\t" and multiline:
        return None
    if ch == "\ufffd":
        return "replacement"
    if ch in BIDI_CONTROLS:
        return "bidi"
    if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        return "noncharacter"
    category = unicodedata.category(ch)
    if category == "Cc":
        return "control"
    if category == "Cs":
        return "surrogate"
    if category == "Cf":
        return "format"
    return None


def _describe(ch: str) -> str:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        name = ""
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def check_characters(value: str, label: str, *, multiline: bool = False,
                     label_en: str | None = None) -> str:
    """``value`` unchanged, or a ValidationError naming the first forbidden character.

    >>> check_characters("住所\\x00", "住所")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 住所に使えない文字があります（3文字目: U+0000 制御文字）...
    """
    for index, ch in enumerate(value):
        kind = forbidden_kind(ch, multiline=multiline)
        if kind is not None:
            where = _describe(ch)
            raise ValidationError(
                f"{label}に使えない文字があります（{index + 1}文字目: {where} {_KIND_JA[kind]}）",
                f"{label_en or label} contains a {_KIND_EN[kind]} ({where}) "
                f"at position {index + 1}",
            )
    return value


def check_length(value: str, label: str, max_length: int, *,
                 label_en: str | None = None) -> str:
    """``value`` unchanged, or a ValidationError saying the limit and the length given.

    >>> check_length("あ" * 101, "氏名", 100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 氏名が長すぎます（100文字まで、入力は101文字）...
    """
    if len(value) > max_length:
        raise ValidationError(
            f"{label}が長すぎます（{max_length:,}文字まで、入力は{len(value):,}文字）",
            f"{label_en or label} is too long: at most {max_length:,} characters, "
            f"got {len(value):,}",
        )
    return value


def clean_text(
    value: str, label: str, *, max_length: int, required: bool = True,
    multiline: bool = False, label_en: str | None = None,
) -> str:
    """Text as typed, trimmed of surrounding spaces (half- and full-width) only.

    The length is checked first, so that a megabyte of input is refused without
    being scanned character by character (see :func:`forbidden_kind`).

    >>> clean_text("　国立市富士見台1-1-1 ", "住所", max_length=200)
    '国立市富士見台1-1-1'
    >>> clean_text("", "氏名", max_length=100)
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 氏名を入力してください (氏名 is empty)
    """
    stripped = value.strip(" \u3000\t\r\n" if multiline else " \u3000")
    if required and not stripped:
        raise ValidationError(f"{label}を入力してください", f"{label_en or label} is empty")
    check_length(stripped, label, max_length, label_en=label_en)
    check_characters(stripped, label, multiline=multiline, label_en=label_en)
    if stripped and unicodedata.category(stripped[0]).startswith("M"):
        where = _describe(stripped[0])
        raise ValidationError(
            f"{label}が結合文字（{where}）で始まっています。前の文字と組み合わせて使う文字です",
            f"{label_en or label} starts with a combining mark ({where})",
        )
    return stripped
