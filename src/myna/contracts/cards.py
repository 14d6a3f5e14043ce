"""The card centre as a municipality's counter and web screens call it.

J-LIS's card centre (個人番号カード, 番号法16条の2・17条) takes applications,
produces cards and keeps their life; the municipality's counter books the
hand-over, hands the card over (交付: identity checked in person, PINs set by
the resident), reports losses, resumes found cards and reads a resident's cards.
:class:`CardsApi` is that interface: :class:`myna.card.lifecycle.service.CardService`
implements it in one process and :class:`myna.transport.cards_client.CardsClient`
over HTTP (the node ``jlis``), where a town reaches only its own town's cards.

A town asks J-LIS to produce the card of one of its waiting applications
(作成依頼, :meth:`CardsApi.produce`); J-LIS makes it with keys generated on the
chip and its own CA's certificates.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from myna.clock import jst_date, show_time
from myna.errors import InvalidFormat, InvalidLength, MynaError, ValidationError
from myna.numbers import individual
from myna.numbers import resident_code as resident_codes

#: A card number (券面の番号): 12 digits, never a valid individual number.
CARD_NUMBER_LENGTH = 12

#: Photo documents issued by public bodies: one is enough.
ONE_DOCUMENT: tuple[str, ...] = (
    "運転免許証", "運転経歴証明書", "旅券", "在留カード", "特別永住者証明書",
    "身体障害者手帳", "精神障害者保健福祉手帳", "療育手帳", "写真付き住民基本台帳カード",
    "一時庇護許可書", "仮滞在許可書", "海技免状", "電気工事士免状", "無線従事者免許証",
    "小型船舶操縦免許証", "宅地建物取引士証", "戦傷病者手帳",
)
#: Other documents: two different ones are needed.
TWO_DOCUMENTS: tuple[str, ...] = (
    "資格確認書", "健康保険被保険者証", "介護保険被保険者証", "年金手帳", "基礎年金番号通知書",
    "年金証書", "児童扶養手当証書", "特別児童扶養手当証書", "医療受給者証", "社員証", "学生証",
    "預金通帳", "母子健康手帳", "源泉徴収票", "公共料金の領収書",
)

def check_card_number(value: str) -> str:
    """A card number typed by a person (full-width digits, spaces, hyphens accepted).

    >>> check_card_number("１２３４-５６７８-９０１０")
    '123456789010'
    >>> check_card_number("123456789018")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.InvalidFormat: これは個人番号です...
    """
    text = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value or ""))
    if not text.isascii() or not text.isdigit():
        raise InvalidFormat(
            f"カード番号は数字で入力してください（入力: {value!r}）",
            f"a card number is digits only: {value!r}",
        )
    if len(text) != CARD_NUMBER_LENGTH:
        raise InvalidLength(
            f"カード番号は{CARD_NUMBER_LENGTH}桁です（入力は{len(text)}桁）",
            f"a card number has {CARD_NUMBER_LENGTH} digits, not {len(text)}",
        )
    if individual.is_valid(text):
        raise InvalidFormat(
            "これは個人番号です。カード番号（個人番号とは別の12桁）を入力してください",
            "this is an individual number, not a card number",
        )
    return text



#: the card event that says the card must be reissued (its back shows a retired number)
REISSUE_NEEDED = "再交付要（番号変更）"


def _parse(enum: type[StrEnum], value: str, aliases: dict[str, str], what_ja: str,
           what_en: str) -> StrEnum:
    text = (value or "").strip()
    text = aliases.get(text.lower(), text)
    try:
        return enum(text)
    except ValueError:
        allowed = "、".join(m.value for m in enum)
        raise ValidationError(
            f"{what_ja}が不正です: {value!r}（{allowed}）",
            f"unknown {what_en} {value!r}; use one of {allowed} or {', '.join(aliases)}",
        ) from None


class Channel(StrEnum):
    """How an application arrived (交付申請の方法)."""

    MAIL = "郵送"
    ONLINE = "オンライン"
    KIOSK = "証明写真機"
    COUNTER = "窓口"

    @classmethod
    def parse(cls, value: Channel | str) -> Channel:
        if isinstance(value, Channel):
            return value
        aliases = {"mail": "郵送", "online": "オンライン", "kiosk": "証明写真機",
                   "counter": "窓口"}
        found = _parse(cls, value, aliases, "申請方法", "application channel")
        assert isinstance(found, Channel)
        return found


class ApplicationStatus(StrEnum):
    RECEIVED = "受付"
    PRODUCED = "作成済"
    WITHDRAWN = "取下げ"


class CardStatus(StrEnum):
    """Where a card is in its life."""

    PRODUCED = "交付前"  # made by J-LIS, waiting at the municipality
    ACTIVE = "交付済"  # handed over, usable
    SUSPENDED = "一時停止"  # reported lost: nothing works until resumed
    ENDED = "廃止"  # for good (see EndReason)

    @property
    def live(self) -> bool:
        return self is not CardStatus.ENDED

    @classmethod
    def parse(cls, value: CardStatus | str) -> CardStatus:
        """A card state by its Japanese label (交付済 …) or English name (active …)."""
        if isinstance(value, CardStatus):
            return value
        for status in CardStatus:
            if value in (status.value, status.name.lower()):
                return status
        raise ValidationError(
            f"カードの状態が不正です: {value}（交付前・交付済・一時停止・廃止、または "
            "produced / active / suspended / ended）",
            f"unknown card state {value!r}: produced, active, suspended or ended",
        )


class EndReason(StrEnum):
    """Why a card ended."""

    UNCLAIMED = "未受領（保管期間経過）"
    DEATH = "死亡"
    EMIGRATION = "国外転出"
    EXPIRY = "有効期限満了"
    REISSUED = "再交付"
    RETURNED = "返納"
    REMOVED = "職権消除"

    @classmethod
    def parse(cls, value: EndReason | str) -> EndReason:
        if isinstance(value, EndReason):
            return value
        aliases = {"unclaimed": "未受領（保管期間経過）", "death": "死亡",
                   "emigration": "国外転出", "expiry": "有効期限満了", "reissued": "再交付",
                   "returned": "返納", "removed": "職権消除"}
        found = _parse(cls, value, aliases, "廃止の理由", "end reason")
        assert isinstance(found, EndReason)
        return found


class Reporter(StrEnum):
    """Who reported a card lost (一時停止の申出)."""

    RESIDENT = "本人"
    CALL_CENTRE = "コールセンター"
    MUNICIPALITY = "市区町村窓口"

    @classmethod
    def parse(cls, value: Reporter | str) -> Reporter:
        if isinstance(value, Reporter):
            return value
        aliases = {"resident": "本人", "call-centre": "コールセンター",
                   "call_centre": "コールセンター", "call-center": "コールセンター",
                   "municipality": "市区町村窓口"}
        found = _parse(cls, value, aliases, "届出者", "reporter")
        assert isinstance(found, Reporter)
        return found


class IdentityMethod(StrEnum):
    ONE_DOCUMENT = "1点確認"
    TWO_DOCUMENTS = "2点確認"


@dataclass(frozen=True)
class IdentityCheck:
    """How the holder was identified in person, and with which documents."""

    method: IdentityMethod
    documents: tuple[str, ...]


@dataclass(frozen=True)
class Application:
    """One 交付申請 as J-LIS received it (the photo is kept, not shown here)."""

    receipt_no: int
    channel: Channel
    notice_application_id: str | None
    municipality_code: str
    resident_id: int
    photo_format: str
    photo_size: tuple[int, int]
    signing_requested: bool
    staff_id: str | None
    reissue_of: str | None
    status: ApplicationStatus
    received_at: dt.datetime
    card_number: str | None


@dataclass(frozen=True)
class Note:
    """A line written in the card's 追記欄 (e.g. a new address)."""

    text: str
    staff_id: str
    written_at: dt.datetime


@dataclass(frozen=True)
class Card:
    """A card's record: what is printed on it, its state and its certificates.

    The individual number is shown masked; the face photo is kept but not here.
    ``person_key`` is J-LIS's reference of the holder (see docs/glossary.md): a
    town's client never receives it (it reads an empty string).
    """

    card_number: str
    receipt_no: int
    person_key: str
    municipality_code: str
    resident_id: int
    name: str
    birth_date: dt.date
    sex: str
    address: str
    masked_number: str
    period_of_stay_until: dt.date | None
    issued_on: dt.date
    expires_on: dt.date
    produced_at: dt.datetime
    hold_until: dt.date
    status: CardStatus
    auth_serial: int | None
    signing_serial: int | None
    handed_over_at: dt.datetime | None
    handed_over_by: str | None
    identity: IdentityCheck | None
    ended_at: dt.datetime | None
    end_reason: EndReason | None
    appointment: dt.datetime | None
    notes: tuple[Note, ...]

    @property
    def has_signing_certificate(self) -> bool:
        return self.signing_serial is not None


@dataclass(frozen=True)
class CertificateState:
    """Where one of a card's certificates stands at J-LIS now (not what the card says).

    ``kind`` is ``"auth"`` or ``"signing"`` (JPKI's :class:`~myna.jpki.domain.CertKind`
    values, which compare equal to these strings).
    """

    kind: str
    serial: int | None
    status: str  # "none" | "valid" | "revoked" | "expired"
    not_after: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None

    @property
    def label(self) -> str:
        """``有効（2031-04-01 まで）``, ``失効（… 理由: …）``, ``期限切れ`` or ``なし``."""
        if self.status == "valid" and self.not_after is not None:
            return f"有効（{jst_date(self.not_after).isoformat()} まで）"
        if self.status == "revoked":
            when = show_time(self.revoked_at) if self.revoked_at else ""
            return f"失効（{when}{'、理由: ' + self.reason if self.reason else ''}）"
        if self.status == "expired":
            return "有効期限切れ"
        return "なし"

    @property
    def short_label(self) -> str:
        """``有効 〜2031-04-01``, ``失効 2026-12-01``: for tables."""
        if self.status == "valid" and self.not_after is not None:
            return f"有効 〜{jst_date(self.not_after).isoformat()}"
        if self.status == "revoked" and self.revoked_at is not None:
            return f"失効 {jst_date(self.revoked_at).isoformat()}"
        return {"expired": "期限切れ", "revoked": "失効"}.get(self.status, "なし")

    @property
    def usable(self) -> bool:
        return self.status == "valid"


@dataclass(frozen=True)
class CardEvent:
    """One step of a card's (or application's) history."""

    event: str
    actor: str
    detail: dict[str, Any]
    at: dt.datetime


@dataclass(frozen=True)
class Suspension:
    suspension_id: int
    card_number: str
    reported_by: Reporter
    note: str
    suspended_at: dt.datetime
    revoked: dict[str, str]
    resumed_at: dt.datetime | None
    resumed_by: str | None


#: the card centre's node id (J-LIS hosts it: its events reach a town from J-LIS's node)
CARD_CENTRE_NODE = "cards"
#: the event kind by which the card centre tells the holder's 住所地市町村 that one of
#: its resident's cards changed state (交付, 一時停止, 一時停止の解除, 廃止)
CARD_STATE_CHANGED = "card.state_changed"


@dataclass(frozen=True)
class CardStateNotice:
    """What the card centre tells the card holder's 住所地市町村 when a card's state changes.

    Only what the town is entitled to, the town's own references of its resident:
    the card number (the town hands cards over at its counter and reads them there),
    the new state and since when, the end reason of a 廃止, and who the holder is in
    the town's own terms — ``resident_id`` when the town issued the card (the card
    centre keeps the issuing town's resident id with the card), and the 住民票コード
    J-LIS holds for the person (which the holder keeps across a move).  Never the
    individual number, the name, the address or J-LIS's person key.
    """

    card_number: str
    status: CardStatus
    since: dt.datetime
    resident_code: str | None = None
    resident_id: int | None = None
    end_reason: EndReason | None = None

    def __post_init__(self) -> None:
        if self.resident_code is None and self.resident_id is None:
            raise ValidationError("カードの名義人（住民ID または 住民票コード）がありません",
                                  "a card state notice names the holder")
        if self.since.tzinfo is None:
            raise ValidationError("日時にタイムゾーンがありません", "since must be aware")

    def to_payload(self) -> dict[str, Any]:
        return {"card_number": self.card_number, "status": self.status.value,
                "since": self.since.isoformat(), "resident_code": self.resident_code,
                "resident_id": self.resident_id,
                "end_reason": self.end_reason.value if self.end_reason else None}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CardStateNotice:
        """The notice of an event's payload, each field checked (a malformed one is
        refused: the sender's relay keeps it and ``myna check`` names it)."""
        try:
            rid = payload.get("resident_id")
            if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool)):
                raise TypeError("resident_id")
            code = payload.get("resident_code")
            reason = payload.get("end_reason")
            return cls(
                card_number=check_card_number(str(payload["card_number"])),
                status=CardStatus(str(payload["status"])),
                since=dt.datetime.fromisoformat(str(payload["since"])),
                resident_code=None if code is None else resident_codes.validate(str(code)),
                resident_id=rid,
                end_reason=None if reason is None else EndReason(str(reason)),
            )
        except (KeyError, TypeError, ValueError, MynaError) as exc:
            # the class only: a value quoted back could be a code of the resident
            raise ValidationError("カードの状態の通知の形式が不正です",
                                  f"malformed card state notice ({type(exc).__name__})"
                                  ) from None


class CardsApi(Protocol):
    """What a municipality's counter and screens call at J-LIS's card centre."""

    def now(self) -> dt.datetime: ...

    @property
    def holding_months(self) -> int: ...

    def apply(
        self, photo: bytes, *, channel: Channel | str, application_id: str | None = None,
        municipality_code: str | None = None, resident_id: int | None = None,
        staff_id: str | None = None, signing_certificate: bool = True,
    ) -> Application: ...

    def withdraw(self, receipt_no: int, note: str = "") -> Application: ...

    def application(self, receipt_no: int) -> Application: ...

    def pending_applications(self) -> list[Application]: ...

    def produce(self, receipt_no: int) -> Card:
        """作成依頼: J-LIS makes the card of one of the town's waiting applications (running
        it again after a failure completes the same card, never a second one)."""
        ...

    def book_appointment(self, card_number: str, slot_start: dt.datetime) -> dt.datetime: ...

    def appointments(self, municipality_code: str,
                     day: dt.date) -> list[tuple[dt.datetime, Card]]: ...

    def issue(self, card_number: str, *, staff_id: str, documents: Iterable[str],
              auth_pin: str, signing_pin: str | None = None) -> Card: ...

    def unclaimed(self, municipality_code: str | None = None) -> list[Card]: ...

    def void_unclaimed(self, municipality_code: str | None = None) -> list[str]:
        """廃止 of the cards not collected by their holding deadline (their numbers)."""
        ...

    def suspend(self, card_number: str, *, reported_by: Reporter | str = Reporter.RESIDENT,
                note: str = "") -> Card: ...

    def resume(self, card_number: str, *, staff_id: str, documents: Iterable[str]) -> Card: ...

    def reissue(self, card_number: str, *, staff_id: str, documents: Iterable[str],
                photo: bytes | None = None, signing_certificate: bool = True) -> Application: ...

    def end(self, card_number: str, reason: EndReason | str, *, actor: str = "J-LIS") -> Card: ...

    def add_note(self, card_number: str, *, staff_id: str, text: str) -> Card: ...

    def card(self, card_number: str) -> Card: ...

    def cards(self, municipality_code: str | None = None,
              status: CardStatus | str | None = None, limit: int = 1000) -> list[Card]: ...

    def cards_of_resident(self, municipality_code: str, resident_id: int) -> list[Card]: ...

    def history(self, card_number: str) -> list[CardEvent]: ...

    def suspensions(self, card_number: str) -> list[Suspension]: ...

    def certificate_states(self, card: Card) -> tuple[CertificateState, CertificateState]: ...

    def render_front(self, card_number: str) -> bytes: ...

