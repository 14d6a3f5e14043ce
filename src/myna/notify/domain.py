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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from myna.clock import jst_date
from myna.errors import ValidationError
from myna.numbers import individual
from myna.registry.domain import (
    check_address,
    check_furigana,
    check_name,
    check_postcode,
    check_sex,
)
from myna.text import clean_text

#: 申請書ID: 23 random digits (the first never 0, so no tool drops a leading zero).
APPLICATION_ID_LENGTH = 23
DEFAULT_APPLY_URL = "https://myna.example/apply"
DEFAULT_HOLDING_MONTHS = 3


class LetterState(StrEnum):
    PREPARED = "作成済み"
    CANCELLED = "取りやめ"
    MAILED = "発送済み"
    DELIVERED = "配達済み"
    RETURNED = "返戻"
    HELD = "窓口保管"
    HANDED_OVER = "交付済み"
    DISPOSED = "廃棄"

    @property
    def english(self) -> str:
        return self.name.lower().replace("_", " ")


class ReturnReason(StrEnum):
    """Why the post office brought a letter back (返戻理由)."""

    UNKNOWN_ADDRESS = "宛所不明"
    NOT_COLLECTED = "保管期間経過"
    REFUSED = "受取拒否"


class LetterKind(StrEnum):
    HOUSEHOLD = "世帯"
    ALTERNATIVE = "居所"


class AlternativeReason(StrEnum):
    """Why a person's letter must not go to the registered address (居所情報登録の事由)."""

    DV = "DV・ストーカー・児童虐待等の被害者"
    FACILITY = "施設入所者"
    HOSPITAL = "長期入院者"
    DISASTER = "災害による避難者"
    OTHER = "その他やむを得ない事情"


#: The transitions :meth:`NotificationService.record` accepts (発送 is mark_mailed).
TRANSITIONS: dict[LetterState, frozenset[LetterState]] = {
    LetterState.PREPARED: frozenset({LetterState.MAILED, LetterState.CANCELLED}),
    LetterState.MAILED: frozenset({LetterState.DELIVERED, LetterState.RETURNED}),
    LetterState.RETURNED: frozenset({LetterState.HELD}),
    LetterState.HELD: frozenset({LetterState.HANDED_OVER, LetterState.DISPOSED}),
    LetterState.DELIVERED: frozenset(),
    LetterState.HANDED_OVER: frozenset(),
    LetterState.DISPOSED: frozenset(),
    LetterState.CANCELLED: frozenset(),
}
#: Letters whose household was never reached: the 実態調査 list.
UNREACHED = frozenset({LetterState.RETURNED, LetterState.HELD, LetterState.DISPOSED})
#: States that mean the letter has left J-LIS.
AFTER_MAILING = frozenset(TRANSITIONS) - {LetterState.PREPARED, LetterState.CANCELLED}


# -- values -----------------------------------------------------------------------


@dataclass(frozen=True)
class MemberNotice:
    """One household member as the municipality hands them to J-LIS for the letter."""

    resident_id: int
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    individual_number: str


@dataclass(frozen=True)
class HouseholdNotice:
    """One household: registered address and members in 住民票 order (世帯主 first)."""

    household_number: str
    postcode: str
    address: str
    members: tuple[MemberNotice, ...]


@dataclass(frozen=True)
class Destination:
    """A registered alternative destination (居所) for one person."""

    postcode: str
    address: str
    care_of: str | None = None  # e.g. '〇〇病院 気付'


@dataclass(frozen=True)
class LetterPlan:
    """One letter before it is stored: who is on it and where it goes."""

    kind: LetterKind
    household_number: str
    postcode: str  # registered address (printed on the application forms)
    address: str
    destination: Destination  # where the envelope goes
    members: tuple[MemberNotice, ...]


class _ResidentLike(Protocol):
    resident_id: int
    individual_number: str | None
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    postcode: str
    address: str
    household_number: str
    relationship: str
    status: str


# -- validation ---------------------------------------------------------------------


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


def household_notices(residents: Iterable[_ResidentLike]) -> list[HouseholdNotice]:
    """Group current, numbered residents (``myna.registry`` ``Resident``) into households.

    The 世帯主 comes first, then the others in registration order; the household's
    address is the head's (else the first member's).  Residents without a number or
    no longer resident are left out.
    """
    groups: dict[str, list[_ResidentLike]] = {}
    for r in residents:
        if r.status != "住民" or not r.individual_number:
            continue
        groups.setdefault(r.household_number, []).append(r)
    notices = []
    for number in sorted(groups):
        people = sorted(groups[number], key=lambda r: (r.relationship != "世帯主", r.resident_id))
        first = people[0]
        notices.append(HouseholdNotice(
            household_number=number,
            postcode=first.postcode,
            address=first.address,
            members=tuple(
                MemberNotice(r.resident_id, r.name, r.furigana, r.birth_date, r.sex,
                             str(r.individual_number))
                for r in people
            ),
        ))
    return notices


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


# -- what the service hands out ---------------------------------------------------------


@dataclass(frozen=True)
class LetterEvent:
    """One entry of a letter's history."""

    state: LetterState
    at: dt.datetime
    reason: ReturnReason | None = None
    identity_document: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class LetterMember:
    """A person on a letter, with their application form's ID."""

    application_id: str
    resident_id: int
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    individual_number: str
    used: bool


@dataclass(frozen=True)
class Letter:
    """A letter with its contents and its whole history (oldest first)."""

    letter_id: int
    batch_id: int
    municipality_code: str
    municipality_name: str
    kind: LetterKind
    household_number: str
    postcode: str
    address: str
    destination: Destination
    members: tuple[LetterMember, ...]
    apply_url: str
    prepared_at: dt.datetime
    history: tuple[LetterEvent, ...]

    @property
    def state(self) -> LetterState:
        return self.history[-1].state

    @property
    def return_reason(self) -> ReturnReason | None:
        return next((e.reason for e in self.history if e.state is LetterState.RETURNED), None)


@dataclass(frozen=True)
class BatchSummary:
    batch_id: int
    municipality_code: str
    municipality_name: str
    prepared_at: dt.datetime
    mailed_at: dt.datetime | None
    letter_ids: tuple[int, ...]
    household_letters: int
    alternative_letters: int
    people: int


@dataclass(frozen=True)
class AlternativeRegistration:
    """居所情報登録 of one person (applies to every letter prepared while it is active)."""

    alternative_id: int
    municipality_code: str
    resident_id: int
    reason: AlternativeReason
    destination: Destination
    note: str | None
    for_remailing: bool
    registered_at: dt.datetime
    moved_to_letter: int | None = None  # set when a prepared letter was split at once


@dataclass(frozen=True)
class ApplicationInfo:
    """Whose card application form an 申請書ID belongs to, and whether it was used."""

    application_id: str
    municipality_code: str
    municipality_name: str
    resident_id: int
    name: str
    letter_id: int
    letter_state: LetterState
    used_at: dt.datetime | None

    @property
    def used(self) -> bool:
        return self.used_at is not None


@dataclass(frozen=True)
class FollowUpEntry:
    """A letter that never reached its household: for 実態調査 and possibly 職権消除.

    For a letter sent to a registered 居所 only the registered address is shown:
    the 居所 itself stays off the list, and such a return is no ground for
    職権消除 at the registered address.
    """

    letter_id: int
    batch_id: int
    kind: LetterKind
    household_number: str
    postcode: str
    address: str
    names: tuple[str, ...]
    state: LetterState
    return_reason: ReturnReason | None
    returned_on: dt.date | None
    holding_until: dt.date | None
    disposed_on: dt.date | None


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


@dataclass(frozen=True)
class DeliveryStats:
    """Counts by current state and by return reason, for one municipality or all.

    Rates by state and the unreached rate are over letters mailed; rates by
    return reason are shares of the letters returned.
    """

    municipality_code: str | None
    municipality_name: str
    letters: int
    mailed: int
    by_state: dict[LetterState, int]
    returned: int
    by_reason: dict[ReturnReason, int]
    unreached: int

    def state_rate(self, state: LetterState) -> float:
        return _rate(self.by_state.get(state, 0), self.mailed)

    def reason_rate(self, reason: ReturnReason) -> float:
        return _rate(self.by_reason.get(reason, 0), self.returned)

    @property
    def return_rate(self) -> float:
        return _rate(self.returned, self.mailed)

    @property
    def unreached_rate(self) -> float:
        return _rate(self.unreached, self.mailed)

    def to_dict(self) -> dict[str, object]:
        return {
            "municipality_code": self.municipality_code,
            "municipality_name": self.municipality_name,
            "letters": self.letters,
            "mailed": self.mailed,
            "by_state": {s.value: {"count": n, "rate": round(self.state_rate(s), 6)}
                         for s, n in self.by_state.items()},
            "returned": self.returned,
            "return_rate": round(self.return_rate, 6),
            "by_reason": {r.value: {"count": n, "share": round(self.reason_rate(r), 6)}
                          for r, n in self.by_reason.items()},
            "unreached": self.unreached,
            "unreached_rate": round(self.unreached_rate, 6),
        }


@dataclass(frozen=True)
class StatsReport:
    overall: DeliveryStats
    municipalities: tuple[DeliveryStats, ...]

    def to_dict(self) -> dict[str, object]:
        return {"overall": self.overall.to_dict(),
                "municipalities": [m.to_dict() for m in self.municipalities]}


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


#: The states shown in statistics (取りやめ letters never existed for the addressee).
STATS_STATES: tuple[LetterState, ...] = tuple(
    s for s in LetterState if s is not LetterState.CANCELLED
)
