"""Rules of the 個人番号カード's life, free of storage and transport.

* Validity (:func:`card_expiry`, 総務省令85号 第26条 as summarised in design.md §4):
  through the holder's 10th birthday after the issue date, the 5th if under 18
  on that date; for a foreign resident whose stay is limited, no later than the
  end of the period of stay (在留期間の満了日).
* Card number (:func:`new_card_number`): a random 12-digit serial that is never a
  valid individual number, so the two cannot be confused.
* Photo (:func:`check_photo`, in :mod:`.photos`): JPEG or PNG, really an image, at
  least 413 × 531 px (35 × 45 mm at 300 dpi), about 4:5.
* Identity at the counter (:func:`check_identity_documents`): one photo document
  of the first list, or two of the second.

The card is voluntary (番号法17条 issues it *on application*): no rule here or
anywhere in Myna makes anything depend on having one, and not applying, or
withdrawing an application, has no consequence at all.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable

from cryptography import x509

from myna.card.lifecycle.photos import (
    FACE_HEIGHT,
    FACE_WIDTH,
    MIN_PHOTO_HEIGHT,
    MIN_PHOTO_WIDTH,
    Photo,
    check_photo,
)
from myna.clock import JST
from myna.contracts.cards import (
    CARD_NUMBER_LENGTH as CARD_NUMBER_LENGTH,
)
from myna.contracts.cards import (
    ONE_DOCUMENT as ONE_DOCUMENT,
)
from myna.contracts.cards import (
    TWO_DOCUMENTS as TWO_DOCUMENTS,
)
from myna.contracts.cards import (
    ApplicationStatus,
    CardStatus,
    Channel,
    EndReason,
    IdentityCheck,
    IdentityMethod,
    Reporter,
)
from myna.contracts.cards import (
    check_card_number as check_card_number,
)
from myna.errors import ValidationError
from myna.holidays import office_closed
from myna.jpki.domain import age_on, nth_birthday_after
from myna.numbers import individual
from myna.text import clean_text

__all__ = ["FACE_HEIGHT", "FACE_WIDTH", "MIN_PHOTO_HEIGHT", "MIN_PHOTO_WIDTH",
           "ApplicationStatus", "CardStatus", "Channel", "EndReason", "IdentityCheck",
           "IdentityMethod", "Photo", "Reporter", "check_photo"]

# -- validity -------------------------------------------------------------------------

ADULT_AGE = 18
ADULT_BIRTHDAYS = 10
MINOR_BIRTHDAYS = 5
#: Statuses of residence whose holders' cards follow the normal rule (no cap by stay).
UNCAPPED_STATUSES = frozenset({"永住者", "特別永住者", "高度専門職2号", "高度専門職第2号"})


def card_expiry(
    birth_date: dt.date, issued_on: dt.date, *, period_of_stay_until: dt.date | None = None,
    residence_status: str | None = None,
) -> dt.date:
    """The last day the card is valid (有効期限), by the issue date.

    The 10th birthday after the issue date; the 5th if the holder is under 18
    on the issue date (a face changes faster).  A birthday on the issue date
    itself does not count ("after"); 29 February is 28 February in common
    years (:func:`myna.jpki.domain.birthday_in`).  A foreign resident with a
    limited period of stay gets no later date than its end; permanent residents
    and special permanent residents (:data:`UNCAPPED_STATUSES`) follow the
    normal rule.

    >>> card_expiry(dt.date(1990, 6, 15), dt.date(2026, 11, 22))  # adult: 10 birthdays
    datetime.date(2036, 6, 15)
    >>> card_expiry(dt.date(1990, 11, 22), dt.date(2026, 11, 22))  # issued on a birthday
    datetime.date(2036, 11, 22)
    >>> card_expiry(dt.date(2008, 11, 23), dt.date(2026, 11, 22))  # 17, 18 tomorrow: 5
    datetime.date(2030, 11, 23)
    >>> card_expiry(dt.date(2008, 11, 22), dt.date(2026, 11, 22))  # 18 today: 10
    datetime.date(2036, 11, 22)
    >>> card_expiry(dt.date(2026, 11, 1), dt.date(2026, 11, 22))  # a baby: 5
    datetime.date(2031, 11, 1)
    >>> card_expiry(dt.date(2004, 2, 29), dt.date(2026, 11, 22))  # 29 Feb; 2036 is leap
    datetime.date(2036, 2, 29)
    >>> card_expiry(dt.date(2004, 2, 29), dt.date(2027, 11, 22))  # 29 Feb; 2037 is not
    datetime.date(2037, 2, 28)
    >>> card_expiry(dt.date(1990, 6, 15), dt.date(2026, 11, 22),  # stay outlasts the card
    ...             period_of_stay_until=dt.date(2040, 1, 1), residence_status="留学")
    datetime.date(2036, 6, 15)
    >>> card_expiry(dt.date(1990, 6, 15), dt.date(2026, 11, 22),  # stay ends first
    ...             period_of_stay_until=dt.date(2029, 3, 31), residence_status="技能実習")
    datetime.date(2029, 3, 31)
    >>> card_expiry(dt.date(1990, 6, 15), dt.date(2026, 11, 22),  # permanent resident
    ...             period_of_stay_until=dt.date(2029, 3, 31), residence_status="永住者")
    datetime.date(2036, 6, 15)
    >>> card_expiry(dt.date(1990, 6, 15), dt.date(2026, 11, 22),
    ...             period_of_stay_until=dt.date(2026, 11, 21))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 在留期間の満了日（2026-11-21）を過ぎているため...
    """
    if birth_date > issued_on:
        raise ValidationError(
            "生年月日が発行日より後です",
            f"birth date {birth_date} is after the issue date {issued_on}",
        )
    minor = age_on(birth_date, issued_on) < ADULT_AGE
    last = nth_birthday_after(birth_date, issued_on, MINOR_BIRTHDAYS if minor else ADULT_BIRTHDAYS)
    if period_of_stay_until is not None and residence_status not in UNCAPPED_STATUSES:
        if period_of_stay_until < issued_on:
            raise ValidationError(
                f"在留期間の満了日（{period_of_stay_until.isoformat()}）を過ぎているため"
                "個人番号カードを発行できません",
                f"the period of stay ended on {period_of_stay_until.isoformat()}",
            )
        last = min(last, period_of_stay_until)
    return last


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it has fewer days).

    >>> add_months(dt.date(2026, 8, 31), 6)
    datetime.date(2027, 2, 28)
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for dd in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month + 1, dd)
        except ValueError:
            continue
    raise AssertionError("unreachable")


# -- card numbers -----------------------------------------------------------------------



def new_card_number() -> str:
    """A fresh random card number: 12 digits, never a valid individual number.

    The last digit is chosen to differ from the individual-number check digit
    of the first eleven, so :func:`myna.numbers.individual.is_valid` is False
    for every card number.

    >>> n = new_card_number()
    >>> len(n), n.isdigit(), individual.is_valid(n)
    (12, True, False)
    """
    base = str(10**10 + secrets.randbelow(9 * 10**10))
    check = individual.calc_check_digit(base)
    return base + secrets.choice([d for d in "0123456789" if d != check])


# -- enumerations (shared with the municipalities: myna.contracts.cards) ------------------


def revocation_of(reason: EndReason) -> x509.ReasonFlags:
    """The RFC 5280 reason a card's certificates are revoked for when it ends."""
    if reason is EndReason.UNCLAIMED:
        return x509.ReasonFlags.privilege_withdrawn
    if reason is EndReason.REISSUED:
        return x509.ReasonFlags.superseded
    return x509.ReasonFlags.cessation_of_operation


# -- identity documents (本人確認書類) ------------------------------------------------------

_DOCUMENT_ALIASES = {
    "パスポート": "旅券", "passport": "旅券", "免許証": "運転免許証",
    "driving-licence": "運転免許証", "driver-license": "運転免許証",
    "residence-card": "在留カード", "健康保険証": "健康保険被保険者証",
    "保険証": "健康保険被保険者証",
    "student-id": "学生証", "bankbook": "預金通帳", "pension-book": "年金手帳",
}


def check_identity_documents(documents: Iterable[str]) -> IdentityCheck:
    """In-person identity: one document of :data:`ONE_DOCUMENT`, or two of :data:`TWO_DOCUMENTS`.

    >>> check_identity_documents(["パスポート"])
    IdentityCheck(method=<IdentityMethod.ONE_DOCUMENT: '1点確認'>, documents=('旅券',))
    >>> check_identity_documents(["学生証", "保険証"]).method.value
    '2点確認'
    >>> check_identity_documents(["学生証"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 本人確認書類が足りません...
    """
    seen: list[str] = []
    for raw in documents:
        text = (raw or "").strip(" \u3000")
        name = _DOCUMENT_ALIASES.get(text.lower(), _DOCUMENT_ALIASES.get(text, text))
        if name not in ONE_DOCUMENT and name not in TWO_DOCUMENTS:
            raise ValidationError(
                f"「{text}」は本人確認書類として扱えません。写真付きの公的書類（"
                f"{'、'.join(ONE_DOCUMENT[:5])} など）1点か、{'、'.join(TWO_DOCUMENTS[:4])} "
                "などから2点をお持ちください",
                f"{text!r} is not an accepted identity document",
            )
        if name not in seen:
            seen.append(name)
    ones = tuple(d for d in seen if d in ONE_DOCUMENT)
    if ones:
        return IdentityCheck(IdentityMethod.ONE_DOCUMENT, ones)
    if len(seen) >= 2:
        return IdentityCheck(IdentityMethod.TWO_DOCUMENTS, tuple(seen))
    raise ValidationError(
        "本人確認書類が足りません: 写真付きの公的書類（運転免許証、旅券、在留カード など）1点、"
        "またはそれ以外の書類（資格確認書、年金手帳、学生証 など）2点が必要です"
        f"（提示: {'、'.join(seen) or 'なし'}）",
        f"identity needs one photo document or two others; got {seen or 'none'}",
    )


# -- appointments ------------------------------------------------------------------------

SLOT_MINUTES = 30
FIRST_SLOT = dt.time(9, 0)
LAST_SLOT = dt.time(16, 30)
SLOT_CAPACITY = 3


def check_slot(start: dt.datetime, now: dt.datetime) -> dt.datetime:
    """An appointment slot: an office day, on the half hour, 9:00–16:30 JST, in the future.

    >>> check_slot(dt.datetime(2026, 11, 24, 10, 30, tzinfo=JST),
    ...            dt.datetime(2026, 11, 22, tzinfo=JST)).isoformat()
    '2026-11-24T01:30:00+00:00'
    """
    if start.tzinfo is None:
        start = start.replace(tzinfo=JST)
    local = start.astimezone(JST)
    if local <= now.astimezone(JST):
        raise ValidationError("予約日時が過去です", "the appointment slot is in the past")
    closed = office_closed(local.date())
    if closed:
        raise ValidationError(f"{local:%Y-%m-%d}は{closed}で窓口が休みのため予約できません",
                              f"offices are closed on {local:%Y-%m-%d} ({closed})")
    if local.minute % SLOT_MINUTES or local.second or local.microsecond or \
            not FIRST_SLOT <= local.time() <= LAST_SLOT:
        raise ValidationError(
            f"予約枠は平日 {FIRST_SLOT:%H:%M}〜{LAST_SLOT:%H:%M} の{SLOT_MINUTES}分単位です"
            f"（指定: {local:%H:%M}）",
            f"slots start every {SLOT_MINUTES} min from {FIRST_SLOT:%H:%M} to "
            f"{LAST_SLOT:%H:%M} JST on weekdays",
        )
    return local.astimezone(dt.UTC)


def check_staff(staff_id: str | None) -> str:
    text = (staff_id or "").strip()
    if not text or len(text) > 50 or not text.isprintable():
        raise ValidationError("担当職員IDを指定してください", "a staff id is required")
    return text


def check_note(note: str | None, limit: int = 200) -> str:
    """A note as written: up to ``limit`` characters, none hidden (:mod:`myna.text`)."""
    return clean_text(note or "", "備考", max_length=limit, required=False, label_en="note")
