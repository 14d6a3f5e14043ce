"""番号通知: letters per household, 居所 letters, history, follow-up, statistics, PDFs."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from myna.clock import jst_today
from myna.db import make_engine, node_url
from myna.errors import Conflict, MynaError, NotFound, ValidationError
from myna.events.storage import with_event_tables
from myna.notify import service as service_module
from myna.notify import storage as t
from myna.notify.cli import app as notify_app
from myna.notify.documents import qr_code
from myna.notify.domain import (
    AlternativeReason,
    HouseholdNotice,
    LetterKind,
    LetterState,
    MemberNotice,
    ReturnReason,
    application_url,
)
from myna.notify.service import NotificationService
from myna.notify.simulate import SYNTHETIC_RATES, simulate_delivery
from myna.numbers import individual
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.registry.notices import household_notices
from myna.system import MynaSystem

KUNITACHI, KOKUBUNJI = "132152", "132144"
HOME = "東京都国立市北1丁目2番3号"
SHELTER = "東京都千代田区千代田1番1号"
START = dt.datetime(2025, 10, 5, 0, 0, tzinfo=dt.UTC)


class Clock:
    """A controllable clock for the service."""

    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notify(system: MynaSystem, clock: Clock) -> Iterator[NotificationService]:
    """The notification node in the installation's data directory (or its PG schema)."""
    url = node_url(system.data_dir, "notify", system.config.database_url)
    engine = make_engine(url, system.namespace + "notify")
    service = NotificationService(engine, now=clock)
    service.create_schema()
    yield service
    engine.dispose()


def number(resident_id: int) -> str:
    base = f"{resident_id * 7919:011d}"
    return base + str(individual.calc_check_digit(base))


def person(rid: int, name: str, kana: str = "くにたち", born: int = 1980,
           sex: str = "女") -> MemberNotice:
    return MemberNotice(rid, name, kana, dt.date(born, 4, 1), sex, number(rid))


def household(hn: str, *members: MemberNotice, address: str = HOME) -> HouseholdNotice:
    return HouseholdNotice(hn, "1860001", address, tuple(members))


def family() -> list[HouseholdNotice]:
    """Two households: 国立 (three people) and 谷保 (one)."""
    return [
        household("1", person(1, "国立 太郎", "くにたち たろう", 1975, "男"),
                  person(2, "国立 花子", "くにたち はなこ", 1978),
                  person(3, "国立 結衣", "くにたち ゆい", 2012)),
        household("2", person(4, "谷保 一郎", "やほ いちろう", 1950, "男"),
                  address="東京都国立市谷保5丁目6番7号"),
    ]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(str(page.extract_text()) for page in reader.pages).replace("\x00", "")


def compact(text: str) -> str:
    return "".join(text.split())


def counts(service: NotificationService) -> dict[str, int]:
    tables = (t.batches, t.letters, t.members, t.letter_events, t.alternatives)
    with service.engine.connect() as conn:
        out = {tb.name: int(conn.execute(select(func.count()).select_from(tb)).scalar_one())
               for tb in tables}
        out["used"] = int(conn.execute(
            select(func.count()).select_from(t.members).where(t.members.c.used_at.is_not(None))
        ).scalar_one())
    return out


@pytest.fixture
def unchanged(notify: NotificationService) -> Callable[..., MynaError]:
    """Asserts that a failing call left nothing behind."""
    def check(call: Callable[[], Any], error: type[MynaError],
              match: str | None = None) -> MynaError:
        before = counts(notify)
        with pytest.raises(error, match=match) as info:
            call()
        assert counts(notify) == before
        assert info.value.message_ja and info.value.message_en
        return info.value
    return check


def mailed_letters(notify: NotificationService, households: list[HouseholdNotice],
                   code: str = KUNITACHI, name: str = "国立市") -> list[int]:
    batch = notify.prepare_batch(code, name, households)
    return list(notify.mark_mailed(batch.batch_id).letter_ids)


def test_migrations_match_the_models(notify: NotificationService) -> None:
    with notify.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), with_event_tables(t.metadata))
    assert diff == [], diff


# -- preparing letters ------------------------------------------------------------------


def test_household_grouping_from_the_registry(
    system: MynaSystem, notify: NotificationService
) -> None:
    town = system.add_municipality(KUNITACHI)
    clerk = town.create_staff("clerk", "窓口 花子", Role.CLERK, "clerk-password")
    today = jst_today()

    def born(name: str, kana: str, days: int, sex: str = "女") -> PersonDetails:
        return PersonDetails(name, kana, today - dt.timedelta(days=days), sex)

    head = town.register_birth(clerk, born("国立 太郎", "くにたち たろう", 15000, "男"),
                               HouseholdPlacement("世帯主", postcode="1860001", address=HOME))
    wife = town.register_birth(clerk, born("国立 花子", "くにたち はなこ", 14000),
                               HouseholdPlacement("妻", household_number=head.household_number))
    other = town.register_birth(
        clerk, born("谷保 一郎", "やほ いちろう", 20000, "男"),
        HouseholdPlacement("世帯主", postcode="1860011", address="東京都国立市谷保1番1号"))
    child = town.register_birth(clerk, born("国立 結衣", "くにたち ゆい", 100),
                                HouseholdPlacement("子", household_number=head.household_number))
    residents = [r for hn in (other.household_number, head.household_number)
                 for r in town.household_members(hn)]
    random.Random(1).shuffle(residents)
    notices = household_notices(residents)
    assert [n.household_number for n in notices] == sorted(
        [head.household_number, other.household_number])
    ours = next(n for n in notices if n.household_number == head.household_number)
    assert [m.resident_id for m in ours.members] == [
        head.resident_id, wife.resident_id, child.resident_id]  # 世帯主 first
    assert ours.address == HOME and ours.members[0].individual_number == head.individual_number

    batch = notify.prepare_batch(KUNITACHI, "国立市", notices)
    assert (batch.household_letters, batch.alternative_letters, batch.people) == (2, 0, 4)
    letters = [notify.letter(i) for i in batch.letter_ids]
    by_household = {x.household_number: x for x in letters}
    mine = by_household[head.household_number]
    assert [m.name for m in mine.members] == ["国立 太郎", "国立 花子", "国立 結衣"]
    assert mine.kind is LetterKind.HOUSEHOLD and mine.state is LetterState.PREPARED
    assert mine.destination.address == HOME
    assert [m.name for m in by_household[other.household_number].members] == ["谷保 一郎"]


def test_application_ids_are_unique_random_and_one_time(
    notify: NotificationService, unchanged: Callable[..., MynaError],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    ids = [m.application_id for i in batch.letter_ids for m in notify.letter(i).members]
    assert len(ids) == len(set(ids)) == 4
    assert all(len(a) == 23 and a.isdigit() and a[0] != "0" for a in ids)

    # before mailing nobody holds the form
    unchanged(lambda: notify.use_application(ids[0]), Conflict, "発送されていません")
    notify.mark_mailed(batch.batch_id)

    info = notify.application(ids[1])
    assert (info.municipality_code, info.municipality_name, info.resident_id, info.name) == (
        KUNITACHI, "国立市", 2, "国立 花子")
    assert not info.used
    # typed by a person: full-width digits with spaces and hyphens
    typed = "－".join(ids[1][i:i + 4] for i in range(0, 23, 4)).translate(
        str.maketrans("0123456789", "０１２３４５６７８９"))
    used = notify.use_application(typed)
    assert used.used and used.used_at == START
    assert notify.application(ids[1]).used
    assert notify.letter(batch.letter_ids[0]).members[1].used
    error = unchanged(lambda: notify.use_application(ids[1]), Conflict, "使用済み")
    assert "1回" in error.message_ja
    unchanged(lambda: notify.application("1234"), ValidationError, "23桁")
    unchanged(lambda: notify.application("12345678901234567890abc"), ValidationError, "数字")
    fresh = "9" * 23 if "9" * 23 not in ids else "8" * 23
    unchanged(lambda: notify.use_application(fresh), NotFound, "発行されていません")

    # an ID is never issued twice: a colliding draw is thrown away and redrawn
    draws = iter([ids[0], ids[2], "1" * 23, ids[3], "2" * 23])
    monkeypatch.setattr(service_module, "new_application_id", lambda: next(draws))
    again = notify.prepare_batch(KOKUBUNJI, "国分寺市",
                                 [household("9", person(9, "本町 一"), person(10, "本町 二"))])
    new_ids = {m.application_id for i in again.letter_ids for m in notify.letter(i).members}
    assert new_ids == {"1" * 23, "2" * 23}


# -- alternative destinations (居所情報登録) ----------------------------------------------------


def test_alternative_destination_letter_lists_only_that_person(
    notify: NotificationService,
) -> None:
    reg = notify.register_alternative(KUNITACHI, 2, AlternativeReason.DV, "1000001", SHELTER,
                                      note="支援措置の申出あり")
    assert reg.moved_to_letter is None and reg.reason is AlternativeReason.DV
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    assert (batch.household_letters, batch.alternative_letters, batch.people) == (2, 1, 4)
    letters = [notify.letter(i) for i in batch.letter_ids]
    home = next(x for x in letters if x.household_number == "1" and x.kind is LetterKind.HOUSEHOLD)
    alone = next(x for x in letters if x.kind is LetterKind.ALTERNATIVE)
    assert [m.resident_id for m in home.members] == [1, 3]
    assert [m.resident_id for m in alone.members] == [2]
    assert alone.destination.address == SHELTER and alone.address == HOME

    home_pdf = compact(pdf_text(notify.letter_pdf(home.letter_id)))
    alone_pdf = compact(pdf_text(notify.letter_pdf(alone.letter_id)))
    # the household letter omits her entirely, and never shows where she is
    assert "国立花子" not in home_pdf and number(2) not in home_pdf
    assert compact(SHELTER) not in home_pdf
    assert "国立太郎" in home_pdf and number(1) in home_pdf and number(3) in home_pdf
    # her own letter carries her and nobody else
    assert "国立花子" in alone_pdf and number(2) in alone_pdf and compact(SHELTER) in alone_pdf
    for other in (1, 3):
        assert number(other) not in alone_pdf
    assert "国立太郎" not in alone_pdf and "国立結衣" not in alone_pdf
    assert "世帯番号" not in alone_pdf
    assert [a.resident_id for a in notify.alternatives(KUNITACHI)] == [2]


def test_registration_before_mailing_splits_the_prepared_letter(
    notify: NotificationService,
) -> None:
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    home_id, single_id = batch.letter_ids
    reg = notify.register_alternative(KUNITACHI, 3, "施設入所者", "1860002",
                                      "東京都国立市東2丁目1番1号", care_of="くにたち学園 気付")
    assert reg.moved_to_letter is not None
    assert [m.resident_id for m in notify.letter(home_id).members] == [1, 2]
    moved = notify.letter(reg.moved_to_letter)
    assert moved.kind is LetterKind.ALTERNATIVE and [m.resident_id for m in moved.members] == [3]
    assert moved.destination.care_of == "くにたち学園 気付" and moved.batch_id == batch.batch_id
    # history is appended to, never rewritten
    assert [e.state for e in notify.letter(home_id).history] == [LetterState.PREPARED] * 2
    # a one-person household: its letter is withdrawn, and the person's goes to the 居所
    reg = notify.register_alternative(KUNITACHI, 4, AlternativeReason.HOSPITAL, "1860003",
                                      "東京都国立市富士見台3丁目1番", care_of="国立中央病院 気付")
    assert notify.letter(single_id).state is LetterState.CANCELLED
    with pytest.raises(Conflict, match="取りやめ"):
        notify.letter_pdf(single_id)
    summary = notify.batch(batch.batch_id)
    assert (summary.household_letters, summary.alternative_letters, summary.people) == (1, 2, 4)
    mailed = notify.mark_mailed(batch.batch_id)
    assert single_id not in mailed.letter_ids
    assert notify.letter(single_id).state is LetterState.CANCELLED
    assert notify.letter(reg.moved_to_letter or 0).state is LetterState.MAILED
    # withdrawing: nothing to withdraw for others; a waiting 居所 letter blocks it
    with pytest.raises(NotFound):
        notify.withdraw_alternative(KUNITACHI, 1)
    notify.withdraw_alternative(KUNITACHI, 4)
    assert [a.resident_id for a in notify.alternatives(KUNITACHI)] == [3]


def test_registration_after_mailing_is_refused_except_for_remailing(
    notify: NotificationService, unchanged: Callable[..., MynaError], clock: Clock,
) -> None:
    letters = mailed_letters(notify, family())
    error = unchanged(
        lambda: notify.register_alternative(KUNITACHI, 2, AlternativeReason.DV, "1000001",
                                            SHELTER),
        Conflict, "発送済み",
    )
    assert "再送付" in error.message_ja and "re-mailing" in error.message_en
    assert notify.alternatives(KUNITACHI) == []
    assert [m.resident_id for m in notify.letter(letters[0]).members] == [1, 2, 3]
    # for a re-mailing it is accepted, and the next letter goes to the 居所
    notify.register_alternative(KUNITACHI, 2, AlternativeReason.DV, "1000001", SHELTER,
                                for_remailing=True)
    unchanged(lambda: notify.register_alternative(KUNITACHI, 2, AlternativeReason.DV, "1000001",
                                                  SHELTER, for_remailing=True),
              Conflict, "既に登録")
    clock.advance(days=40)
    again = notify.prepare_batch(KUNITACHI, "国立市", [family()[0]])
    kinds = {notify.letter(i).kind: notify.letter(i) for i in again.letter_ids}
    assert [m.resident_id for m in kinds[LetterKind.ALTERNATIVE].members] == [2]
    assert [m.resident_id for m in kinds[LetterKind.HOUSEHOLD].members] == [1, 3]
    # a person cannot be on two letters waiting to be mailed
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", [family()[0]]),
              Conflict, "発送待ち")


# -- history ---------------------------------------------------------------------------------


def test_state_transitions_are_history(
    notify: NotificationService, clock: Clock, unchanged: Callable[..., MynaError],
) -> None:
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    first, second = batch.letter_ids
    unchanged(lambda: notify.record(first, LetterState.DELIVERED), ValidationError, "作成済み")
    notify.mark_mailed(batch.batch_id)
    unchanged(lambda: notify.mark_mailed(batch.batch_id), Conflict, "発送済み")
    unchanged(lambda: notify.record(first, LetterState.MAILED), ValidationError, "一括")
    unchanged(lambda: notify.record(first, "returned"), ValidationError, "返戻理由")
    unchanged(lambda: notify.record(first, "返戻", "引越し"), ValidationError, "返戻理由が不正")
    unchanged(lambda: notify.record(first, "配達済み", "宛所不明"), ValidationError, "返戻のとき")
    unchanged(lambda: notify.record(first, "紛失"), ValidationError, "状態が不正")
    unchanged(lambda: notify.record(first, LetterState.HELD), ValidationError, "発送済み")

    clock.advance(days=9)
    event = notify.record(first, "返戻", "保管期間経過", note="不在のため")
    assert event.reason is ReturnReason.NOT_COLLECTED and event.at == clock.at
    clock.advance(days=2)
    notify.record(first, LetterState.HELD)
    unchanged(lambda: notify.record(first, LetterState.HANDED_OVER), ValidationError,
              "本人確認書類")
    unchanged(lambda: notify.record(first, LetterState.DELIVERED, identity_document="旅券"),
              ValidationError)
    clock.advance(days=20)
    notify.record(first, LetterState.HANDED_OVER, identity_document="運転免許証",
                  note="世帯主本人に交付")
    history = notify.letter(first).history
    assert [e.state for e in history] == [
        LetterState.PREPARED, LetterState.MAILED, LetterState.RETURNED, LetterState.HELD,
        LetterState.HANDED_OVER]
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert history[-1].identity_document == "運転免許証" and history[2].note == "不在のため"
    unchanged(lambda: notify.record(first, LetterState.DISPOSED), ValidationError,
              "これ以上")

    notify.record(second, LetterState.DELIVERED)
    error = unchanged(lambda: notify.record(second, "返戻", "宛所不明"), ValidationError)
    assert "配達済み" in error.message_ja and "delivered" in error.message_en
    unchanged(lambda: notify.record(999_999, LetterState.DELIVERED), NotFound, "通知 999999")


def test_disposal_only_after_the_holding_period(
    notify: NotificationService, clock: Clock, unchanged: Callable[..., MynaError],
) -> None:
    first, second = mailed_letters(notify, family())
    for letter_id in (first, second):
        notify.record(letter_id, "返戻", "宛所不明")
        notify.record(letter_id, "窓口保管")
    # held on 2025-10-05 (JST): kept through 2026-01-05
    error = unchanged(lambda: notify.record(first, "廃棄"), ValidationError, "2026-01-05")
    assert "3か月" in error.message_ja
    clock.advance(days=92)  # 2026-01-05
    unchanged(lambda: notify.record(first, "廃棄"), ValidationError, "保管期限")
    assert notify.dispose_expired(KUNITACHI) == []
    clock.advance(days=1)
    notify.record(first, "廃棄", note="保管期間経過")
    assert notify.dispose_expired(KUNITACHI) == [second]
    assert notify.letter(second).history[-1].state is LetterState.DISPOSED
    # the holding period is configurable
    short = NotificationService(notify.engine, now=clock, holding_months=1)
    third = mailed_letters(short, [household("3", person(7, "北 三郎"))])[0]
    short.record(third, "返戻", "受取拒否")
    short.record(third, "窓口保管")
    clock.advance(days=32)
    short.record(third, "廃棄")
    with pytest.raises(ValidationError, match="1〜24"):
        NotificationService(notify.engine, holding_months=0)


def test_follow_up_lists_households_never_reached(
    notify: NotificationService, clock: Clock,
) -> None:
    notify.register_alternative(KUNITACHI, 9, AlternativeReason.DV, "1000001", SHELTER)
    households = [household(str(i), person(i, f"住民 {i}")) for i in range(1, 7)]
    households[5] = household("6", person(6, "住民 6"), person(9, "住民 9"))
    letters = mailed_letters(notify, households)
    delivered, held, collected, disposed, just_returned, home = letters[:6]
    alternative = letters[6]
    mailed_letters(notify, [household("1", person(50, "国分寺 一"))], KOKUBUNJI, "国分寺市")
    notify.record(delivered, "配達済み")
    notify.record(home, "配達済み")
    for letter_id, reason in ((held, "宛所不明"), (collected, "保管期間経過"),
                              (disposed, "宛所不明"), (just_returned, "受取拒否"),
                              (alternative, "保管期間経過")):
        notify.record(letter_id, "返戻", reason)
    for letter_id in (held, collected, disposed, alternative):
        notify.record(letter_id, "窓口保管")
    notify.record(collected, "交付済み", identity_document="パスポート")
    clock.advance(days=120)
    notify.record(disposed, "廃棄")

    entries = notify.follow_up(KUNITACHI)
    assert [e.letter_id for e in entries] == [held, disposed, just_returned, alternative]
    by_id = {e.letter_id: e for e in entries}
    assert by_id[held].state is LetterState.HELD and by_id[held].holding_until == dt.date(2026,
                                                                                            1, 5)
    assert by_id[held].return_reason is ReturnReason.UNKNOWN_ADDRESS
    assert by_id[held].names == ("住民 2",) and by_id[held].address == HOME
    assert by_id[disposed].disposed_on == dt.date(2026, 2, 2)
    assert by_id[just_returned].return_reason is ReturnReason.REFUSED
    # a 居所 letter is listed by the registered address: the 居所 itself never appears
    alt = by_id[alternative]
    assert alt.kind is LetterKind.ALTERNATIVE and alt.names == ("住民 9",)
    assert alt.address == HOME and SHELTER not in repr(alt)
    assert notify.follow_up(KOKUBUNJI) == []


# -- statistics -------------------------------------------------------------------------------


def test_stats_counts_and_rates(notify: NotificationService, clock: Clock) -> None:
    letters = mailed_letters(notify, [household(str(i), person(i, f"住民 {i}"))
                                      for i in range(1, 11)])
    for letter_id in letters[:6]:
        notify.record(letter_id, "配達済み")
    reasons = ("宛所不明", "宛所不明", "保管期間経過", "受取拒否")
    for letter_id, reason in zip(letters[6:], reasons, strict=True):
        notify.record(letter_id, "返戻", reason)
    for letter_id in letters[6:9]:
        notify.record(letter_id, "窓口保管")
    notify.record(letters[8], "交付済み", identity_document="在留カード")
    clock.advance(days=100)
    notify.record(letters[7], "廃棄")
    other = mailed_letters(notify, [household("1", person(50, "国分寺 一")),
                                    household("2", person(51, "国分寺 二"))],
                           KOKUBUNJI, "国分寺市")
    notify.record(other[0], "配達済み")
    notify.prepare_batch(KOKUBUNJI, "国分寺市", [household("3", person(52, "国分寺 三"))])

    ours = notify.stats(KUNITACHI)
    assert ours.municipalities == (ours.overall,)
    s = ours.overall
    assert (s.municipality_code, s.municipality_name, s.letters, s.mailed) == (
        KUNITACHI, "国立市", 10, 10)
    assert s.by_state[LetterState.DELIVERED] == 6 and s.state_rate(LetterState.DELIVERED) == 0.6
    assert s.by_state[LetterState.RETURNED] == 1 and s.by_state[LetterState.HELD] == 1
    assert s.by_state[LetterState.HANDED_OVER] == 1 and s.by_state[LetterState.DISPOSED] == 1
    assert s.returned == 4 and s.return_rate == pytest.approx(0.4)
    assert s.by_reason == {ReturnReason.UNKNOWN_ADDRESS: 2, ReturnReason.NOT_COLLECTED: 1,
                           ReturnReason.REFUSED: 1}
    assert s.reason_rate(ReturnReason.UNKNOWN_ADDRESS) == 0.5
    assert s.unreached == 3 and s.unreached_rate == pytest.approx(0.3)

    everything = notify.stats()
    assert [m.municipality_code for m in everything.municipalities] == [KOKUBUNJI, KUNITACHI]
    o = everything.overall
    assert (o.municipality_code, o.letters, o.mailed, o.unreached) == (None, 13, 12, 3)
    assert o.by_state[LetterState.PREPARED] == 1 and o.by_state[LetterState.MAILED] == 1
    assert o.unreached_rate == pytest.approx(3 / 12)
    data = json.loads(json.dumps(everything.to_dict(), ensure_ascii=False))
    assert data["overall"]["by_reason"]["宛所不明"] == {"count": 2, "share": 0.5}
    assert data["municipalities"][1]["by_state"]["配達済み"]["rate"] == 0.6
    empty = notify.stats("011011")
    assert empty.overall.mailed == 0 and empty.overall.unreached_rate == 0.0


def test_chart_is_a_png(notify: NotificationService) -> None:
    empty = notify.chart_png()
    assert empty.startswith(b"\x89PNG\r\n\x1a\n")
    letters = mailed_letters(notify, family())
    notify.record(letters[0], "配達済み")
    notify.record(letters[1], "返戻", "宛所不明")
    png = notify.chart_png(KUNITACHI)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1100, 480)
    assert len(image.convert("RGB").getcolors(1 << 20) or []) > 10  # something was drawn


def test_simulated_delivery_is_near_the_reported_unreached_rate(
    notify: NotificationService,
) -> None:
    """SYNTHETIC outcomes: about 2.8 % of households never reached, as the seeds report."""
    assert SYNTHETIC_RATES.expected_unreached == pytest.approx(0.028, abs=0.0005)
    households = [household(str(i), person(i, f"合成 {i}")) for i in range(1, 1201)]
    batch = notify.prepare_batch(KUNITACHI, "国立市", households)
    result = simulate_delivery(notify, batch.batch_id, random.Random(2015))
    assert result.mailed == 1200
    assert result.delivered + sum(result.returned.values()) == 1200
    assert 0.018 < result.unreached_rate < 0.038
    stats = notify.stats(KUNITACHI).overall
    assert stats.unreached == result.disposed and stats.by_state[LetterState.MAILED] == 0
    assert stats.by_reason[ReturnReason.NOT_COLLECTED] > stats.by_reason[ReturnReason.REFUSED]
    assert notify.now() == START  # the clock was given back


# -- the PDF ---------------------------------------------------------------------------------


def test_letter_pdf_has_the_font_numbers_and_markings(notify: NotificationService) -> None:
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    letter = notify.letter(batch.letter_ids[0])
    data = notify.letter_pdf(letter.letter_id)
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 3  # the notice, then two forms per page
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4
    fonts = []
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for ref in resources["/Font"].values():
            font = ref.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                fonts.append((str(font["/BaseFont"]), "/FontFile2" in descriptor))
    assert any("IPAexGothic" in name and embedded for name, embedded in fonts)
    text = pdf_text(data)
    flat = compact(text)
    for needed in ("個人番号通知書", "親展", "転送不要", "個人番号カード交付申請書", "任意",
                   "国立太郎", "くにたちたろう", "〒186-0001", "昭和50年4月1日"):
        assert needed in flat, needed
    for m in letter.members:
        assert individual.format(m.individual_number) in text
        assert m.application_id in flat
    assert flat.count("個人番号カードの取得は任意です") == 1 + len(letter.members)


def _qr_images(data: bytes) -> list[Image.Image]:
    reader = PdfReader(io.BytesIO(data))
    return [img.image for page in reader.pages[1:] for img in page.images if img.image]


def test_qr_code_carries_only_the_application_url(notify: NotificationService) -> None:
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    letter = notify.letter(batch.letter_ids[0])
    images = _qr_images(notify.letter_pdf(letter.letter_id))
    assert len(images) == len(letter.members) == 3
    for image, member in zip(images, letter.members, strict=True):
        url = application_url("https://myna.example/apply", member.application_id)
        assert url == f"https://myna.example/apply?id={member.application_id}"
        expected = qr_code(url)
        # read the modules off the embedded image and compare with the library's own matrix
        gray = image.convert("L")
        modules = len(expected.matrix) + 8  # 4-module quiet zone each side
        size = gray.size[0] / modules
        pixels: Any = gray.load()
        seen = [[pixels[int((c + 4.5) * size), int((r + 4.5) * size)] < 128
                 for c in range(len(expected.matrix))] for r in range(len(expected.matrix))]
        assert seen == [[bool(v) for v in row] for row in expected.matrix]
        # segno's own record of what it encoded: exactly the URL, in byte mode
        assert expected.designator.endswith("M") and expected.mode == "byte"
        for private in (member.name, member.individual_number, "国立", HOME):
            assert private not in url


def test_qr_code_decodes_to_the_url(notify: NotificationService) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (QR decoder) not installed")
    batch = notify.prepare_batch(KUNITACHI, "国立市", family())
    letter = notify.letter(batch.letter_ids[0])
    images = _qr_images(notify.letter_pdf(letter.letter_id))
    decoded = [[r.text for r in zxingcpp.read_barcodes(img)] for img in images]
    assert decoded == [[f"https://myna.example/apply?id={m.application_id}"]
                       for m in letter.members]


# -- bad input leaves nothing behind -------------------------------------------------------------


def test_bad_input_leaves_nothing_behind(
    notify: NotificationService, unchanged: Callable[..., MynaError],
) -> None:
    good = family()
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", []), ValidationError, "世帯")
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", [good[0], household("3")]),
              ValidationError, "世帯員がいません")
    bad_number = household("3", MemberNotice(8, "北 八郎", "きた はちろう", dt.date(1990, 1, 1),
                                             "男", "123456789019"))
    error = unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", [good[0], bad_number]),
                      ValidationError, "チェックデジット")
    assert "世帯 3 の1人目" in error.message_ja
    bad_kana = household("3", MemberNotice(8, "北 八郎", "Kita", dt.date(1990, 1, 1), "男",
                                           number(8)))
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", [bad_kana]), ValidationError,
              "ふりがな")
    twice = household("3", person(1, "国立 太郎"))
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", [good[0], twice]),
              ValidationError, "複数の世帯")
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "国立市", [good[0], good[0]]),
              ValidationError, "重複")
    unchanged(lambda: notify.prepare_batch("132153", "国立市", good), ValidationError)
    unchanged(lambda: notify.prepare_batch(KUNITACHI, "", good), ValidationError, "市区町村名")
    unchanged(lambda: notify.register_alternative(KUNITACHI, 2, "旅行中", "1000001", SHELTER),
              ValidationError, "居所登録の事由")
    unchanged(lambda: notify.register_alternative(KUNITACHI, 2, "DV", "100", SHELTER),
              ValidationError, "郵便番号")
    unchanged(lambda: notify.mark_mailed(12345), NotFound, "一括 12345")
    unchanged(lambda: notify.letter_pdf(12345), NotFound)

    letters = mailed_letters(notify, good)
    unchanged(lambda: notify.record(12345, "配達済み"), NotFound)
    unchanged(lambda: notify.record(letters[0], "返戻", "不在"), ValidationError,
              "宛所不明・保管期間経過・受取拒否")
    unchanged(lambda: notify.record(letters[0], "交付済み", identity_document="運転免許証"),
              ValidationError, "発送済み")
    with pytest.raises(ValidationError, match="https"):
        NotificationService(notify.engine, apply_url="http://myna.example/apply?x=1")


# -- the command line ------------------------------------------------------------------------------


def test_cli_stats_follow_up_and_letter(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = make_engine(node_url(data_dir, "notify"), "notify")
    service = NotificationService(engine)
    service.create_schema()
    letters = mailed_letters(service, family())
    service.record(letters[0], "配達済み")
    service.record(letters[1], "返戻", "宛所不明")
    engine.dispose()
    (data_dir / "system.json").write_text("{}", encoding="utf-8")  # an installation
    runner = CliRunner()
    common = ["--data-dir", str(data_dir)]

    result = runner.invoke(notify_app, ["stats", "--json", *common])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["overall"]["mailed"] == 2 and report["overall"]["unreached"] == 1

    chart = tmp_path / "chart.png"
    result = runner.invoke(notify_app, ["stats", "--municipality", KUNITACHI, "--chart",
                                        str(chart), *common])
    assert result.exit_code == 0, result.output
    assert "返戻理由" in result.output and "50.00%" in result.output
    assert chart.read_bytes().startswith(b"\x89PNG")

    result = runner.invoke(notify_app, ["follow-up", "--municipality", KUNITACHI, *common])
    assert result.exit_code == 0, result.output
    assert "未達世帯の一覧（1件）" in result.output
    result = runner.invoke(notify_app, ["follow-up", "--municipality", KUNITACHI, "--json",
                                        *common])
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)
    assert (entry["names"], entry["return_reason"], entry["state"]) == (
        ["谷保 一郎"], "宛所不明", "返戻")

    pdf = tmp_path / "letter.pdf"
    result = runner.invoke(notify_app, ["letter", "--id", str(letters[0]), "--out", str(pdf),
                                        *common])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF-")

    result = runner.invoke(notify_app, ["letter", "--id", "999", "--out", str(pdf), *common])
    assert result.exit_code == 2
    result = runner.invoke(notify_app, ["follow-up", "--municipality", "132153", *common])
    assert result.exit_code == 2
