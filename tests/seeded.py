"""A seeded installation for the web tests: 国立市 with staff of each role and residents."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from myna.clock import jst_today
from myna.registry.domain import HouseholdPlacement, PersonDetails, Resident, Role, Staff
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem

KUNITACHI = "132152"
CHIYODA = "131016"
SECRET = b"test-session-secret-0123456789abcdef"
PASSWORD = "password123"
HOME = HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1-2-3")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: The affair of the registry's own work (the purpose of most views in the tests).
REGISTRY = "resident-registry"


@dataclass
class Town:
    """A seeded installation: 国立市 with staff of each role and a few residents."""

    system: MynaSystem
    registry: MunicipalityRegistry
    clerk: Staff
    supervisor: Staff
    admin: Staff
    head: Resident
    wife: Resident
    child: Resident
    protected: Resident


def seed_town(system: MynaSystem) -> Town:
    town = system.add_municipality(KUNITACHI)
    clerk = town.create_staff("clerk1", "窓口 花子", Role.CLERK, PASSWORD)
    supervisor = town.create_staff("sup1", "係長 一郎", Role.SUPERVISOR, PASSWORD)
    admin = town.create_staff("admin1", "管理 次郎", Role.ADMINISTRATOR, PASSWORD)
    today = jst_today()
    head = town.register_birth(
        clerk, PersonDetails("髙橋 太郎", "たかはし たろう", dt.date(1985, 4, 1), "男"), HOME
    )
    wife = town.register_birth(
        clerk, PersonDetails("髙橋 花子", "たかはし はなこ", dt.date(1987, 8, 15), "女"),
        HouseholdPlacement("妻", household_number=head.household_number),
    )
    child = town.register_birth(
        clerk, PersonDetails("髙橋 𠮷男", "たかはし よしお", today - dt.timedelta(days=40), "男"),
        HouseholdPlacement("子", household_number=head.household_number),
    )
    protected = town.register_birth(
        clerk, PersonDetails("佐藤 美咲", "さとう みさき", dt.date(1990, 2, 3), "女"),
        HouseholdPlacement("世帯主", postcode="1860002", address="東京都国立市東2-3-4"),
    )
    town.set_support_measure(supervisor, protected.resident_id, True, "DV支援措置の申出")
    return Town(system, town, clerk, supervisor, admin, head, wife, child, protected)


def approve(town: Town, staff: Staff, resident: Resident, purpose: str = REGISTRY) -> int:
    """Let ``staff`` open ``resident``'s 支援措置 record for ``purpose``: ``staff`` asks,
    another supervisor (or the administrator) approves; returns the request number."""
    asked = town.registry.request_protected_view(staff, resident.resident_id, purpose,
                                                 "本人からの申請の審査")
    approver = town.admin if staff.staff_id == town.supervisor.staff_id else town.supervisor
    town.registry.decide_protected_view(approver, asked.request_id)
    return asked.request_id


def csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no form token"
    return match[1]


def sign_in(client: TestClient, staff_id: str = "clerk1", code: str = KUNITACHI) -> str:
    """Sign in through the form; returns the form token of the landing page."""
    token = csrf(client.get("/").text)
    page = client.post("/signin", data={
        "csrf_token": token, "municipality": code, "staff_id": staff_id, "password": PASSWORD,
    })
    assert page.status_code == 200, page.text
    return csrf(page.text)


def post(client: TestClient, url: str, token: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": token, **data})


def actions(registry: MunicipalityRegistry, resident_id: int) -> list[tuple[str, str]]:
    return [(e.action, e.purpose) for e in registry.access_log(resident_id)]


def no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text
