"""J-LIS's notification mailing (番号通知) as the municipalities see it.

A town hands over its households (:class:`HouseholdNotice`) and registers
alternative destinations (居所情報登録); J-LIS prepares one sealed letter
(個人番号通知書, 番号法7条1項) per household with one card application form per
member, and the town's counter records what became of each returned letter.

:class:`NotifyApi` is every call a town makes (its staff screens, its commands,
the demo); :class:`ApplicationFormsApi` is what J-LIS's card centre asks of the
application forms (申請書ID).  ``myna.notify.service.NotificationService`` implements
both in-process, ``myna.transport.notify_client.NotifyClient`` the first over HTTP,
where J-LIS lets a town act only on its own batches, letters and registrations.

The values carried are frozen dataclasses with JSON codecs (``*_to_json`` /
``*_from_json``) for the wire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "AFTER_MAILING",
    "RECORDABLE",
    "STATS_STATES",
    "TRANSITIONS",
    "UNREACHED",
    "AlternativeReason",
    "AlternativeRegistration",
    "ApplicationFormsApi",
    "ApplicationInfo",
    "BatchSummary",
    "DeliveryStats",
    "Destination",
    "FollowUpEntry",
    "HouseholdNotice",
    "Letter",
    "LetterEvent",
    "LetterKind",
    "LetterMember",
    "LetterState",
    "MemberNotice",
    "NotifyApi",
    "ReturnReason",
    "StatsReport",
]


class LetterState(StrEnum):
    """Where a letter is in its life (its history only grows)::

        作成済み ─→ 発送済み ─→ 配達済み
           │           └──→ 返戻 ─→ 窓口保管 ─→ 交付済み
           └→ 取りやめ                    └──→ 廃棄（保管期間経過後）
    """

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


#: The transitions a letter's history allows (発送 is recorded per batch).
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
#: What :meth:`NotifyApi.record` accepts (発送 is :meth:`NotifyApi.mark_mailed`).
RECORDABLE = frozenset({LetterState.DELIVERED, LetterState.RETURNED, LetterState.HELD,
                        LetterState.HANDED_OVER, LetterState.DISPOSED})
#: Letters whose household was never reached: the 実態調査 list.
UNREACHED = frozenset({LetterState.RETURNED, LetterState.HELD, LetterState.DISPOSED})
#: States that mean the letter has left J-LIS.
AFTER_MAILING = frozenset(TRANSITIONS) - {LetterState.PREPARED, LetterState.CANCELLED}
#: The states shown in statistics (取りやめ letters never existed for the addressee).
STATS_STATES: tuple[LetterState, ...] = tuple(
    s for s in LetterState if s is not LetterState.CANCELLED
)


# -- what a town hands over -------------------------------------------------------------


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


# -- what J-LIS answers ---------------------------------------------------------------------


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
    #: the last day a letter held at the counter is kept (None unless it is held now)
    holding_until: dt.date | None = None

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
    #: the people on the letter, in the order of ``names``
    resident_ids: tuple[int, ...] = ()


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


# -- the interfaces -------------------------------------------------------------------------


class NotifyApi(Protocol):
    """番号通知 as a municipality calls it."""

    @property
    def holding_months(self) -> int:
        """How long a returned letter is kept at the counter before 廃棄 (months)."""
        ...

    def prepare_batch(self, municipality_code: str, municipality_name: str,
                      households: Sequence[HouseholdNotice]) -> BatchSummary:
        """The letters of one mailing: one per household, one per 居所 person."""
        ...

    def mark_mailed(self, batch_id: int) -> BatchSummary:
        """発送: every prepared letter of the batch was handed to the post office."""
        ...

    def batch(self, batch_id: int) -> BatchSummary: ...

    def batches(self, municipality_code: str | None = None) -> list[BatchSummary]: ...

    def record(self, letter_id: int, state: LetterState | str,
               reason: ReturnReason | str | None = None, note: str | None = None,
               identity_document: str | None = None) -> LetterEvent:
        """What happened to a mailed letter: 配達済み, 返戻 (with its reason), 窓口保管,
        交付済み (with the identity document checked), 廃棄 (after the holding period)."""
        ...

    def dispose_expired(self, municipality_code: str | None = None) -> list[int]:
        """廃棄 of every letter held at the counter past its holding period."""
        ...

    def letters(self, municipality_code: str) -> list[Letter]:
        """Every letter of a municipality (取りやめ excepted), oldest first."""
        ...

    def letter(self, letter_id: int) -> Letter: ...

    def letter_pdf(self, letter_id: int) -> bytes:
        """The letter with its application forms, as a printable A4 PDF."""
        ...

    def follow_up(self, municipality_code: str) -> list[FollowUpEntry]:
        """Letters that never reached their household (返戻のまま・窓口保管中・廃棄)."""
        ...

    def stats(self, municipality_code: str | None = None) -> StatsReport: ...

    def chart_png(self, municipality_code: str | None = None) -> bytes: ...

    def register_alternative(
        self, municipality_code: str, resident_id: int, reason: AlternativeReason | str,
        postcode: str, address: str, care_of: str | None = None, note: str | None = None,
        for_remailing: bool = False,
    ) -> AlternativeRegistration:
        """居所情報登録: where one person's letter goes instead of the registered address."""
        ...

    def withdraw_alternative(self, municipality_code: str, resident_id: int) -> None: ...

    def alternatives(self, municipality_code: str) -> list[AlternativeRegistration]:
        """Active registrations of a municipality."""
        ...

    def application(self, application_id: str) -> ApplicationInfo:
        """Whose form an 申請書ID is, and whether it was used."""
        ...


class ApplicationFormsApi(Protocol):
    """What J-LIS's card centre asks of the application forms (申請書ID)."""

    def application(self, application_id: str) -> ApplicationInfo: ...

    def use_application(self, application_id: str) -> ApplicationInfo:
        """Use an 申請書ID for a card application: once only."""
        ...


# -- JSON codecs for the wire -----------------------------------------------------------------


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def household_to_json(h: HouseholdNotice) -> dict[str, Any]:
    return {"household_number": h.household_number, "postcode": h.postcode,
            "address": h.address,
            "members": [{"resident_id": m.resident_id, "name": m.name, "furigana": m.furigana,
                         "birth_date": m.birth_date.isoformat(), "sex": m.sex,
                         "individual_number": m.individual_number} for m in h.members]}


def household_from_json(d: dict[str, Any]) -> HouseholdNotice:
    return HouseholdNotice(
        str(d["household_number"]), str(d["postcode"]), str(d["address"]),
        tuple(MemberNotice(int(m["resident_id"]), str(m["name"]), str(m["furigana"]),
                           dt.date.fromisoformat(m["birth_date"]), str(m["sex"]),
                           str(m["individual_number"])) for m in d["members"]),
    )


def destination_to_json(d: Destination) -> dict[str, Any]:
    return {"postcode": d.postcode, "address": d.address, "care_of": d.care_of}


def destination_from_json(d: dict[str, Any]) -> Destination:
    return Destination(str(d["postcode"]), str(d["address"]), d.get("care_of"))


def event_to_json(e: LetterEvent) -> dict[str, Any]:
    return {"state": e.state.value, "at": e.at.isoformat(),
            "reason": e.reason.value if e.reason else None,
            "identity_document": e.identity_document, "note": e.note}


def event_from_json(d: dict[str, Any]) -> LetterEvent:
    return LetterEvent(LetterState(d["state"]), dt.datetime.fromisoformat(d["at"]),
                       ReturnReason(d["reason"]) if d.get("reason") else None,
                       d.get("identity_document"), d.get("note"))


def letter_to_json(x: Letter) -> dict[str, Any]:
    return {
        "letter_id": x.letter_id, "batch_id": x.batch_id,
        "municipality_code": x.municipality_code, "municipality_name": x.municipality_name,
        "kind": x.kind.value, "household_number": x.household_number,
        "postcode": x.postcode, "address": x.address,
        "destination": destination_to_json(x.destination),
        "members": [{"application_id": m.application_id, "resident_id": m.resident_id,
                     "name": m.name, "furigana": m.furigana,
                     "birth_date": m.birth_date.isoformat(), "sex": m.sex,
                     "individual_number": m.individual_number, "used": m.used}
                    for m in x.members],
        "apply_url": x.apply_url, "prepared_at": x.prepared_at.isoformat(),
        "history": [event_to_json(e) for e in x.history],
        "holding_until": _iso(x.holding_until),
    }


def letter_from_json(d: dict[str, Any]) -> Letter:
    return Letter(
        letter_id=int(d["letter_id"]), batch_id=int(d["batch_id"]),
        municipality_code=str(d["municipality_code"]),
        municipality_name=str(d["municipality_name"]), kind=LetterKind(d["kind"]),
        household_number=str(d["household_number"]), postcode=str(d["postcode"]),
        address=str(d["address"]), destination=destination_from_json(d["destination"]),
        members=tuple(
            LetterMember(str(m["application_id"]), int(m["resident_id"]), str(m["name"]),
                         str(m["furigana"]), dt.date.fromisoformat(m["birth_date"]),
                         str(m["sex"]), str(m["individual_number"]), bool(m["used"]))
            for m in d["members"]),
        apply_url=str(d["apply_url"]), prepared_at=dt.datetime.fromisoformat(d["prepared_at"]),
        history=tuple(event_from_json(e) for e in d["history"]),
        holding_until=_day(d.get("holding_until")),
    )


def batch_to_json(b: BatchSummary) -> dict[str, Any]:
    return {"batch_id": b.batch_id, "municipality_code": b.municipality_code,
            "municipality_name": b.municipality_name, "prepared_at": b.prepared_at.isoformat(),
            "mailed_at": _iso(b.mailed_at), "letter_ids": list(b.letter_ids),
            "household_letters": b.household_letters,
            "alternative_letters": b.alternative_letters, "people": b.people}


def batch_from_json(d: dict[str, Any]) -> BatchSummary:
    return BatchSummary(int(d["batch_id"]), str(d["municipality_code"]),
                        str(d["municipality_name"]), dt.datetime.fromisoformat(d["prepared_at"]),
                        _time(d.get("mailed_at")), tuple(int(i) for i in d["letter_ids"]),
                        int(d["household_letters"]), int(d["alternative_letters"]),
                        int(d["people"]))


def alternative_to_json(a: AlternativeRegistration) -> dict[str, Any]:
    return {"alternative_id": a.alternative_id, "municipality_code": a.municipality_code,
            "resident_id": a.resident_id, "reason": a.reason.value,
            "destination": destination_to_json(a.destination), "note": a.note,
            "for_remailing": a.for_remailing, "registered_at": a.registered_at.isoformat(),
            "moved_to_letter": a.moved_to_letter}


def alternative_from_json(d: dict[str, Any]) -> AlternativeRegistration:
    moved = d.get("moved_to_letter")
    return AlternativeRegistration(
        int(d["alternative_id"]), str(d["municipality_code"]), int(d["resident_id"]),
        AlternativeReason(d["reason"]), destination_from_json(d["destination"]), d.get("note"),
        bool(d["for_remailing"]), dt.datetime.fromisoformat(d["registered_at"]),
        int(moved) if moved is not None else None)


def application_to_json(a: ApplicationInfo) -> dict[str, Any]:
    return {"application_id": a.application_id, "municipality_code": a.municipality_code,
            "municipality_name": a.municipality_name, "resident_id": a.resident_id,
            "name": a.name, "letter_id": a.letter_id, "letter_state": a.letter_state.value,
            "used_at": _iso(a.used_at)}


def application_from_json(d: dict[str, Any]) -> ApplicationInfo:
    return ApplicationInfo(str(d["application_id"]), str(d["municipality_code"]),
                           str(d["municipality_name"]), int(d["resident_id"]), str(d["name"]),
                           int(d["letter_id"]), LetterState(d["letter_state"]),
                           _time(d.get("used_at")))


def follow_up_to_json(e: FollowUpEntry) -> dict[str, Any]:
    return {"letter_id": e.letter_id, "batch_id": e.batch_id, "kind": e.kind.value,
            "household_number": e.household_number, "postcode": e.postcode,
            "address": e.address, "names": list(e.names), "state": e.state.value,
            "return_reason": e.return_reason.value if e.return_reason else None,
            "returned_on": _iso(e.returned_on), "holding_until": _iso(e.holding_until),
            "disposed_on": _iso(e.disposed_on), "resident_ids": list(e.resident_ids)}


def follow_up_from_json(d: dict[str, Any]) -> FollowUpEntry:
    return FollowUpEntry(
        int(d["letter_id"]), int(d["batch_id"]), LetterKind(d["kind"]),
        str(d["household_number"]), str(d["postcode"]), str(d["address"]),
        tuple(str(n) for n in d["names"]), LetterState(d["state"]),
        ReturnReason(d["return_reason"]) if d.get("return_reason") else None,
        _day(d.get("returned_on")), _day(d.get("holding_until")), _day(d.get("disposed_on")),
        tuple(int(i) for i in d.get("resident_ids", ())))


def stats_to_json(s: DeliveryStats) -> dict[str, Any]:
    return {"municipality_code": s.municipality_code, "municipality_name": s.municipality_name,
            "letters": s.letters, "mailed": s.mailed,
            "by_state": {k.value: n for k, n in s.by_state.items()}, "returned": s.returned,
            "by_reason": {k.value: n for k, n in s.by_reason.items()},
            "unreached": s.unreached}


def stats_from_json(d: dict[str, Any]) -> DeliveryStats:
    return DeliveryStats(
        d.get("municipality_code"), str(d["municipality_name"]), int(d["letters"]),
        int(d["mailed"]), {LetterState(k): int(n) for k, n in d["by_state"].items()},
        int(d["returned"]), {ReturnReason(k): int(n) for k, n in d["by_reason"].items()},
        int(d["unreached"]))


def report_to_json(r: StatsReport) -> dict[str, Any]:
    return {"overall": stats_to_json(r.overall),
            "municipalities": [stats_to_json(m) for m in r.municipalities]}


def report_from_json(d: dict[str, Any]) -> StatsReport:
    return StatsReport(stats_from_json(d["overall"]),
                       tuple(stats_from_json(m) for m in d["municipalities"]))
