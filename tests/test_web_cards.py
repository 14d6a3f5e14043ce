"""The 個人番号カード staff screens: counter application, production, issue, suspension."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image, ImageDraw

from myna.card.lifecycle.domain import CardStatus
from myna.keys import MemoryKeyStore
from myna.registry.domain import HouseholdPlacement, PersonDetails, Resident, Role
from myna.system import MynaSystem
from myna.web import create_app
from web_sessions import Session, staff_sessions

KUNITACHI = "132152"
SECRET = b"test-session-secret-0123456789abcdef"
PASSWORD = "password123"
BASE = f"/m/{KUNITACHI}/cards"
PURPOSE = "my-number"
AUTH_PIN = "4821"
SIGN_PIN = "MYNA2026X"


@dataclass
class Town:
    system: MynaSystem
    app: FastAPI
    person: Resident


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    system = MynaSystem(tmp_path / "data", keys=MemoryKeyStore())
    try:
        registry = system.add_municipality(KUNITACHI)
        clerk = registry.create_staff("clerk1", "窓口 花子", Role.CLERK, PASSWORD)
        registry.create_staff("sup1", "係長 一郎", Role.SUPERVISOR, PASSWORD)
        person = registry.register_birth(
            clerk, PersonDetails("谷保 一郎", "やほ いちろう", dt.date(1980, 1, 2), "男"),
            HouseholdPlacement("世帯主", postcode="1860011", address="東京都国立市谷保5-6-7"))
        yield Town(system, create_app(system, SECRET), person)
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


def portrait(width: int = 600, height: int = 750) -> bytes:
    """A synthetic ID photo (no real face), as PNG."""
    img = Image.new("RGB", (width, height), (196, 214, 232))
    d = ImageDraw.Draw(img)
    d.ellipse((width * 0.28, height * 0.18, width * 0.72, height * 0.66), fill=(240, 206, 180))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def person_url(town: Town) -> str:
    return f"/m/{KUNITACHI}/residents/{town.person.resident_id}"


def apply(session: Session, town: Town, photo: bytes, name: str = "photo.png",
          signing: str = "yes") -> Any:
    return session.post(f"{person_url(town)}/cards/apply", purpose=PURPOSE, signing=signing,
                        files={"photo": (name, photo, "image/png")})


def test_apply_produce_issue_and_suspend(town: Town, sup: Session, clerk: Session) -> None:
    page = clerk.get(person_url(town), purpose=PURPOSE)
    assert "個人番号カード" in page.text and "交付申請を受け付ける" in page.text
    assert 'enctype="multipart/form-data"' in page.text

    done = apply(clerk, town, portrait())
    assert done.status_code == 200, done.text
    assert "交付申請を受け付けました" in done.text and "作成待ち" in done.text

    overview = clerk.get(BASE)
    assert overview.status_code == 200
    assert '作成待ちの申請 <span class="count">1件' in overview.text
    assert "谷保 一郎" in overview.text
    assert "作成の依頼は監督者が行います" in overview.text
    assert clerk.post(f"{BASE}/produce").status_code == 403
    assert clerk.post(f"{BASE}/void-unclaimed").status_code == 403

    produced = sup.post(f"{BASE}/produce")
    assert produced.status_code == 200 and "カード 1枚を作成しました" in produced.text
    [card] = town.system.cards.unclaimed(KUNITACHI)
    assert f"{BASE}/{card.card_number}" in produced.text and "保管期限" in produced.text
    url = f"{BASE}/{card.card_number}"

    detail = clerk.get(url)
    assert detail.status_code == 200 and "交付前" in detail.text
    assert 'type="password" name="auth_pin"' in detail.text
    assert 'type="password" name="signing_pin"' in detail.text

    refused = clerk.post(f"{url}/issue", document_one="", document_two_a="学生証",
                         document_two_b="", auth_pin=AUTH_PIN, signing_pin=SIGN_PIN)
    assert refused.status_code == 422 and "本人確認書類が足りません" in refused.text
    assert AUTH_PIN not in refused.text and SIGN_PIN not in refused.text
    assert 'selected>学生証' in refused.text  # the choice is kept, not the PINs

    issued = clerk.post(f"{url}/issue", follow=False, document_one="",
                        document_two_a="学生証", document_two_b="健康保険被保険者証",
                        auth_pin=AUTH_PIN, signing_pin=SIGN_PIN)
    assert issued.status_code == 303 and issued.headers["location"] == url
    shown = clerk.get(url)
    assert "交付済み" in shown.text and "2点確認" in shown.text
    assert AUTH_PIN not in shown.text and SIGN_PIN not in shown.text
    assert town.system.cards.card(card.card_number).status is CardStatus.ACTIVE

    front = clerk.get(f"{url}/front.png")
    assert front.status_code == 200 and front.headers["content-type"] == "image/png"
    assert front.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert f'src="{url}/front.png"' in shown.text

    resident = clerk.get(person_url(town), purpose=PURPOSE)
    assert card.card_number in resident.text and "交付済み" in resident.text
    assert "署名用 有効（" in resident.text

    suspended = clerk.post(f"{url}/suspend", reported_by="本人", note="駅で紛失")
    assert suspended.status_code == 200 and "一時停止しました" in suspended.text
    assert "一時停止" in suspended.text and "解除する" in suspended.text
    assert town.system.cards.card(card.card_number).status is CardStatus.SUSPENDED

    resumed = clerk.post(f"{url}/resume", document_one="運転免許証")
    assert resumed.status_code == 200 and "一時停止を解除しました" in resumed.text
    assert town.system.cards.card(card.card_number).status is CardStatus.ACTIVE

    ended = clerk.post(f"{url}/end", reason="返納")
    assert ended.status_code == 200 and "廃止しました（返納）" in ended.text
    assert town.system.cards.card(card.card_number).status is CardStatus.ENDED


def test_a_non_image_upload_is_refused_in_japanese(town: Town, clerk: Session) -> None:
    page = apply(clerk, town, b"this is not a photo", name="photo.png")
    assert page.status_code == 422
    assert "写真として読み取れません" in page.text
    assert town.system.cards.pending_applications() == []
    small = apply(clerk, town, portrait(200, 250))
    assert small.status_code == 422 and "写真が小さすぎます" in small.text


def test_void_unclaimed_and_unknown_cards(town: Town, sup: Session) -> None:
    done = sup.post(f"{BASE}/void-unclaimed")
    assert done.status_code == 200 and "保管期間を過ぎたカードはありません" in done.text
    assert sup.get(f"{BASE}/123456789010").status_code in (404, 422)
    bad = sup.get(f"{BASE}/abc")
    assert bad.status_code == 422 and "カード番号は数字で入力してください" in bad.text


def test_reissue_from_the_card_page(town: Town, sup: Session) -> None:
    apply(sup, town, portrait(), signing="no")
    sup.post(f"{BASE}/produce")
    [card] = town.system.cards.unclaimed(KUNITACHI)
    url = f"{BASE}/{card.card_number}"
    assert 'name="signing_pin"' not in sup.get(url).text
    sup.post(f"{url}/issue", document_one="旅券", auth_pin=AUTH_PIN)
    again = sup.post(f"{url}/reissue", document_one="旅券")
    assert again.status_code == 200 and "再交付の申請を受け付けました" in again.text
    assert town.system.cards.card(card.card_number).status is CardStatus.ENDED
    assert len(town.system.cards.pending_applications()) == 1
