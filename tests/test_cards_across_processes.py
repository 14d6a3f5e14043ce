"""The same card story at a town's counter, in one process and across processes.

In one process the counter calls :class:`CardService` directly.  Across
processes J-LIS runs as ``myna serve --node jlis`` and the town calls it with
:class:`CardsClient`; J-LIS's card centre in turn asks the town about its
resident with :class:`ResidentsClient`, answered by the town's
:func:`card_directory_routes` (served from this test process).  A town reaches
only its own cards.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from PIL import Image, ImageDraw

from myna.contracts.cards import CardsApi, CardStatus
from myna.errors import MynaError, PermissionDenied
from myna.jpki.domain import JST
from myna.netca import NetworkCA
from myna.registry.card_directory import card_directory_routes
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem
from myna.transport.cards_client import CardsClient
from myna.transport.http import HttpNetwork, NodeIdentity, node_app
from myna.transport.processes import free_port, start, stop

TOWN, OTHER = "132152", "132144"


def portrait() -> bytes:
    img = Image.new("RGB", (600, 750), (196, 214, 232))
    ImageDraw.Draw(img).ellipse((170, 130, 430, 500), fill=(240, 206, 180))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def next_weekday_10am(today: dt.date) -> dt.datetime:
    day = today + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10, 0), JST)


def prepare(data: Path) -> int:
    """An installation with one adult resident of 国立市 (id returned)."""
    system = MynaSystem(data)
    try:
        town = system.add_municipality(TOWN)
        system.add_municipality(OTHER)
        clerk = town.create_staff("clerk", "窓口", Role.CLERK, "password-1234")
        person = town.register_birth(clerk, PersonDetails(
            "国立　花子", "くにたち　はなこ", dt.date(1988, 6, 1), "女"),
            HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1丁目2番3号"))
        return person.resident_id
    finally:
        system.dispose()


def story(cards: CardsApi, produce: Callable[[int], None], resident_id: int) -> None:
    """Apply at the counter, J-LIS produces, book, hand over, lose, find: one card."""
    applied = cards.apply(portrait(), channel="counter", municipality_code=TOWN,
                          resident_id=resident_id, staff_id="clerk")
    assert cards.application(applied.receipt_no).status.value == "受付"
    assert [a.receipt_no for a in cards.pending_applications()] == [applied.receipt_no]
    produce(applied.receipt_no)
    [waiting] = cards.unclaimed(TOWN)
    assert waiting.status is CardStatus.PRODUCED and waiting.name == "国立　花子"
    slot = cards.book_appointment(waiting.card_number,
                                  next_weekday_10am(cards.now().astimezone(JST).date()))
    [(at, booked)] = cards.appointments(TOWN, slot.astimezone(JST).date())
    assert at == slot and booked.card_number == waiting.card_number
    issued = cards.issue(waiting.card_number, staff_id="clerk", documents=["パスポート"],
                         auth_pin="4821", signing_pin="K7Q2M9X4")
    assert issued.status is CardStatus.ACTIVE and issued.identity is not None
    assert [s.status for s in cards.certificate_states(issued)] == ["valid", "valid"]
    suspended = cards.suspend(issued.card_number, reported_by="call-centre", note="駅で紛失")
    assert [s.status for s in cards.certificate_states(suspended)] == ["revoked", "revoked"]
    resumed = cards.resume(issued.card_number, staff_id="clerk", documents=["学生証", "保険証"])
    assert resumed.signing_serial != issued.signing_serial
    assert [s.status for s in cards.certificate_states(resumed)] == ["valid", "valid"]
    [record] = cards.suspensions(issued.card_number)
    assert record.resumed_by == "clerk"
    events = [e.event for e in cards.history(issued.card_number)]
    assert events == ["交付申請", "作成", "交付予約", "交付", "一時停止", "一時停止の解除"]
    assert cards.render_front(issued.card_number).startswith(b"\x89PNG")
    assert [c.card_number for c in cards.cards_of_resident(TOWN, resident_id)] == \
        [issued.card_number]
    assert cards.add_note(issued.card_number, staff_id="clerk", text="追記の試験").notes
    assert cards.unclaimed(TOWN) == []


def test_the_story_in_one_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rid = prepare(data)
    system = MynaSystem(data)
    try:
        story(system.cards, lambda receipt: None if system.cards.produce(receipt) else None, rid)
    finally:
        system.dispose()


class _Server:
    """A node app served by uvicorn in a thread of this process."""

    def __init__(self, app: object, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,  # type: ignore[arg-type]
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    data = tmp_path / "data"
    rid = prepare(data)
    jlis_port, town_port = free_port(), free_port()
    config = MynaSystem.read_config(data)
    config.endpoints = {"jlis": f"http://127.0.0.1:{jlis_port}",
                        f"municipality:{TOWN}": f"http://127.0.0.1:{town_port}"}
    (data / "system.json").write_text(config.to_json(), encoding="utf-8")
    system = MynaSystem(data)
    keys, engine = system.keys, system.config.engine(data, f"registry-{TOWN}")
    system.dispose()
    ca = NetworkCA(keys, data / "netca")
    key, cert = ca.identity(f"municipality:{TOWN}")
    network = HttpNetwork(config.endpoints, NodeIdentity(f"municipality:{TOWN}", key, cert))
    registry = MunicipalityRegistry(engine, TOWN, network.jlis())
    town_app = node_app("Myna municipality (test)", ca.certificate,
                        card_directory_routes({TOWN: registry}))
    with _Server(town_app, town_port):
        proc = start(["serve", "--node", "jlis", "--port", str(jlis_port), "--data-dir",
                      str(data)], jlis_port, data / "jlis.log")
        try:
            yield data, rid, config.endpoints
        finally:
            stop([proc])
            engine.dispose()


def _client(data: Path, endpoints: dict[str, str], town: str) -> CardsClient:
    system_keys = MynaSystem(data)
    try:
        ca = NetworkCA(system_keys.keys, data / "netca")
        key, cert = ca.identity(f"municipality:{town}")
    finally:
        system_keys.dispose()
    return CardsClient(endpoints["jlis"], NodeIdentity(f"municipality:{town}", key, cert))


@pytest.mark.slow
def test_the_same_story_across_processes(split: tuple[Path, int, dict[str, str]]) -> None:
    data, rid, endpoints = split
    cards = _client(data, endpoints, TOWN)

    def produce(receipt: int) -> None:  # the town's 作成依頼; J-LIS makes the card
        made = cards.produce(receipt)
        assert made.receipt_no == receipt and cards.produce(receipt) == made  # once only

    story(cards, produce, rid)
    [card] = cards.cards(TOWN)
    assert card.person_key == ""  # the person key stays at J-LIS
    with pytest.raises(PermissionDenied):
        _client(data, endpoints, OTHER).produce(card.receipt_no)
    # another town reaches none of it, and cannot apply in this town's name
    other = _client(data, endpoints, OTHER)
    with pytest.raises(PermissionDenied):
        other.card(card.card_number)
    with pytest.raises(PermissionDenied):
        other.cards(TOWN)
    with pytest.raises(PermissionDenied):
        other.apply(portrait(), channel="counter", municipality_code=TOWN, resident_id=rid,
                    staff_id="clerk")
    assert other.cards() == []
    # a town whose endpoint J-LIS lacks: the application is refused, clearly
    with pytest.raises(MynaError, match="municipality:132144"):
        other.apply(portrait(), channel="counter", municipality_code=OTHER, resident_id=1,
                    staff_id="clerk")
