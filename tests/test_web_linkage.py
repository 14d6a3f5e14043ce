"""The 情報連携 staff screens: 情報照会, results, flags, the approval queue and records."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myna.clock import jst_today
from myna.keys import MemoryKeyStore
from myna.municipality import Municipality
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.registry.service import InitialResident
from myna.system import MynaSystem
from myna.web import create_app

OLD, NEW = "132152", "132144"  # 国立市 → 国分寺市
NENKIN = "nenkin"
ROW, AFFAIR, TAX = "T2-0001", "児童手当の支給", "地方税関係情報"
INCOME = 3_456_789
REGISTRY = "resident-registry"
LOCAL_TAX = "local-tax"  # the affair under which the old town decides on its tax copy
SECRET = b"test-session-secret-0123456789abcdef"
PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    system: MynaSystem
    old: Municipality
    new: Municipality
    old_id: int  # the moved person's 除票 at the old town (which keeps the tax copy)
    new_id: int  # and their record at the new town
    app: FastAPI


def _populate(town: Municipality, prefix: str, postcode: str) -> None:
    town.registry.register_initial([
        InitialResident(
            PersonDetails(f"{prefix}\u3000太郎{i}", "ためし\u3000たろう", dt.date(1985, 5, i + 1),
                          "男"),
            f"h{i}", "世帯主", postcode, f"{town.registry.title}本町{i + 1}丁目1番1号",
            dt.date(2010, 4, 1))
        for i in range(3)
    ])
    town.registry.initial_numbering()
    for staff_id, name, role in (("clerk1", "窓口 花子", Role.CLERK),
                                 ("sup1", "係長 一郎", Role.SUPERVISOR)):
        town.registry.create_staff(staff_id, name, role, PASSWORD)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    system = MynaSystem(tmp_path / "data", keys=MemoryKeyStore())
    try:
        system.add_municipality(OLD)
        system.add_municipality(NEW)
        system.add_institution(NENKIN, "日本年金機構", "厚生労働大臣・日本年金機構")
        old, new = system.municipalities[OLD], system.municipalities[NEW]
        _populate(old, "鰐淵", "1860001")
        _populate(new, "鷲尾", "1850012")
        old.acquire_codes()
        new.acquire_codes()
        # one person moves from 国立市 to 国分寺市
        clerk = old.registry.get_staff("clerk1")
        old_id = old.registry.numbered_residents()[0][0]
        certificate = old.registry.move_out(clerk, old_id, "東京都国分寺市本町9丁目1番1号",
                                            jst_today())
        arrived = new.registry.move_in(
            new.registry.get_staff("clerk1"), certificate,
            HouseholdPlacement("世帯主", postcode="1850012",
                               address="東京都国分寺市本町9丁目1番1号"),
            jst_today())
        new.acquire_codes([arrived.resident_id])
        # the old town keeps a copy of the person's tax information
        old.intermediate.put_item(old.atena_no(old_id), TAX, {
            "年度": 2025, "総所得金額": INCOME, "市町村民税所得割額": 123_400,
            "市町村民税均等割額": 5_000, "課税区分": "課税"})
        yield World(system, old, new, old_id, arrived.resident_id, create_app(system, SECRET))
    finally:
        system.dispose()


@pytest.fixture
def browser(world: World) -> Iterator[Any]:
    """Open a TestClient per member of staff (each keeps its own session)."""
    clients: list[TestClient] = []

    def open_as(staff_id: str, code: str) -> Session:
        client = TestClient(world.app)
        client.__enter__()
        clients.append(client)
        page = client.get("/")
        signed = client.post("/signin", data={
            "csrf_token": csrf(page.text), "municipality": code, "staff_id": staff_id,
            "password": PASSWORD,
        })
        assert signed.status_code == 200, signed.text
        return Session(client, code, csrf(signed.text))

    yield open_as
    for client in clients:
        client.__exit__(None, None, None)


@dataclass
class Session:
    client: TestClient
    code: str
    token: str

    def get(self, url: str, **params: str) -> Any:
        return self.client.get(url, params=params or None)

    def post(self, url: str, **data: str) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **data})

    def ask(self, resident_id: int, follow: bool = True, **fields: str) -> Any:
        data = {"row": ROW, "provider": f"municipality-{OLD}", "item": TAX,
                "purpose": "child-allowance"} | fields
        return self.client.post(f"/m/{self.code}/residents/{resident_id}/linkage",
                                data={"csrf_token": self.token, **data},
                                follow_redirects=follow)


def csrf(text: str) -> str:
    match = CSRF.search(text)
    assert match, "page has no form token"
    return match[1]


def text_of(page: Any) -> str:
    """The page's text with tags removed (for phrases split by markup)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.text))


def rows_of(page: Any) -> str:
    """The text of the page's table rows only (not the filter's options)."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", page.text, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", "".join(bodies)))


def no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text


def views(town: Municipality, resident_id: int) -> list[tuple[str, str]]:
    return [(e.action, e.purpose) for e in town.registry.access_log(resident_id)]


# -- 情報照会 --------------------------------------------------------------------------------------


def test_request_form_offers_rows_providers_and_items(world: World, browser: Any) -> None:
    me = browser("clerk1", NEW)
    page = me.get(f"/m/{NEW}/residents/{world.new_id}", purpose="child-allowance")
    assert page.status_code == 200
    for text in ("情報連携", "取得済み", "T2-0001 児童手当の支給", "情報照会", "承認待ち",
                 "情報提供等記録"):
        assert text in page.text
    assert "T2-0006" not in page.text  # rows whose requester is not 市町村長
    step1 = me.get(f"/m/{NEW}/residents/{world.new_id}/linkage", purpose="child-allowance")
    assert step1.status_code == 200
    assert 'name="row" value="T2-0002"' in step1.text and "年金給付関係情報" in step1.text
    step2 = me.get(f"/m/{NEW}/residents/{world.new_id}/linkage", row=ROW,
                   purpose="child-allowance")
    assert step2.status_code == 200
    # providers whose role is the row's (市町村長), not the asking town itself; the row's items
    assert f'value="municipality-{OLD}"' in step2.text
    assert f'value="municipality-{NEW}"' not in step2.text and 'value="nenkin"' not in step2.text
    assert ">地方税関係情報</option>" in step2.text
    assert "住民票関係情報" in step2.text and 'value="child-allowance"' in step2.text
    unstated = me.get(f"/m/{NEW}/residents/{world.new_id}/linkage", row="T2-0002")
    assert "閲覧の目的" in unstated.text and 'value="nenkin"' not in unstated.text
    assert 'name="row" value="T2-0002"' in unstated.text  # kept through the purpose page
    pension = me.get(f"/m/{NEW}/residents/{world.new_id}/linkage", row="T2-0002",
                     purpose="child-allowance")
    assert 'value="nenkin"' in pension.text and f'value="municipality-{OLD}"' not in pension.text
    views = [(e.action, e.purpose) for e in world.new.registry.access_log(world.new_id)]
    assert ("view", "児童手当の支給（情報照会の準備）") in views


def test_provided_shows_the_received_fields(world: World, browser: Any) -> None:
    me = browser("clerk1", NEW)
    sent = me.ask(world.new_id, follow=False)
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert location.startswith(f"/m/{NEW}/linkage/requests/")
    page = me.client.get(location)
    assert page.status_code == 200, page.text
    text = text_of(page)
    for phrase in ("提供済み", "総所得金額", "3,456,789円", "2025年度", "課税", "東京都国立市",
                   "児童手当の支給", ROW, "鰐淵"):
        assert phrase in text, phrase
    assert "書面による手続" not in text
    # the registry view is logged with the purpose, and so is showing the result
    logged = views(world.new, world.new_id)
    assert ("view", f"児童手当の支給（情報照会: {TAX}）") in logged
    assert ("view", f"児童手当の支給（照会結果の表示: {TAX}）") in logged
    [record] = world.system.hub.records(location.split("/")[-1].split("?")[0])
    assert record.result == "provided"


def test_purpose_is_required(world: World, browser: Any) -> None:
    me = browser("clerk1", NEW)
    before = len(world.system.hub.records())
    for purpose, said in (("", "照会の目的（事務）を選んでください"),
                          ("x", "事務の一覧から選んでください"),
                          ("児童手当の認定", "自由記述はできません")):
        page = me.ask(world.new_id, purpose=purpose)
        assert page.status_code == 422
        assert said in page.text and "<select" in page.text  # the affairs to choose from
        no_trace(page.text)
    assert len(world.system.hub.records()) == before
    assert not any("情報照会:" in p for _, p in views(world.new, world.new_id))


def test_table2_denial_shows_the_reason(world: World, browser: Any) -> None:
    me = browser("clerk1", NEW)
    page = me.ask(world.new_id, item="生活保護関係情報")
    assert page.status_code == 403
    text = text_of(page)
    assert "照会不可（別表第二に該当しない）" in text
    assert "別表第二 T2-0001 の特定個人情報は「地方税関係情報、住民票関係情報」であり" in text
    assert "(Table 2" not in text
    no_trace(page.text)
    unknown_row = me.ask(world.new_id, row="T2-9999")
    assert unknown_row.status_code == 403
    assert "別表第二に項番 T2-9999 はありません" in unknown_row.text
    assert [r.result for r in world.system.hub.records()] == ["denied", "denied"]


def test_refusal_set_at_the_old_town_tells_the_new_town_to_use_paper(
    world: World, browser: Any,
) -> None:
    boss = browser("sup1", OLD)
    page = boss.get(f"/m/{OLD}/residents/{world.old_id}", purpose=REGISTRY)
    assert page.status_code == 200
    assert "本人の申出による提供拒否" in page.text and "提供拒否の申出はありません" in page.text
    assert TAX in page.text and "自動応答不可にする" in page.text
    done = boss.post(f"/m/{OLD}/residents/{world.old_id}/linkage/refusals", affair=AFFAIR,
                     refused="1", purpose=REGISTRY)
    assert done.status_code == 200
    assert f"「{AFFAIR}」への情報提供の拒否を登録しました" in done.text
    assert "撤回" in done.text
    assert views(world.old, world.old_id)[:2] == [("view", "住民基本台帳事務")] * 2

    me = browser("clerk1", NEW)
    result = me.ask(world.new_id)
    assert result.status_code == 200
    text = text_of(result)
    assert "提供拒否（書面で手続を続けてください）" in text
    assert "書面による手続を続けてください" in text
    assert "総所得金額" not in text
    # withdrawn: provided again
    boss.post(f"/m/{OLD}/residents/{world.old_id}/linkage/refusals", affair=AFFAIR, refused="0")
    assert "提供済み" in me.ask(world.new_id).text


def test_clerks_cannot_change_flags(world: World, browser: Any) -> None:
    clerk = browser("clerk1", OLD)
    page = clerk.get(f"/m/{OLD}/residents/{world.old_id}", purpose=REGISTRY)
    assert "監督者または管理者のみ行えます" in page.text and "提供拒否を登録" not in page.text
    for url, data in (("refusals", {"affair": AFFAIR, "refused": "1"}),
                      ("manual-approval", {"item": TAX, "on": "1"})):
        denied = clerk.post(f"/m/{OLD}/residents/{world.old_id}/linkage/{url}", **data)
        assert denied.status_code == 403 and "監督者または管理者のみ行えます" in denied.text
    assert world.old.intermediate.pending() == []


def test_pending_is_approved_by_a_supervisor_and_then_provided(
    world: World, browser: Any,
) -> None:
    boss = browser("sup1", OLD)
    flagged = boss.post(f"/m/{OLD}/residents/{world.old_id}/linkage/manual-approval",
                        item=TAX, on="1", purpose=REGISTRY)
    assert "自動応答不可を設定しました" in flagged.text and "自動応答に戻す" in flagged.text

    me = browser("clerk1", NEW)
    sent = me.ask(world.new_id, follow=False)
    result_url = sent.headers["location"]
    waiting = me.client.get(result_url)
    assert waiting.status_code == 200
    text = text_of(waiting)
    assert "承認待ち" in text and "情報提供者の承認待ちです" in text and "結果を再確認" in text
    assert "総所得金額" not in text

    # a clerk at the old town sees the queue, for an affair, but may not decide
    clerk = browser("clerk1", OLD)
    ask = clerk.get(f"/m/{OLD}/linkage/pending")
    assert ask.status_code == 200 and "閲覧の目的" in ask.text and "鰐淵" not in ask.text
    wrong = clerk.get(f"/m/{OLD}/linkage/pending", purpose="見たかったから")
    assert wrong.status_code == 422 and "事務の一覧から選んで" in wrong.text
    assert "鰐淵" not in wrong.text
    assert not [e for e in world.old.registry.access_log(world.old_id) if e.action == "view_list"]
    queue = clerk.get(f"/m/{OLD}/linkage/pending", purpose=LOCAL_TAX)
    assert queue.status_code == 200
    assert "東京都国分寺市" in queue.text and AFFAIR in queue.text and TAX in queue.text
    assert "承認・拒否は監督者または管理者のみ行えます" in queue.text
    assert "承認して提供" not in queue.text
    request_id = result_url.split("?")[0].rsplit("/", 1)[1]
    refused = clerk.post(f"/m/{OLD}/linkage/pending/{request_id}", decision="approve",
                         purpose=LOCAL_TAX)
    assert refused.status_code == 403
    assert "情報提供の承認・拒否は監督者または管理者のみ行えます" in refused.text
    assert len(world.old.intermediate.pending()) == 1

    # the supervisor sees the person's name and decides; a refusal needs a reason
    queue = boss.get(f"/m/{OLD}/linkage/pending", purpose=LOCAL_TAX)
    assert "鰐淵" in queue.text and "承認して提供" in queue.text
    assert f'href="/m/{OLD}/residents/{world.old_id}"' in queue.text  # the purpose is asked
    # each showing of the person is in their access log, by whom and for which affair
    shown = [(e.staff_id, e.purpose) for e in world.old.registry.access_log(world.old_id)
             if e.action == "view_list"]
    listed = "地方税の賦課徴収（情報提供の承認待ち一覧）"
    assert sorted(shown) == [("clerk1", listed), ("sup1", listed)]
    no_reason = boss.post(f"/m/{OLD}/linkage/pending/{request_id}", decision="refuse",
                          purpose=LOCAL_TAX)
    assert no_reason.status_code == 422 and "理由" in no_reason.text
    approved = boss.post(f"/m/{OLD}/linkage/pending/{request_id}", decision="approve",
                         purpose=LOCAL_TAX)
    assert approved.status_code == 200 and "承認し、情報を提供しました" in approved.text
    assert "承認待ちの照会はありません" in approved.text
    again = boss.post(f"/m/{OLD}/linkage/pending/{request_id}", decision="approve",
                      purpose=LOCAL_TAX)
    assert again.status_code == 409 and "処理済み" in again.text

    # the requester re-checks: provided
    recheck = me.client.get(result_url)
    text = text_of(recheck)
    assert "提供済み" in text and "3,456,789円" in text
    assert [r.result for r in world.system.hub.records(request_id)] == ["pending", "provided"]


def test_a_refusal_by_the_supervisor_reaches_the_requester(world: World, browser: Any) -> None:
    world.old.intermediate.set_manual_approval(world.old.atena_no(world.old_id), TAX, True)
    me = browser("clerk1", NEW)
    result_url = me.ask(world.new_id, follow=False).headers["location"]
    request_id = result_url.split("?")[0].rsplit("/", 1)[1]
    boss = browser("sup1", OLD)
    done = boss.post(f"/m/{OLD}/linkage/pending/{request_id}", decision="refuse",
                     reason="支援措置の対象者のため", purpose=LOCAL_TAX)
    assert done.status_code == 200 and "提供しないことを決定しました" in done.text
    text = text_of(me.client.get(result_url))
    assert "書面による手続を続けてください" in text and "支援措置の対象者のため" in text


def test_a_failed_request_can_be_resent_with_the_same_id(world: World, browser: Any) -> None:
    world.system.network.down.add(world.old.institution)
    me = browser("clerk1", NEW)
    result_url = me.ask(world.new_id, follow=False).headers["location"]
    page = me.client.get(result_url)
    assert "失敗（再送できます）" in text_of(page) and "同じ照会番号で再送" in page.text
    request_id = result_url.split("?")[0].rsplit("/", 1)[1]
    assert f'name="request_id" value="{request_id}"' in page.text
    world.system.network.down.clear()
    again = me.ask(world.new_id, request_id=request_id)
    assert "提供済み" in text_of(again)
    assert [(r.attempt, r.result) for r in world.system.hub.records(request_id)] == [
        (1, "failed"), (2, "provided")]


def test_result_links_are_for_the_sender_or_a_supervisor(world: World, browser: Any) -> None:
    me = browser("clerk1", NEW)
    result_url = me.ask(world.new_id, follow=False).headers["location"]
    world.new.registry.create_staff("clerk2", "窓口 次郎", Role.CLERK, PASSWORD)
    other = browser("clerk2", NEW)
    denied = other.client.get(result_url)
    assert denied.status_code == 403 and "照会した職員または監督者のみ" in denied.text
    assert browser("sup1", NEW).client.get(result_url).status_code == 200
    split = urlsplit(result_url)
    token = parse_qs(split.query)["t"][0]
    forged = me.client.get(f"{split.path}?t={token[:-2]}xx")
    assert forged.status_code == 403 and "リンクが無効" in forged.text
    elsewhere = me.client.get(f"/m/{NEW}/linkage/requests/{uuid.uuid4().hex}?t={token}")
    assert elsewhere.status_code == 403


def test_a_resident_without_a_code_can_get_one(world: World, browser: Any) -> None:
    registry = world.new.registry
    baby = registry.register_birth(
        registry.get_staff("clerk1"),
        PersonDetails("鷲尾 花", "わしお はな", jst_today() - dt.timedelta(days=3), "女"),
        HouseholdPlacement("世帯主", postcode="1850012", address="東京都国分寺市本町5丁目1番1号"))
    me = browser("clerk1", NEW)
    page = me.get(f"/m/{NEW}/residents/{baby.resident_id}", purpose="child-allowance")
    assert "未取得" in page.text and "符号を取得" in page.text
    refused = me.ask(baby.resident_id)
    assert refused.status_code == 409 and "符号がまだ取得されていません" in refused.text
    got = me.post(f"/m/{NEW}/residents/{baby.resident_id}/linkage/codes",
                  purpose="child-allowance")
    assert got.status_code == 200 and "符号を取得しました" in got.text
    assert "取得済み" in got.text
    assert world.new.intermediate.code_for(world.new.atena_no(baby.resident_id))


# -- 情報提供等記録 -------------------------------------------------------------------------------


def test_records_show_this_towns_exchanges_only(world: World, browser: Any) -> None:
    me = browser("clerk1", NEW)
    assert "提供済み" in me.ask(world.new_id).text
    me.ask(world.new_id, item="生活保護関係情報")  # denied
    # 日本年金機構 asks the new town (no copy there): not the old town's business
    pension = world.system.intermediates[NENKIN]
    number = world.new.registry.numbered_residents([world.new_id])[0][1]
    [ref] = pension.begin_acquisition(["P-0001"])
    world.system.jlis.request_codes(NENKIN, [(number, ref)])
    assert pension.request("P-0001", "T2-0018", "国民年金の給付の支給",
                           f"municipality-{NEW}", TAX).result.value == "no_data"

    new_page = me.get(f"/m/{NEW}/linkage/records")
    assert new_page.status_code == 200
    text = text_of(new_page)
    for phrase in ("提供済み", "照会不可（別表第二に該当しない）", "該当情報なし", "日本年金機構",
                   "国民年金の給付の支給", "東京都国立市", "東京都国分寺市", "3件"):
        assert phrase in text, phrase
    # newest first: the pension request was the last one
    assert text.index("国民年金の給付の支給") < text.index("児童手当の支給")
    assert "記録番号" in text

    old_page = browser("clerk1", OLD).get(f"/m/{OLD}/linkage/records")
    text = rows_of(old_page)
    assert "提供済み" in text and "照会不可" in text
    assert "国民年金の給付の支給" not in text and "日本年金機構" not in text

    provided = me.get(f"/m/{NEW}/linkage/records", result="provided")
    rows = rows_of(provided)
    assert "提供済み" in rows and "照会不可" not in rows and "該当情報なし" not in rows
    assert "1件（全3件中）" in text_of(provided)
    answered = rows_of(me.get(f"/m/{NEW}/linkage/records", direction="provide"))
    assert "日本年金機構" in answered and "児童手当の支給" not in answered


def test_pages_need_sign_in_at_the_town(world: World, browser: Any) -> None:
    with TestClient(world.app) as anonymous:
        for url in (f"/m/{OLD}/linkage/pending", f"/m/{OLD}/linkage/records"):
            assert anonymous.get(url, follow_redirects=False).status_code == 303
    me = browser("clerk1", NEW)
    assert me.client.get(f"/m/{OLD}/linkage/pending", follow_redirects=False).status_code == 303


def test_undisclosed_records_are_marked_on_the_result_and_records_pages(
    world: World, browser: Any,
) -> None:
    """番号法23条2項: a record of an item Table 2 marks 不開示 says so wherever it is shown."""
    me = browser("clerk1", OLD)
    rid = world.old.registry.numbered_residents()[1][0]
    result = me.ask(rid, row="T2-0017", provider=f"municipality-{OLD}", purpose="local-tax")
    assert result.status_code == 200, result.text
    assert "不開示" in text_of(result) and "番号法第23条第2項" in text_of(result)
    [record] = [r for r in world.system.hub.records() if r.row_id == "T2-0017"]
    assert record.undisclosed
    records = me.get(f"/m/{OLD}/linkage/records")
    assert "不開示" in rows_of(records)
    plain = browser("clerk1", NEW)
    assert "提供済み" in plain.ask(world.new_id).text
    assert "不開示" not in rows_of(plain.get(f"/m/{NEW}/linkage/records"))
