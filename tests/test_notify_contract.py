"""番号通知 through its contract: one story against the service in-process, against
the HTTP routes and client, and against a separately started J-LIS node; a town acts
only on its own batches, letters, registrations and application forms."""

from __future__ import annotations

import ast
import datetime as dt
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import myna
from myna.contracts.notify import (
    ApplicationFormsApi,
    HouseholdNotice,
    LetterKind,
    LetterState,
    MemberNotice,
    NotifyApi,
    ReturnReason,
    household_from_json,
    household_to_json,
    letter_from_json,
    letter_to_json,
)
from myna.db import make_engine
from myna.errors import Conflict, NotFound, PermissionDenied
from myna.keys import MemoryKeyStore
from myna.netca import NetworkCA
from myna.notify.routes import notify_routes
from myna.notify.service import NotificationService
from myna.numbers import individual
from myna.system import MynaSystem
from myna.transport.http import NodeIdentity, node_app
from myna.transport.notify_client import NotifyClient
from myna.transport.processes import free_port, running_nodes

KUNITACHI, KOKUBUNJI = "132152", "132144"
HOME = "東京都国立市北1丁目2番3号"
FACILITY = "東京都府中市緑町2丁目3番4号"


def number(resident_id: int) -> str:
    base = f"{resident_id * 7919 + 31:011d}"
    return base + str(individual.calc_check_digit(base))


def households(first: int = 1) -> list[HouseholdNotice]:
    """Two households: 国立 (two people) and 谷保 (one)."""
    def member(rid: int, name: str, kana: str, born: int, sex: str) -> MemberNotice:
        return MemberNotice(rid, name, kana, dt.date(born, 4, 1), sex, number(rid))

    return [
        HouseholdNotice("1", "1860001", HOME, (
            member(first, "国立 太郎", "くにたち たろう", 1975, "男"),
            member(first + 1, "髙橋 花子", "たかはし はなこ", 1978, "女"))),
        HouseholdNotice("2", "1860011", "東京都国立市谷保5丁目6番7号", (
            member(first + 2, "谷保 一郎", "やほ いちろう", 1950, "男"),)),
    ]


def story(api: NotifyApi, code: str) -> int:
    """Batch → mailed → one returned → follow-up → 居所 for re-mailing → re-mailed.
    Returns the id of the returned letter."""
    notices = households()
    batch = api.prepare_batch(code, "国立市", notices)
    assert (batch.household_letters, batch.alternative_letters, batch.people) == (2, 0, 3)
    assert batch.mailed_at is None and api.batch(batch.batch_id) == batch
    mailed = api.mark_mailed(batch.batch_id)
    assert mailed.mailed_at is not None and mailed.letter_ids == batch.letter_ids
    with pytest.raises(Conflict):
        api.mark_mailed(batch.batch_id)
    assert [b.batch_id for b in api.batches(code)] == [batch.batch_id]

    home, lost = (api.letter(i) for i in batch.letter_ids)
    assert [m.name for m in home.members] == ["国立 太郎", "髙橋 花子"]  # as written
    assert home.state is LetterState.MAILED and home.holding_until is None
    assert api.record(home.letter_id, LetterState.DELIVERED).state is LetterState.DELIVERED
    returned = api.record(lost.letter_id, "返戻", ReturnReason.UNKNOWN_ADDRESS, note="転居先不明")
    assert returned.reason is ReturnReason.UNKNOWN_ADDRESS and returned.note == "転居先不明"
    assert api.record(lost.letter_id, LetterState.HELD).state is LetterState.HELD
    assert api.letter(lost.letter_id).holding_until is not None

    [entry] = api.follow_up(code)
    assert (entry.letter_id, entry.names, entry.resident_ids) == (
        lost.letter_id, ("谷保 一郎",), (notices[1].members[0].resident_id,))
    assert entry.state is LetterState.HELD and entry.holding_until is not None
    overall = api.stats(code).overall
    assert (overall.mailed, overall.returned, overall.unreached) == (2, 1, 1)
    assert overall.by_reason[ReturnReason.UNKNOWN_ADDRESS] == 1
    assert api.dispose_expired(code) == []  # still within the holding period
    assert api.holding_months == 3

    assert api.letter_pdf(home.letter_id).startswith(b"%PDF")
    assert Image.open(io.BytesIO(api.chart_png(code))).format == "PNG"
    form = api.application(home.members[1].application_id)
    assert (form.resident_id, form.name, form.used) == (home.members[1].resident_id,
                                                         "髙橋 花子", False)

    # the letter came back: his letter goes to the facility he lives in, on re-mailing
    rid = entry.resident_ids[0]
    with pytest.raises(Conflict):  # mailed already: only for re-mailing
        api.register_alternative(code, rid, "施設入所者", "1830022", FACILITY)
    registration = api.register_alternative(code, rid, "施設入所者", "〒183-0022", FACILITY,
                                            care_of="緑町ホーム 気付", for_remailing=True)
    assert registration.for_remailing and registration.destination.postcode == "1830022"
    assert registration.moved_to_letter is None and api.alternatives(code) == [registration]
    again = api.prepare_batch(code, "国立市", [notices[1]])
    assert (again.household_letters, again.alternative_letters) == (0, 1)
    api.mark_mailed(again.batch_id)
    [new_id] = again.letter_ids
    remailed = api.letter(new_id)
    assert remailed.kind is LetterKind.ALTERNATIVE and remailed.state is LetterState.MAILED
    assert remailed.destination.address == FACILITY
    assert remailed.destination.care_of == "緑町ホーム 気付"
    assert [x.letter_id for x in api.letters(code)] == [home.letter_id, lost.letter_id, new_id]
    api.withdraw_alternative(code, rid)
    assert api.alternatives(code) == []
    with pytest.raises(NotFound):
        api.withdraw_alternative(code, rid)
    return lost.letter_id


def test_the_service_implements_the_contracts(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'notify.db'}", "notify")
    service = NotificationService(engine)
    service.create_schema()
    api: NotifyApi = service  # checked by mypy: the service is the contract
    forms: ApplicationFormsApi = service
    story(api, KUNITACHI)
    assert forms.application(api.letter(1).members[0].application_id).letter_id == 1
    engine.dispose()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_notification_node_imports_nothing_of_a_town() -> None:
    src = Path(myna.__file__).parent
    town = ("myna.registry", "myna.web", "myna.municipality", "myna.atena",
            "myna.intermediate", "myna.hub")
    for path in sorted((src / "notify").rglob("*.py")):
        bad = {m for m in _imports(path) if m.startswith(town)}
        assert not bad, f"{path.relative_to(src)} imports {bad}"
    kernel = ("myna.clock", "myna.errors", "myna.numbers", "myna.events", "myna.linkage")
    contract = {m for m in _imports(src / "contracts" / "notify.py") if m.startswith("myna")}
    assert contract <= set(kernel), contract  # no storage, no web, no organisation


def test_values_survive_the_wire() -> None:
    [h, _] = households()
    assert household_from_json(household_to_json(h)) == h


# -- over HTTP ----------------------------------------------------------------------------------


def client_for(ca: NetworkCA, base_url: str, code: str,
               http: TestClient | None = None) -> NotifyClient:
    node = f"municipality:{code}"
    key, cert = ca.identity(node)
    return NotifyClient(base_url, NodeIdentity(node, key, cert), client=http)


@pytest.fixture
def routes(tmp_path: Path) -> Iterator[tuple[NetworkCA, TestClient, NotificationService]]:
    """The node's routes in their node app, reached by the real client (signed requests)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'notify.db'}", "notify")
    service = NotificationService(engine)
    service.create_schema()
    ca = NetworkCA(MemoryKeyStore(), tmp_path / "netca")
    with TestClient(node_app("J-LIS", ca.certificate, notify_routes(service))) as http:
        yield ca, http, service
    engine.dispose()


def test_the_story_through_the_routes(
    routes: tuple[NetworkCA, TestClient, NotificationService],
) -> None:
    ca, http, service = routes
    api: NotifyApi = client_for(ca, "http://testserver", KUNITACHI, http)
    lost = story(api, KUNITACHI)
    assert letter_from_json(letter_to_json(service.letter(lost))) == service.letter(lost)


def test_a_town_acts_only_on_its_own(
    routes: tuple[NetworkCA, TestClient, NotificationService],
) -> None:
    ca, http, service = routes
    own = client_for(ca, "http://testserver", KUNITACHI, http)
    other = client_for(ca, "http://testserver", KOKUBUNJI, http)
    batch = own.prepare_batch(KUNITACHI, "国立市", households())
    letter_id = batch.letter_ids[0]
    form = own.letter(letter_id).members[0].application_id
    own.register_alternative(KUNITACHI, 1, "長期入院者", "1000001", FACILITY)
    refused: list[Callable[[], object]] = [
        lambda: other.letter(letter_id),
        lambda: other.letter_pdf(letter_id),
        lambda: other.record(letter_id, "配達済み"),
        lambda: other.batch(batch.batch_id),
        lambda: other.mark_mailed(batch.batch_id),
        lambda: other.batches(KUNITACHI),
        lambda: other.letters(KUNITACHI),
        lambda: other.follow_up(KUNITACHI),
        lambda: other.stats(KUNITACHI),
        lambda: other.stats(),  # the national figures are J-LIS's own
        lambda: other.chart_png(KUNITACHI),
        lambda: other.alternatives(KUNITACHI),
        lambda: other.withdraw_alternative(KUNITACHI, 1),
        lambda: other.register_alternative(KUNITACHI, 2, "長期入院者", "1000001", FACILITY),
        lambda: other.prepare_batch(KUNITACHI, "国立市", households(10)),
        lambda: other.dispose_expired(KUNITACHI),
        lambda: other.application(form),
    ]
    for call in refused:
        with pytest.raises(PermissionDenied) as caught:
            call()
        assert "他の市区町村" in caught.value.message_ja
    # nothing of it happened
    assert service.batch(batch.batch_id).mailed_at is None
    assert service.letter(letter_id).state is LetterState.PREPARED
    assert [a.resident_id for a in service.alternatives(KUNITACHI)] == [1]
    assert len(service.batches()) == 1
    # the other town sees only its own (nothing yet), and the owner still everything
    assert other.batches(KOKUBUNJI) == [] and other.letters(KOKUBUNJI) == []
    assert own.letter(letter_id).municipality_code == KUNITACHI


def test_only_towns_call_the_routes(
    routes: tuple[NetworkCA, TestClient, NotificationService],
) -> None:
    ca, http, _ = routes
    key, cert = ca.identity("business:nenkin")
    outsider = NotifyClient("http://testserver", NodeIdentity("business:nenkin", key, cert),
                            client=http)
    with pytest.raises(PermissionDenied):
        outsider.batches(KUNITACHI)


@pytest.mark.slow
def test_the_story_against_a_separate_jlis_node(tmp_path: Path) -> None:
    data = tmp_path / "data"
    system = MynaSystem(data)
    port = free_port()
    system.config.endpoints = {"jlis": f"http://127.0.0.1:{port}"}
    system.save_config()
    keys = system.keys
    system.dispose()
    with running_nodes(data, {"jlis": port}):
        ca = NetworkCA(keys, data / "netca")
        url = f"http://127.0.0.1:{port}"
        town = client_for(ca, url, KUNITACHI)
        lost = story(town, KUNITACHI)
        with pytest.raises(PermissionDenied):  # another town reads the letter: refused
            client_for(ca, url, KOKUBUNJI).letter(lost)
        assert town.letter(lost).state is LetterState.HELD
