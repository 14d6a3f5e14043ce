"""番号通知の規則: letters, states, application IDs — free of storage and transport.

One sealed letter (親展・転送不要) goes to each household, listing its members and
their individual numbers, with one card application form (個人番号カード交付申請書)
per member.  A person with an alternative destination (居所情報登録: DV等被害者,
施設入所者, 長期入院者 …) gets a letter of their own at that address that lists
only them, and the household letter omits them: no letter carries more personal
data than its addressee needs.

Each letter's state is history (events are appended, never overwritten)::

    作成済み ─→ 発送済み ─→ 配達済み
       │           └──→ 返戻 ─→ 窓口保管 ─→ 交付済み
       └→ 取りやめ                    └──→ 廃棄（保管期間経過後）
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from myna.clock import jst_date
from myna.contracts.notify import (
    AFTER_MAILING,
    RECORDABLE,
    STATS_STATES,
    TRANSITIONS,
    UNREACHED,
    AlternativeReason,
    AlternativeRegistration,
    ApplicationInfo,
    BatchSummary,
    DeliveryStats,
    Destination,
    FollowUpEntry,
    HouseholdNotice,
    Letter,
    LetterEvent,
    LetterKind,
    LetterMember,
    LetterState,
    MemberNotice,
    ReturnReason,
    StatsReport,
)
from myna.errors import ValidationError
from myna.fields import check_furigana, check_postcode, check_sex
from myna.numbers import individual
from myna.text import clean_text

__all__ = [  # the contract's values, re-exported for the node's own modules
    "AFTER_MAILING", "RECORDABLE", "STATS_STATES", "TRANSITIONS", "UNREACHED",
    "AlternativeReason", "AlternativeRegistration", "ApplicationInfo", "BatchSummary",
    "DeliveryStats", "Destination", "FollowUpEntry", "HouseholdNotice", "Letter",
    "LetterEvent", "LetterKind", "LetterMember", "LetterPlan", "LetterState", "MemberNotice",
    "ReturnReason", "StatsReport",
]

#: 申請書ID: 23 random digits (the first never 0, so no tool drops a leading zero).
APPLICATION_ID_LENGTH = 23
DEFAULT_APPLY_URL = "https://myna.example/apply"
DEFAULT_HOLDING_MONTHS = 3


# -- values -----------------------------------------------------------------------


@dataclass(frozen=True)
class LetterPlan:
    """One letter before it is stored: who is on it and where it goes."""

    kind: LetterKind
    household_number: str
    postcode: str  # registered address (printed on the application forms)
    address: str
    destination: Destination  # where the envelope goes
    members: tuple[MemberNotice, ...]


# -- validation ---------------------------------------------------------------------

#: The longest name and address J-LIS stores (characters), as the registry does.
NAME_MAX, ADDRESS_MAX = 100, 200


def check_name(name: str, label: str = "氏名", limit: int = NAME_MAX) -> str:
    """A name as written: trimmed at the ends only, never normalised."""
    return clean_text(name, label, max_length=limit)


def check_address(value: str, label: str = "住所") -> str:
    return check_name(value, label, ADDRESS_MAX)



def _labelled(error: ValidationError, ja: str, en: str) -> ValidationError:
    return ValidationError(f"{ja}: {error.message_ja}", f"{en}: {error.message_en}")


def check_member(member: MemberNotice) -> MemberNotice:
    """A member with every field checked; names stay exactly as written."""
    if not isinstance(member.resident_id, int) or member.resident_id < 1:
        raise ValidationError(
            f"住民IDが不正です: {member.resident_id!r}", f"bad resident id {member.resident_id!r}"
        )
    if not isinstance(member.birth_date, dt.date):
        raise ValidationError("生年月日が日付ではありません", "birth_date is not a date")
    return MemberNotice(
        resident_id=member.resident_id,
        name=check_name(member.name),
        furigana=check_furigana(member.furigana),
        birth_date=member.birth_date,
        sex=check_sex(member.sex),
        individual_number=individual.validate(member.individual_number),
    )


def check_household(notice: HouseholdNotice) -> HouseholdNotice:
    """A household with at least one member and a usable address."""
    number = (notice.household_number or "").strip()
    if not number or len(number) > 20 or not number.isascii() or not number.isalnum():
        raise ValidationError(
            f"世帯番号が不正です: {notice.household_number!r}",
            f"bad household number {notice.household_number!r}",
        )
    if not notice.members:
        raise ValidationError(
            f"世帯 {number} に世帯員がいません（空の世帯には通知できません）",
            f"household {number} has no members",
        )
    members = []
    for i, member in enumerate(notice.members, start=1):
        try:
            members.append(check_member(member))
        except ValidationError as exc:
            raise _labelled(
                exc, f"世帯 {number} の{i}人目", f"household {number} member {i}"
            ) from exc
    return HouseholdNotice(
        household_number=number,
        postcode=check_postcode(notice.postcode),
        address=check_address(notice.address),
        members=tuple(members),
    )


def check_households(households: Sequence[HouseholdNotice]) -> list[HouseholdNotice]:
    """All households checked; a person or household appears at most once."""
    if not households:
        raise ValidationError("通知する世帯がありません", "no households given")
    checked = [check_household(h) for h in households]
    seen_households: set[str] = set()
    seen_people: set[int] = set()
    seen_numbers: set[str] = set()
    for h in checked:
        if h.household_number in seen_households:
            raise ValidationError(
                f"世帯番号 {h.household_number} が重複しています",
                f"household {h.household_number} given twice",
            )
        seen_households.add(h.household_number)
        for m in h.members:
            if m.resident_id in seen_people or m.individual_number in seen_numbers:
                raise ValidationError(
                    f"住民ID {m.resident_id} の方が複数の世帯に含まれています",
                    f"resident {m.resident_id} appears twice",
                )
            seen_people.add(m.resident_id)
            seen_numbers.add(m.individual_number)
    return checked


def check_destination(destination: Destination) -> Destination:
    care_of = (destination.care_of or "").strip(" \u3000") or None
    if care_of is not None:
        care_of = check_name(care_of, "気付（施設名等）")
    return Destination(
        postcode=check_postcode(destination.postcode),
        address=check_address(destination.address),
        care_of=care_of,
    )


def check_note(note: str | None, label: str = "備考", limit: int = 500) -> str | None:
    if note is None:
        return None
    return clean_text(note, label, max_length=limit, required=False, multiline=True) or None


def parse_state(value: LetterState | str) -> LetterState:
    """A state by its Japanese label or English name (``'returned'``)."""
    if isinstance(value, LetterState):
        return value
    for state in LetterState:
        if value in (state.value, state.name, state.english):
            return state
    names = "・".join(s.value for s in LetterState)
    raise ValidationError(
        f"通知の状態が不正です: {value!r}（{names} のいずれか）", f"unknown letter state {value!r}"
    )


def parse_reason(value: ReturnReason | str) -> ReturnReason:
    """A return reason: 宛所不明, 保管期間経過 or 受取拒否."""
    if isinstance(value, ReturnReason):
        return value
    for reason in ReturnReason:
        if value in (reason.value, reason.name, reason.name.lower()):
            return reason
    names = "・".join(r.value for r in ReturnReason)
    raise ValidationError(
        f"返戻理由が不正です: {value!r}（{names} のいずれか）", f"unknown return reason {value!r}"
    )


def parse_alternative_reason(value: AlternativeReason | str) -> AlternativeReason:
    if isinstance(value, AlternativeReason):
        return value
    for reason in AlternativeReason:
        if value in (reason.value, reason.name, reason.name.lower()):
            return reason
    names = "・".join(r.value for r in AlternativeReason)
    raise ValidationError(
        f"居所登録の事由が不正です: {value!r}（{names} のいずれか）",
        f"unknown alternative-destination reason {value!r}",
    )


def check_transition(current: LetterState, new: LetterState) -> None:
    """Refuse a state change the letter's history does not allow.

    >>> check_transition(LetterState.MAILED, LetterState.RETURNED)
    >>> check_transition(LetterState.DELIVERED, LetterState.RETURNED)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 「配達済み」の通知を「返戻」にはできません...
    """
    if new in TRANSITIONS[current]:
        return
    allowed = "・".join(s.value for s in sorted(TRANSITIONS[current], key=list(LetterState).index))
    hint = f"（次にできるのは {allowed}）" if allowed else "（これ以上は変更できません）"
    raise ValidationError(
        f"「{current.value}」の通知を「{new.value}」にはできません{hint}",
        f"a letter that is {current.english} cannot become {new.english}",
    )


# -- application IDs and the QR payload -------------------------------------------------


def new_application_id() -> str:
    """A fresh random 申請書ID (23 digits, from :mod:`secrets`)."""
    first = 1 + secrets.randbelow(9)
    return str(first) + f"{secrets.randbelow(10 ** (APPLICATION_ID_LENGTH - 1)):022d}"


def check_application_id(value: str) -> str:
    """An application ID typed by a person: full-width digits, spaces and hyphens accepted.

    >>> check_application_id("１２３４ ５６７８-9012 3456 7890 123")
    '12345678901234567890123'
    """
    text = unicodedata.normalize("NFKC", value or "")
    digits = re.sub(r"[\s\-]", "", text)
    if not digits.isdigit() or not digits.isascii():
        raise ValidationError(
            f"申請書IDは数字で入力してください（入力: {value!r}）",
            f"application id must be digits: {value!r}",
        )
    if len(digits) != APPLICATION_ID_LENGTH:
        raise ValidationError(
            f"申請書IDは{APPLICATION_ID_LENGTH}桁です（入力は{len(digits)}桁）",
            f"application id has {len(digits)} digits, not {APPLICATION_ID_LENGTH}",
        )
    return digits


def format_application_id(value: str) -> str:
    """Grouped in fours for reading aloud.

    >>> format_application_id("12345678901234567890123")
    '1234 5678 9012 3456 7890 123'
    """
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def check_apply_url(url: str) -> str:
    """The base URL of online application: https, no query, no fragment."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ValidationError(
            f"申請用URLは https で、? や # を含まない形にしてください: {url!r}",
            f"apply URL must be https without query or fragment: {url!r}",
        )
    return url


def application_url(base_url: str, application_id: str) -> str:
    """What the QR code encodes: the URL and the application ID — nothing else.

    >>> application_url("https://myna.example/apply", "12345678901234567890123")
    'https://myna.example/apply?id=12345678901234567890123'
    """
    return f"{base_url}?id={application_id}"


# -- planning letters -------------------------------------------------------------------


def plan_letters(
    household: HouseholdNotice, destinations: dict[int, Destination]
) -> list[LetterPlan]:
    """The letters for one household: the household letter without anyone who has an
    alternative destination, and one letter for each of those, listing only them.

    >>> m = lambda i: MemberNotice(i, f"国立 {i}", "くにたち", dt.date(1990, 1, 1), "女",
    ...                           "123456789018")
    >>> h = HouseholdNotice("1", "1860001", "東京都国立市北1丁目", (m(1), m(2), m(3)))
    >>> plans = plan_letters(h, {2: Destination("1000001", "東京都千代田区千代田1番")})
    >>> [(p.kind.value, [x.resident_id for x in p.members]) for p in plans]
    [('世帯', [1, 3]), ('居所', [2])]
    """
    home = Destination(household.postcode, household.address)
    staying = tuple(m for m in household.members if m.resident_id not in destinations)
    plans = []
    if staying:
        plans.append(LetterPlan(LetterKind.HOUSEHOLD, household.household_number,
                                household.postcode, household.address, home, staying))
    for m in household.members:
        if m.resident_id in destinations:
            plans.append(LetterPlan(LetterKind.ALTERNATIVE, household.household_number,
                                    household.postcode, household.address,
                                    destinations[m.resident_id], (m,)))
    return plans


# -- dates ------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the month's end.

    >>> add_months(dt.date(2025, 11, 30), 3)
    datetime.date(2026, 2, 28)
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def holding_deadline(held_at: dt.datetime, months: int) -> dt.date:
    """The last day a returned letter is kept at the counter (保管期限)."""
    return add_months(jst_date(held_at), months)


# -- statistics --------------------------------------------------------------------------


def combine_stats(
    parts: Sequence[DeliveryStats], code: str | None = None, name: str = "全体"
) -> DeliveryStats:
    """Add up several municipalities' statistics."""
    by_state = {s: sum(p.by_state.get(s, 0) for p in parts) for s in STATS_STATES}
    by_reason = {r: sum(p.by_reason.get(r, 0) for p in parts) for r in ReturnReason}
    return DeliveryStats(
        municipality_code=code, municipality_name=name,
        letters=sum(p.letters for p in parts), mailed=sum(p.mailed for p in parts),
        by_state=by_state, returned=sum(p.returned for p in parts), by_reason=by_reason,
        unreached=sum(p.unreached for p in parts),
    )
