"""続柄: how each member of a household is related to its head, in the registry's words.

住民基本台帳法7条4号 records, for everyone but the head, the head's name and
their relationship to the head (世帯主との続柄).  The words are the ones the
住民基本台帳事務処理要領 uses (第2-1-(2)-カ): a relationship seen from the head
(妻, 子, 父 …), compound ones through the spouse or a relative (妻の子 for a
stepchild, 子の妻, 弟の妻 …), 妻（未届）/夫（未届） for a partner in a de-facto
marriage, 縁故者 for other relatives and 同居人 for anyone else.  Anything else
— a typo, free text — is refused, because it would be printed on every
住民票の写し and sent as household information through the network.

>>> check_relationship("子の妻")
'子の妻'
>>> check_relationship("ほげ")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
myna.errors.ValidationError: 続柄「ほげ」は使えません。...
"""

from __future__ import annotations

import datetime as dt

from myna.errors import ValidationError
from myna.text import clean_text

HEAD = "世帯主"

#: Every relationship the registry records, in the order a form offers them.
RELATIONSHIPS: tuple[str, ...] = (
    HEAD,
    "妻", "夫", "妻（未届）", "夫（未届）",
    "子", "妻の子", "夫の子", "子の妻", "子の夫",
    "父", "母", "妻の父", "妻の母", "夫の父", "夫の母", "父の妻", "母の夫",
    "孫", "孫の妻", "孫の夫", "曾孫",
    "祖父", "祖母", "妻の祖父", "妻の祖母", "夫の祖父", "夫の祖母", "曾祖父", "曾祖母",
    "兄", "姉", "弟", "妹", "兄の妻", "弟の妻", "姉の夫", "妹の夫",
    "妻の兄", "妻の姉", "妻の弟", "妻の妹", "夫の兄", "夫の姉", "夫の弟", "夫の妹",
    "伯父", "叔父", "伯母", "叔母", "おい", "めい",
    "縁故者", "同居人",
)

_KNOWN = frozenset(RELATIONSHIPS)

#: Relationships of someone necessarily born before the head (a twin 兄 or 姉 on the same day).
OLDER_THAN_HEAD = frozenset({"父", "母", "祖父", "祖母", "曾祖父", "曾祖母"})
OLDER_OR_TWIN = frozenset({"兄", "姉"})
#: … and necessarily after.
YOUNGER_THAN_HEAD = frozenset({"子", "孫", "曾孫"})
YOUNGER_OR_TWIN = frozenset({"弟", "妹"})


def check_generation(relationship: str, born: dt.date, head_born: dt.date) -> None:
    """Refuse a relationship the two birth dates make impossible (a 子 older than the head).

    >>> check_generation("子", dt.date(1950, 1, 1), dt.date(1980, 1, 1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 続柄「子」の方は世帯主より後に生まれています...
    """
    later = (relationship in YOUNGER_THAN_HEAD and born <= head_born) or (
        relationship in YOUNGER_OR_TWIN and born < head_born)
    earlier = (relationship in OLDER_THAN_HEAD and born >= head_born) or (
        relationship in OLDER_OR_TWIN and born > head_born)
    if later or earlier:
        order = "後" if later else "前"
        raise ValidationError(
            f"続柄「{relationship}」の方は世帯主より{order}に生まれています。生年月日"
            f"（{born}、世帯主は{head_born}）か続柄を確認してください",
            f"a {relationship} must be born {'after' if later else 'before'} the head "
            f"({born} vs {head_born})",
        )


def check_relationship(value: str) -> str:
    """One of :data:`RELATIONSHIPS` (surrounding spaces removed), or a clear error."""
    text = clean_text(value, "続柄", max_length=20, label_en="relationship")
    if text not in _KNOWN:
        raise ValidationError(
            f"続柄「{text}」は使えません。住民基本台帳事務処理要領の続柄"
            "（世帯主・妻・夫・子・父・母・孫・兄・姉・弟・妹・祖父・祖母・子の妻・妻の子・"
            "縁故者・同居人など）から選んでください",
            f"unknown relationship {text!r}: choose one of {', '.join(RELATIONSHIPS)}",
        )
    return text
