"""The 番号通知 staff screens: batches, statistics, 居所情報登録, the counter, follow-up."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from myna.clock import jst_today
from myna.keys import MemoryKeyStore
from myna.notify.domain import LetterKind, LetterState, ReturnReason
from myna.notify.service import NotificationService
from myna.registry.domain import HouseholdPlacement, PersonDetails, Resident, Role
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem
from myna.web import create_app
from web_sessions import Session, staff_sessions

KUNITACHI = "132152"
SECRET = b"test-session-secret-0123456789abcdef"
PASSWORD = "password123"
SHELTER = "東京都千代田区千代田1番1号"
MY_NUMBER, REGISTRY = "my-number", "resident-registry"
NOTIFYING = "個人番号の指定・通知及び個人番号カードの交付"
BASE = f"/m/{KUNITACHI}/notify"


@dataclass
class Town:
    system: MynaSystem
    registry: MunicipalityRegistry
    app: FastAPI
    head: Resident
    wife: Resident
    child: Resident
    single: Resident
    protected: Resident

    @property
    def notify(self) -> NotificationService:
        return self.system.notify


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    system = MynaSystem(tmp_path / "data", keys=MemoryKeyStore())
    try:
        registry = system.add_municipality(KUNITACHI)
        clerk = registry.create_staff("clerk1", "窓口 花子", Role.CLERK, PASSWORD)
        supervisor = registry.create_staff("sup1", "係長 一郎", Role.SUPERVISOR, PASSWORD)
        home = HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1-2-3")
        head = registry.register_birth(
            clerk, PersonDetails("髙橋 太郎", "たかはし たろう", dt.date(1985, 4, 1), "男"), home)
        wife = registry.register_birth(
            clerk, PersonDetails("髙橋 花子", "たかはし はなこ", dt.date(1987, 8, 15), "女"),
            HouseholdPlacement("妻", household_number=head.household_number))
        child = registry.register_birth(
            clerk, PersonDetails("髙橋 結衣", "たかはし ゆい", dt.date(2015, 6, 1), "女"),
            HouseholdPlacement("子", household_number=head.household_number))
        single = registry.register_birth(
            clerk, PersonDetails("谷保 一郎", "やほ いちろう", dt.date(1950, 1, 2), "男"),
            HouseholdPlacement("世帯主", postcode="1860011", address="東京都国立市谷保5-6-7"))
        protected = registry.register_birth(
            clerk, PersonDetails("佐藤 美咲", "さとう みさき", dt.date(1990, 2, 3), "女"),
            HouseholdPlacement("世帯主", postcode="1860002", address="東京都国立市東2-3-4"))
        registry.set_support_measure(supervisor, protected.resident_id, True, "DV支援措置の申出")
        yield Town(system, registry, create_app(system, SECRET), head, wife, child, single,
                   protected)
    finally:
        system.dispose()



@pytest.fixture
def browser(town: Town) -> Iterator[Any]:
    """Open a TestClient per member of staff (each keeps its own session)."""
    with staff_sessions(town.app, KUNITACHI, PASSWORD) as open_as:
        yield open_as


@pytest.fixture
def sup(browser: Any) -> Session:
    return browser("sup1")  # type: ignore[no-any-return]


@pytest.fixture
def clerk(browser: Any) -> Session:
    return browser("clerk1")  # type: ignore[no-any-return]


def text_of(page: Any) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


def flat(page: Any) -> str:
    """The page's text without any white space (``<strong>5</strong>人`` → ``5人``)."""
    return "".join(text_of(page).split())


def no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text


def prepare(sup: Session) -> int:
    """Prepare a batch through the screen; its id."""
    done = sup.post(f"{BASE}/batches", follow=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == BASE
    page = sup.get(BASE)
    match = re.search(r"一括 (\d+) を作成しました", page.text)
    assert match, page.text
    return int(match[1])


def mail(sup: Session, batch_id: int) -> None:
    done = sup.post(f"{BASE}/batches/{batch_id}/mailed", follow=False)
    assert done.status_code == 303, done.text


def letter_of(town: Town, batch_id: int, resident: Resident) -> int:
    for letter_id in town.notify.batch(batch_id).letter_ids:
        if any(m.resident_id == resident.resident_id
               for m in town.notify.letter(letter_id).members):
            return int(letter_id)
    raise AssertionError(f"resident {resident.resident_id} is on no letter")


def views(town: Town, resident: Resident) -> list[tuple[str, str]]:
    return [(e.action, e.purpose) for e in town.registry.access_log(resident.resident_id)]


def person_url(resident: Resident) -> str:
    return f"/m/{KUNITACHI}/residents/{resident.resident_id}"


# -- navigation -------------------------------------------------------------------------------


def test_header_links_to_notification(clerk: Session) -> None:
    page = clerk.get(f"/m/{KUNITACHI}/residents")
    assert f'href="{BASE}">番号通知</a>' in page.text


# -- batches ---------------------------------------------------------------------------------


def test_prepare_and_mail_a_batch(town: Town, sup: Session) -> None:
    before = sup.get(BASE)
    assert before.status_code == 200
    assert "5人（3世帯）" in flat(before)
    assert "まだ通知書は作成されていません" in before.text

    batch_id = prepare(sup)
    batch = town.notify.batch(batch_id)
    assert (batch.household_letters, batch.alternative_letters, batch.people) == (3, 0, 5)
    assert batch.mailed_at is None
    page = sup.get(BASE)
    text = flat(page)
    assert "発送待ち" in text and "発送を記録" in text and "作成済み1件" in text
    assert "0人（0世帯）" in text  # nobody left to notify

    again = sup.post(f"{BASE}/batches")  # nothing left to send
    assert again.status_code == 409
    assert "通知書を作成する対象の住民がいません" in again.text
    no_trace(again.text)
    assert len(town.notify.batches(KUNITACHI)) == 1

    mail(sup, batch_id)
    mailed = sup.get(BASE)
    assert f"一括 {batch_id} の発送を記録しました（3通）" in mailed.text
    assert "発送済み1件" in flat(mailed)
    assert town.notify.batch(batch_id).mailed_at is not None
    assert all(town.notify.letter(i).state is LetterState.MAILED for i in batch.letter_ids)

    twice = sup.post(f"{BASE}/batches/{batch_id}/mailed")
    assert twice.status_code == 409 and "既に発送済み" in twice.text


def test_a_new_resident_is_notified_in_the_next_batch(town: Town, sup: Session) -> None:
    mail(sup, prepare(sup))
    baby = town.registry.register_birth(
        town.registry.get_staff("clerk1"),
        PersonDetails("髙橋 蓮", "たかはし れん", jst_today(), "男"),
        HouseholdPlacement("子", household_number=town.head.household_number))
    assert "1人（1世帯）" in flat(sup.get(BASE))
    second = town.notify.batch(prepare(sup))
    assert second.people == 1
    letter = town.notify.letter(second.letter_ids[0])
    assert [m.resident_id for m in letter.members] == [baby.resident_id]
    assert letter.household_number == town.head.household_number


def test_clerks_cannot_prepare_or_mail(town: Town, clerk: Session) -> None:
    page = clerk.get(BASE)
    assert page.status_code == 200
    assert "監督者または管理者のみ" in page.text and "住民基本台帳から通知書を作成" not in page.text
    refused = clerk.post(f"{BASE}/batches")
    assert refused.status_code == 403 and "監督者" in refused.text
    assert town.notify.batches(KUNITACHI) == []

    batch = town.system.municipality(KUNITACHI).notify_numbers(town.notify)
    refused = clerk.post(f"{BASE}/batches/{batch.batch_id}/mailed")
    assert refused.status_code == 403
    assert town.notify.batch(batch.batch_id).mailed_at is None
    assert "発送を記録" not in clerk.get(BASE).text


def test_forms_need_the_token(town: Town, sup: Session) -> None:
    refused = sup.client.post(f"{BASE}/batches", data={})
    assert refused.status_code == 403 and "不正な送信" in refused.text
    assert town.notify.batches(KUNITACHI) == []


# -- statistics ------------------------------------------------------------------------------


def test_statistics_and_the_chart(town: Town, sup: Session) -> None:
    empty = sup.get(BASE)
    assert "統計はありません" in empty.text and "chart.png" not in empty.text
    batch_id = prepare(sup)
    mail(sup, batch_id)
    service = town.notify
    service.record(letter_of(town, batch_id, town.head), LetterState.DELIVERED)
    service.record(letter_of(town, batch_id, town.single), "返戻", "宛所不明")

    page = sup.get(BASE)
    assert page.status_code == 200
    text = " ".join(text_of(page).split())
    rows = dict(re.findall(r"(配達済み|返戻|発送済み) (\d+) \d", text))
    assert rows["配達済み"] == "1" and rows["発送済み"] == "1"
    assert "宛所不明 1 100.0%" in text  # share of the letters returned
    assert "返戻 計 1 33.3%" in text  # return rate over the 3 letters mailed
    assert "未達率 33.3%" in text
    assert f'src="{BASE}/chart.png"' in page.text

    chart = sup.get(f"{BASE}/chart.png")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(chart.content)).size[0] > 500


def test_chart_needs_sign_in(town: Town) -> None:
    with TestClient(town.app) as anonymous:
        page = anonymous.get(f"{BASE}/chart.png", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/?next=")


# -- 居所情報登録 ------------------------------------------------------------------------------


def register(session: Session, resident: Resident, purpose: str = MY_NUMBER,
             follow: bool = True, **extra: str) -> Any:
    return session.post(f"{person_url(resident)}/notify/alternative", follow, purpose=purpose,
                        reason="DV・ストーカー・児童虐待等の被害者", postcode="100-0001",
                        address=SHELTER, care_of="", note="", **extra)


def test_the_resident_page_needs_a_purpose_and_shows_the_section(
    town: Town, clerk: Session,
) -> None:
    asked = clerk.get(person_url(town.wife))
    assert "閲覧の目的" in asked.text and "居所情報登録" not in asked.text
    page = clerk.get(person_url(town.wife), purpose=MY_NUMBER)
    assert page.status_code == 200
    assert "居所情報登録" in page.text and "この方の通知書はまだ作成されていません" in page.text


def test_alternative_before_mailing_gets_a_letter_of_its_own(town: Town, sup: Session) -> None:
    batch_id = prepare(sup)
    household_letter = letter_of(town, batch_id, town.wife)

    done = register(sup, town.wife, follow=False)
    assert done.status_code == 303
    assert done.headers["location"].endswith("#notify")
    page = sup.client.get(done.headers["location"])
    moved = re.search(r"居所あての通知（通知 (\d+)）を作成しました", page.text)
    assert moved, page.text
    assert SHELTER in page.text and "DV・ストーカー・児童虐待等の被害者" in page.text

    own = town.notify.letter(int(moved[1]))
    assert own.kind is LetterKind.ALTERNATIVE and own.batch_id == batch_id
    assert [m.resident_id for m in own.members] == [town.wife.resident_id]
    assert own.destination.address == SHELTER and own.destination.postcode == "1000001"
    rest = town.notify.letter(household_letter)
    assert [m.resident_id for m in rest.members] == [town.head.resident_id,
                                                     town.child.resident_id]
    assert ("view", f"{NOTIFYING}（居所情報登録）") in views(town, town.wife)

    mail(sup, batch_id)
    assert town.notify.letter(own.letter_id).state is LetterState.MAILED


def test_alternative_after_mailing_is_refused_then_offered_for_remailing(
    town: Town, sup: Session,
) -> None:
    batch_id = prepare(sup)
    mail(sup, batch_id)
    page = sup.get(person_url(town.child), purpose=MY_NUMBER)
    assert "この方の通知書は発送済みです" in page.text

    refused = register(sup, town.child)
    assert refused.status_code == 409
    assert "既に発送済みです" in refused.text and "再送付用" in refused.text
    assert 'name="for_remailing" value="1"' in refused.text  # the offer
    assert SHELTER in refused.text  # what was typed is kept
    no_trace(refused.text)
    assert town.notify.alternatives(KUNITACHI) == []

    done = register(sup, town.child, for_remailing="1")
    assert done.status_code == 200
    assert "再送付用として登録しました" in done.text
    [registration] = town.notify.alternatives(KUNITACHI)
    assert registration.resident_id == town.child.resident_id and registration.for_remailing

    assert "1人（1世帯）" in flat(sup.get(BASE))  # the re-mailing is still to be prepared
    again = town.notify.batch(prepare(sup))
    assert (again.household_letters, again.alternative_letters) == (0, 1)
    letter = town.notify.letter(again.letter_ids[0])
    assert letter.destination.address == SHELTER
    assert [m.resident_id for m in letter.members] == [town.child.resident_id]


def test_withdraw_an_alternative(town: Town, clerk: Session) -> None:
    assert register(clerk, town.single).status_code == 200
    assert len(town.notify.alternatives(KUNITACHI)) == 1
    page = clerk.get(person_url(town.single), purpose=MY_NUMBER)
    assert "登録を取り下げる" in page.text
    done = clerk.post(f"{person_url(town.single)}/notify/alternative/withdraw",
                      purpose=MY_NUMBER)
    assert done.status_code == 200 and "取り下げました" in done.text
    assert town.notify.alternatives(KUNITACHI) == []
    twice = clerk.post(f"{person_url(town.single)}/notify/alternative/withdraw",
                       purpose=MY_NUMBER)
    assert twice.status_code == 404 and "居所登録はありません" in twice.text


def test_alternative_form_errors_are_shown_in_japanese(town: Town, clerk: Session) -> None:
    page = clerk.post(f"{person_url(town.single)}/notify/alternative",
                      purpose=MY_NUMBER, reason="施設入所者", postcode="",
                      address=SHELTER)
    assert page.status_code == 422 and "居所の郵便番号を入力してください" in page.text
    bad = clerk.post(f"{person_url(town.single)}/notify/alternative",
                     purpose=MY_NUMBER, reason="引越し", postcode="1000001",
                     address=SHELTER)
    assert bad.status_code == 422 and "居所登録の事由が不正です" in bad.text
    assert town.notify.alternatives(KUNITACHI) == []


def test_clerk_cannot_register_for_a_protected_person(town: Town, clerk: Session) -> None:
    refused = register(clerk, town.protected)
    assert refused.status_code == 403 and "支援措置" in refused.text
    assert town.notify.alternatives(KUNITACHI) == []


# -- letters and the counter ------------------------------------------------------------------


def test_letters_list_and_filters(town: Town, sup: Session, clerk: Session) -> None:
    batch_id = prepare(sup)
    mail(sup, batch_id)
    returned = letter_of(town, batch_id, town.single)
    town.notify.record(returned, "返戻", "受取拒否")

    everything = clerk.get(f"{BASE}/letters")
    assert everything.status_code == 200
    assert "髙橋 太郎、髙橋 花子、髙橋 結衣" in everything.text
    # 支援措置: as in a search, the letter listing only her is left off a clerk's list
    assert "通知書2通" in flat(everything) and "佐藤 美咲" not in everything.text
    assert "東2-3-4" not in everything.text
    supervised = sup.get(f"{BASE}/letters")
    assert "通知書3通" in flat(supervised) and "佐藤 美咲" in supervised.text
    assert "東2-3-4" not in supervised.text  # a supervisor sees no address until approved

    by_state = clerk.get(f"{BASE}/letters", state="returned")
    assert "1通（絞り込み）" in flat(by_state) and "谷保 一郎" in by_state.text
    assert "髙橋" not in by_state.text
    unreached = clerk.get(f"{BASE}/letters", state="unreached")
    assert "谷保 一郎" in unreached.text
    by_household = clerk.get(f"{BASE}/letters", household=town.head.household_number.lstrip("0"))
    assert "髙橋 太郎" in by_household.text and "谷保" not in by_household.text
    assert f'value="{town.head.household_number}"' in by_household.text
    none = clerk.get(f"{BASE}/letters", state="handed_over")
    assert "該当する通知書はありません" in none.text


def test_record_a_return_and_a_hand_over(town: Town, sup: Session, clerk: Session) -> None:
    batch_id = prepare(sup)
    mail(sup, batch_id)
    letter_id = letter_of(town, batch_id, town.single)
    url = f"{BASE}/letters/{letter_id}"

    page = clerk.get(url)
    assert page.status_code == 200
    assert "谷保 一郎" in page.text and "返戻を記録" in page.text and "配達済みを記録" in page.text
    number = town.single.individual_number
    assert number and number not in page.text and number[-4:] in page.text  # masked

    done = clerk.post(f"{url}/events", follow=False, state="returned", reason="宛所不明",
                      note="転居先不明")
    assert done.status_code == 303 and done.headers["location"] == f"{url}?purpose={MY_NUMBER}"
    shown = clerk.get(url)
    assert "「返戻（宛所不明）」を記録しました" in shown.text
    assert "窓口保管にする" in shown.text and "返戻を記録" not in shown.text
    assert town.notify.letter(letter_id).return_reason is ReturnReason.UNKNOWN_ADDRESS

    assert clerk.post(f"{url}/events", state="held").status_code == 200
    assert town.notify.letter(letter_id).state is LetterState.HELD
    held = clerk.get(url)
    assert "窓口で交付" in held.text and "保管期限" in held.text

    refused = clerk.post(f"{url}/events", state="handed_over", identity_document="",
                         note="本人が来庁")
    assert refused.status_code == 422
    assert "交付には確認した本人確認書類（例: 運転免許証）の記録が必要です" in refused.text
    assert 'value="本人が来庁"' in refused.text  # what was typed is kept
    no_trace(refused.text)
    assert town.notify.letter(letter_id).state is LetterState.HELD

    early = clerk.post(f"{url}/events", state="disposed")
    assert early.status_code == 422 and "保管期限" in early.text and "廃棄できません" in early.text
    assert town.notify.letter(letter_id).state is LetterState.HELD

    done = clerk.post(f"{url}/events", state="handed_over", identity_document="運転免許証")
    assert done.status_code == 200 and "「交付済み」を記録しました" in done.text
    letter = town.notify.letter(letter_id)
    assert letter.state is LetterState.HANDED_OVER
    assert letter.history[-1].identity_document == "運転免許証"
    assert "これ以上記録することはありません" in done.text and "運転免許証" in done.text

    wrong = clerk.post(f"{url}/events", state="delivered")
    assert wrong.status_code == 422
    assert "「交付済み」の通知を「配達済み」にはできません" in wrong.text


def test_a_prepared_letter_has_nothing_to_record(town: Town, sup: Session) -> None:
    batch_id = prepare(sup)
    letter_id = letter_of(town, batch_id, town.single)
    page = sup.get(f"{BASE}/letters/{letter_id}")
    assert "発送前の通知書です" in page.text and "返戻を記録" not in page.text
    refused = sup.post(f"{BASE}/letters/{letter_id}/events", state="returned", reason="宛所不明")
    assert refused.status_code == 422
    assert "「作成済み」の通知を「返戻」にはできません" in refused.text


def test_unknown_letters_and_batches(town: Town, sup: Session) -> None:
    assert sup.get(f"{BASE}/letters/999").status_code == 404
    assert "通知 999 はありません" in sup.get(f"{BASE}/letters/999").text
    assert sup.post(f"{BASE}/batches/999/mailed").status_code == 404
    bad = sup.get(f"{BASE}/letters/0")
    assert bad.status_code == 422 and "通知番号" in bad.text


def test_a_protected_persons_letter_is_for_supervisors(
    town: Town, sup: Session, clerk: Session,
) -> None:
    batch_id = prepare(sup)
    mail(sup, batch_id)
    letter_id = letter_of(town, batch_id, town.protected)
    page = clerk.get(f"{BASE}/letters/{letter_id}")
    assert page.status_code == 403 and "支援措置の対象者の通知書です" in page.text
    assert "佐藤 美咲" not in page.text and "東2-3-4" not in page.text
    assert ("list_hidden", f"{NOTIFYING}（番号通知: 通知 {letter_id}）") in views(
        town, town.protected)
    refused = clerk.post(f"{BASE}/letters/{letter_id}/events", state="delivered")
    assert refused.status_code == 403
    assert town.notify.letter(letter_id).state is LetterState.MAILED
    # the letter carries the number in full, and the record needs an approval
    pdf = sup.get(f"{BASE}/letters/{letter_id}/pdf", purpose=MY_NUMBER)
    assert pdf.status_code == 403
    denied = ("view_denied", f"{NOTIFYING}（番号通知書の出力: 通知 {letter_id}）")
    assert denied in views(town, town.protected)
    supervised = sup.get(f"{BASE}/letters/{letter_id}")
    assert "佐藤 美咲" in supervised.text and "東2-3-4" not in supervised.text
    assert "返戻を記録" in supervised.text  # the counter's record is the supervisor's


def test_an_alternative_destination_is_shown_to_supervisors_only(
    town: Town, sup: Session, clerk: Session,
) -> None:
    batch_id = prepare(sup)
    register(sup, town.wife)
    own = next(i for i in town.notify.batch(batch_id).letter_ids
               if town.notify.letter(i).kind is LetterKind.ALTERNATIVE)
    assert SHELTER in sup.get(f"{BASE}/letters/{own}").text
    page = clerk.get(f"{BASE}/letters/{own}")
    assert SHELTER not in page.text and "送付先は監督者のみ表示" in page.text
    assert SHELTER not in clerk.get(f"{BASE}/letters").text


# -- the PDF ---------------------------------------------------------------------------------


def test_letter_pdf_needs_a_purpose_and_is_logged(
    town: Town, sup: Session, clerk: Session,
) -> None:
    batch_id = prepare(sup)
    letter_id = letter_of(town, batch_id, town.head)
    url = f"{BASE}/letters/{letter_id}/pdf"

    page = clerk.get(f"{BASE}/letters/{letter_id}")
    assert f'action="{url}"' in page.text and "アクセス記録に残ります" in page.text
    asked = clerk.get(url)
    assert asked.status_code == 422 and "目的" in asked.text
    assert "pdf" not in asked.headers["content-type"]
    free = sup.get(url, purpose="返戻された通知書の再交付")  # not an affair
    assert free.status_code == 422 and "事務の一覧から選んでください" in free.text
    # the letter carries full numbers: only a role that may see them prints it
    masked = clerk.get(url, purpose=MY_NUMBER)
    assert masked.status_code == 403 and "個人番号を表示できる役割" in masked.text
    assert "pdf" not in masked.headers["content-type"]

    pdf = sup.get(url, purpose=MY_NUMBER)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    purpose = f"{NOTIFYING}（番号通知書の出力: 通知 {letter_id}）"
    for person in (town.head, town.wife, town.child):
        assert ("view", purpose) in views(town, person)
        assert ("number_disclosure", purpose) in views(town, person)
    assert ("view", purpose) not in views(town, town.single)


# -- follow-up ---------------------------------------------------------------------------------


def test_follow_up_lists_the_households_never_reached(
    town: Town, sup: Session, clerk: Session,
) -> None:
    empty = clerk.get(f"{BASE}/follow-up")
    assert empty.status_code == 200 and "未達の通知書はありません" in empty.text
    batch_id = prepare(sup)
    mail(sup, batch_id)
    lost = letter_of(town, batch_id, town.single)
    town.notify.record(lost, "返戻", "宛所不明")
    town.notify.record(letter_of(town, batch_id, town.head), LetterState.DELIVERED)

    page = clerk.get(f"{BASE}/follow-up")
    assert page.status_code == 200
    assert "未達の通知書1件" in flat(page)
    assert "谷保 一郎" in page.text and "東京都国立市谷保5-6-7" in page.text
    assert town.single.household_number in page.text and "宛所不明" in page.text
    assert "実態調査" in page.text and "職権消除" in page.text
    assert "髙橋" not in page.text
    form = re.search(r'<form method="get" action="([^"]+)" class="purpose-link">(.*?)</form>',
                     page.text, re.S)
    assert form and form[1] == person_url(town.single)
    assert 'name="purpose"' in form[2] and "required" in form[2]

    assert f'<option value="{REGISTRY}">' in form[2]  # the affair is chosen, not typed
    opened = clerk.get(form[1], purpose=REGISTRY)
    assert opened.status_code == 200 and "谷保 一郎" in opened.text
    assert ("view", "住民基本台帳事務") in views(town, town.single)

    town.notify.record(lost, LetterState.HELD)
    town.notify.record(lost, LetterState.HANDED_OVER, identity_document="運転免許証")
    assert "未達の通知書はありません" in clerk.get(f"{BASE}/follow-up").text


def test_dispose_expired_is_for_supervisors(town: Town, sup: Session, clerk: Session) -> None:
    assert clerk.post(f"{BASE}/dispose-expired").status_code == 403
    done = sup.post(f"{BASE}/dispose-expired")
    assert done.status_code == 200 and "保管期間を過ぎた通知書はありません" in done.text


# -- who is shown, and the access log -----------------------------------------------------------


def listed(town: Town, resident: Resident, action: str = "view_list") -> list[str]:
    """The purposes of ``resident``'s access-log rows of one kind."""
    return [e.purpose for e in town.registry.access_log(resident.resident_id)
            if e.action == action]


def test_everyone_a_page_lists_is_logged_once_with_the_purpose(
    town: Town, sup: Session, clerk: Session,
) -> None:
    batch_id = prepare(sup)
    mail(sup, batch_id)
    town.notify.record(letter_of(town, batch_id, town.single), "返戻", "宛所不明")
    family = (town.head, town.wife, town.child)
    assert all(listed(town, p) == [] for p in (*family, town.single, town.protected))

    assert clerk.get(f"{BASE}/letters").status_code == 200
    on_list = f"{NOTIFYING}（番号通知: 通知書一覧）"
    for person in (*family, town.single):  # household members too, each once
        assert listed(town, person) == [on_list]
    assert listed(town, town.protected) == []  # left off the clerk's list …
    assert listed(town, town.protected, "list_hidden") == [on_list]  # … noted on her record

    clerk.get(f"{BASE}/letters", purpose=REGISTRY, household=town.head.household_number)
    for person in family:
        assert listed(town, person) == ["住民基本台帳事務（番号通知: 通知書一覧）", on_list]
    assert len(listed(town, town.single)) == 1  # not on the filtered page

    letter_id = letter_of(town, batch_id, town.head)
    page = clerk.get(f"{BASE}/letters/{letter_id}")
    assert page.status_code == 200 and "アクセス記録に残ります" in page.text
    for person in family:
        assert listed(town, person)[0] == f"{NOTIFYING}（番号通知: 通知 {letter_id}）"
        assert len(listed(town, person)) == 3
    assert len(listed(town, town.single)) == 1

    assert "谷保 一郎" in clerk.get(f"{BASE}/follow-up").text
    assert listed(town, town.single)[0] == f"{NOTIFYING}（番号通知: 未達世帯の一覧）"
    assert all(len(listed(town, p)) == 3 for p in family)  # never reached: not listed

    # a purpose that is no affair is refused before anything is written
    before = len(town.registry.access_log(limit=1000))
    bad = clerk.get(f"{BASE}/letters", purpose="確認のため")
    assert bad.status_code == 422 and "事務の一覧から選んでください" in bad.text
    assert clerk.get(f"{BASE}/follow-up", purpose="確認のため").status_code == 422
    assert len(town.registry.access_log(limit=1000)) == before


def test_a_protected_member_is_hidden_from_a_clerk_until_approved(
    town: Town, sup: Session, clerk: Session,
) -> None:
    registry = town.registry
    sup1, clerk1 = registry.get_staff("sup1"), registry.get_staff("clerk1")
    registry.set_support_measure(sup1, town.wife.resident_id, True, "DV支援措置の申出")
    batch_id = prepare(sup)
    mail(sup, batch_id)
    letter_id = letter_of(town, batch_id, town.head)

    page = clerk.get(f"{BASE}/letters")
    assert "髙橋 太郎、（支援措置により非表示）、髙橋 結衣" in page.text
    assert "髙橋 花子" not in page.text
    assert "東京都国立市北1-2-3" in page.text  # the others' address is theirs to show
    one = clerk.get(f"{BASE}/letters/{letter_id}")
    assert one.status_code == 200 and "髙橋 花子" not in one.text
    assert "たかはし はなこ" not in one.text and "1987" not in one.text
    assert "記録は監督者が行います" in one.text and "返戻を記録" not in one.text
    assert clerk.post(f"{BASE}/letters/{letter_id}/events", state="delivered").status_code == 403
    assert listed(town, town.wife) == []
    assert len(listed(town, town.wife, "list_hidden")) == 3  # list, letter page, refused post

    # an approval for the affair opens her on the clerk's pages, and is logged with it
    asked = registry.request_protected_view(clerk1, town.wife.resident_id, MY_NUMBER,
                                            "返戻された通知書の確認")
    other = registry.create_staff("sup2", "課長 次郎", Role.SUPERVISOR, PASSWORD)
    registry.decide_protected_view(other, asked.request_id)
    opened = clerk.get(f"{BASE}/letters")
    assert "髙橋 太郎、髙橋 花子、髙橋 結衣" in opened.text
    [entry] = [e for e in registry.access_log(town.wife.resident_id) if e.action == "view_list"]
    assert entry.detail["approval"] == asked.request_id
    # only for that affair: under another, she is hidden again
    assert "髙橋 花子" not in clerk.get(f"{BASE}/letters", purpose=REGISTRY).text
