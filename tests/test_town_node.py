"""Each municipality as its own node: ``myna serve --node municipality:<code>``.

Two towns, J-LIS, the hub and the towns' intermediate servers each run in their
own process.  Staff use each town's own API; the town reaches J-LIS for numbers
and the other town for a 転出証明書 only over HTTP, and its process opens no
database but its own.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myna.clock import jst_today
from myna.registry.domain import PersonDetails, Role
from myna.registry.service import InitialResident, MunicipalityRegistry
from myna.system import MynaSystem
from myna.transport.processes import free_port, running_nodes

pytestmark = pytest.mark.slow

OLD, NEW = "132152", "132144"
PASSWORD = "town-node-password-1"


@pytest.fixture(scope="module")
def towns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("towns")
    system = MynaSystem(data)
    heads = {}
    for code, family in ((OLD, "鰐淵"), (NEW, "鷲尾")):
        registry = system.add_municipality(code)
        registry.register_initial([InitialResident(
            PersonDetails(f"{family}\u3000一郎", "ためし\u3000いちろう", dt.date(1980, 5, 5), "男"),
            "h1", "世帯主", "1860001", f"{registry.title}本町1丁目1番1号", dt.date(2015, 4, 1))])
        registry.initial_numbering()
        registry.create_staff("clerk", "窓口 花子", Role.CLERK, PASSWORD)
        registry.create_staff("sup", "係長 一郎", Role.SUPERVISOR, PASSWORD)
        heads[code] = registry.current_residents()[0]
        batch = system.municipalities[code].notify_numbers(system.notify)
        system.notify.mark_mailed(batch.batch_id)
    nodes = ["hub", "jlis", f"intermediate:municipality-{OLD}",
             f"intermediate:municipality-{NEW}", f"municipality:{OLD}", f"municipality:{NEW}"]
    ports = {node: free_port() for node in nodes}
    system.config.endpoints = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    system.save_config()
    endpoints = dict(system.config.endpoints)
    system.deliver_events()
    system.dispose()
    with running_nodes(data, ports) as procs:
        yield {"data": data, "endpoints": endpoints, "heads": heads,
               "pids": dict(zip(nodes, [p.pid for p in procs], strict=True))}


def _api(world: dict[str, Any], code: str) -> tuple[httpx.Client, dict[str, str]]:
    client = httpx.Client(base_url=world["endpoints"][f"municipality:{code}"], timeout=30)
    token = client.post("/api/v1/token", data={"username": f"{code}:clerk",
                                               "password": PASSWORD})
    assert token.status_code == 200, token.text
    return client, {"Authorization": f"Bearer {token.json()['access_token']}"}


def _eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _registry(world: dict[str, Any], code: str) -> MunicipalityRegistry:
    config = MynaSystem.read_config(world["data"])
    return MunicipalityRegistry(config.engine(world["data"], f"registry-{code}"), code,
                                None)  # type: ignore[arg-type]  # read-only inspection


def test_a_birth_at_the_town_node_gets_its_number_from_jlis(towns: dict[str, Any]) -> None:
    client, headers = _api(towns, OLD)
    head = towns["heads"][OLD]
    born = client.post(f"/api/v1/municipalities/{OLD}/residents/births", headers=headers, json={
        "person": {"name": "鰐淵\u3000次郎", "furigana": "わにぶち\u3000じろう",
                   "birth_date": (jst_today() - dt.timedelta(days=2)).isoformat(),
                   "sex": "男"},
        "placement": {"relationship": "子", "household_number": head.household_number}})
    assert born.status_code == 201, born.text
    assert born.json()["masked_number"].startswith("**** **** ")
    # J-LIS keeps the number once the town's identity.recorded event reached it
    check = _eventually(lambda: _check(towns).returncode == 0)
    assert check, _check(towns).stdout


def _check(world: dict[str, Any]) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "myna.cli", "check", "--data-dir",
                           str(world["data"])], capture_output=True, text=True, timeout=120)


def test_the_new_town_checks_the_certificate_with_the_old_towns_node(
    towns: dict[str, Any],
) -> None:
    old, old_headers = _api(towns, OLD)
    new, new_headers = _api(towns, NEW)
    head = towns["heads"][OLD]
    out = old.post(f"/api/v1/municipalities/{OLD}/residents/{head.resident_id}/move-out",
                   headers=old_headers, json={"destination": "東京都国分寺市本町2-2-2",
                                              "moving_on": jst_today().isoformat()})
    assert out.status_code == 201, out.text
    certificate = out.json()
    body = {"moved_on": jst_today().isoformat(),
            "placement": {"relationship": "世帯主", "postcode": "1850012",
                          "address": "東京都国分寺市本町2-2-2"}}
    path = f"/api/v1/municipalities/{NEW}/residents/move-ins"
    forged = new.post(path, headers=new_headers,
                      json=body | {"certificate": certificate | {"name": "別人\u3000一郎"}})
    assert forged.status_code == 422, forged.text
    assert "転出元の記録と一致しません（氏名）" in forged.json()["message"]
    invented = new.post(path, headers=new_headers, json=body | {
        "certificate": certificate | {"certificate_id": "X" + certificate["certificate_id"]}})
    assert invented.status_code == 422 and "発行記録がありません" in invented.json()["message"]
    moved = new.post(path, headers=new_headers, json=body | {"certificate": certificate})
    assert moved.status_code == 201, moved.text
    log = _registry(towns, OLD).access_log(head.resident_id)
    assert f"転入地（{NEW}）からの照合" in {e.purpose for e in log}


def test_a_town_node_serves_its_own_town_only(towns: dict[str, Any]) -> None:
    client, headers = _api(towns, OLD)
    other = client.get(f"/api/v1/municipalities/{NEW}/affairs", headers=headers)
    assert other.status_code in (403, 404)
    signed_elsewhere = client.post("/api/v1/token", data={"username": f"{NEW}:clerk",
                                                          "password": PASSWORD})
    assert signed_elsewhere.status_code in (401, 404), signed_elsewhere.text


def _open_databases(pid: int) -> set[str]:
    names = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        name = Path(target).name
        if ".sqlite3" in name:  # the file, its -wal and its -shm
            names.add(name.split(".sqlite3")[0])
    return names


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to list open files")
def test_a_town_node_opens_only_its_own_databases(towns: dict[str, Any]) -> None:
    client, headers = _api(towns, OLD)  # the node has served (and so opened what it uses)
    assert client.get(f"/api/v1/municipalities/{OLD}/affairs", headers=headers).status_code == 200
    opened = _open_databases(towns["pids"][f"municipality:{OLD}"])
    assert opened <= {f"registry-{OLD}", f"atena-{OLD}"}, opened
    assert f"registry-{OLD}" in opened


def _signed_in(world: dict[str, Any], code: str, staff_id: str) -> httpx.Client:
    client = httpx.Client(base_url=world["endpoints"][f"municipality:{code}"], timeout=30)
    page = client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    signed = client.post("/signin", data={"csrf_token": token[1], "municipality": code,
                                          "staff_id": staff_id, "password": PASSWORD},
                         follow_redirects=True)
    assert signed.status_code == 200, signed.text[:500]
    return client


@pytest.mark.parametrize("path", [
    "/m/{code}/notify", "/m/{code}/notify/letters?purpose=my-number",
    "/m/{code}/notify/follow-up?purpose=my-number", "/m/{code}/cards",
    "/m/{code}/linkage/records", "/m/{code}/linkage/pending?purpose=local-tax",
    "/m/{code}/residents/{rid}?purpose=resident-registry",
])
def test_the_town_nodes_screens_reach_the_others_over_http(
    towns: dict[str, Any], path: str,
) -> None:
    """Each screen that shows what another organisation holds (letters at J-LIS, cards at
    the card centre, records at the hub, the queue at the town's intermediate server)."""
    client = _signed_in(towns, NEW, "sup")
    head = towns["heads"][NEW]
    page = client.get(path.format(code=NEW, rid=head.resident_id))
    assert page.status_code == 200, page.text[:1000]
    assert "Traceback" not in page.text and "システムエラー" not in page.text
    if "notify/letters" in path:
        assert "鷲尾" in page.text  # the town's own letter, read from J-LIS
