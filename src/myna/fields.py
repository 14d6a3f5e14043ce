"""Checks of the personal fields every node that receives them applies the same way.

ふりがな, sex and postcode as people and older systems type them: the registry
checks them when a 届出 is recorded, J-LIS again when a town hands over its
households for the 個人番号通知書.  Names and addresses are never normalised
(see :func:`myna.text.clean_text`); only digits are (NFKC), here in the postcode.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from myna.errors import ValidationError
from myna.text import clean_text

__all__ = ["FURIGANA_MAX", "POSTCODE_MAX", "check_furigana", "check_postcode", "check_sex",
           "parse_date"]

#: The longest ふりがな and postcode (as typed, before normalising) accepted.
FURIGANA_MAX = 200
POSTCODE_MAX = 10

#: Hiragana, katakana (half-width too, as older systems type it), 長音, 中黒 and spaces.
_KANA = re.compile(r"^[\u3041-\u3096\u30a1-\u30fa\u30fc\u309b\u309c\u30fb\uff66-\uff9f"
                   r"\u3000 ・ー]+$")


def check_furigana(value: str) -> str:
    """ふりがな: hiragana or katakana with spaces.

    >>> check_furigana(" たかはし　タロウ ")
    'たかはし　タロウ'
    """
    stripped = clean_text(value, "ふりがな", max_length=FURIGANA_MAX, label_en="furigana")
    if not _KANA.match(stripped):
        bad = next(ch for ch in stripped if not _KANA.match(ch))
        raise ValidationError(
            f"ふりがなには、ひらがな・カタカナのみ使えます（「{bad}」は使えません）",
            f"furigana must be kana; found {bad!r}",
        )
    return stripped


def check_sex(value: str) -> str:
    """男 or 女, also from the codes older systems use.

    >>> check_sex("F"), check_sex("1")
    ('女', '男')
    """
    aliases = {"男": "男", "女": "女", "M": "男", "F": "女", "male": "男", "female": "女",
               "1": "男", "2": "女"}
    if value not in aliases:
        raise ValidationError(
            f"性別は「男」か「女」で入力してください（入力: {value!r}）", f"invalid sex {value!r}"
        )
    return aliases[value]


def check_postcode(value: str) -> str:
    """Seven digits, as typed with full-width digits, hyphens or 〒.

    >>> check_postcode("〒１８６－０００１")
    '1860001'
    """
    text = clean_text(value, "郵便番号", max_length=POSTCODE_MAX, label_en="postcode")
    digits = unicodedata.normalize("NFKC", text).replace("-", "").replace("〒", "").strip()
    if not re.fullmatch(r"\d{7}", digits):
        raise ValidationError(
            f"郵便番号は7桁の数字です（入力: {value!r}）", f"postcode must have 7 digits: {value!r}"
        )
    return digits


def parse_date(value: str | dt.date, label: str = "日付") -> dt.date:
    """A date from ISO text (full-width digits and 年月日 accepted).

    >>> parse_date("２０２４-０２-２９")
    datetime.date(2024, 2, 29)
    >>> parse_date("2023年2月29日", "生年月日")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 生年月日が存在しない日付です: 2023年2月29日 (...)
    """
    if isinstance(value, dt.date):
        return value
    text = unicodedata.normalize("NFKC", value).strip()
    m = re.fullmatch(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?", text)
    if not m:
        raise ValidationError(
            f"{label}の形式が不正です（例: 2024-04-01）: {value}",
            f"{label} must look like YYYY-MM-DD: {value!r}",
        )
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValidationError(
            f"{label}が存在しない日付です: {value}", f"{label} is not a real date: {value!r}"
        ) from None
