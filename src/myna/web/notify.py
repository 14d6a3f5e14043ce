"""What the 番号通知 screens show: a town's letters, who is still to be notified, lines.

The notification node (J-LIS) is reached through its contract only
(:class:`myna.contracts.notify.NotifyApi`): in one process the service itself,
between processes its HTTP client.  Everyone a page lists from the letters is
read from the town's registry for the page's affair and logged there as shown
(:meth:`myna.registry.reading.Reading.list_view`); a person under 支援措置 is left
off a clerk's page unless the clerk holds an approval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from myna.clock import jst_date
from myna.contracts.notify import (
    AFTER_MAILING,
    RECORDABLE,
    TRANSITIONS,
    UNREACHED,
    AlternativeReason,
    AlternativeRegistration,
    BatchSummary,
    FollowUpEntry,
    Letter,
    LetterKind,
    LetterState,
    NotifyApi,
    ReturnReason,
)
from myna.errors import Conflict, NotFound, PermissionDenied
from myna.registry.affairs import MY_NUMBER
from myna.registry.domain import Resident, Staff
from myna.registry.notices import household_notices
from myna.registry.reading import Listed
from myna.registry.service import MunicipalityRegistry
from myna.web.presenters import HIDDEN, mask_number

#: The affair the 番号通知 screens are read for unless another is chosen (番号法7条).
PURPOSE = MY_NUMBER

#: Badge colour of each state (see ``.badge.*`` in style.css).
STATE_CSS: dict[LetterState, str] = {
    LetterState.PREPARED: "muted",
    LetterState.CANCELLED: "muted",
    LetterState.MAILED: "",
    LetterState.DELIVERED: "ok",
    LetterState.RETURNED: "warn",
    LetterState.HELD: "warn",
    LetterState.HANDED_OVER: "ok",
    LetterState.DISPOSED: "danger",
}

#: What the counter records, in the order of a letter's life, with the button's words.
ACTION_LABELS: dict[LetterState, str] = {
    LetterState.DELIVERED: "配達済みを記録",
    LetterState.RETURNED: "返戻を記録",
    LetterState.HELD: "窓口保管にする",
    LetterState.HANDED_OVER: "窓口で交付",
    LetterState.DISPOSED: "廃棄を記録",
}

#: Suggestions for the identity document checked at hand-over (free text is accepted).
IDENTITY_DOCUMENTS = (
    "運転免許証", "パスポート", "在留カード", "特別永住者証明書", "身体障害者手帳",
    "健康保険証と年金手帳", "健康保険証と写真付き学生証",
)

#: The most letters a list shows at once.
LETTERS_LIMIT = 500


def state_by_name(value: str) -> LetterState | None:
    """A state from a form or query (``returned`` or ``返戻``); None when unknown."""
    for state in LetterState:
        if value in (state.value, state.english, state.name, form_name(state)):
            return state
    return None


def form_name(state: LetterState) -> str:
    """How forms and queries name a state: ``handed_over``."""
    return state.english.replace(" ", "_")


# -- the town's letters -------------------------------------------------------------------


def town_letters(notify: NotifyApi, code: str) -> list[Letter]:
    """Every letter of the town (取りやめ excepted), oldest first."""
    return notify.letters(code)


def town_letter(notify: NotifyApi, code: str, letter_id: int) -> Letter:
    """One letter of the town; another town's letter is 'not found' here."""
    letter = notify.letter(letter_id)
    if letter.municipality_code != code:
        raise NotFound(f"通知 {letter_id} はありません", f"no letter {letter_id}")
    return letter


def town_batch(notify: NotifyApi, code: str, batch_id: int) -> BatchSummary:
    batch = notify.batch(batch_id)
    if batch.municipality_code != code:
        raise NotFound(f"一括 {batch_id} はありません", f"no batch {batch_id}")
    return batch


def active_registration(
    notify: NotifyApi, code: str, resident_id: int
) -> AlternativeRegistration | None:
    return next((a for a in notify.alternatives(code) if a.resident_id == resident_id), None)


def to_notify(
    registry: MunicipalityRegistry, notify: NotifyApi, letters: Sequence[Letter] | None = None,
) -> list[Resident]:
    """Current residents with a number whose notification is still to be prepared.

    Nobody on a letter waiting to be mailed.  Otherwise: never notified, notified of
    a number they no longer have, or registered for re-mailing (居所) since their
    last letter was prepared.
    """
    code = registry.code
    if letters is None:
        letters = town_letters(notify, code)
    latest: dict[int, Letter] = {}
    numbers: dict[int, set[str]] = {}
    for letter in letters:
        for m in letter.members:
            latest[m.resident_id] = letter  # letters come oldest first
            numbers.setdefault(m.resident_id, set()).add(m.individual_number)
    remailing = {a.resident_id: a for a in notify.alternatives(code) if a.for_remailing}
    out = []
    for r in registry.current_residents():
        if not r.individual_number:
            continue
        last = latest.get(r.resident_id)
        if last is None:
            out.append(r)
            continue
        if last.state is LetterState.PREPARED:
            continue
        again = remailing.get(r.resident_id)
        if (r.individual_number not in numbers[r.resident_id]
                or (again is not None and again.registered_at > last.prepared_at)):
            out.append(r)
    return out


def prepare_batch(registry: MunicipalityRegistry, notify: NotifyApi) -> BatchSummary:
    """番号通知 of everyone still to be notified (see :func:`to_notify`), as one batch."""
    people = to_notify(registry, notify)
    if not people:
        raise Conflict(
            "通知書を作成する対象の住民がいません（個人番号のある住民は全員、通知済みか"
            "発送待ちの通知に含まれています）",
            "nobody to notify: every numbered resident is notified or waiting to be mailed",
        )
    return notify.prepare_batch(registry.code, registry.municipality.name,
                                household_notices(people))


# -- who may see whom ----------------------------------------------------------------------


class Shown:
    """The people on some letters as the viewer may see them, read from the registry
    for the page's affair: each one shown is logged as viewed, once per page."""

    def __init__(self, registry: MunicipalityRegistry, staff: Staff,
                 resident_ids: Iterable[int], purpose: str, note: str) -> None:
        self.staff = staff
        self.people: dict[int, Listed] = registry.list_view(staff, resident_ids, purpose, note)

    @classmethod
    def of_letters(cls, registry: MunicipalityRegistry, staff: Staff,
                   letters: Iterable[Letter], purpose: str, note: str) -> Shown:
        ids = [m.resident_id for letter in letters for m in letter.members]
        return cls(registry, staff, ids, purpose, note)

    def shown(self, resident_id: int) -> bool:
        listed = self.people.get(resident_id)
        return listed is not None and listed.shown

    def opened(self, resident_id: int) -> bool:
        """Shown with every detail, address included (not under 支援措置, or approved)."""
        listed = self.people.get(resident_id)
        return listed is not None and listed.shown and not listed.redacted

    def any_shown(self, resident_ids: Iterable[int]) -> bool:
        return any(self.shown(i) for i in resident_ids)

    def check_letter(self, letter: Letter, what: str) -> None:
        """Letters listing someone the viewer may not see are handled by supervisors."""
        if not all(self.shown(m.resident_id) for m in letter.members):
            raise PermissionDenied(
                f"支援措置の対象者を含む通知です。{what}は監督者が行ってください",
                f"the letter lists a person under support measures: {what} needs a supervisor",
            )


def check_visible(letter: Letter, shown: Shown) -> None:
    """A letter that lists only people the viewer may not see is not opened for them."""
    if not shown.any_shown(m.resident_id for m in letter.members):
        raise PermissionDenied(
            f"通知 {letter.letter_id} は支援措置の対象者の通知書です。監督者が確認するか、"
            "記録を開く承認を受けてください",
            f"letter {letter.letter_id} lists only people under support measures",
        )


# -- lines for the pages ---------------------------------------------------------------------


@dataclass(frozen=True)
class MemberLine:
    resident_id: int
    name: str
    furigana: str
    birth_date: dt.date | None
    sex: str
    masked_number: str
    application_id: str  # masked but for the last four digits
    used: bool
    hidden: bool


@dataclass(frozen=True)
class LetterLine:
    letter: Letter
    names: str
    people: int
    state: LetterState
    css: str
    reason: ReturnReason | None
    updated_at: dt.datetime
    hidden: bool  # someone on it is hidden from the viewer
    destination: str  # where the envelope went, or why it is not shown
    address: str  # the registered address, or why it is not shown

    @property
    def letter_id(self) -> int:
        return self.letter.letter_id


def _mask_application_id(value: str) -> str:
    """Only the last four digits: the ID lets anyone start an online application."""
    return "…" + value[-4:]


def postcode(value: str) -> str:
    """``1860001`` → ``〒186-0001``."""
    return f"〒{value[:3]}-{value[3:]}" if len(value) == 7 else value


def destination_text(letter: Letter, staff: Staff, opened: bool) -> str:
    """Where the envelope was sent.  A 居所 is shown to supervisors only, and only when
    everyone on the letter is open to them: clerks see it, with a purpose that is
    logged, on the person's own page."""
    d = letter.destination
    if letter.kind is LetterKind.ALTERNATIVE and (not opened or not staff.may_view_protected):
        return "居所あて（送付先は監督者のみ表示）"
    text = f"{postcode(d.postcode)} {d.address}"
    return text + (f" {d.care_of}" if d.care_of else "")


def address_text(postcode_: str, address: str, resident_ids: Iterable[int],
                 shown: Shown) -> str:
    """The registered address, unless everyone at it is withheld from the viewer."""
    if not any(shown.opened(i) for i in resident_ids):
        return HIDDEN
    return f"{postcode(postcode_)} {address}"


def letter_line(letter: Letter, shown: Shown) -> LetterLine | None:
    """The letter as a list shows it; None when it lists nobody the viewer may see."""
    ids = [m.resident_id for m in letter.members]
    if not shown.any_shown(ids):
        return None
    names = "、".join(m.name if shown.shown(m.resident_id) else HIDDEN for m in letter.members)
    opened = all(shown.opened(i) for i in ids)
    last = letter.history[-1]
    return LetterLine(letter, names, len(letter.members), letter.state,
                      STATE_CSS[letter.state], letter.return_reason, last.at,
                      not all(shown.shown(i) for i in ids),
                      destination_text(letter, shown.staff, opened),
                      address_text(letter.postcode, letter.address, ids, shown))


def letter_lines(letters: Iterable[Letter], shown: Shown) -> list[LetterLine]:
    return [line for line in (letter_line(x, shown) for x in letters) if line is not None]


def member_lines(letter: Letter, shown: Shown) -> list[MemberLine]:
    out = []
    for m in letter.members:
        hidden = not shown.shown(m.resident_id)
        out.append(MemberLine(
            m.resident_id, HIDDEN if hidden else m.name, "" if hidden else m.furigana,
            None if hidden else m.birth_date, "" if hidden else m.sex,
            "****" if hidden else mask_number(m.individual_number),
            _mask_application_id(m.application_id), m.used, hidden,
        ))
    return out


@dataclass(frozen=True)
class FollowUpLine:
    """A letter of the follow-up list as the viewer may see it."""

    e: FollowUpEntry
    names: str
    hidden: bool  # someone on it is hidden from the viewer
    address: str
    resident_id: int  # whose page the household is opened from
    css: str


def follow_up_lines(entries: Iterable[FollowUpEntry], shown: Shown) -> list[FollowUpLine]:
    """The entries listing someone the viewer may see (the others are left off)."""
    out = []
    for e in entries:
        visible = [i for i in e.resident_ids if shown.shown(i)]
        if not visible:
            continue
        names = "、".join(n if shown.shown(i) else HIDDEN
                         for i, n in zip(e.resident_ids, e.names, strict=True))
        out.append(FollowUpLine(e, names, len(visible) < len(e.resident_ids),
                                address_text(e.postcode, e.address, e.resident_ids, shown),
                                visible[0], STATE_CSS[e.state]))
    return out


def filter_letters(
    letters: Iterable[Letter], state: str = "", household: str = "", batch: int | None = None,
) -> list[Letter]:
    """Letters in a state (``unreached``: 返戻・窓口保管・廃棄), of a household or batch."""
    out = []
    wanted = state_by_name(state) if state and state != "unreached" else None
    for letter in letters:
        if state == "unreached" and letter.state not in UNREACHED:
            continue
        if wanted is not None and letter.state is not wanted:
            continue
        if household and letter.household_number != household:
            continue
        if batch is not None and letter.batch_id != batch:
            continue
        out.append(letter)
    return out


@dataclass(frozen=True)
class NextStep:
    """A recordable next state of a letter, for the counter's forms."""

    name: str  # english, posted by the form
    state: LetterState
    label: str


def next_steps(letter: Letter) -> list[NextStep]:
    allowed = TRANSITIONS[letter.state] & RECORDABLE
    return [NextStep(form_name(s), s, ACTION_LABELS[s])
            for s in ACTION_LABELS if s in allowed]


def may_dispose(until: dt.date | None, now: dt.datetime) -> bool:
    """Whether the holding period of a letter held until ``until`` is over."""
    return until is not None and jst_date(now) > until


# -- the person's page -------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonLetter:
    """One of the person's letters on their page (the others on it are not shown)."""

    letter: Letter
    state: LetterState
    css: str
    reason: ReturnReason | None

    @property
    def letter_id(self) -> int:
        return self.letter.letter_id


@dataclass(frozen=True)
class PersonNotify:
    """番号通知 on a resident's page: their letters and their 居所情報登録."""

    letters: list[PersonLetter]
    registration: AlternativeRegistration | None
    mailed: bool  # their latest letter has left J-LIS
    waiting: bool  # their latest letter is waiting to be mailed
    reasons: tuple[AlternativeReason, ...]


def person_notify(
    registry: MunicipalityRegistry, notify: NotifyApi, staff: Staff, resident_id: int,
) -> PersonNotify:
    """The person's letters (who else is on them is not shown on the person's page)."""
    mine = [letter for letter in town_letters(notify, registry.code)
            if any(m.resident_id == resident_id for m in letter.members)]
    latest = mine[-1] if mine else None
    return PersonNotify(
        letters=[PersonLetter(x, x.state, STATE_CSS[x.state], x.return_reason) for x in mine],
        registration=active_registration(notify, registry.code, resident_id),
        mailed=latest is not None and latest.state in AFTER_MAILING,
        waiting=latest is not None and latest.state is LetterState.PREPARED,
        reasons=tuple(AlternativeReason),
    )
