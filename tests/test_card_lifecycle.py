"""個人番号カード: application → production → issuance → use → loss → resumption → reissue → end.

design.md §2 item 3 and §4 (Card, JPKI): voluntary application with a photo;
J-LIS produces the card with key pairs generated on the chip; the resident
comes once, identity is checked in person, PINs are set; valid to the 10th
birthday after issue (5th under 18), for foreign residents no later than the
period of stay; no signing certificate under 15; auth PIN locks after 3 wrong
tries, signing PIN after 5.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography import x509
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from myna.card.authorisation import MunicipalityCardDesk
from myna.card.lifecycle import storage as t
from myna.card.lifecycle.domain import (
    ApplicationStatus,
    CardStatus,
    Channel,
    EndReason,
    IdentityMethod,
    Reporter,
    card_expiry,
    check_card_number,
    check_photo,
    new_card_number,
)
from myna.card.lifecycle.render import (
    HEIGHT,
    WIDTH,
    CardBack,
    CardFront,
    render_back,
    render_front,
)
from myna.card.lifecycle.sample import issue_sample_cards, synthetic_portrait
from myna.card.lifecycle.service import REISSUE_NEEDED, CardService
from myna.card.lifecycle.wiring import opened_cards
from myna.card.pins import PinIncorrect, PinLocked, Slot
from myna.clock import jst_today
from myna.errors import Conflict, InvalidFormat, NotFound, PermissionDenied, ValidationError
from myna.events.storage import with_event_tables
from myna.jpki.domain import JST, CertificateRejected, CertKind, RejectReason, RelyingPartyKind
from myna.numbers import individual
from myna.registry.domain import (
    ForeignResidence,
    HouseholdPlacement,
    PersonDetails,
    Role,
    Staff,
)
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem

KUNITACHI = "132152"
RP = "portal"
AUTH_PIN, SIGN_PIN = "4821", "K7Q2M9X4"
PASSPORT = ["パスポート"]


class Clock:
    """One controllable clock for the card, JPKI, chip and notification nodes."""

    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)

    def today(self) -> dt.date:
        return self.at.astimezone(JST).date()


@dataclass
class World:
    system: MynaSystem
    town: MunicipalityRegistry
    clerk: Staff
    cards: CardService
    clock: Clock

    def person(self, name: str, born: dt.date, sex: str = "男",
               foreign: ForeignResidence | None = None, address: str | None = None) -> int:
        resident = self.town.register_birth(
            self.clerk, PersonDetails(name, "こくりつ", born, sex, foreign),
            HouseholdPlacement("世帯主", postcode="1860001",
                               address=address or f"東京都国立市北1丁目{born.day}番{born.month}号"))
        return resident.resident_id

    def application_id(self, resident_id: int) -> str:
        """Mail the town's notification letters; the 申請書ID on this resident's form."""
        notify = self.system.notify
        summary = self.system.municipality(KUNITACHI).notify_numbers(notify)
        notify.mark_mailed(summary.batch_id)
        for letter_id in summary.letter_ids:
            for member in notify.letter(letter_id).members:
                if member.resident_id == resident_id:
                    return member.application_id
        raise AssertionError("no letter for the resident")

    def holder(self, resident_id: int) -> str:
        [(_, number)] = self.town.numbered_residents([resident_id])
        return self.system.jlis.holder(number)[0]

    def issued(self, resident_id: int, *, signing: bool = True) -> str:
        """A card applied for at the counter, produced and handed over."""
        app = self.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                               resident_id=resident_id, staff_id="clerk",
                               signing_certificate=signing)
        card = self.cards.produce(app.receipt_no)
        self.cards.issue(card.card_number, staff_id="clerk", documents=PASSPORT,
                         auth_pin=AUTH_PIN,
                         signing_pin=SIGN_PIN if card.has_signing_certificate else None)
        return card.card_number


def portrait(width: int = 600, height: int = 750, fmt: str = "JPEG") -> bytes:
    """A synthetic ID photo (no real face)."""
    img = Image.new("RGB", (width, height), (196, 214, 232))
    d = ImageDraw.Draw(img)
    w, h = width, height
    d.ellipse((w * 0.05, h * 0.72, w * 0.95, h * 1.4), fill=(52, 64, 92))
    d.ellipse((w * 0.28, h * 0.18, w * 0.72, h * 0.66), fill=(240, 206, 180))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def years_ago(today: dt.date, years: int, days: int = 0) -> dt.date:
    """The date ``years`` before ``today`` (28 Feb for 29 Feb), ``days`` earlier still."""
    day = today.replace(day=28) if (today.month, today.day) == (2, 29) else today
    return day.replace(year=day.year - years) - dt.timedelta(days=days)


def next_weekday_10am(today: dt.date) -> dt.datetime:
    day = today + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10, 0), JST)


def counts(cards: CardService) -> dict[str, int]:
    with cards.engine.connect() as conn:
        return {tb.name: int(conn.execute(select(func.count()).select_from(tb)).scalar_one())
                for tb in (t.applications, t.cards, t.appointments, t.suspensions, t.events)}


@pytest.fixture
def world(system: MynaSystem) -> Iterator[World]:
    clock = Clock()
    system.jpki.now = clock
    system.chips.now = clock
    system.notify.now = clock
    town = system.add_municipality(KUNITACHI)
    clerk = town.create_staff("clerk", "窓口", Role.CLERK, "password-1234")
    system.jpki.register_relying_party(RP, "マイナポータル", RelyingPartyKind.BOTH)
    with opened_cards(system) as cards:
        cards.now = clock
        yield World(system, town, clerk, cards, clock)


# -- the whole life ----------------------------------------------------------------------------


def test_full_lifecycle(world: World) -> None:
    cards, jpki, today = world.cards, world.system.jpki, world.clock.today()
    born = years_ago(today, 36, 40)
    rid = world.person("国立　一郎", born)
    app_id = world.application_id(rid)

    # 交付申請 by mail with the letter's application ID
    app = cards.apply(portrait(), channel="mail", application_id=app_id)
    assert app.channel is Channel.MAIL and app.status is ApplicationStatus.RECEIVED
    assert world.system.notify.application(app_id).used

    # 作成 by J-LIS: number ≠ individual number, on-chip keys, both certificates
    card = cards.produce(app.receipt_no)
    assert card.status is CardStatus.PRODUCED
    assert len(card.card_number) == 12 and not individual.is_valid(card.card_number)
    assert card.expires_on == card_expiry(born, today) == born.replace(year=born.year + 46)
    assert card.auth_serial and card.signing_serial
    assert cards.application(app.receipt_no).card_number == card.card_number
    assert {r.kind for r in jpki.certificates_for_card(card.card_number)} == {
        CertKind.AUTH, CertKind.SIGNING}

    # 交付: appointment, identity in person, PINs by the resident, staff recorded
    slot = cards.book_appointment(card.card_number, next_weekday_10am(today))
    issued = cards.issue(card.card_number, staff_id="clerk", documents=["運転免許証"],
                         auth_pin=AUTH_PIN, signing_pin=SIGN_PIN)
    assert issued.status is CardStatus.ACTIVE and issued.handed_over_by == "clerk"
    assert issued.identity is not None
    assert issued.identity.method is IdentityMethod.ONE_DOCUMENT
    assert issued.identity.documents == ("運転免許証",)
    assert issued.appointment == slot
    assert world.system.chips.pin_status(card.card_number, Slot.AUTH).is_set

    # a signature made with the card verifies through J-LIS, with the four basic items
    document = "国立市への申請書 2026".encode()
    signature = cards.sign(card.card_number, SIGN_PIN, document)
    cert = cards.certificate(card.card_number, CertKind.SIGNING, SIGN_PIN)
    verified = jpki.verify_signature(document, signature, cert, relying_party=RP)
    assert verified.subject is not None and verified.subject.name == "国立　一郎"
    challenge = b"login-challenge-1"
    auth_cert = cards.certificate(card.card_number, CertKind.AUTH)
    jpki.verify_signature(challenge, cards.authenticate(card.card_number, AUTH_PIN, challenge),
                          auth_cert, relying_party=RP, purpose=CertKind.AUTH)

    # 紛失 → 一時停止 by the call centre at 3 a.m.: every use refused at once
    world.clock.advance(hours=17)
    suspended = cards.suspend(card.card_number, reported_by="call-centre", note="駅で紛失")
    assert suspended.status is CardStatus.SUSPENDED
    with pytest.raises(CertificateRejected) as rejected:
        jpki.verify_signature(document, signature, cert, relying_party=RP)
    assert rejected.value.reason is RejectReason.REVOKED
    assert jpki.certificate(card.signing_serial).revocation_reason is \
        x509.ReasonFlags.key_compromise
    with pytest.raises(PermissionDenied, match="一時停止"):
        cards.sign(card.card_number, SIGN_PIN, document)
    with pytest.raises(Conflict):
        cards.suspend(card.card_number)
    [record] = cards.suspensions(card.card_number)
    assert record.reported_by is Reporter.CALL_CENTRE
    assert set(record.revoked) == {"auth", "signing"}

    # found: resumed at the counter (two documents), new keys and certificates, same PINs
    resumed = cards.resume(card.card_number, staff_id="clerk", documents=["学生証", "保険証"])
    assert resumed.status is CardStatus.ACTIVE
    assert resumed.signing_serial not in (None, card.signing_serial)
    assert resumed.auth_serial not in (None, card.auth_serial)
    again = cards.sign(card.card_number, SIGN_PIN, document)
    new_cert = cards.certificate(card.card_number, CertKind.SIGNING, SIGN_PIN)
    assert new_cert.serial_number == resumed.signing_serial
    assert jpki.verify_signature(document, again, new_cert, relying_party=RP).subject
    with pytest.raises(CertificateRejected):  # the old certificate stays revoked
        jpki.verify_signature(document, signature, cert, relying_party=RP)
    assert cards.suspensions(card.card_number)[0].resumed_by == "clerk"

    # lost again: 再交付 with a new card; the old one ends for good
    cards.suspend(card.card_number, reported_by=Reporter.RESIDENT)
    new_app = cards.reissue(card.card_number, staff_id="clerk", documents=PASSPORT)
    assert new_app.reissue_of == card.card_number
    old = cards.card(card.card_number)
    assert old.status is CardStatus.ENDED and old.end_reason is EndReason.REISSUED
    assert ("retired" in [e for _, e, _ in world.system.chips.events(card.card_number)])
    with pytest.raises(Conflict):
        cards.sign(card.card_number, SIGN_PIN, document)
    second = cards.produce(new_app.receipt_no)
    assert second.card_number != card.card_number
    cards.issue(second.card_number, staff_id="clerk", documents=PASSPORT,
                auth_pin="9034", signing_pin="NEWPIN77")
    signed = cards.sign(second.card_number, "NEWPIN77", document)
    assert jpki.verify_signature(
        document, signed, cards.certificate(second.card_number, CertKind.SIGNING, "NEWPIN77"),
        relying_party=RP).subject
    assert all(c.status is CardStatus.ENDED for c in cards.cards_of_person(old.person_key)
               if c.card_number != second.card_number)

    events = [e.event for e in cards.history(card.card_number)]
    assert events == ["交付申請", "作成", "交付予約", "交付", "一時停止", "一時停止の解除",
                      "一時停止", "廃止"]
    # the face photo is kept with the card, without metadata
    assert Image.open(io.BytesIO(cards.face_image(second.card_number))).size == (480, 600)


def test_under_15_gets_no_signing_certificate(world: World) -> None:
    cards = world.cards
    rid = world.person("国立　花", years_ago(world.clock.today(), 10), "女")
    app = cards.apply(portrait(), channel=Channel.COUNTER, municipality_code=KUNITACHI,
                      resident_id=rid, staff_id="clerk")
    card = cards.produce(app.receipt_no)
    assert card.signing_serial is None and card.auth_serial is not None
    kinds = [r.kind for r in world.system.jpki.certificates_for_card(card.card_number)]
    assert kinds == [CertKind.AUTH]
    with pytest.raises(ValidationError, match="署名用電子証明書がない"):
        cards.issue(card.card_number, staff_id="clerk", documents=PASSPORT, auth_pin=AUTH_PIN,
                    signing_pin=SIGN_PIN)
    cards.issue(card.card_number, staff_id="clerk", documents=PASSPORT, auth_pin=AUTH_PIN)
    with pytest.raises(NotFound):
        cards.sign(card.card_number, SIGN_PIN, b"doc")
    # a child's card: 5th birthday after issue
    born = years_ago(world.clock.today(), 10)
    assert card.expires_on == born.replace(year=born.year + 15)


def test_declining_the_signing_certificate(world: World) -> None:
    rid = world.person("国立　三郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid, signing=False)
    assert world.cards.card(number).signing_serial is None


# -- validity ----------------------------------------------------------------------------------


def test_validity_under_18_is_five_birthdays_and_18_is_ten(world: World) -> None:
    today = world.clock.today()
    tomorrow_18 = years_ago(today, 18) + dt.timedelta(days=1)  # 17 today
    seventeen = world.person("国立　十七", tomorrow_18)
    eighteen = world.person("国立　十八", years_ago(today, 18), "女")
    for rid, born, years in ((seventeen, tomorrow_18, 5), (eighteen, years_ago(today, 18), 10)):
        app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                                resident_id=rid, staff_id="clerk")
        card = world.cards.produce(app.receipt_no)
        assert card.expires_on == card_expiry(born, today)
        first = born.replace(year=today.year) if born.replace(year=today.year) > today \
            else born.replace(year=today.year + 1)
        assert card.expires_on == first.replace(year=first.year + years - 1)


def test_foreign_resident_card_ends_with_the_period_of_stay(world: World) -> None:
    today = world.clock.today()
    stay = today + dt.timedelta(days=400)
    rid = world.person("NGUYEN VAN AN", years_ago(today, 30), "男",
                       ForeignResidence("ベトナム", "技能実習", stay))
    app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                            resident_id=rid, staff_id="clerk")
    assert world.cards.produce(app.receipt_no).expires_on == stay
    permanent = world.person("LEE MIN", years_ago(today, 30), "女",
                             ForeignResidence("韓国", "永住者", None))  # no period by law
    app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                            resident_id=permanent, staff_id="clerk")
    assert world.cards.produce(app.receipt_no).expires_on > stay


def test_card_expiry_edge_cases() -> None:
    issued = dt.date(2026, 11, 22)
    assert card_expiry(dt.date(2008, 11, 23), issued) == dt.date(2030, 11, 23)
    assert card_expiry(dt.date(2008, 11, 22), issued) == dt.date(2036, 11, 22)
    assert card_expiry(dt.date(2004, 2, 29), dt.date(2027, 3, 1)) == dt.date(2037, 2, 28)
    assert card_expiry(dt.date(2000, 1, 1), issued, period_of_stay_until=dt.date(2027, 1, 1),
                       residence_status="留学") == dt.date(2027, 1, 1)
    assert card_expiry(dt.date(2000, 1, 1), issued, period_of_stay_until=dt.date(2090, 1, 1),
                       residence_status="留学") == dt.date(2036, 1, 1)
    with pytest.raises(ValidationError, match="在留期間"):
        card_expiry(dt.date(2000, 1, 1), issued, period_of_stay_until=dt.date(2026, 1, 1))
    with pytest.raises(ValidationError):
        card_expiry(dt.date(2027, 1, 1), issued)


def test_expired_card_ends(world: World) -> None:
    rid = world.person("国立　花", years_ago(world.clock.today(), 10), "女")
    number = world.issued(rid)
    card = world.cards.card(number)
    assert world.cards.end_expired() == []
    world.clock.at = dt.datetime.combine(card.expires_on + dt.timedelta(days=1),
                                         dt.time(9), JST).astimezone(dt.UTC)
    with pytest.raises(PermissionDenied, match="有効期限"):
        world.cards.authenticate(number, AUTH_PIN, b"x")
    assert world.cards.end_expired() == [number]
    ended = world.cards.card(number)
    assert ended.status is CardStatus.ENDED and ended.end_reason is EndReason.EXPIRY
    assert all(r.status == "revoked" for r in world.system.jpki.certificates_for_card(number))


# -- applications ------------------------------------------------------------------------------


def test_application_id_is_used_once(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    app_id = world.application_id(rid)
    first = world.cards.apply(portrait(), channel="online", application_id=app_id)
    world.cards.withdraw(first.receipt_no, "考え直した")
    before = counts(world.cards)
    with pytest.raises(Conflict, match="使用済み"):
        world.cards.apply(portrait(), channel="kiosk", application_id=app_id)
    assert counts(world.cards) == before
    # without an ID: only at the counter, where staff take it
    with pytest.raises(ValidationError, match="申請書ID"):
        world.cards.apply(portrait(), channel="mail", municipality_code=KUNITACHI,
                          resident_id=rid)
    again = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                              resident_id=rid, staff_id="clerk")
    assert again.notice_application_id is None and again.staff_id == "clerk"


def test_unmailed_letter_id_is_refused_and_leaves_nothing(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    notify = world.system.notify
    summary = world.system.municipality(KUNITACHI).notify_numbers(notify)
    app_id = notify.letter(summary.letter_ids[0]).members[0].application_id
    assert notify.letter(summary.letter_ids[0]).members[0].resident_id == rid
    before = counts(world.cards)
    with pytest.raises(Conflict, match="発送されていません"):
        world.cards.apply(portrait(), channel="mail", application_id=app_id)
    assert counts(world.cards) == before
    assert not notify.application(app_id).used


@pytest.mark.parametrize(("photo", "error", "message"), [
    pytest.param(b"%PDF-1.4 this is not a photo", ValidationError, "画像ファイルではない",
                 id="a-pdf"),
    pytest.param(b"", ValidationError, "写真がありません", id="empty"),
    pytest.param(portrait(fmt="GIF"), InvalidFormat, "GIF", id="gif"),
    pytest.param(portrait(fmt="BMP"), InvalidFormat, "JPEG または PNG", id="bmp"),
    pytest.param(portrait(300, 375), ValidationError, "小さすぎ", id="too-small"),
    pytest.param(portrait(800, 600), ValidationError, "縦横比", id="landscape"),
    pytest.param(portrait(fmt="JPEG")[:400], ValidationError, "壊れて", id="truncated-jpeg"),
])
def test_bad_photos_are_refused_and_leave_nothing(
    world: World, photo: bytes, error: type[Exception], message: str,
) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    app_id = world.application_id(rid)
    before = counts(world.cards)
    with pytest.raises(error, match=message):
        world.cards.apply(photo, channel="online", application_id=app_id)
    assert counts(world.cards) == before
    assert not world.system.notify.application(app_id).used


def test_photo_checks_accept_png_and_strip_metadata() -> None:
    img = Image.new("RGBA", (413, 531), (200, 220, 240, 255))
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif)
    photo = check_photo(buf.getvalue())
    assert (photo.format, photo.width, photo.height) == ("PNG", 413, 531)
    face = Image.open(io.BytesIO(photo.face_jpeg))
    assert face.format == "JPEG" and face.size == (480, 600)
    assert not face.getexif()


def test_one_live_card_per_person(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid)
    with pytest.raises(Conflict, match="有効なカード"):
        world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                          resident_id=rid, staff_id="clerk")
    # 返納 is voluntary and ends the card; a new application is then welcome
    world.cards.end(number, "returned")
    world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                      resident_id=rid, staff_id="clerk")


# -- issuance ----------------------------------------------------------------------------------


def test_issuance_checks_identity_and_pins_before_anything(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                            resident_id=rid, staff_id="clerk")
    number = world.cards.produce(app.receipt_no).card_number
    before = counts(world.cards)
    for documents, auth, sign, message in (
        (["学生証"], AUTH_PIN, SIGN_PIN, "本人確認書類が足りません"),
        (["図書館カード"], AUTH_PIN, SIGN_PIN, "本人確認書類として扱えません"),
        (PASSPORT, "12345", SIGN_PIN, "4桁"),
        (PASSPORT, AUTH_PIN, "abc123", "英大文字"),
        (PASSPORT, AUTH_PIN, None, "署名用電子証明書の暗証番号"),
    ):
        with pytest.raises(ValidationError, match=message):
            world.cards.issue(number, staff_id="clerk", documents=documents, auth_pin=auth,
                              signing_pin=sign)
    assert counts(world.cards) == before
    assert world.cards.card(number).status is CardStatus.PRODUCED
    assert not world.system.chips.pin_status(number, Slot.AUTH).is_set
    with pytest.raises(Conflict, match="交付前のため一時停止できません"):
        world.cards.suspend(number)


def test_appointment_slots(world: World) -> None:
    today = world.clock.today()
    numbers = []
    for i in range(4):
        rid = world.person(f"国立　{i}郎", years_ago(today, 40, i))
        app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                                resident_id=rid, staff_id="clerk")
        numbers.append(world.cards.produce(app.receipt_no).card_number)
    slot = next_weekday_10am(today)
    for number in numbers[:3]:
        world.cards.book_appointment(number, slot)
    with pytest.raises(Conflict, match="埋まって"):
        world.cards.book_appointment(numbers[3], slot)
    world.cards.book_appointment(numbers[0], slot + dt.timedelta(minutes=30))  # moved
    world.cards.book_appointment(numbers[3], slot)
    saturday = slot + dt.timedelta(days=(5 - slot.weekday()) % 7)
    for bad, message in ((saturday, "土曜"), (slot + dt.timedelta(minutes=10), "30分"),
                         (slot.replace(hour=18), "30分"), (slot - dt.timedelta(days=30), "過去")):
        with pytest.raises(ValidationError, match=message):
            world.cards.book_appointment(numbers[1], bad)
    booked = world.cards.appointments(KUNITACHI, slot.date())
    assert [c.card_number for _, c in booked] == [numbers[1], numbers[2], numbers[3], numbers[0]]


def test_unclaimed_cards_are_voided_after_the_holding_period(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                            resident_id=rid, staff_id="clerk")
    card = world.cards.produce(app.receipt_no)
    assert [c.card_number for c in world.cards.unclaimed(KUNITACHI)] == [card.card_number]
    world.clock.at = dt.datetime.combine(card.hold_until, dt.time(23, 0), JST)
    assert world.cards.void_unclaimed() == []
    world.clock.advance(hours=2)
    with pytest.raises(Conflict, match="保管期限"):
        world.cards.issue(card.card_number, staff_id="clerk", documents=PASSPORT,
                          auth_pin=AUTH_PIN, signing_pin=SIGN_PIN)
    assert world.cards.void_unclaimed() == [card.card_number]
    voided = world.cards.card(card.card_number)
    assert voided.status is CardStatus.ENDED and voided.end_reason is EndReason.UNCLAIMED
    records = world.system.jpki.certificates_for_card(card.card_number)
    assert {r.revocation_reason for r in records} == {x509.ReasonFlags.privilege_withdrawn}
    with pytest.raises(PermissionDenied):
        world.system.chips.sign(card.card_number, Slot.AUTH, AUTH_PIN, b"x")
    assert world.cards.unclaimed() == []
    assert world.cards.void_unclaimed() == []


# -- PINs through the card path ----------------------------------------------------------------


def test_wrong_pins_lock_the_card_until_the_municipality_resets(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid)
    for remaining in (4, 3, 2, 1):
        with pytest.raises(PinIncorrect) as wrong:
            world.cards.sign(number, "WRONG999", b"doc")
        assert wrong.value.remaining == remaining
    with pytest.raises(PinLocked):
        world.cards.sign(number, "WRONG999", b"doc")
    with pytest.raises(PinLocked):  # even the right PIN now
        world.cards.sign(number, SIGN_PIN, b"doc")
    for _ in range(2):
        with pytest.raises(PinIncorrect):
            world.cards.authenticate(number, "0000", b"challenge")
    with pytest.raises(PinLocked):
        world.cards.render_back(number, "0000")  # the back needs the PIN too: it counts
    desk = MunicipalityCardDesk(KUNITACHI, world.system.keys, now=world.clock)
    world.system.chips.unlock(number, Slot.SIGNING, "RESET123",
                              desk.authorise_pin_reset(number, Slot.SIGNING, "clerk"))
    assert world.cards.sign(number, "RESET123", b"doc")


# -- the end of a card -------------------------------------------------------------------------


def test_death_ends_the_card_through_jlis_and_jpki(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 70))
    number = world.issued(rid)
    world.town.record_death(world.clerk, rid, jst_today())
    records = world.system.jpki.certificates_for_card(number)
    assert len(records) == 2 and all(r.status == "revoked" for r in records)
    assert {r.revocation_reason for r in records} == {x509.ReasonFlags.cessation_of_operation}
    card = world.cards.card(number)
    assert card.status is CardStatus.ENDED and card.end_reason is EndReason.DEATH
    with pytest.raises(PermissionDenied):
        world.system.chips.sign(number, Slot.AUTH, AUTH_PIN, b"x")


def test_a_number_change_marks_the_card_for_reissue(world: World) -> None:
    rid = world.person("国立　二郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid)
    boss = world.town.create_staff("boss-r", "係長", Role.SUPERVISOR, "password-1234")
    world.town.change_number(world.clerk, rid, "個人番号を記載した書類の紛失・流出",
                             approved_by=boss)
    # the back of the card shows the retired number: reissue is due, the card still works
    assert REISSUE_NEEDED in [e.event for e in world.cards.history(number)]
    assert world.cards.card(number).status is not CardStatus.ENDED


def test_death_closes_an_open_application(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 70))
    app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                            resident_id=rid, staff_id="clerk")
    world.town.record_death(world.clerk, rid, jst_today())
    assert world.cards.application(app.receipt_no).status is ApplicationStatus.WITHDRAWN
    with pytest.raises(Conflict):
        world.cards.produce(app.receipt_no)


def test_moving_abroad_ends_the_card(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid)
    ended = world.cards.end(number, "国外転出", actor="clerk")
    assert ended.end_reason is EndReason.EMIGRATION
    assert all(r.status == "revoked" for r in world.system.jpki.certificates_for_card(number))
    with pytest.raises(Conflict, match="既に廃止"):
        world.cards.end(number, EndReason.EMIGRATION)
    with pytest.raises(ValidationError):
        world.cards.end(number, "気分")


def test_renewal_after_a_move_and_note_on_the_card(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid)
    world.town.move_within(world.clerk, rid, HouseholdPlacement(
        "世帯主", postcode="1860002", address="東京都国立市東2丁目2番2号"), jst_today())
    before = world.cards.card(number)
    assert world.system.jpki.certificate(before.signing_serial or 0).status == "revoked"
    world.cards.add_note(number, staff_id="clerk", text="転居 東京都国立市東2丁目2番2号")
    renewed = world.cards.renew_certificates(number, staff_id="clerk", documents=PASSPORT,
                                             kinds=[CertKind.SIGNING])
    assert renewed.auth_serial == before.auth_serial
    cert = world.cards.certificate(number, CertKind.SIGNING, SIGN_PIN)
    verified = world.system.jpki.verify_signature(
        b"doc", world.cards.sign(number, SIGN_PIN, b"doc"), cert, relying_party=RP)
    assert verified.subject is not None
    assert verified.subject.address == "東京都国立市東2丁目2番2号"
    assert [n.text for n in renewed.notes] == ["転居 東京都国立市東2丁目2番2号"]


# -- rendering ---------------------------------------------------------------------------------


def test_front_and_back_images(world: World) -> None:
    rid = world.person("国立　一郎", years_ago(world.clock.today(), 40))
    number = world.issued(rid)
    front = Image.open(io.BytesIO(world.cards.render_front(number)))
    assert front.format == "PNG" and front.size == (WIDTH, HEIGHT) == (1011, 638)
    assert abs(WIDTH / HEIGHT - 85.60 / 53.98) < 0.002
    corner = front.getpixel((0, 0))
    assert isinstance(corner, tuple) and corner[3] == 0  # rounded corner
    with pytest.raises(PinIncorrect):
        world.cards.render_back(number, "0000")
    back = Image.open(io.BytesIO(world.cards.render_back(number, AUTH_PIN)))
    assert back.size == (WIDTH, HEIGHT)


def test_render_functions_draw_the_data() -> None:
    photo = check_photo(portrait()).face_jpeg
    base = CardFront("国立　一郎", "東京都国立市北1丁目1番1号", dt.date(1990, 6, 15), "男",
                     dt.date(2036, 6, 15), photo)
    one = render_front(base)
    assert one != render_front(CardFront(**{**base.__dict__, "name": "国立　二郎"}))
    assert one != render_front(CardFront(**{**base.__dict__, "notes": ("転居",)}))
    back = render_back(CardBack("123456789018", "国立　一郎", dt.date(1990, 6, 15)))
    assert back != render_back(CardBack("621498320257", "国立　一郎", dt.date(1990, 6, 15)))


# -- numbers and schema ------------------------------------------------------------------------


def test_card_numbers_are_never_individual_numbers() -> None:
    for _ in range(2000):
        number = new_card_number()
        assert len(number) == 12 and number.isdigit() and not individual.is_valid(number)
    with pytest.raises(InvalidFormat, match="個人番号"):
        check_card_number("1234 5678 9018")
    assert check_card_number("１２３４－５６７８－９０１０") == "123456789010"


def test_migrations_match_the_tables(world: World) -> None:
    with world.cards.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), with_event_tables(t.metadata))
    assert diff == []


def test_sample_cards_for_the_demo(world: World) -> None:
    today = world.clock.today()
    people = [world.person(f"見本　{i}", years_ago(today, 8 + 9 * i, i)) for i in range(6)]
    notify = world.system.notify
    summary = world.system.municipality(KUNITACHI).notify_numbers(notify)
    notify.mark_mailed(summary.batch_id)
    for letter_id in summary.letter_ids:
        notify.record(letter_id, "配達済み")
    counts = issue_sample_cards(world.system, per_municipality=4, seed=7)
    assert counts["applied"] == counts["produced"] == 4
    assert counts["issued"] + counts["waiting_at_counter"] == 4
    assert len(people) - counts["applied"] == 2  # the others did not apply: nothing follows
    photo = check_photo(synthetic_portrait(random.Random(1)))
    assert (photo.width, photo.height) == (480, 600)


def _to_revision(engine: object, revision: str) -> None:
    """Move the card node's schema to ``revision`` (up or down), like :func:`myna.db.migrate`."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import myna.card.lifecycle as package

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(package.__file__).parent / "migrations"))
    with engine.begin() as conn:  # type: ignore[attr-defined]
        cfg.attributes["connection"] = conn
        current = MigrationContext.configure(conn).get_current_revision() or "base"
        if revision < current:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)


def test_the_person_key_column_is_renamed_with_the_cards_in_it(world: World) -> None:
    """Migration 0003 renames holder_ref to person_key in place (SQLite and PostgreSQL),
    with the cards and the tables that refer to them kept."""
    number = world.issued(world.person("移行　太郎", dt.date(1970, 3, 3)))
    key = world.cards.card(number).person_key
    engine = world.cards.engine
    _to_revision(engine, "0002")
    with engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT holder_ref FROM cards")).scalar() == key
    _to_revision(engine, "0003")
    assert world.cards.card(number).person_key == key
    assert [c.card_number for c in world.cards.cards_of_person(key)] == [number]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), with_event_tables(t.metadata))
    assert diff == []


def test_death_stops_a_production_under_way(world: World) -> None:
    """A production interrupted after its auth certificate (as by a crash) is stopped for
    good when the applicant dies: its certificate revoked, its chip retired, the
    application withdrawn, and nothing left for ``myna check``."""
    from myna.card.lifecycle import production
    from myna.jpki.domain import CertKind as Kind

    rid = world.person("作成　中", dt.date(1960, 1, 1))
    app = world.cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                            resident_id=rid, staff_id="clerk")
    plan = production._intent(world.cards.desk, app.receipt_no)
    assert isinstance(plan, production.Plan)
    production._chip(world.cards.desk, plan)
    production._certify(world.cards.desk, plan, Kind.AUTH)
    [problem] = world.cards.problems()
    assert problem.examples == [f"受付番号 {app.receipt_no}"]
    with pytest.raises(Conflict, match="作成中"):
        world.cards.withdraw(app.receipt_no)
    world.town.record_death(world.clerk, rid, jst_today())
    assert world.cards.application(app.receipt_no).status is ApplicationStatus.WITHDRAWN
    assert {r.status for r in world.system.jpki.certificates_for_card(plan.card_number)} == \
        {"revoked"}
    assert world.system.chips.status(plan.card_number) == "retired"
    assert world.cards.problems() == []
    assert world.cards.cards() == []
    with pytest.raises(Conflict):
        world.cards.produce(app.receipt_no)
