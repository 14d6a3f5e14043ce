"""A linkage exchange resumes after kill -9 of any node at each step.

Hub and both intermediate servers run as processes; one of them kills itself
(SIGKILL) at a named step of the exchange.  It is restarted and the requester's
business system sends the same request again, with the same id.  Afterwards: it
was provided exactly once, the requester recorded it once, the hub holds one
final record, and ``myna check`` finds nothing unfinished.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from myna.check import check_installation
from myna.errors import MynaError
from myna.hub import storage as ht
from myna.intermediate import storage as it
from myna.keys import FileKeyStore
from myna.linkage.network import NodeUnavailable
from myna.netca import NetworkCA
from myna.system import MynaSystem
from myna.transport.http import NodeIdentity, _Client
from myna.transport.processes import free_port, start, stop
from pension import NENKIN, TOWN, TOWN_INST, held_by_town_and_pension

pytestmark = pytest.mark.slow

NODES = ["hub", f"intermediate:{TOWN_INST}", f"intermediate:{NENKIN}"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("exchange") / "data"
    system = MynaSystem(data)
    held_by_town_and_pension(system)
    system.dispose()
    return data


def _count(engine: Any, query: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize(("node", "step"), [
    (f"intermediate:{TOWN_INST}", "exchange:after-intent"),
    ("hub", "exchange:after-provider"),
    (f"intermediate:{NENKIN}", "exchange:provider-after-commit"),
    (f"intermediate:{TOWN_INST}", "exchange:after-answer"),
])
def test_exchange_completes_once_when_sent_again_after_kill(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: str, step: str,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    system = MynaSystem(data)
    ports = {n: free_port() for n in NODES}
    system.config.endpoints = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    system.save_config()
    atena_no = system.municipality(TOWN).atena_no(1)
    system.dispose()

    def run(name: str, kill_at: str | None = None) -> subprocess.Popen[bytes]:
        if kill_at:
            monkeypatch.setenv("MYNA_KILL_AT", kill_at)
        try:
            return start(["serve", "--node", name, "--port", str(ports[name]), "--data-dir",
                          str(data)], ports[name], data / f"{name.replace(':', '-')}.log")
        finally:
            monkeypatch.delenv("MYNA_KILL_AT", raising=False)

    procs = {n: run(n, step if n == node else None) for n in NODES}
    ca = NetworkCA(FileKeyStore(data / "keys"), data / "netca")
    key, cert = ca.identity(f"business:{TOWN_INST}")
    business = _Client(system.config.endpoints[f"intermediate:{TOWN_INST}"],
                       NodeIdentity(f"business:{TOWN_INST}", key, cert))
    ask = {"atena_no": atena_no, "row_id": "T2-0002", "affair": "児童手当の支給",
           "provider": NENKIN, "item": "年金給付関係情報", "request_id": "R-0001"}
    try:
        try:
            first = business.post("/node/v1/intermediate/request", ask)
        except (NodeUnavailable, MynaError, httpx.HTTPError):
            pass  # the node that answers the business system died
        else:  # the provider died: the hub recorded the failed attempt and said so
            assert node == f"intermediate:{NENKIN}" and first["result"] == "failed"
        assert procs[node].wait(timeout=20) == -9  # it really died at that step
        procs[node] = run(node)
        answer = business.post("/node/v1/intermediate/request", ask)
        assert answer["result"] == "provided"
        assert answer["payload"]["年額"] == 780_000
    finally:
        stop(list(procs.values()))

    system = MynaSystem(data)
    try:
        provider = system.intermediates[NENKIN].engine
        requester = system.intermediates[TOWN_INST].engine
        assert _count(provider, select(func.count()).select_from(it.journal).where(
            it.journal.c.request_id == "R-0001", it.journal.c.direction == "in",
            it.journal.c.result == "provided")) == 1
        assert _count(requester, select(func.count()).select_from(it.journal).where(
            it.journal.c.request_id == "R-0001", it.journal.c.direction == "out")) == 1
        assert _count(system.hub.engine, select(func.count()).select_from(ht.records).where(
            ht.records.c.request_id == "R-0001", ht.records.c.result == "provided")) == 1
        assert check_installation(system).ok
    finally:
        system.dispose()
