"""What people type is checked before anything is written: lengths, characters, 続柄.

Every case runs on SQLite and, when available, PostgreSQL (the ``system`` fixture),
through the staff forms and the JSON API, and checks that the registry and J-LIS
hold exactly what they held before the refused request.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from myna.clock import jst_today
from myna.system import MynaSystem
from myna.web import create_app
from seeded import KUNITACHI, PASSWORD, SECRET, Town, seed_town, sign_in

BIRTHS = f"/api/v1/municipalities/{KUNITACHI}/residents/births"


@dataclass
class Web:
    town: Town
    client: TestClient
    form_token: str
    bearer: dict[str, str]

    def written(self) -> tuple[Any, ...]:
        """Everything a refused request must leave as it was."""
        stats = self.town.registry.stats()
        return (stats, self.town.system.jlis.stats())

    def birth_form(self, **fields: str) -> Any:
        data = {"csrf_token": self.form_token, "name": "国立 太郎", "furigana": "くにたち たろう",
                "birth_date": (jst_today() - dt.timedelta(days=3)).isoformat(),
                "sex": "男", "relationship": "子",
                "household_number": self.town.head.household_number} | fields
        return self.client.post(f"/m/{KUNITACHI}/births", data=data)

    def birth_api(self, person: dict[str, Any] | None = None,
                  placement: dict[str, Any] | None = None, **extra: Any) -> Any:
        body = {
            "person": {"name": "国立 太郎", "furigana": "くにたち たろう",
                       "birth_date": (jst_today() - dt.timedelta(days=3)).isoformat(),
                       "sex": "男"} | (person or {}),
            "placement": {"relationship": "子",
                          "household_number": self.town.head.household_number}
            | (placement or {}),
        } | extra
        # json.dumps escapes what UTF-8 cannot carry (a lone surrogate becomes \ud800)
        return self.client.post(BIRTHS, content=json.dumps(body).encode(),
                                headers=self.bearer | {"Content-Type": "application/json"})


@pytest.fixture
def web(system: MynaSystem) -> Iterator[Web]:
    town = seed_town(system)
    with TestClient(create_app(system, SECRET)) as client:
        token = sign_in(client)
        signed = client.post("/api/v1/token",
                             data={"username": f"{KUNITACHI}:clerk1", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {signed.json()['access_token']}"}
        yield Web(town, client, token, bearer)


MEGABYTE = "あ" * (1024 * 1024)


def test_a_megabyte_of_furigana_is_refused_with_the_limit(web: Web) -> None:
    before = web.written()
    page = web.birth_form(furigana=MEGABYTE)
    assert page.status_code == 422
    assert "ふりがな" in page.text and "200文字まで" in page.text
    answer = web.birth_api(person={"furigana": MEGABYTE})
    assert answer.status_code == 422
    body = answer.json()
    assert "ふりがな" in body["message"] and "200文字まで" in body["message"]
    assert "at most 200" in body["message_en"]
    assert web.written() == before


def test_every_text_field_of_the_api_declares_its_maximum_length(web: Web) -> None:
    schemas = web.client.get("/openapi.json").json()["components"]["schemas"]
    unbounded = []
    for model, schema in schemas.items():
        for field, spec in schema.get("properties", {}).items():
            options = spec.get("anyOf", [spec])
            for option in options:
                if option.get("type") == "string" and "format" not in option \
                        and "enum" not in option and "maxLength" not in option:
                    unbounded.append(f"{model}.{field}")
    # answers (what the API sends) may be long; every request field is bounded
    requests = [u for u in unbounded if u.split(".")[0] in {
        "Person", "Placement", "Foreign", "BirthRequest", "Certificate", "MoveInRequest",
        "MoveOutRequest", "CopyRequest", "NumberToCheck"}]
    assert not requests, requests


HOSTILE = [
    pytest.param("髙橋\u202e郎太", "U+202E", id="right-to-left-override"),
    pytest.param("髙橋\u2066太郎\u2069", "U+2066", id="left-to-right-isolate"),
    pytest.param("髙橋\x00太郎", "U+0000", id="nul"),
    pytest.param("髙橋\u200b太郎", "U+200B", id="zero-width-space"),
    pytest.param("髙橋\ufffd太郎", "U+FFFD", id="replacement-character"),
    pytest.param("髙橋\ud800太郎", "U+D800", id="lone-surrogate"),
    pytest.param("髙橋\x1b[31m太郎", "U+001B", id="escape"),
]


@pytest.mark.parametrize(("name", "code"), HOSTILE)
def test_names_with_hidden_or_broken_characters_are_refused(
    web: Web, name: str, code: str,
) -> None:
    before = web.written()
    answer = web.birth_api(person={"name": name})
    assert answer.status_code == 422, answer.text
    message = answer.json()["message"]
    assert ("使えない文字" in message and code in message) or "サロゲート" in message
    if code != "U+D800":  # a form cannot carry a lone surrogate: UTF-8 has no encoding of it
        page = web.birth_form(name=name)
        assert page.status_code == 422 and code in page.text
    address = web.birth_api(placement={"relationship": "世帯主", "household_number": None,
                                       "postcode": "1860001", "address": "東京都国立市" + name})
    assert address.status_code == 422 and "住所" in address.json()["message"]
    assert web.written() == before


def test_a_lone_surrogate_escaped_in_json_is_refused_not_a_server_error(web: Web) -> None:
    before = web.written()
    body = ('{"person": {"name": "\\ud83d", "furigana": "くにたち たろう", "birth_date": '
            '"2020-01-01", "sex": "男"}, "placement": {"relationship": "子", '
            f'"household_number": "{web.town.head.household_number}"}}}}')
    answer = web.client.post(BIRTHS, content=body.encode(),
                             headers=web.bearer | {"Content-Type": "application/json"})
    assert answer.status_code == 422 and "サロゲート" in answer.json()["message"]
    assert web.written() == before


def test_invalid_utf8_is_refused_not_stored_as_mojibake(web: Web) -> None:
    before = web.written()
    form = (f"csrf_token={web.form_token}&name=%E9%AB%99%FF%FE&furigana=%E3%81%82&"
            "birth_date=2020-01-01&sex=%E7%94%B7&relationship=%E5%AD%90&household_number="
            f"{web.town.head.household_number}")
    page = web.client.post(f"/m/{KUNITACHI}/births", content=form.encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert page.status_code == 422 and "UTF-8" in page.text
    raw = json.dumps({"person": {"name": "X", "furigana": "あ", "birth_date": "2020-01-01",
                                 "sex": "男"},
                      "placement": {"relationship": "子"}}).encode().replace(b'"X"', b'"\xff\xfe"')
    answer = web.client.post(BIRTHS, content=raw,
                             headers=web.bearer | {"Content-Type": "application/json"})
    assert answer.status_code in (400, 422), answer.text
    assert "message" in answer.json()
    assert web.written() == before


def test_names_are_still_stored_exactly_as_written(web: Web) -> None:
    written = "髙橋\u3000葛\U000e0100城 ｱｲｳ"  # full-width space, an IVS kanji, half-width kana
    answer = web.birth_api(person={"name": written})
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == written
    stored = web.town.registry.view(web.town.clerk, answer.json()["resident_id"],
                                    "resident-registry")
    assert stored.name == written


def test_a_relationship_must_be_one_the_registry_uses(web: Web) -> None:
    before = web.written()
    page = web.birth_form(relationship="ほげ")
    assert page.status_code == 422 and "続柄「ほげ」は使えません" in page.text
    answer = web.birth_api(placement={"relationship": "ほげ"})
    assert answer.status_code == 422 and "続柄「ほげ」は使えません" in answer.json()["message"]
    assert web.written() == before
    form = web.client.get(f"/m/{KUNITACHI}/births/new").text
    for word in ("世帯主", "妻（未届）", "子の妻", "縁故者", "同居人"):
        assert f"<option >{word}</option>" in form or f">{word}</option>" in form
    assert web.birth_api(placement={"relationship": "子"}).status_code == 201


def test_broken_json_is_a_400_with_a_message(web: Web) -> None:
    answer = web.client.post(BIRTHS, content=b'{"person": {"name": ',
                             headers=web.bearer | {"Content-Type": "application/json"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "bad_request" and "JSON として読み取れません" in body["message"]
    assert "not valid JSON" in body["message_en"]


def test_the_api_reads_dates_as_people_type_them(web: Web) -> None:
    typed = web.birth_api(person={"birth_date": "２０２４-０４-０１"})
    assert typed.status_code == 201, typed.text
    assert typed.json()["birth_date"] == "2024-04-01"
    wrong = web.birth_api(person={"birth_date": "2024年13月1日"})
    assert wrong.status_code == 422
    assert "生年月日" in wrong.json()["message"] and "日付" in wrong.json()["message"]


def test_a_second_identical_birth_is_refused_unless_confirmed(web: Web) -> None:
    first = web.birth_api()
    assert first.status_code == 201
    before = web.written()
    again = web.birth_api()
    assert again.status_code == 409 and "二重の出生届" in again.json()["message"]
    page = web.birth_form()
    assert page.status_code == 409 and 'name="confirm_not_duplicate"' in page.text
    assert web.written() == before
    twin = web.birth_api(person={"name": "国立 次郎", "furigana": "くにたち じろう"})
    assert twin.status_code == 409  # a twin shares the birth date: the clerk confirms it
    confirmed = web.birth_form(name="国立 次郎", furigana="くにたち じろう",
                               confirm_not_duplicate="1")
    assert confirmed.status_code == 200, confirmed.text
    twin_id = max(r.resident_id for r in web.town.registry.household_members(
        web.town.head.household_number))
    (event,) = [e for e in web.town.registry.history(twin_id) if e.kind == "出生"]
    assert event.detail["confirmed_not_duplicate_of"] == [first.json()["resident_id"]]


def test_search_terms_are_checked_like_everything_else(web: Web) -> None:
    url = f"/api/v1/municipalities/{KUNITACHI}/residents"
    for name, status, words in (("髙橋\x00", 400, "U+0000"), ("髙" * 101, 422, "100文字まで"),
                                ("髙\u202e", 422, "U+202E")):
        answer = web.client.get(url, params={"purpose": "resident-registry", "name": name},
                                headers=web.bearer)
        assert answer.status_code == status, answer.text
        assert words in answer.json()["message"]
    found = web.client.get(url, params={"purpose": "resident-registry", "name": "　髙橋 "},
                           headers=web.bearer)
    assert found.status_code == 200 and found.json()["count"] >= 2


@pytest.mark.parametrize("url", [
    pytest.param(f"/api/v1/municipalities/{KUNITACHI}/copies/%00/pdf", id="nul-in-path"),
    pytest.param(f"/m/{KUNITACHI}/residents/1/certificates/x%00?purpose=ab", id="nul-in-page"),
    pytest.param(f"/api/v1/municipalities/{KUNITACHI}/residents?purpose=ab&name=%FF",
                 id="invalid-utf8-in-query"),
])
def test_urls_with_control_characters_are_refused_before_any_handler(
    web: Web, url: str,
) -> None:
    answer = web.client.get(url, headers=web.bearer)
    assert answer.status_code == 400, answer.text
    assert "URL" in answer.json()["message"] and "U+" in answer.json()["message_en"]


def test_raw_bytes_that_are_not_utf8_are_refused_not_read_as_latin1(web: Web) -> None:
    before = web.written()
    body = (f"csrf_token={web.form_token}&name=".encode() + b"\xff\xfe"
            + "&furigana=あ&birth_date=2020-01-01&sex=男&relationship=子&household_number="
            f"{web.town.head.household_number}".encode())
    page = web.client.post(f"/m/{KUNITACHI}/births", content=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert page.status_code == 422 and "UTF-8" in page.text
    assert web.written() == before


@pytest.mark.parametrize("pasted", [
    pytest.param("9" * 5000, id="a-5000-digit-number"),
    pytest.param('{"certificate_id": ' + "1" * 4400 + "}", id="a-4400-digit-field"),
    pytest.param("[" * 9000, id="nested-9000-deep"),
    pytest.param('{"certificate_id": 1}', id="a-number-for-a-string"),
    pytest.param(json.dumps({"certificate_id": "x", "issued_at": "hoge"}), id="not-a-time"),
])
def test_a_pasted_certificate_that_is_not_one_is_refused_with_a_message(
    web: Web, pasted: str,
) -> None:
    before = web.written()
    page = web.client.post(f"/m/{KUNITACHI}/move-ins", data={
        "csrf_token": web.form_token, "mode": "json", "certificate_json": pasted,
        "relationship": "世帯主", "postcode": "1860001", "address": "東京都国立市北9-9",
        "moved_on": jst_today().isoformat()})
    assert page.status_code == 422, page.text[:300]
    assert "転出証明書" in page.text
    assert web.written() == before


def test_unknown_fields_in_a_request_are_refused(web: Web) -> None:
    before = web.written()
    answer = web.birth_api(person={"evil": "x"})
    assert answer.status_code == 422 and "という項目はありません" in answer.json()["message"]
    assert web.birth_api(extra="x").status_code == 422
    assert web.written() == before
