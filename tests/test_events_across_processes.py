"""A municipality and J-LIS as separate processes: calls over HTTP, facts as durable events.

The registry runs in the test process with an HTTP client of J-LIS and an HTTP
event sink; J-LIS runs as ``myna serve --node jlis``.  A change made while J-LIS
is down waits in the registry's outbox and arrives once J-LIS is back.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from myna.clock import jst_today
from myna.errors import PermissionDenied
from myna.events import Relay
from myna.events import storage as et
from myna.jlis import storage as jt
from myna.netca import NetworkCA
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.registry.service import InitialResident, MunicipalityRegistry
from myna.system import MynaSystem
from myna.transport.http import HttpNetwork, NodeIdentity
from myna.transport.processes import free_port, start, stop

pytestmark = pytest.mark.slow

TOWN, OTHER = "132152", "132144"


def _network(data: Path, keys: Any, endpoints: dict[str, str], node: str) -> HttpNetwork:
    ca = NetworkCA(keys, data / "netca")
    key, cert = ca.identity(node)
    return HttpNetwork(endpoints, NodeIdentity(node, key, cert))


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("split")
    system = MynaSystem(data)
    for code in (TOWN, OTHER):
        system.add_municipality(code)
    port = free_port()
    system.config.endpoints = {"jlis": f"http://127.0.0.1:{port}"}
    system.save_config()
    engine = system.config.engine(data, f"registry-{TOWN}")
    keys = system.keys
    system.dispose()
    log = data / "jlis.log"
    args = ["serve", "--node", "jlis", "--port", str(port), "--data-dir", str(data)]
    proc = start(args, port, log)
    network = _network(data, keys, system.config.endpoints, f"municipality:{TOWN}")
    registry = MunicipalityRegistry(engine, TOWN, network.jlis())
    relay = Relay(registry.outbox, {"jlis": network.events("jlis")})
    registry.publish = lambda: None if relay.deliver() else None
    state = {"data": data, "registry": registry, "relay": relay, "proc": proc, "args": args,
             "port": port, "log": log, "keys": keys, "endpoints": system.config.endpoints}
    yield state
    stop([state["proc"]])
    engine.dispose()


def _jlis(town: dict[str, Any]) -> MynaSystem:
    return MynaSystem(town["data"])


def _person(town: dict[str, Any], code: str) -> Any:
    system = _jlis(town)
    try:
        with system.jlis.engine.connect() as conn:
            return conn.execute(select(jt.persons).where(jt.persons.c.resident_code == code)
                                ).first()
    finally:
        system.dispose()


def test_numbering_and_births_go_through_j_lis_in_its_own_process(
    town: dict[str, Any],
) -> None:
    registry: MunicipalityRegistry = town["registry"]
    registry.register_initial([InitialResident(
        PersonDetails("鰐淵\u3000花子", "わにぶち\u3000はなこ", dt.date(1990, 1, 1), "女"), "h1",
        "世帯主", "1860001", "東京都国立市北一丁目1番1号", dt.date(2015, 4, 1))])
    assert registry.initial_numbering() == 1
    [(rid, code, number)] = registry.carried_numbers()
    assert number and _person(town, code).name == "鰐淵\u3000花子"
    supervisor = registry.create_staff("sup", "係長", Role.SUPERVISOR, "係長のパスワード2026")
    baby = registry.register_birth(
        supervisor, PersonDetails("鰐淵\u3000桜", "わにぶち\u3000さくら",
                                  jst_today() - dt.timedelta(days=2), "女"),
        HouseholdPlacement("子", household_number=registry.view(
            supervisor, rid, "resident-registry").household_number))
    assert _person(town, baby.resident_code).address == baby.address
    # another town cannot have J-LIS number this town's codes
    other = _network(town["data"], town["keys"], town["endpoints"], f"municipality:{OTHER}")
    with pytest.raises(PermissionDenied, match="別の市区町村"):
        other.jlis().assign_number(OTHER, baby.resident_code)


def test_a_change_made_while_j_lis_is_down_arrives_when_it_is_back(
    town: dict[str, Any],
) -> None:
    registry: MunicipalityRegistry = town["registry"]
    supervisor = registry.authenticate("sup", "係長のパスワード2026")
    [(rid, code, _), *_] = registry.carried_numbers()
    town["proc"].send_signal(signal.SIGKILL)
    town["proc"].wait(timeout=10)
    moved = registry.move_within(
        supervisor, rid, HouseholdPlacement("世帯主", postcode="1860002",
                                            address="東京都国立市東二丁目2番2号"),
        jst_today())
    # the 転居届 is recorded; J-LIS's copy waits in the outbox, and says why
    [backlog] = registry.outbox.backlog()
    assert backlog.destination == "jlis" and backlog.pending >= 1 and backlog.attempts >= 1
    assert _person(town, code).address != moved.address
    town["proc"] = start(town["args"], town["port"], town["log"])
    registry.publish()
    assert registry.outbox.backlog() == []
    assert _person(town, code).address == moved.address
    # J-LIS in turn tells JPKI and the card centre in its process (its outbox drains)
    system = _jlis(town)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with system.jlis.engine.connect() as conn:
                waiting = conn.execute(select(et.event_outbox.c.seq).where(
                    et.event_outbox.c.delivered_at.is_(None))).first()
            if waiting is None:
                break
            time.sleep(0.2)
        assert waiting is None
    finally:
        system.dispose()
