"""The staff web app and the JSON API, through FastAPI's TestClient."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from myna.clock import jst_today
from myna.keys import MemoryKeyStore
from myna.numbers import individual
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.system import MynaSystem
from myna.web import create_app
from seeded import (
    CHIYODA,
    KUNITACHI,
    PASSWORD,
    REGISTRY,
    SECRET,
    Town,
    actions,
    approve,
    csrf,
    no_trace,
    post,
    seed_town,
    sign_in,
)

NHI = "国民健康保険の保険給付の支給・保険料の徴収"


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    system = MynaSystem(tmp_path / "data", keys=MemoryKeyStore())
    try:
        yield seed_town(system)
    finally:
        system.dispose()


@pytest.fixture
def client(town: Town) -> Iterator[TestClient]:
    with TestClient(create_app(town.system, SECRET)) as c:
        yield c


# -- sign-in ------------------------------------------------------------------------------


def test_sign_in_page_lists_municipalities(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "東京都国立市（132152）" in page.text
    assert "Content-Security-Policy" in page.headers
    cookie = page.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie


def test_sign_in_success_shows_municipality_staff_and_role(client: TestClient) -> None:
    page = client.get("/")
    response = client.post("/signin", data={
        "csrf_token": csrf(page.text), "municipality": KUNITACHI, "staff_id": "sup1",
        "password": PASSWORD,
    }, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/m/132152/residents"
    landing = client.get("/m/132152/residents")
    assert landing.status_code == 200
    for text in ("東京都国立市", "係長 一郎", "監督者", "サインアウト", "サインインしました"):
        assert text in landing.text


def test_sign_in_failure_shows_japanese_message(client: TestClient, town: Town) -> None:
    page = client.get("/")
    response = client.post("/signin", data={
        "csrf_token": csrf(page.text), "municipality": KUNITACHI, "staff_id": "clerk1",
        "password": "wrong-password",
    })
    assert response.status_code == 403
    assert "職員IDまたはパスワードが違うか" in response.text
    assert 'value="clerk1"' in response.text and "wrong-password" not in response.text
    no_trace(response.text)
    assert client.get("/m/132152/residents", follow_redirects=False).status_code == 303
    failed = [e for e in town.registry.access_log() if e.action == "sign_in_failed"]
    assert failed and failed[0].staff_id == "clerk1"


def test_pages_need_sign_in_and_come_back(client: TestClient) -> None:
    response = client.get("/m/132152/residents/1?purpose=調査", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/?next=%2Fm%2F132152%2Fresidents%2F1")
    page = client.get(response.headers["location"])
    assert "サインインしてください" in page.text
    back = client.post("/signin", data={
        "csrf_token": csrf(page.text), "municipality": KUNITACHI, "staff_id": "clerk1",
        "password": PASSWORD, "next": "/m/132152/residents/1?purpose=調査",
    }, follow_redirects=False)
    assert unquote(back.headers["location"]) == "/m/132152/residents/1?purpose=調査"
    evil = client.post("/signin", data={
        "csrf_token": csrf(client.get("/m/132152/residents").text), "municipality": KUNITACHI,
        "staff_id": "clerk1", "password": PASSWORD, "next": "//evil.example/",
    }, follow_redirects=False)
    assert evil.headers["location"] == "/m/132152/residents"


def test_forms_without_token_are_refused(client: TestClient) -> None:
    sign_in(client)
    response = client.post("/m/132152/residents", data={"purpose": "調査", "name": "髙橋"})
    assert response.status_code == 403
    assert "画面の有効期限が切れたか" in response.text


def test_sign_out(client: TestClient) -> None:
    token = sign_in(client)
    response = post(client, "/signout", token)
    assert response.status_code == 200 and "サインアウトしました" in response.text
    assert client.get("/m/132152/residents", follow_redirects=False).status_code == 303


def test_unknown_page_and_municipality_are_japanese_404(client: TestClient) -> None:
    sign_in(client)
    for url in ("/no/such/page", "/m/999999/residents"):
        response = client.get(url)
        assert response.status_code == 404
        assert "見つかりません" in response.text or "登録されていません" in response.text
        no_trace(response.text)


# -- search ---------------------------------------------------------------------------------


def test_search_needs_a_purpose(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    before = len(town.registry.access_log())
    response = post(client, "/m/132152/residents", token, name="たかはし", purpose="")
    assert response.status_code == 422
    assert "閲覧・検索の目的は、事務の一覧から選んでください" in response.text
    assert 'value="たかはし"' in response.text  # what was typed stays
    assert "髙橋 太郎" not in response.text
    assert len(town.registry.access_log()) == before


def test_search_needs_a_criterion(client: TestClient) -> None:
    token = sign_in(client)
    response = post(client, "/m/132152/residents", token, purpose="child-allowance")
    assert response.status_code == 422
    assert "検索条件" in response.text


def test_search_results_show_masked_numbers_only(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    response = post(client, "/m/132152/residents", token, purpose="child-allowance",
                    name="たかはし")
    assert response.status_code == 200
    for person in (town.head, town.wife, town.child):
        assert person.individual_number
        assert person.name in response.text
        assert individual.mask(person.individual_number) in response.text
        assert person.individual_number not in response.text
        assert individual.format(person.individual_number) not in response.text
    assert "全3件" in response.text
    search = [e for e in town.registry.access_log() if e.action == "search"][0]
    assert search.purpose == "児童手当の支給"


def test_search_by_number_and_by_birth_date(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    number = town.wife.individual_number
    assert number
    response = post(client, "/m/132152/residents", token, purpose="local-tax",
                    number=individual.format(number))
    assert "髙橋 花子" in response.text and "髙橋 太郎" not in response.text
    bad = post(client, "/m/132152/residents", token, purpose="local-tax", number="123456789019")
    assert bad.status_code == 422 and "チェックデジット" in bad.text
    by_date = post(client, "/m/132152/residents", token, purpose="local-tax",
                   birth_date="1985-04-01", sex="男")
    assert "髙橋 太郎" in by_date.text and "髙橋 花子" not in by_date.text


def test_search_hides_protected_residents_from_clerks(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    response = post(client, "/m/132152/residents", token, purpose="local-tax", name="さとう")
    assert "佐藤 美咲" not in response.text and "該当する住民はいません" in response.text
    assert "全0件" in response.text and "東京都国立市東2-3-4" not in response.text


# -- viewing a 住民票 -----------------------------------------------------------------------


def test_view_asks_for_a_purpose_first(client: TestClient, town: Town) -> None:
    sign_in(client)
    rid = town.head.resident_id
    page = client.get(f"/m/132152/residents/{rid}")
    assert page.status_code == 200
    assert "閲覧の目的" in page.text and "髙橋 太郎" not in page.text
    assert ("view", "国民健康保険の資格確認") not in actions(town.registry, rid)
    short = client.get(f"/m/132152/residents/{rid}", params={"purpose": "x"})
    assert short.status_code == 422 and "目的" in short.text


def test_viewing_logs_the_purpose(client: TestClient, town: Town) -> None:
    sign_in(client)
    rid = town.head.resident_id
    page = client.get(f"/m/132152/residents/{rid}", params={"purpose": "national-health-insurance"})
    assert page.status_code == 200
    assert ("view", NHI) in actions(town.registry, rid)
    number = town.head.individual_number
    assert number
    assert individual.mask(number) in page.text and individual.format(number) not in page.text
    # household members, history and the access log of this record
    for text in ("髙橋 花子", "髙橋 𠮷男", "世帯主", "妻", "出生", NHI,
                 "窓口 花子（clerk1）", "閲覧"):
        assert text in page.text


def test_access_log_ignores_searches_that_hit_other_ids(town: Town) -> None:
    from myna.registry.service import AccessLogEntry
    from myna.web.presenters import access_lines

    at = dt.datetime(2024, 1, 4, 15, 30)
    entries = [
        AccessLogEntry(at, "clerk1", "search", "調査", {"name": "x", "hits": [12, 21]}),
        AccessLogEntry(at, "clerk1", "search", "調査", {"name": "y", "hits": [1, 12]}),
        AccessLogEntry(at, "sup1", "view", "確認", {}),
    ]
    lines = access_lines(town.registry, 1, entries)
    assert [(line.action, line.detail) for line in lines] == [
        ("検索", "氏名: y / 該当件数: 2"), ("閲覧", ""),
    ]
    assert lines[0].at == "2024-01-05 00:30 JST" and lines[1].staff == "係長 一郎（sup1）"


def test_revealing_the_number_is_logged(client: TestClient, town: Town) -> None:
    sign_in(client, "sup1")
    rid = town.wife.resident_id
    page = client.get(f"/m/132152/residents/{rid}",
                      params={"purpose": "child-allowance", "reveal": "1"})
    assert page.status_code == 200
    number = town.wife.individual_number
    assert number and individual.format(number) in page.text
    assert ("number_disclosure", "児童手当の支給") in actions(town.registry, rid)


def test_protected_resident_needs_a_supervisor(client: TestClient, town: Town) -> None:
    sign_in(client, "clerk1")
    rid = town.protected.resident_id
    denied = client.get(f"/m/132152/residents/{rid}", params={"purpose": "local-tax"})
    assert denied.status_code == 403
    assert "支援措置の対象者です。記録を開くには" in denied.text
    assert "東京都国立市東2-3-4" not in denied.text
    no_trace(denied.text)
    assert ("view_denied", "地方税の賦課徴収") in actions(town.registry, rid)
    copy = client.get(f"/m/132152/residents/{rid}/copy")
    assert copy.status_code == 403

    supervisor = TestClient(client.app)
    sign_in(supervisor, "sup1")
    unapproved = supervisor.get(f"/m/132152/residents/{rid}", params={"purpose": "local-tax"})
    assert unapproved.status_code == 403 and "東京都国立市東2-3-4" not in unapproved.text
    approve(town, town.supervisor, town.protected, "local-tax")
    allowed = supervisor.get(f"/m/132152/residents/{rid}", params={"purpose": "local-tax"})
    assert allowed.status_code == 200
    assert "東京都国立市東2-3-4" in allowed.text and "支援措置対象" in allowed.text


# -- 住民票の写し --------------------------------------------------------------------------------


def issue(client: TestClient, token: str, rid: int, **data: str) -> Any:
    return post(client, f"/m/132152/residents/{rid}/copy", token, **data)


def test_copy_without_number_shows_omitted(client: TestClient, town: Town) -> None:
    sign_in(client)
    rid = town.head.resident_id
    form = client.get(f"/m/132152/residents/{rid}/copy")
    assert form.status_code == 200 and "世帯全員" in form.text
    response = issue(client, csrf(form.text), rid, purpose="運転免許証の住所変更",
                     scope="household")
    assert response.status_code == 200, response.text
    assert "住民票の写しを交付しました" in response.text
    path = re.search(r'src="(/m/132152/copies/[^"]+/document)"', response.text)
    assert path
    document = client.get(path[1])
    assert document.status_code == 200
    assert "（省略）" in document.text
    for person in (town.head, town.wife, town.child):
        assert person.name in document.text
        assert person.individual_number and person.individual_number not in document.text
    assert ("issue_copy", "運転免許証の住所変更") in actions(town.registry, rid)


def test_copy_of_one_person(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    response = issue(client, token, town.wife.resident_id, purpose="年金の手続",
                     scope="individual")
    document = client.get(re.search(r'src="([^"]+/document)"', response.text)[1])  # type: ignore[index]
    assert "髙橋 花子" in document.text and "髙橋 𠮷男" not in document.text


def test_copy_with_number_requires_a_reason(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    rid = town.head.resident_id
    missing = issue(client, token, rid, purpose="勤務先への提出", include_number="1")
    assert missing.status_code == 422
    assert "個人番号の記載を求めるには、その理由" in missing.text
    assert 'value="勤務先への提出"' in missing.text
    token = csrf(missing.text)
    response = issue(client, token, rid, purpose="勤務先への提出", include_number="1",
                     number_reason="源泉徴収のための個人番号の届出", scope="individual")
    assert response.status_code == 200
    document = client.get(re.search(r'src="([^"]+/document)"', response.text)[1])  # type: ignore[index]
    assert town.head.individual_number and town.head.individual_number in document.text
    assert "（省略）" not in document.text
    assert ("number_on_copy", "勤務先への提出") in actions(town.registry, rid)


def test_pdf_download(client: TestClient, town: Town) -> None:
    token = sign_in(client)
    response = issue(client, token, town.head.resident_id, purpose="銀行口座の開設")
    link = re.search(r'href="(/m/132152/copies/[^"]+/pdf)"', response.text)
    assert link
    pdf = client.get(link[1])
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    assert pdf.content.startswith(b"%PDF")


def test_copies_are_only_for_their_municipality(client: TestClient, town: Town) -> None:
    town.system.add_municipality(CHIYODA).create_staff("c2", "千代田 職員", Role.CLERK, PASSWORD)
    token = sign_in(client)
    response = issue(client, token, town.head.resident_id, purpose="銀行口座の開設")
    number = re.search(r"/m/132152/copies/([^/\"]+)/pdf", response.text)
    assert number
    other = TestClient(client.app)
    sign_in(other, "c2", CHIYODA)
    assert other.get(f"/m/131016/copies/{number[1]}/pdf").status_code == 404
    assert other.get(f"/m/132152/copies/{number[1]}/pdf",
                     follow_redirects=False).status_code == 303


# -- 届出 --------------------------------------------------------------------------------------


def test_birth_registration(client: TestClient, town: Town) -> None:
    sign_in(client)
    token = csrf(client.get("/m/132152/births/new").text)
    response = post(
        client, "/m/132152/births", token, name="髙橋 次郎", furigana="たかはし じろう",
        birth_date=(jst_today() - dt.timedelta(days=3)).isoformat(), sex="男",
        relationship="子", household_number=str(int(town.head.household_number)),
    )
    assert response.status_code == 200
    assert "出生届を受け付けました" in response.text and "髙橋 次郎" in response.text
    members = town.registry.household_members(town.head.household_number)
    assert "髙橋 次郎" in [m.name for m in members]


def test_birth_errors_are_shown_in_japanese(client: TestClient) -> None:
    token = sign_in(client)
    response = post(client, "/m/132152/births", token, name="国立 花子", furigana="kunitachi",
                    birth_date="2024-02-30", sex="女", relationship="世帯主",
                    postcode="1860001", address="東京都国立市北1-1")
    assert response.status_code == 422
    assert "生年月日が存在しない日付です" in response.text
    assert 'value="国立 花子"' in response.text
    response = post(client, "/m/132152/births", token, name="国立 花子", furigana="kunitachi",
                    birth_date="2024-02-28", sex="女", relationship="世帯主",
                    postcode="1860001", address="東京都国立市北1-1")
    assert response.status_code == 422 and "ふりがなには" in response.text
    missing = post(client, "/m/132152/births", token, name="国立 花子", furigana="くにたち",
                   birth_date="2024-02-28", sex="女", relationship="子",
                   household_number="9999")
    assert missing.status_code == 404 and "世帯番号 0000009999 の世帯はありません" in missing.text
    no_trace(missing.text)


def test_move_out_and_move_in_with_the_certificate_json(client: TestClient, town: Town) -> None:
    chiyoda = town.system.add_municipality(CHIYODA)
    chiyoda.create_staff("c2", "千代田 職員", Role.CLERK, PASSWORD)
    sign_in(client)
    rid = town.wife.resident_id
    form = client.get(f"/m/132152/residents/{rid}/move-out")
    assert form.status_code == 200 and "転出予定日" in form.text
    response = post(client, f"/m/132152/residents/{rid}/move-out", csrf(form.text),
                    destination="東京都千代田区千代田1-1", moving_on=jst_today().isoformat())
    assert response.status_code == 200
    assert "転出証明書" in response.text and "転出届を受け付けました" in response.text
    match = re.search(r'<textarea class="mono json"[^>]*>(.*?)</textarea>', response.text, re.S)
    assert match
    certificate = json.loads(html.unescape(match[1]))
    assert certificate["individual_number"] == town.wife.individual_number
    assert certificate["name"] == "髙橋 花子"

    other = TestClient(client.app)
    token = sign_in(other, "c2", CHIYODA)
    placement = {"relationship": "世帯主", "postcode": "1000001",
                 "address": "東京都千代田区千代田1-1", "moved_on": jst_today().isoformat()}
    tampered = dict(certificate, name="別人 花子")
    bad = post(other, "/m/131016/move-ins", token, mode="json",
               certificate_json=json.dumps(tampered, ensure_ascii=False), **placement)
    assert bad.status_code == 422 and "転出元の記録と一致しません（氏名）" in bad.text
    broken = post(other, "/m/131016/move-ins", token, mode="json",
                  certificate_json="{not json", **placement)
    assert broken.status_code == 422 and "JSONを読み取れません" in broken.text
    ok = post(other, "/m/131016/move-ins", token, mode="json",
              certificate_json=json.dumps(certificate, ensure_ascii=False), **placement)
    assert ok.status_code == 200, ok.text
    assert "転入届を受け付けました" in ok.text and "髙橋 花子" in ok.text
    checks = [e for e in town.registry.access_log(rid) if e.action == "view_certificate"]
    assert "転入地（131016）からの照合" in {e.purpose for e in checks}  # the issuer logs it
    moved = chiyoda.search(chiyoda.get_staff("c2"), REGISTRY, name="髙橋 花子")
    assert moved[0].individual_number == individual.mask(town.wife.individual_number or "")
    again = post(other, "/m/131016/move-ins", csrf(ok.text), mode="json",
                 certificate_json=json.dumps(certificate, ensure_ascii=False), **placement)
    assert again.status_code == 409 and "既に" in again.text


def test_move_in_by_typing_the_certificate(client: TestClient, town: Town) -> None:
    osaka = town.system.add_municipality("271276")
    staff = osaka.create_staff("o1", "北区 職員", Role.CLERK, PASSWORD)
    person = osaka.register_birth(
        staff, PersonDetails("大阪 一郎", "おおさか いちろう", dt.date(1970, 1, 1), "男"),
        HouseholdPlacement("世帯主", postcode="5300001", address="大阪府大阪市北区梅田1-1"),
    )
    paper = osaka.move_out(staff, person.resident_id, "東京都国立市中1-1", jst_today())
    token = sign_in(client)
    fields = dict(
        mode="fields", cert_certificate_id=paper.certificate_id,
        cert_from_municipality_code="271276", cert_resident_code="",
        cert_individual_number=individual.format(paper.individual_number),
        cert_name="大阪 一郎", cert_furigana="おおさか いちろう", cert_birth_date="1970-01-01",
        cert_sex="男", cert_address="大阪府大阪市北区梅田1-1",
        cert_moving_on=jst_today().isoformat(), relationship="世帯主", postcode="1860003",
        address="東京都国立市中1-1", moved_on=jst_today().isoformat(),
    )
    response = post(client, "/m/132152/move-ins", token, **fields)
    assert response.status_code == 422 and "住民票コードを入力してください" in response.text
    assert 'value="大阪 一郎"' in response.text
    fields["cert_resident_code"] = paper.resident_code
    done = post(client, "/m/132152/move-ins", csrf(response.text), **fields)
    assert done.status_code == 200, done.text
    assert "転入届を受け付けました" in done.text and "大阪府大阪市北区梅田1-1" in done.text
    moved = town.registry.search(town.clerk, REGISTRY, name="大阪")
    assert moved[0].individual_number == individual.mask(paper.individual_number)


def test_move_within_and_death(client: TestClient, town: Town) -> None:
    sign_in(client)
    rid = town.head.resident_id
    form = client.get(f"/m/132152/residents/{rid}/move-within")
    response = post(client, f"/m/132152/residents/{rid}/move-within", csrf(form.text),
                    relationship="世帯主", postcode="1860004", address="東京都国立市中2-2",
                    moved_on=jst_today().isoformat())
    assert response.status_code == 200 and "転居届を受け付けました" in response.text
    assert "東京都国立市中2-2" in response.text
    form = client.get(f"/m/132152/residents/{rid}/death")
    future = post(client, f"/m/132152/residents/{rid}/death", csrf(form.text),
                  died_on=(jst_today() + dt.timedelta(days=3)).isoformat())
    assert future.status_code == 422 and "死亡日が未来の日付です" in future.text
    done = post(client, f"/m/132152/residents/{rid}/death", csrf(future.text),
                died_on=jst_today().isoformat())
    assert done.status_code == 200 and "除票" in done.text
    again = client.get(f"/m/132152/residents/{rid}/death")
    assert again.status_code == 200
    twice = post(client, f"/m/132152/residents/{rid}/death", csrf(again.text),
                 died_on=jst_today().isoformat())
    assert twice.status_code == 409 and "既に除票です" in twice.text


# -- JSON API -----------------------------------------------------------------------------


def token_for(client: TestClient, username: str = "132152:clerk1") -> dict[str, str]:
    response = client.post("/api/v1/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600
    return {"Authorization": f"Bearer {body['access_token']}"}


def assert_error(response: Any, status: int, code: str, text: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "message", "message_en"}
    assert body["error"] == code
    assert text in body["message"]


def test_api_token_flow(client: TestClient, town: Town) -> None:
    headers = token_for(client)
    base = "/api/v1/municipalities/132152/residents"
    response = client.get(base, params={"purpose": "child-allowance", "name": "たかはし"},
                          headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == body["total"] == 3 and body["page"] == 1
    for hit in body["results"]:
        assert re.fullmatch(r"\*\*\*\* \*\*\*\* \d{4}", hit["masked_number"])
    for person in (town.head, town.wife, town.child):
        assert person.individual_number and person.individual_number not in response.text
    one = client.get(f"{base}/{town.head.resident_id}",
                     params={"purpose": "child-allowance", "reveal_number": "true"},
                     headers=headers)
    assert one.status_code == 200  # a clerk does not see numbers in full
    assert one.json()["individual_number"] is None and not one.json()["number_disclosed"]
    assert one.json()["masked_number"] == individual.mask(town.head.individual_number or "")
    assert ("view", "児童手当の支給") in actions(town.registry, town.head.resident_id)
    full = client.get(f"{base}/{town.head.resident_id}",
                      params={"purpose": "child-allowance", "reveal_number": "true"},
                      headers=token_for(client, "132152:sup1"))
    assert full.json()["individual_number"] == town.head.individual_number
    assert ("number_disclosure", "児童手当の支給") in actions(town.registry,
                                                           town.head.resident_id)


def test_api_auth_errors(client: TestClient, town: Town) -> None:
    base = "/api/v1/municipalities/132152/residents"
    missing = client.get(base, params={"purpose": "調査", "name": "たかはし"})
    assert_error(missing, 401, "unauthorized", "認証が必要です")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(client.get(base, params={"purpose": "調査"},
                            headers={"Authorization": "Bearer nonsense"}),
                 401, "unauthorized", "トークンが不正です")
    wrong = client.post("/api/v1/token", data={"username": "132152:clerk1", "password": "nope"})
    assert_error(wrong, 401, "unauthorized")
    shape = client.post("/api/v1/token", data={"username": "clerk1", "password": PASSWORD})
    assert_error(shape, 401, "unauthorized", "市区町村コード:職員ID")
    town.system.add_municipality(CHIYODA)
    other = client.get("/api/v1/municipalities/131016/residents",
                       params={"purpose": "調査", "name": "x"}, headers=token_for(client))
    assert_error(other, 403, "forbidden", "このトークンでは")


def test_api_token_expires(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - 9 * 3600)
    headers = token_for(client)
    monkeypatch.setattr(time, "time", lambda: now)
    expired = client.get("/api/v1/municipalities/132152/residents",
                         params={"purpose": "調査", "name": "x"}, headers=headers)
    assert_error(expired, 401, "unauthorized", "有効期限")


def test_api_errors_have_the_json_shape(client: TestClient, town: Town) -> None:
    headers = token_for(client)
    base = "/api/v1/municipalities/132152/residents"
    no_purpose = client.get(base, params={"name": "たかはし"}, headers=headers)
    assert_error(no_purpose, 422, "invalid", "目的")
    short = client.get(base, params={"purpose": "x", "name": "たかはし"}, headers=headers)
    assert_error(short, 422, "invalid", "閲覧・検索の目的")
    bad_date = client.get(base, params={"purpose": "調査", "birth_date": "2024-13-01"},
                          headers=headers)
    assert_error(bad_date, 422, "invalid", "生年月日")
    assert_error(client.get(f"{base}/9999", params={"purpose": REGISTRY}, headers=headers),
                 404, "not_found", "住民ID 9999")
    protected = client.get(f"{base}/{town.protected.resident_id}", params={"purpose": REGISTRY},
                           headers=headers)
    assert_error(protected, 403, "forbidden", "支援措置")
    move = {"destination": "東京都千代田区千代田1-1", "moving_on": jst_today().isoformat()}
    first = client.post(f"{base}/{town.child.resident_id}/move-out", json=move, headers=headers)
    assert first.status_code == 201
    assert_error(client.post(f"{base}/{town.child.resident_id}/move-out", json=move,
                             headers=headers), 409, "conflict", "既に除票です")
    body = client.post(f"{base}/births", json={"person": {"name": "x"}}, headers=headers)
    assert_error(body, 422, "invalid", "入力に誤りがあります")
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")


def test_api_search_hides_protected_residents_from_clerks(client: TestClient, town: Town) -> None:
    base = "/api/v1/municipalities/132152/residents"
    params = {"purpose": REGISTRY, "name": "さとう"}
    clerk = client.get(base, params=params, headers=token_for(client)).json()
    assert clerk["results"] == [] and clerk["total"] == 0
    boss = client.get(base, params=params, headers=token_for(client, "132152:sup1"))
    assert boss.json()["results"][0]["address"] == "（支援措置により非表示）"
    approve(town, town.supervisor, town.protected)
    boss = client.get(base, params=params, headers=token_for(client, "132152:sup1"))
    assert boss.json()["results"][0]["address"] == "東京都国立市東2-3-4"
    full = client.get(f"{base}/{town.protected.resident_id}", params={"purpose": REGISTRY},
                      headers=token_for(client, "132152:sup1"))
    assert full.status_code == 200 and full.json()["support_measure"] is True


def test_api_birth_move_out_move_in_and_copy(client: TestClient, town: Town) -> None:
    chiyoda = town.system.add_municipality(CHIYODA)
    chiyoda.create_staff("c2", "千代田 職員", Role.SUPERVISOR, PASSWORD)
    headers = token_for(client)
    base = "/api/v1/municipalities/132152/residents"
    born = client.post(f"{base}/births", headers=headers, json={
        "person": {"name": "国立 花子", "furigana": "くにたち はなこ",
                   "birth_date": (jst_today() - dt.timedelta(days=1)).isoformat(),
                   "sex": "女"},
        "placement": {"relationship": "子", "household_number": town.head.household_number},
    })
    assert born.status_code == 201, born.text
    baby = born.json()
    assert baby["household_number"] == town.head.household_number
    assert re.fullmatch(r"\*\*\*\* \*\*\*\* \d{4}", baby["masked_number"])
    assert born.headers["location"].endswith(f"/residents/{baby['resident_id']}")

    copy = client.post(f"{base}/{baby['resident_id']}/copies", headers=headers,
                       json={"purpose": "保育所の入所申込", "whole_household": True})
    assert copy.status_code == 201
    meta = copy.json()
    assert meta["people"] == 4 and not meta["includes_number"]
    assert "（省略）" in meta["html"] and "国立 花子" in meta["html"]
    pdf = client.get(meta["pdf_url"], headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    no_reason = client.post(f"{base}/{baby['resident_id']}/copies", headers=headers,
                            json={"purpose": "勤務先", "include_number": True})
    assert_error(no_reason, 422, "invalid", "理由")

    out = client.post(f"{base}/{baby['resident_id']}/move-out", headers=headers, json={
        "destination": "東京都千代田区千代田1-1", "moving_on": jst_today().isoformat()})
    assert out.status_code == 201
    certificate = out.json()
    moved = client.post(
        "/api/v1/municipalities/131016/residents/move-ins",
        headers=token_for(client, "131016:c2"),
        json={"certificate": certificate, "moved_on": jst_today().isoformat(),
              "placement": {"relationship": "世帯主", "postcode": "1000001",
                            "address": "東京都千代田区千代田1-1"}},
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["masked_number"] == baby["masked_number"]


def test_api_number_check(client: TestClient) -> None:
    ok = client.post("/api/v1/numbers/check", json={"number": "１２３４-5678-9018"})
    assert ok.status_code == 200
    assert ok.json() == {"valid": True, "compact": "123456789018",
                         "formatted": "1234 5678 9018", "masked": "**** **** 9018",
                         "error": None, "error_en": None}
    bad = client.post("/api/v1/numbers/check", json={"number": "123456789019"}).json()
    assert bad["valid"] is False and bad["compact"] == "123456789019"
    assert "チェックデジット" in bad["error"] and bad["masked"] is None
    short = client.post("/api/v1/numbers/check", json={"number": "12345"}).json()
    assert short["valid"] is False and "12桁" in short["error"]


def test_openapi_documents_the_api_only(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Myna"
    paths = spec["paths"]
    for path in ("/api/v1/token", "/api/v1/municipalities/{code}/residents",
                 "/api/v1/municipalities/{code}/residents/{resident_id}",
                 "/api/v1/municipalities/{code}/residents/births",
                 "/api/v1/municipalities/{code}/residents/move-ins",
                 "/api/v1/municipalities/{code}/residents/{resident_id}/move-out",
                 "/api/v1/municipalities/{code}/residents/{resident_id}/copies",
                 "/api/v1/numbers/check"):
        assert path in paths, path
    assert not [p for p in paths if not p.startswith("/api/")]
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]
