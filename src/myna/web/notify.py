"""What the 番号通知 screens show: a town's letters, who is still to be notified, lines.

The notification node (J-LIS) is reached through
:class:`myna.notify.service.NotificationService` only.  It has no query for
"the letters of one town" or "the letters of one person", so the town's letters
are read batch by batch here (:func:`town_letters`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from myna.clock import jst_date
from myna.errors import Conflict, NotFound, PermissionDenied
from myna.notify.domain import (
    AFTER_MAILING,
    TRANSITIONS,
    UNREACHED,
    AlternativeReason,
    AlternativeRegistration,
    BatchSummary,
    Letter,
    LetterKind,
    LetterState,
    ReturnReason,
    holding_deadline,
    household_notices,
)
from myna.notify.service import RECORDABLE, NotificationService
from myna.registry.domain import Resident, Staff
from myna.registry.service import MunicipalityRegistry
from myna.web.linkage import resident_brief
from myna.web.presenters import HIDDEN, mask_number

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


def town_letters(notify: NotificationService, code: str) -> list[Letter]:
    """Every letter of the town (取りやめ excepted), oldest first."""
    return [notify.letter(i) for batch in notify.batches(code) for i in batch.letter_ids]


def town_letter(notify: NotificationService, code: str, letter_id: int) -> Letter:
    """One letter of the town; another town's letter is 'not found' here."""
    letter = notify.letter(letter_id)
    if letter.municipality_code != code:
        raise NotFound(f"通知 {letter_id} はありません", f"no letter {letter_id}")
    return letter


def town_batch(notify: NotificationService, code: str, batch_id: int) -> BatchSummary:
    batch = notify.batch(batch_id)
    if batch.municipality_code != code:
        raise NotFound(f"一括 {batch_id} はありません", f"no batch {batch_id}")
    return batch


def active_registration(
    notify: NotificationService, code: str, resident_id: int
) -> AlternativeRegistration | None:
    return next((a for a in notify.alternatives(code) if a.resident_id == resident_id), None)


def to_notify(
    registry: MunicipalityRegistry, notify: NotificationService,
    letters: Sequence[Letter] | None = None,
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


def prepare_batch(registry: MunicipalityRegistry, notify: NotificationService) -> BatchSummary:
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


class Protection:
    """Whether a person on a letter is under 支援措置 (looked up once per household)."""

    def __init__(self, registry: MunicipalityRegistry) -> None:
        self.registry = registry
        self._households: dict[str, dict[int, Resident]] = {}
        self._others: dict[int, Resident | None] = {}

    def resident(self, resident_id: int, household_number: str) -> Resident | None:
        if household_number not in self._households:
            self._households[household_number] = {
                r.resident_id: r
                for r in self.registry.household_members(household_number, include_removed=True)
            }
        found = self._households[household_number].get(resident_id)
        if found is not None:
            return found
        if resident_id not in self._others:  # moved to another household since
            self._others[resident_id] = resident_brief(self.registry, resident_id)
        return self._others[resident_id]

    def protected(self, resident_id: int, household_number: str) -> bool:
        resident = self.resident(resident_id, household_number)
        return resident is not None and resident.support_measure

    def hidden(self, staff: Staff, resident_id: int, household_number: str) -> bool:
        return not staff.may_view_protected and self.protected(resident_id, household_number)

    def check_letter(self, staff: Staff, letter: Letter, what: str) -> None:
        """Letters listing a protected person are handled by supervisors."""
        if any(self.hidden(staff, m.resident_id, letter.household_number)
               for m in letter.members):
            raise PermissionDenied(
                f"支援措置の対象者を含む通知です。{what}は監督者が行ってください",
                f"the letter lists a person under support measures: {what} needs a supervisor",
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

    @property
    def letter_id(self) -> int:
        return self.letter.letter_id


def _mask_application_id(value: str) -> str:
    """Only the last four digits: the ID lets anyone start an online application."""
    return "…" + value[-4:]


def postcode(value: str) -> str:
    """``1860001`` → ``〒186-0001``."""
    return f"〒{value[:3]}-{value[3:]}" if len(value) == 7 else value


def destination_text(letter: Letter, staff: Staff, hidden: bool) -> str:
    """Where the envelope was sent.  A 居所 is shown to supervisors only: clerks see it,
    with a purpose that is logged, on the person's own page."""
    d = letter.destination
    if letter.kind is LetterKind.ALTERNATIVE and (hidden or not staff.may_view_protected):
        return "居所あて（送付先は監督者のみ表示）"
    text = f"{postcode(d.postcode)} {d.address}"
    return text + (f" {d.care_of}" if d.care_of else "")


def letter_line(letter: Letter, staff: Staff, protection: Protection) -> LetterLine:
    hidden = [protection.hidden(staff, m.resident_id, letter.household_number)
              for m in letter.members]
    names = "、".join(HIDDEN if h else m.name for m, h in zip(letter.members, hidden,
                                                                strict=True))
    last = letter.history[-1]
    return LetterLine(letter, names, len(letter.members), letter.state,
                      STATE_CSS[letter.state], letter.return_reason, last.at, any(hidden),
                      destination_text(letter, staff, any(hidden)))


def member_lines(letter: Letter, staff: Staff, protection: Protection) -> list[MemberLine]:
    out = []
    for m in letter.members:
        hidden = protection.hidden(staff, m.resident_id, letter.household_number)
        out.append(MemberLine(
            m.resident_id, HIDDEN if hidden else m.name, "" if hidden else m.furigana,
            None if hidden else m.birth_date, "" if hidden else m.sex,
            "****" if hidden else mask_number(m.individual_number),
            _mask_application_id(m.application_id), m.used, hidden,
        ))
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


def holding_until(letter: Letter, months: int) -> dt.date | None:
    """The last day a letter held at the counter is kept (None unless it is held)."""
    held = next((e for e in reversed(letter.history) if e.state is LetterState.HELD), None)
    if held is None or letter.state is not LetterState.HELD:
        return None
    return holding_deadline(held.at, months)


# -- the person's page -------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonNotify:
    """番号通知 on a resident's page: their letters and their 居所情報登録."""

    letters: list[LetterLine]
    registration: AlternativeRegistration | None
    mailed: bool  # their latest letter has left J-LIS
    waiting: bool  # their latest letter is waiting to be mailed
    reasons: tuple[AlternativeReason, ...]


def person_notify(
    registry: MunicipalityRegistry, notify: NotificationService, staff: Staff, resident_id: int,
) -> PersonNotify:
    protection = Protection(registry)
    mine = [letter for letter in town_letters(notify, registry.code)
            if any(m.resident_id == resident_id for m in letter.members)]
    latest = mine[-1] if mine else None
    return PersonNotify(
        letters=[letter_line(letter, staff, protection) for letter in mine],
        registration=active_registration(notify, registry.code, resident_id),
        mailed=latest is not None and latest.state in AFTER_MAILING,
        waiting=latest is not None and latest.state is LetterState.PREPARED,
        reasons=tuple(AlternativeReason),
    )
