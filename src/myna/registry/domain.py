"""The resident registry's domain: residents, households, events, staff.

Nothing here knows about the web or the database.  Names are stored exactly
as written: they are never NFKC-normalised (that would rewrite some kanji).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from myna.clock import jst_date
from myna.contracts.cards import CardStatus, EndReason
from myna.contracts.municipality import ForeignResidence as ForeignResidence  # re-exported
from myna.contracts.municipality import MoveOutCertificate as MoveOutCertificate  # re-exported
from myna.errors import ValidationError
from myna.fields import check_furigana as check_furigana  # re-exported
from myna.fields import check_postcode as check_postcode  # re-exported
from myna.fields import check_sex as check_sex  # re-exported
from myna.fields import parse_date as parse_date  # re-exported
from myna.text import clean_text


class Role(StrEnum):
    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return {"clerk": "担当者", "supervisor": "監督者", "administrator": "管理者"}[self.value]


class Status(StrEnum):
    RESIDENT = "住民"
    REMOVED = "除票"


class EventKind(StrEnum):
    BIRTH = "出生"
    MOVE_IN = "転入"
    MOVE_OUT = "転出"
    MOVE_WITHIN = "転居"
    DEATH = "死亡"
    EX_OFFICIO_ENTRY = "職権記載"
    EX_OFFICIO_REMOVAL = "職権消除"
    NUMBER_CHANGE = "個人番号変更"
    CODE_CHANGE = "住民票コード変更"
    INITIAL = "初期登録"


SEXES = ("男", "女")

#: The longest text each field of a 住民票 or a 届出 accepts (characters).  Checked
#: before anything is written, by the same rule on every path (forms, API, commands),
#: and within the columns' sizes on SQLite and PostgreSQL alike.
LIMITS: dict[str, int] = {
    "name": 100,
    "furigana": 200,
    "address": 200,
    "postcode": 10,
    "nationality": 50,
    "residence_status": 50,
    "purpose": 200,
    "reason": 200,
    "staff_name": 100,
    "search": 100,
}


@dataclass(frozen=True)
class Staff:
    """Who reads or writes a record: a member of staff, or another node's interface.

    ``interface`` marks a caller that is not a person at a desk but an interface
    of the system itself (J-LIS's card centre, the registry's own jobs): it
    names the affair it reads for like anyone, but the town's table of which
    role performs which affair, and the approval a 支援措置 record needs, are
    rules for staff.  No staff account is ever an interface.
    """

    staff_id: str
    name: str
    role: Role
    interface: bool = False

    @property
    def may_view_protected(self) -> bool:
        """Records under DV support measures (支援措置) need a supervisor."""
        return self.role in (Role.SUPERVISOR, Role.ADMINISTRATOR)


@dataclass(frozen=True)
class PersonDetails:
    """What a notification (届出) states about one person."""

    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    foreign: ForeignResidence | None = None


@dataclass(frozen=True)
class HouseholdPlacement:
    """Where a person goes: an existing household, or a new one at an address."""

    relationship: str
    household_number: str | None = None
    postcode: str | None = None
    address: str | None = None


@dataclass
class Resident:
    """A 住民票 (current state; every change is also kept as history)."""

    resident_id: int
    resident_code: str
    individual_number: str | None
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    postcode: str
    address: str
    household_number: str
    relationship: str
    became_resident_on: dt.date
    address_since: dt.date
    previous_address: str | None
    status: str
    removal_reason: str | None = None
    removed_on: dt.date | None = None
    nationality: str | None = None
    residence_status: str | None = None
    period_of_stay_until: dt.date | None = None
    support_measure: bool = False
    version: int = 1

    @property
    def is_resident(self) -> bool:
        return self.status == Status.RESIDENT

    def age_on(self, day: dt.date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


@dataclass(frozen=True)
class HistoryEntry:
    event_id: int
    kind: str
    occurred_on: dt.date
    recorded_at: dt.datetime
    staff_id: str
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CardState:
    """A resident's 個人番号カード as J-LIS's card centre last told the town."""

    card_number: str
    resident_id: int
    status: CardStatus
    since: dt.datetime
    end_reason: EndReason | None = None

    @property
    def label(self) -> str:
        """``一時停止中（2027年1月5日から）`` (the day in Japan time).

        >>> CardState("100000000017", 1, CardStatus.SUSPENDED,
        ...           dt.datetime(2027, 1, 4, 16, 0, tzinfo=dt.UTC)).label
        '一時停止中（2027年1月5日から）'
        """
        day = jst_date(self.since)
        when = f"{day.year}年{day.month}月{day.day}日"
        if self.status is CardStatus.SUSPENDED:
            return f"一時停止中（{when}から）"
        if self.status is CardStatus.ACTIVE:
            return f"利用可（{when}から）"
        if self.status is CardStatus.ENDED:
            return f"廃止（{self.end_reason.value + '、' if self.end_reason else ''}{when}）"
        return f"{self.status.value}（{when}から）"


# -- validation of what people type ------------------------------------------------

def check_name(name: str, label: str = "氏名", limit: str = "name") -> str:
    """A name as written: trimmed at the ends only, never normalised.

    >>> check_name("　髙橋 一郎 ")
    '髙橋 一郎'
    """
    return clean_text(name, label, max_length=LIMITS[limit])


_SPACES = dict.fromkeys(map(ord, " \u3000\t・･"), None)
_KATAKANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def same_name_key(value: str) -> str:
    """How two writings of one name compare for finding duplicates (never stored):
    without spaces or 中黒, half-width kana made full-width, katakana read as hiragana.

    >>> same_name_key("国立　太郎") == same_name_key("国立太郎")
    True
    >>> same_name_key("クニタチ タロウ") == same_name_key("くにたち　たろう")
    True
    """
    kana = unicodedata.normalize("NFKC", value) if any(
        "\uff61" <= ch <= "\uff9f" for ch in value) else value
    return kana.translate(_SPACES).translate(_KATAKANA)


def check_address(value: str, label: str = "住所") -> str:
    return check_name(value, label, "address")


#: 明治元年1月1日 in the Gregorian calendar: the earliest date a 住民票 can print.
MEIJI_START = dt.date(1868, 1, 25)

#: A 転出届 may be made before the move (住基法24条), up to about two weeks ahead.
MOVE_OUT_AHEAD = dt.timedelta(days=14)


def check_event_date(
    day: dt.date, today: dt.date, label: str, *,
    not_before: Sequence[tuple[dt.date | None, str]] = (),
    ahead: dt.timedelta = dt.timedelta(0),
) -> dt.date:
    """The date a 届出 states, by the rules every 届出 shares.

    Not after ``today`` (a 届出 reports what has happened; only a 転出届 may be made
    ``ahead``), not before the Meiji era (a 住民票 prints in 和暦), and not before
    any of ``not_before`` — (date, what it is) pairs such as the birth date or the
    day the person became resident, so that no record says someone moved before
    they were born or was resident in two towns at once.

    >>> check_event_date(dt.date(2020, 4, 1), dt.date(2026, 12, 1), "転入日",
    ...                  not_before=[(dt.date(2026, 11, 30), "交付日")])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 転入日（2020-04-01）が交付日（2026-11-30）より前です ...
    """
    if day > today + ahead:
        if ahead:
            raise ValidationError(
                f"{label}（{day}）が先すぎます（{(today + ahead).isoformat()}まで）",
                f"{label} {day} is more than {ahead.days} days ahead",
            )
        raise ValidationError(
            f"{label}が未来の日付です: {day}（届出は、起きたことを届け出るものです）",
            f"{label} {day} is in the future",
        )
    if day < MEIJI_START:
        raise ValidationError(f"{label}が古すぎます（明治元年より前）: {day}",
                              f"{label} before {MEIJI_START}")
    for bound, what in not_before:
        if bound is not None and day < bound:
            raise ValidationError(f"{label}（{day}）が{what}（{bound}）より前です",
                                  f"{label} {day} is before {what} {bound}")
    return day


#: 外国人住民 (住基法30条の45): the 在留資格 of 入管法別表第一・第二 a 中長期在留者 may hold,
#: and the other statuses that make a foreign national a resident.
RESIDENCE_STATUSES: tuple[str, ...] = (
    "教授", "芸術", "宗教", "報道", "高度専門職", "高度専門職1号", "高度専門職2号",
    "経営・管理", "法律・会計業務", "医療", "研究", "教育", "技術・人文知識・国際業務",
    "企業内転勤", "介護", "興行", "技能", "特定技能", "特定技能1号", "特定技能2号",
    "技能実習", "技能実習1号", "技能実習2号", "技能実習3号", "文化活動", "留学", "研修",
    "家族滞在", "特定活動", "永住者", "日本人の配偶者等", "永住者の配偶者等", "定住者",
    "特別永住者", "一時庇護許可者", "仮滞在許可者", "出生による経過滞在者",
    "国籍喪失による経過滞在者",
)
#: Statuses that never make a 住民票 (3か月以下の在留・短期滞在・外交・公用: 住基法30条の45).
NOT_RESIDENT_STATUSES = ("短期滞在", "外交", "公用")
#: Statuses without a period of stay.
WITHOUT_PERIOD = ("永住者", "特別永住者")


def check_foreign(foreign: ForeignResidence, birth_date: dt.date,
                  today: dt.date) -> ForeignResidence:
    """国籍・地域, a 在留資格 the law knows, and a period of stay that fits the person.

    >>> check_foreign(ForeignResidence("ベトナム", "宇宙人", None), dt.date(2000, 1, 1),
    ...               dt.date(2026, 12, 1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 在留資格「宇宙人」は使えません。...
    """
    status = check_name(foreign.residence_status, "在留資格", "residence_status")
    if status in NOT_RESIDENT_STATUSES:
        raise ValidationError(
            f"在留資格「{status}」の方は住民票の対象ではありません（住民基本台帳法30条の45）",
            f"holders of {status} are not registered residents",
        )
    if status not in RESIDENCE_STATUSES:
        raise ValidationError(
            f"在留資格「{status}」は使えません。出入国管理及び難民認定法の在留資格"
            "（技術・人文知識・国際業務、留学、永住者など）または特別永住者等を入力してください",
            f"unknown status of residence {status!r}",
        )
    until = foreign.period_of_stay_until
    if until is not None:
        if status in WITHOUT_PERIOD:
            raise ValidationError(f"{status}には在留期間がありません",
                                  f"{status} has no period of stay")
        check_event_date(until, dt.date.max, "在留期間の満了日",
                         not_before=[(birth_date, "生年月日"), (today, "今日")])
    return ForeignResidence(check_name(foreign.nationality, "国籍・地域", "nationality"),
                            status, until)


def check_person(details: PersonDetails, today: dt.date) -> PersonDetails:
    birth_date = check_event_date(details.birth_date, today, "生年月日")
    return PersonDetails(
        name=check_name(details.name),
        furigana=check_furigana(details.furigana),
        birth_date=birth_date,
        sex=check_sex(details.sex),
        foreign=None if details.foreign is None else check_foreign(details.foreign, birth_date,
                                                                  today),
    )


def check_purpose(purpose: str, label: str = "目的") -> str:
    """The stated purpose of a view, search or act (事務の名称): 2–200 characters."""
    purpose = clean_text(purpose, label, max_length=LIMITS["purpose"], required=False)
    if len(purpose) < 2:
        raise ValidationError(
            "閲覧・検索の目的（事務の名称）を2文字以上で入力してください" if label == "目的"
            else f"{label}を入力してください（2文字以上）",
            f"a {'purpose' if label == '目的' else label} of at least 2 characters is required",
        )
    return purpose
