"""Staff find what was issued: every card with its state, and a 転出証明書 after the session
that issued it has gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from myna.cli import app
from myna.registry.domain import Resident, Status
from myna.system import MynaSystem
from myna.web import create_app
from seeded import REGISTRY, csrf

runner = CliRunner()
KUNITACHI = "132152"


def _cards(data: Path, *extra: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["card", "list", "--data-dir", str(data), "--json", *extra])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_card_list_shows_every_card_with_its_certificates_as_they_stand(
    shared_demo: Path,
) -> None:
    cards = _cards(shared_demo)
    assert cards and {c["status"] for c in cards} >= {"交付済", "一時停止"}
    suspended = next(c for c in cards if c["status"] == "一時停止")
    assert suspended["auth_certificate"] == "revoked"
    assert "失効" in suspended["auth_certificate_label"]
    active = next(c for c in cards if c["status"] == "交付済")
    assert active["auth_certificate"] == "valid"
    ended = runner.invoke(app, ["card", "end", active["card_number"], "returned",
                                "--data-dir", str(shared_demo)], env={"COLUMNS": "200"})
    assert ended.exit_code == 0, ended.output
    assert "あり" not in ended.output and "失効" in ended.output
    (after,) = [c for c in _cards(shared_demo, "--status", "ended")
                if c["card_number"] == active["card_number"]]
    assert after["status"] == "廃止" and after["end_reason"] == "返納"
    assert after["auth_certificate"] == "revoked"
    assert after["signing_certificate"] in ("revoked", "none")
    table = runner.invoke(app, ["card", "list", "--data-dir", str(shared_demo),
                                "--municipality", KUNITACHI], env={"COLUMNS": "200"})
    assert active["card_number"] in table.output and "失効" in table.output


@pytest.fixture
def web(shared_demo: Path) -> Iterator[tuple[MynaSystem, TestClient, dict[str, str]]]:
    system = MynaSystem(shared_demo)
    passwords = {(s["municipality"], s["staff_id"]): s["password"] for s in json.loads(
        (shared_demo / "demo-staff.json").read_text(encoding="utf-8"))}
    try:
        with TestClient(create_app(system, system.keys.secret("web/session-secret", 32))) as c:
            yield system, c, {k[1]: v for k, v in passwords.items() if k[0] == KUNITACHI}
    finally:
        system.dispose()


def _sign_in(client: TestClient, staff_id: str, password: str) -> str:
    page = client.post("/signin", data={"csrf_token": csrf(client.get("/").text),
                                        "municipality": KUNITACHI, "staff_id": staff_id,
                                        "password": password})
    assert page.status_code == 200, page.text
    return csrf(page.text)


def test_the_staff_screen_lists_the_towns_cards_by_state(
    web: tuple[MynaSystem, TestClient, dict[str, str]],
) -> None:
    system, client, passwords = web
    _sign_in(client, "clerk", passwords["clerk"])
    page = client.get(f"/m/{KUNITACHI}/cards")
    assert page.status_code == 200 and "作成したカード" in page.text
    mine = system.cards.cards(KUNITACHI)
    assert all(c.card_number in page.text for c in mine)
    suspended = client.get(f"/m/{KUNITACHI}/cards", params={"status": "suspended"})
    shown = [c.card_number for c in mine if c.card_number in suspended.text.split(
        'id="all"')[1]]
    assert shown and all(system.cards.card(n).status.name == "SUSPENDED" for n in shown)
    assert "失効" in suspended.text


def test_a_move_out_certificate_is_reprinted_from_the_residents_page(
    web: tuple[MynaSystem, TestClient, dict[str, str]],
) -> None:
    system, client, passwords = web
    registry = system.registry(KUNITACHI)
    found: list[Resident] = []
    for page in range(1, 9):  # a search gives 50 a page
        hits = registry.search(registry.get_staff("supervisor"), REGISTRY,
                               address=registry.municipality.name, include_removed=True,
                               page=page)
        found += hits
        if not hits.has_next:
            break
    moved = [r for r in found if r.status == Status.REMOVED and r.removal_reason == "転出"]
    assert moved
    person = moved[0]
    (certificate_id, _issued), *_ = registry.moveout_certificates_of(person.resident_id)
    _sign_in(client, "clerk", passwords["clerk"])  # a session that did not issue it
    page = client.get(f"/m/{KUNITACHI}/residents/{person.resident_id}",
                      params={"purpose": REGISTRY})
    assert page.status_code == 200 and certificate_id in page.text and "再交付" in page.text
    link = page.text.split(f"/residents/{person.resident_id}/certificates/")[1].split('"')[0]
    reprint = client.get(f"/m/{KUNITACHI}/residents/{person.resident_id}/certificates/"
                         + link.replace("&amp;", "&"))
    assert reprint.status_code == 200, reprint.text
    assert "転出証明書" in reprint.text and person.name in reprint.text
    assert (person.individual_number or "")[-4:] in reprint.text.replace(" ", "")
    assert "download=1" in reprint.text  # the JSON for the new town, from the same page
    download = client.get(f"/m/{KUNITACHI}/residents/{person.resident_id}/certificates/"
                          f"{certificate_id}", params={"purpose": REGISTRY, "download": "1"})
    assert download.headers["content-type"].startswith("application/json")
    assert json.loads(download.text)["certificate_id"] == certificate_id
    log = [(e.staff_id, e.action, e.purpose) for e in registry.access_log(person.resident_id)]
    assert ("clerk", "reprint_certificate", "住民基本台帳事務") in log
    # under 支援措置 a clerk may not, and the refusal is logged too
    registry.set_support_measure(registry.get_staff("supervisor"), person.resident_id, True,
                                 "DV支援措置の申出")
    try:
        refused = client.get(f"/m/{KUNITACHI}/residents/{person.resident_id}/certificates/"
                             f"{certificate_id}", params={"purpose": REGISTRY})
        assert refused.status_code == 403 and "監督者" in refused.text
        assert ("clerk", "reprint_certificate_denied") in [
            (e.staff_id, e.action) for e in registry.access_log(person.resident_id)]
    finally:
        registry.set_support_measure(registry.get_staff("supervisor"), person.resident_id,
                                     False, "支援措置の終了")
