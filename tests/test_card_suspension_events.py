"""The holder's town learns of its resident's card: 一時停止, its 解除, 廃止 as durable events.

J-LIS's card centre writes a ``card.state_changed`` event into its own outbox in the
same transaction as the change; J-LIS's node delivers it (in one process through
the town registry's inbox, across processes over HTTP to the town's node), at least
once; the registry applies it once and shows it on the resident's page.  A town
that cannot be reached gets it later, after a restart of the sender too.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select, update

from myna.card.lifecycle.service import CardService
from myna.clock import aware, jst_date, jst_today
from myna.contracts.cards import CARD_STATE_CHANGED, CardStatus, EndReason
from myna.events import Event
from myna.events import storage as ev
from myna.jlis.consistency import jlis_check
from myna.keys import FileKeyStore
from myna.netca import NetworkCA
from myna.registry import storage as rt
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role, Staff
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem
from myna.transport.cards_client import CardsClient
from myna.transport.http import NodeIdentity, _Client, pending_events
from myna.transport.processes import free_port, running_nodes
from myna.web import create_app
from web_sessions import staff_sessions

KUNITACHI, KOKUBUNJI = "132152", "132144"
TOWN_NODE = f"municipality:{KUNITACHI}"
PASSWORD = "password-1234"
LICENCE = ["運転免許証"]
#: everything a card.state_changed payload may hold
PAYLOAD_KEYS = {"card_number", "status", "since", "resident_code", "resident_id", "end_reason"}


def portrait() -> bytes:
    """A synthetic ID photo (no real face)."""
    img = Image.new("RGB", (600, 750), (196, 214, 232))
    ImageDraw.Draw(img).ellipse((170, 130, 430, 500), fill=(240, 206, 180))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def day(at: dt.datetime) -> str:
    d = jst_date(at)
    return f"{d.year}年{d.month}月{d.day}日"


def register(town: MunicipalityRegistry, clerk: Staff, name: str = "国立　花子") -> int:
    person = town.register_birth(clerk, PersonDetails(
        name, "くにたち　はなこ", dt.date(1988, 6, 1), "女"),
        HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1丁目2番3号"))
    return person.resident_id


def issued_card(cards: CardService, resident_id: int) -> str:
    """A card applied for at the counter, produced and handed over."""
    app = cards.apply(portrait(), channel="counter", municipality_code=KUNITACHI,
                      resident_id=resident_id, staff_id="clerk")
    card = cards.produce(app.receipt_no)
    cards.issue(card.card_number, staff_id="clerk", documents=LICENCE, auth_pin="4826",
                signing_pin="MYNA2026DEMO")
    return card.card_number


def sent(cards: CardService) -> list[tuple[Event, dt.datetime | None]]:
    """The card centre's card.state_changed events as stored, each with its delivery time."""
    o = ev.event_outbox.c
    with cards.engine.connect() as conn:
        rows = conn.execute(select(ev.event_outbox).where(o.kind == CARD_STATE_CHANGED)
                            .order_by(o.seq)).all()
    return [(Event(r.event_id, cards.outbox.source, r.destination, r.kind, r.subject,
                   int(r.seq), aware(r.created_at), dict(r.payload)),
             r.delivered_at) for r in rows]


def state_rows(town: MunicipalityRegistry) -> int:
    with town.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(rt.card_states)).scalar_one())


@dataclass
class World:
    system: MynaSystem
    town: MunicipalityRegistry
    clerk: Staff
    resident_id: int
    card_number: str

    @property
    def cards(self) -> CardService:
        return self.system.cards


@pytest.fixture
def world(system: MynaSystem) -> Iterator[World]:
    town = system.add_municipality(KUNITACHI)
    clerk = town.create_staff("clerk", "窓口", Role.CLERK, PASSWORD)
    rid = register(town, clerk)
    yield World(system, town, clerk, rid, issued_card(system.cards, rid))


# -- in one process ----------------------------------------------------------------------------


def test_the_town_knows_the_card_it_handed_over(world: World) -> None:
    [state] = world.town.card_states(world.resident_id)
    assert (state.card_number, state.status) == (world.card_number, CardStatus.ACTIVE)
    assert world.cards.outbox.backlog() == []


def test_a_suspension_reaches_the_towns_registry_and_applies_once(world: World) -> None:
    before = world.town.inbox.applied_count("cards")
    card = world.cards.suspend(world.card_number, reported_by="コールセンター")
    assert card.status is CardStatus.SUSPENDED
    [state] = world.town.card_states(world.resident_id)
    assert state.status is CardStatus.SUSPENDED
    [suspension] = world.cards.suspensions(world.card_number)
    assert state.since == suspension.suspended_at
    assert state.label == f"一時停止中（{day(suspension.suspended_at)}から）"
    assert world.town.inbox.applied_count("cards") == before + 1

    # the same event delivered again (its acknowledgement lost): acknowledged, not applied
    event, delivered = sent(world.cards)[-1]
    assert delivered is not None and event.destination == TOWN_NODE
    assert event.subject == world.card_number
    receipt = world.town.inbox.receive([event])
    assert receipt.applied == [event.event_id] and receipt.error is None
    assert world.town.inbox.applied_count("cards") == before + 1
    assert state_rows(world.town) == 1
    assert world.town.card_states(world.resident_id) == [state]

    # a crash between the town's receipt and the card centre marking it delivered: the
    # relay sends it again, the inbox ignores the repeat
    with world.cards.engine.begin() as conn:
        conn.execute(update(ev.event_outbox).where(ev.event_outbox.c.event_id == event.event_id)
                     .values(delivered_at=None))
    assert [b.pending for b in world.cards.outbox.backlog()] == [1]
    world.system.deliver_events()
    assert world.cards.outbox.backlog() == []
    assert world.town.inbox.applied_count("cards") == before + 1
    assert world.town.card_states(world.resident_id) == [state]


def test_resumption_shows_the_card_usable_again(world: World) -> None:
    world.cards.suspend(world.card_number)
    world.cards.resume(world.card_number, staff_id="clerk", documents=LICENCE)
    [state] = world.town.card_states(world.resident_id)
    [suspension] = world.cards.suspensions(world.card_number)
    assert state.status is CardStatus.ACTIVE and suspension.resumed_at is not None
    assert state.since == suspension.resumed_at
    assert state.label == f"利用可（{day(suspension.resumed_at)}から）"
    kinds = [e.payload["status"] for e, _ in sent(world.cards)]
    assert kinds == ["交付済", "一時停止", "交付済"]


def test_an_older_notice_arriving_late_changes_nothing(world: World) -> None:
    """Newest news of a card wins, even if an older event reached the handler after it."""
    world.cards.suspend(world.card_number)
    world.cards.resume(world.card_number, staff_id="clerk", documents=LICENCE)
    suspended, _ = sent(world.cards)[1]
    late = Event("f" * 32, suspended.source, suspended.destination, suspended.kind,
                 "another-subject", 10**6, suspended.created_at, suspended.payload)
    assert world.town.inbox.receive([late]).error is None
    assert world.town.card_states(world.resident_id)[0].status is CardStatus.ACTIVE


def test_the_end_of_a_card_reaches_the_town(world: World) -> None:
    card = world.cards.end(world.card_number, "返納", actor="clerk")
    [state] = world.town.card_states(world.resident_id)
    assert state.status is CardStatus.ENDED and state.end_reason is EndReason.RETURNED
    assert card.ended_at is not None
    assert state.label == f"廃止（返納、{day(card.ended_at)}）"


def test_a_town_that_cannot_be_reached_gets_the_event_later(world: World) -> None:
    """The town's inbox out of reach: the suspension is recorded and its event waits in
    the card centre's outbox (myna check counts it); after a restart of the sender's
    installation and with the town back, it arrives."""
    inbox = world.system.inboxes.pop(TOWN_NODE)
    world.cards.suspend(world.card_number)
    assert world.cards.card(world.card_number).status is CardStatus.SUSPENDED
    [backlog] = world.cards.outbox.backlog()
    assert (backlog.destination, backlog.pending) == (TOWN_NODE, 1)
    assert world.town.card_states(world.resident_id)[0].status is CardStatus.ACTIVE
    check = jlis_check(world.system.jlis.outbox, world.cards)
    [waiting] = [d for d in check.disagreements if d.nodes.startswith("J-LIS 個人番号カード")]
    assert waiting.nodes == f"J-LIS 個人番号カード → {TOWN_NODE}" and waiting.count == 1
    world.system.inboxes[TOWN_NODE] = inbox

    system = world.system
    system.dispose()  # the sender stops with its event undelivered
    again = MynaSystem(system.data_dir, system.config.database_url, keys=system.keys,
                       namespace=system.namespace)
    try:
        assert [b.pending for b in again.cards.outbox.backlog()] == [1]
        again.deliver_events()
        assert again.cards.outbox.backlog() == []
        town = again.registry(KUNITACHI)
        assert town.card_states(world.resident_id)[0].status is CardStatus.SUSPENDED
        assert not [d for d in jlis_check(again.jlis.outbox, again.cards).disagreements
                    if d.nodes.startswith("J-LIS 個人番号カード")]
    finally:
        again.dispose()


def test_the_events_carry_no_individual_number(world: World) -> None:
    world.cards.suspend(world.card_number)
    world.cards.resume(world.card_number, staff_id="clerk", documents=LICENCE)
    world.cards.end(world.card_number, "返納")
    [(rid, number)] = world.town.numbered_residents([world.resident_id])
    with world.town.engine.connect() as conn:
        code = conn.execute(select(rt.residents.c.resident_code).where(
            rt.residents.c.resident_id == rid)).scalar_one()
    person_key = world.system.jlis.holder(number)[0]
    events = sent(world.cards)
    assert len(events) == 4
    for event, _ in events:
        text = json.dumps(event.as_json(), ensure_ascii=False)
        assert set(event.payload) <= PAYLOAD_KEYS
        assert number not in text and person_key not in text
        assert "国立" not in text and "花子" not in text  # no name, no address
        assert event.payload["resident_id"] == rid
        assert event.payload["resident_code"] == code


def test_a_notice_from_anyone_but_the_card_centre_is_refused(world: World) -> None:
    event, _ = sent(world.cards)[-1]
    forged = Event("e" * 32, "jlis", event.destination, event.kind, event.subject, 1,
                   event.created_at, event.payload | {"status": "一時停止"})
    receipt = world.town.inbox.receive([forged])
    assert receipt.applied == [] and receipt.error and "PermissionDenied" in receipt.error
    assert world.town.card_states(world.resident_id)[0].status is CardStatus.ACTIVE


def test_a_holder_who_moved_is_told_at_the_new_town(world: World) -> None:
    """The card is kept across a move: the town J-LIS names as the holder's 住所地 now is
    told, and finds its resident by the 住民票コード the holder kept."""
    system = world.system
    new = system.add_municipality(KOKUBUNJI)
    certificate = world.town.move_out(world.clerk, world.resident_id,
                                      "東京都国分寺市本町9丁目1番1号", jst_today())
    arrived = new.move_in(new.create_staff("clerk", "窓口", Role.CLERK, PASSWORD), certificate,
                          HouseholdPlacement("世帯主", postcode="1850012",
                                             address="東京都国分寺市本町9丁目1番1号"),
                          jst_today())
    system.deliver_events()  # J-LIS learns of the move
    world.cards.suspend(world.card_number, reported_by="コールセンター")
    event, delivered = sent(world.cards)[-1]
    assert event.destination == f"municipality:{KOKUBUNJI}" and delivered is not None
    assert event.payload["resident_id"] is None
    assert event.payload["resident_code"] == arrived.resident_code
    [state] = new.card_states(arrived.resident_id)
    assert state.status is CardStatus.SUSPENDED
    assert world.town.card_states(world.resident_id)[0].status is CardStatus.ACTIVE


def test_the_residents_page_shows_the_suspension(world: World) -> None:
    world.town.create_staff("sup", "係長", Role.SUPERVISOR, PASSWORD)
    world.cards.suspend(world.card_number)
    [suspension] = world.cards.suspensions(world.card_number)
    app = create_app(world.system, b"test-session-secret-0123456789abcdef")
    with staff_sessions(app, KUNITACHI, PASSWORD) as open_as:
        page = open_as("sup").get(f"/m/{KUNITACHI}/residents/{world.resident_id}",
                                  purpose="my-number")
    assert page.status_code == 200, page.text[:500]
    assert f"個人番号カード: 一時停止中（{day(suspension.suspended_at)}から）" in page.text
    assert world.card_number in page.text


# -- across processes --------------------------------------------------------------------------


def _eventually(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _town_state(data: Path, resident_id: int) -> CardStatus | None:
    """The town's record, read from its own database (read-only inspection)."""
    config = MynaSystem.read_config(data)
    engine = config.engine(data, f"registry-{KUNITACHI}")
    try:
        with engine.connect() as conn:
            status = conn.execute(select(rt.card_states.c.status).where(
                rt.card_states.c.resident_id == resident_id)).scalar()
    finally:
        engine.dispose()
    return None if status is None else CardStatus(status)


@pytest.mark.slow
def test_a_suspension_reaches_the_town_node_across_processes(tmp_path: Path) -> None:
    """J-LIS and the town each in their own process.  The town's node is down when the
    card is suspended: J-LIS keeps the event; once the town's node runs, J-LIS's relay
    delivers it over HTTP and the town's staff screen shows it."""
    data = tmp_path / "data"
    system = MynaSystem(data)
    try:
        town = system.add_municipality(KUNITACHI)
        clerk = town.create_staff("clerk", "窓口", Role.CLERK, PASSWORD)
        rid = register(town, clerk)
        number = issued_card(system.cards, rid)
        system.deliver_events()
        nodes = ["hub", "jlis", f"intermediate:municipality-{KUNITACHI}", TOWN_NODE]
        ports = {node: free_port() for node in nodes}
        system.config.endpoints = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        system.save_config()
        endpoints = dict(system.config.endpoints)
    finally:
        system.dispose()
    assert _town_state(data, rid) is CardStatus.ACTIVE

    ca = NetworkCA(FileKeyStore(data / "keys"), data / "netca")
    as_town = NodeIdentity.of(ca, TOWN_NODE)
    with running_nodes(data, {"jlis": ports["jlis"]}):  # the town's node is not running
        suspended = CardsClient(endpoints["jlis"], as_town).suspend(number, note="駅で紛失")
        assert suspended.status is CardStatus.SUSPENDED
        jlis = _Client(endpoints["jlis"], as_town)
        assert _eventually(lambda: pending_events(jlis) == 1, 15)
        time.sleep(3)  # a relay round or more: the event stays until the town answers
        assert pending_events(jlis) == 1
        assert _town_state(data, rid) is CardStatus.ACTIVE
        others = {n: p for n, p in ports.items() if n != "jlis"}
        with running_nodes(data, others):
            assert _eventually(lambda: pending_events(jlis) == 0), pending_events(jlis)
            assert _town_state(data, rid) is CardStatus.SUSPENDED
            page = _resident_page(endpoints[TOWN_NODE], rid)
            assert "個人番号カード: 一時停止中（" in page


def _resident_page(url: str, resident_id: int) -> str:
    import re

    with httpx.Client(base_url=url, timeout=30) as client:
        first = client.get("/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', first.text)
        assert token, first.text[:500]
        signed = client.post("/signin", data={"csrf_token": token[1], "municipality": KUNITACHI,
                                              "staff_id": "clerk", "password": PASSWORD},
                             follow_redirects=True)
        assert signed.status_code == 200, signed.text[:500]
        page = client.get(f"/m/{KUNITACHI}/residents/{resident_id}",
                          params={"purpose": "my-number"})
        assert page.status_code == 200, page.text[:500]
        text: Any = page.text
        return str(text)


def test_only_jlis_delivers_the_card_centres_events_over_http(world: World) -> None:
    """The town's events route: J-LIS's node may deliver the events of the card centre it
    hosts; another node may not pass them off as its own."""
    from myna.transport.http import EVENTS_PATH, events_route

    world.cards.suspend(world.card_number)
    event, _ = sent(world.cards)[-1]
    with world.town.engine.begin() as conn:  # the town forgets it had it
        conn.execute(ev.event_inbox.delete().where(ev.event_inbox.c.event_id == event.event_id))
        conn.execute(ev.event_positions.delete())
        conn.execute(rt.card_states.delete())
    [(receive, may_send)] = [events_route(world.town.inbox, lambda c: c == "jlis")[EVENTS_PATH]]
    payload = {"events": [event.as_json()]}
    assert may_send("jlis") and not may_send("hub")
    refused = receive("hub", payload)
    assert refused["applied"] == [] and "PermissionDenied" in refused["error"]
    assert world.town.card_states(world.resident_id) == []
    assert receive("jlis", payload)["applied"] == [event.event_id]
    assert world.town.card_states(world.resident_id)[0].status is CardStatus.SUSPENDED
