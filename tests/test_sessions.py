"""Staff sessions live on the server: signing out, idling, a lockout or a new role ends them.

A cookie or bearer token copied before any of these opens nothing afterwards; a
failed sign-in never reveals whether a staff ID exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from myna.clock import utcnow
from myna.registry.domain import Role
from myna.registry.staff import IDLE_TIMEOUT, SIGN_IN_FAILED_EN, SIGN_IN_FAILED_JA
from myna.system import MynaSystem
from myna.web import create_app
from seeded import KUNITACHI, PASSWORD, SECRET, Town, csrf, seed_town, sign_in

RESIDENTS = f"/m/{KUNITACHI}/residents"


@dataclass
class Site:
    town: Town
    client: Callable[[], TestClient]
    clock: list[dt.datetime]

    def signed_in(self, c: TestClient) -> bool:
        page = c.get(RESIDENTS, follow_redirects=False)
        assert page.status_code in (200, 303), page.text
        return page.status_code == 200

    def token(self, staff_id: str = "clerk1") -> dict[str, str]:
        answer = self.client().post("/api/v1/token", data={
            "username": f"{KUNITACHI}:{staff_id}", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def api_works(self, bearer: dict[str, str]) -> bool:
        answer = self.client().get(f"/api/v1/municipalities/{KUNITACHI}/residents",
                                   params={"purpose": "resident-registry", "name": "髙橋"},
                                   headers=bearer)
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200


@pytest.fixture
def site(system: MynaSystem) -> Iterator[Site]:
    town = seed_town(system)
    clock = [utcnow()]
    town.registry.now = lambda: clock[0]
    app = create_app(system, SECRET)
    clients: list[TestClient] = []

    def client() -> TestClient:
        c = TestClient(app)
        c.__enter__()
        clients.append(c)
        return c

    try:
        yield Site(town, client, clock)
    finally:
        for c in clients:
            c.__exit__(None, None, None)


def test_a_cookie_copied_before_signing_out_opens_nothing(site: Site) -> None:
    mine = site.client()
    token = sign_in(mine)
    thief = site.client()
    thief.cookies.update(mine.cookies)
    assert site.signed_in(thief)
    mine.post("/signout", data={"csrf_token": token})
    assert not site.signed_in(mine) and not site.signed_in(thief)
    log = [(e.staff_id, e.action) for e in site.town.registry.access_log(None)]
    assert ("clerk1", "sign_out") in log


def test_a_session_ends_after_thirty_idle_minutes(site: Site) -> None:
    c = site.client()
    sign_in(c)
    site.clock[0] += IDLE_TIMEOUT - dt.timedelta(minutes=1)
    assert site.signed_in(c)  # in use: the idle time starts again
    site.clock[0] += IDLE_TIMEOUT - dt.timedelta(minutes=1)
    assert site.signed_in(c)
    site.clock[0] += IDLE_TIMEOUT + dt.timedelta(seconds=1)
    assert not site.signed_in(c)


def test_no_session_outlives_a_working_day(site: Site) -> None:
    c = site.client()
    sign_in(c)
    for _ in range(17):  # busy all day, never idle for long
        site.clock[0] += dt.timedelta(minutes=29)
        still = site.signed_in(c)
    assert not still


def test_a_lockout_ends_the_accounts_sessions(site: Site) -> None:
    c = site.client()
    sign_in(c)
    bearer = site.token()
    attacker = site.client()
    for _ in range(5):
        attacker.post("/signin", data={"csrf_token": csrf(attacker.get("/").text),
                                       "municipality": KUNITACHI, "staff_id": "clerk1",
                                       "password": "guessing-wrong"})
    assert not site.signed_in(c) and not site.api_works(bearer)


def test_a_new_role_ends_the_sessions_opened_with_the_old_one(site: Site) -> None:
    c = site.client()
    sign_in(c)
    bearer = site.token()
    site.town.registry.accounts.set_role("clerk1", Role.SUPERVISOR, by="admin1")
    assert not site.signed_in(c) and not site.api_works(bearer)
    sign_in(c)
    assert "監督者" in c.get(RESIDENTS).text


def test_suspending_an_account_ends_its_sessions_and_reinstating_does_not_revive_them(
    site: Site,
) -> None:
    c = site.client()
    sign_in(c)
    accounts = site.town.registry.accounts
    accounts.suspend("clerk1", by="admin1")
    assert not site.signed_in(c)
    accounts.reinstate("clerk1", by="admin1")
    assert not site.signed_in(c)
    sign_in(c)
    assert site.signed_in(c)


def test_an_api_token_can_be_revoked(site: Site) -> None:
    bearer = site.token()
    assert site.api_works(bearer)
    revoked = site.client().post(f"/api/v1/municipalities/{KUNITACHI}/token/revoke",
                                 headers=bearer)
    assert revoked.status_code == 204
    assert not site.api_works(bearer)
    answer = site.client().get(f"/api/v1/municipalities/{KUNITACHI}/residents",
                               params={"purpose": "resident-registry", "name": "髙橋"},
                               headers=bearer)
    assert "セッションは終了しています" in answer.json()["message"]


def test_a_failed_sign_in_says_the_same_whatever_went_wrong(site: Site) -> None:
    def page(staff_id: str, password: str) -> str:
        c = site.client()
        answer = c.post("/signin", data={"csrf_token": csrf(c.get("/").text),
                                         "municipality": KUNITACHI, "staff_id": staff_id,
                                         "password": password})
        assert answer.status_code == 403
        return answer.text.split('role="alert"')[1].split("</div>")[0]

    def api(staff_id: str, password: str) -> dict[str, str]:
        answer = site.client().post("/api/v1/token", data={
            "username": f"{KUNITACHI}:{staff_id}", "password": password})
        assert answer.status_code == 401
        return answer.json()

    wrong = page("clerk1", "wrong-password"), api("clerk1", "wrong-password")
    unknown = page("nobody", PASSWORD), api("nobody", PASSWORD)
    for _ in range(4):
        page("clerk1", "wrong-password")
    locked = page("clerk1", PASSWORD), api("clerk1", PASSWORD)
    assert wrong == unknown == locked
    assert SIGN_IN_FAILED_JA in wrong[0]
    assert wrong[1]["message_en"] == SIGN_IN_FAILED_EN and "lock" not in wrong[1]["message_en"]
