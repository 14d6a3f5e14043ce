"""The staff web app in a real browser: Playwright driving Debian's Chromium.

Screenshots go to /tmp (myna-signin.png, myna-search.png, myna-resident.png,
myna-copy.png) so that the layout can be looked at.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myna.keys import MemoryKeyStore
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.system import MynaSystem
from myna.web import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "password123"
SHOTS = Path(os.environ.get("MYNA_SCREENSHOTS", "/tmp"))

pytestmark = pytest.mark.browser


def _playwright() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"playwright is not importable: {exc}")
    return sync_playwright


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app on a free 127.0.0.1 port (uvicorn in a background thread), seeded."""
    import uvicorn

    system = MynaSystem(tmp_path / "data", keys=MemoryKeyStore())
    town = system.add_municipality("132152")
    clerk = town.create_staff("clerk1", "窓口 花子", Role.CLERK, PASSWORD)
    head = town.register_birth(
        clerk, PersonDetails("髙橋 太郎", "たかはし たろう", dt.date(1985, 4, 1), "男"),
        HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1-2-3"),
    )
    town.register_birth(
        clerk, PersonDetails("髙橋 花子", "たかはし はなこ", dt.date(1987, 8, 15), "女"),
        HouseholdPlacement("妻", household_number=head.household_number),
    )
    town.register_birth(
        clerk, PersonDetails("鈴木 一郎", "すずき いちろう", dt.date(1950, 12, 31), "男"),
        HouseholdPlacement("世帯主", postcode="1860002", address="東京都国立市東2-3-4"),
    )
    app = create_app(system, b"browser-test-secret-0123456789abcdef")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        system.dispose()


def test_sign_in_search_view_and_issue_a_copy(server: str) -> None:
    sync_playwright = _playwright()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="ja-JP", accept_downloads=True,
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # sign in
            page.goto(server + "/")
            assert page.locator("html").get_attribute("lang") == "ja"
            page.select_option("select[name=municipality]", "132152")
            page.fill("input[name=staff_id]", "clerk1")
            page.fill("input[name=password]", PASSWORD)
            page.screenshot(path=str(SHOTS / "myna-signin.png"), full_page=True)
            page.get_by_role("button", name="サインイン").click()
            page.wait_for_url("**/m/132152/residents")
            header = page.locator("header.site")
            for text in ("東京都国立市", "窓口 花子", "担当者"):
                assert text in header.inner_text()

            # search without a purpose is refused by the browser (required) and the server
            page.fill("input[name=name]", "たかはし")
            page.get_by_role("button", name="検索", exact=True).click()
            assert page.locator("select[name=purpose]:invalid").count() == 1
            page.select_option("select[name=purpose]", "child-allowance")
            page.get_by_role("button", name="検索", exact=True).click()
            page.wait_for_selector("table.data")
            results = page.locator("table.data tbody tr")
            assert results.count() == 2
            table = page.locator("table.data").inner_text()
            assert "髙橋 太郎" in table and "髙橋 花子" in table and "鈴木" not in table
            assert "**** **** " in table
            page.screenshot(path=str(SHOTS / "myna-search.png"), full_page=True)

            # view one, with the search purpose
            results.filter(has_text="髙橋 太郎").get_by_role("link", name="表示").click()
            page.wait_for_selector("text=閲覧の目的：")
            assert "児童手当の支給" in page.locator(".purpose-note").inner_text()
            assert page.locator("#individual-number").inner_text().startswith("**** **** ")
            log = page.locator("section", has_text="アクセス記録").inner_text()
            assert "児童手当の支給" in log and "閲覧" in log
            page.screenshot(path=str(SHOTS / "myna-resident.png"), full_page=True)

            # issue a 住民票の写し of the household, without the number
            page.get_by_role("link", name="住民票の写しを交付").click()
            page.wait_for_selector("form.copy-form")
            reason = page.locator("input[name=number_reason]")
            assert reason.is_hidden()
            page.check("#include_number")
            assert reason.is_visible()
            page.uncheck("#include_number")
            page.fill("input[name=purpose]", "運転免許証の住所変更")
            page.get_by_role("button", name="写しを交付する").click()
            page.wait_for_selector("text=住民票の写しを交付しました")
            document = page.frame_locator("iframe")
            assert document.locator("h1").inner_text().replace(" ", "") == "住民票の写し"
            body = document.locator("body").inner_text()
            assert "髙橋 太郎" in body and "髙橋 花子" in body and "（省略）" in body
            page.wait_for_timeout(300)  # let the frame finish painting
            page.screenshot(path=str(SHOTS / "myna-copy.png"), full_page=True)

            with page.expect_download() as info:
                page.get_by_role("link", name="PDFをダウンロード").click()
            pdf = Path(info.value.path())
            assert pdf.read_bytes().startswith(b"%PDF")
            assert info.value.suggested_filename.endswith(".pdf")
            assert not errors
        finally:
            browser.close()
