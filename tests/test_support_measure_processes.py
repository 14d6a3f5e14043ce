"""支援措置 across processes: hub, J-LIS and two intermediate servers each in their own.

The town (registry and 統合宛名) runs in the test process and reaches the others
only over HTTP: its events to J-LIS and the notification mailing, the 統合宛名's
to its intermediate server, which asks the hub, which tells the pension
institution's server — each hop a durable event between processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from myna.atena.service import AtenaService
from myna.contracts.jlis import WITHHELD
from myna.events import InboxSink, Relay
from myna.keys import FileKeyStore
from myna.netca import NetworkCA
from myna.notify.service import NotificationService
from myna.registry.domain import Role
from myna.registry.service import MunicipalityRegistry
from myna.system import MynaSystem
from myna.transport.http import HttpNetwork, NodeIdentity, _Client
from myna.transport.processes import free_port, running_nodes
from pension import ADDRESS, NENKIN, TOWN, TOWN_INST, held_by_town_and_pension

pytestmark = pytest.mark.slow

RESIDENCE = ("1850012", "東京都国分寺市本町二丁目3番4号")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("dv")
    system = MynaSystem(data)
    held = held_by_town_and_pension(system)
    town, rid, number = held.town, held.rid, held.number
    atena_no = town.atena_no(rid)
    town.registry.create_staff("sup", "係長", Role.SUPERVISOR, "password-1234")
    system.jlis.register_caller("kenkei", "警視庁", ["支援措置の確認"])
    system.jlis.register_caller("shakyo", "社会保険事務", ["資格確認"])
    nodes = ["hub", "jlis", f"intermediate:{TOWN_INST}", f"intermediate:{NENKIN}"]
    ports = {node: free_port() for node in nodes}
    system.config.endpoints = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    system.save_config()
    endpoints = system.config.endpoints
    system.dispose()
    keys = FileKeyStore(data / "keys")
    ca = NetworkCA(keys, data / "netca")

    def network(node: str) -> HttpNetwork:
        key, cert = ca.identity(node)
        return HttpNetwork(endpoints, NodeIdentity(node, key, cert))

    config = MynaSystem.read_config(data)
    registry = MunicipalityRegistry(config.engine(data, f"registry-{TOWN}"), TOWN,
                                    network(f"municipality:{TOWN}").jlis())
    atena = AtenaService(config.engine(data, f"atena-{TOWN}"), node=f"atena:{TOWN}",
                         intermediate=f"intermediate:{TOWN_INST}")
    town_net = network(f"municipality:{TOWN}")
    to_others = Relay(registry.outbox, lambda d: InboxSink(atena.inbox) if d == atena.inbox.node
                      else town_net.events(d))
    from_atena = Relay(atena.outbox, network(f"atena:{TOWN}").events)

    def publish() -> None:
        to_others.deliver()
        from_atena.deliver()

    registry.publish = publish
    with running_nodes(data, ports):
        yield {"data": data, "registry": registry, "rid": rid, "number": number,
               "atena_no": atena_no, "endpoints": endpoints, "ca": ca,
               "notify": NotificationService(config.engine(data, "notify"))}
    for engine in (registry.engine, atena.engine):
        engine.dispose()


def _client(world: dict[str, Any], inst: str, node: str) -> _Client:
    key, cert = world["ca"].identity(f"business:{inst}")
    return _Client(world["endpoints"][node], NodeIdentity(f"business:{inst}", key, cert))


def _eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _pension_protected(world: dict[str, Any]) -> bool:
    answer = _client(world, NENKIN, f"intermediate:{NENKIN}").post(
        "/node/v1/intermediate/protected", {"atena_no": "P-0001"})
    return bool(answer["protected"])


def _town_asks_pension(world: dict[str, Any]) -> str:
    answer = _client(world, TOWN_INST, f"intermediate:{TOWN_INST}").post(
        "/node/v1/intermediate/request", {
            "atena_no": world["atena_no"], "row_id": "T2-0002", "affair": "児童手当の支給",
            "provider": NENKIN, "item": "年金給付関係情報"})
    return str(answer["result"])


def _address_for(world: dict[str, Any], caller: str, purpose: str) -> str:
    answer = _client(world, caller, "jlis").post("/node/v1/jlis/identity", {
        "purpose": purpose, "number": world["number"]})
    assert answer["resident_code"] is None  # 住基法: not for these callers
    return str(answer["address"])


def test_support_measure_set_and_lifted_across_processes(world: dict[str, Any]) -> None:
    registry: MunicipalityRegistry = world["registry"]
    supervisor = registry.authenticate("sup", "password-1234")
    assert _town_asks_pension(world) == "provided"

    registry.set_support_measure(supervisor, world["rid"], True, "DV支援措置の申出",
                                 residence=RESIDENCE, approved_callers=["kenkei"])
    assert registry.outbox.backlog() == []
    assert _eventually(lambda: _pension_protected(world))
    assert _town_asks_pension(world) == "pending"
    assert _address_for(world, "shakyo", "資格確認") == WITHHELD
    assert _address_for(world, "kenkei", "支援措置の確認") == ADDRESS
    [alt] = world["notify"].alternatives(TOWN)
    assert (alt.resident_id, alt.destination.address) == (world["rid"], RESIDENCE[1])

    registry.set_support_measure(supervisor, world["rid"], False, "支援措置の終了")
    assert _eventually(lambda: not _pension_protected(world))
    assert _town_asks_pension(world) == "provided"
    assert _address_for(world, "shakyo", "資格確認") == ADDRESS
    assert world["notify"].alternatives(TOWN) == []
