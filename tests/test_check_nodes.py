"""``myna check`` across processes: each node compares its part, through the others'
interfaces, and answers the protection commission's node only."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from myna.cli import app
from myna.cluster import node_ids
from myna.config import read_config
from myna.contracts.check import CHECK_PATH
from myna.errors import PermissionDenied
from myna.keys import FileKeyStore
from myna.netca import NetworkCA
from myna.system import MynaSystem
from myna.transport.http import NodeIdentity, _Client
from myna.transport.processes import free_port, running_nodes

pytestmark = pytest.mark.slow  # the demo's nodes as processes

runner = CliRunner()


def _check(data: Path, *options: str) -> tuple[int, dict]:
    done = runner.invoke(app, ["check", "--data-dir", str(data), "--json", *options])
    assert done.exit_code in (0, 1), done.output
    return done.exit_code, json.loads(done.stdout)


def test_the_nodes_check_each_other_over_http(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    built = runner.invoke(app, ["demo", "--residents", "50", "--data-dir", str(data), "--json"])
    assert built.exit_code == 0, built.output[-2000:]
    code, in_process = _check(data)
    assert code == 0 and in_process["ok"], in_process
    system = MynaSystem(data)
    config = system.config
    ports = {node: free_port() for node in node_ids(data)}
    config.endpoints = {node: f"http://127.0.0.1:{port}" for node, port in ports.items()}
    system.save_config()
    secrets = [r.individual_number for code in config.municipalities
               for r in system.registry(code).current_residents() if r.individual_number]
    system.dispose()
    with running_nodes(data, ports):
        code, across = _check(data)  # endpoints are set: the nodes are asked
        assert code == 0 and across["ok"], across
        assert across["compared"] == in_process["compared"]

        ca = NetworkCA(FileKeyStore(data / "keys"), data / "netca")
        town = read_config(data).municipalities[0]
        for caller in (f"municipality:{town}", "hub", f"business:municipality-{town}"):
            with pytest.raises(PermissionDenied):
                _Client(config.endpoints["jlis"], NodeIdentity.of(ca, caller)).post(
                    CHECK_PATH, {})

        with sqlite3.connect(data / "jlis.sqlite3") as db:  # J-LIS loses one number
            db.execute("UPDATE numbers SET status = 'retired' WHERE rowid = "
                       "(SELECT min(rowid) FROM numbers WHERE status = 'active')")
        code, broken = _check(data)
        assert code == 1
        [found] = [d for d in broken["disagreements"]
                   if d["what_en"].startswith("residents whose number J-LIS does not hold")]
        assert found["count"] == 1 and found["examples"][0].startswith("住民ID ")
        assert found["nodes"].endswith("↔ J-LIS")
        shown = json.dumps(broken, ensure_ascii=False)
        assert not any(number in shown for number in secrets)
    down = runner.invoke(app, ["check", "--data-dir", str(data)])
    assert down.exit_code == 2 and "接続できません" in down.output, down.output
    code, local = _check(data, "--in-process")
    assert code == 1 and [d["what_en"] for d in local["disagreements"]] == [found["what_en"]]

    # the 統合宛名 loses a resident, the town's intermediate server another one's 符号
    system = MynaSystem(data)
    town = config.municipalities[0]
    (lost, _, _), (uncoded, _, _) = system.registry(town).carried_numbers()[-2:]
    atena_nos = system.municipalities[town].atena.numbers_by_resident()
    atena_no = atena_nos[uncoded]
    system.dispose()
    with sqlite3.connect(data / f"atena-{town}.sqlite3") as db:
        db.execute("DELETE FROM atena WHERE resident_id = ?", (lost,))
    with sqlite3.connect(data / f"intermediate-municipality-{town}.sqlite3") as db:
        assert db.execute("DELETE FROM codes WHERE atena_no = ?", (atena_no,)).rowcount == 1
    code, gaps = _check(data, "--in-process")
    named = {d["what_en"].split(" (")[0]: d["examples"] for d in gaps["disagreements"]}
    assert named["宛名番号 with a 符号 at the intermediate server that the 統合宛名 does not "
                 "know"] == [f"宛名番号 {atena_nos[lost]}"]
    assert named["統合宛名 entries whose 符号 was delivered but is no longer held"] == [
        f"住民ID {uncoded}"]


@pytest.mark.parametrize(("node", "said"), [
    ("intermediate:nosuch", "機関 nosuch はこのシステムに登録されていません"),
    ("municipality:011002", "市区町村コード 011002 はこのシステムに登録されていません"),
    ("registry", "ノードの指定が不正です"),
], ids=["institution", "town", "kind"])
def test_an_unknown_node_is_refused_before_anything_is_made(
    tmp_path: Path, node: str, said: str,
) -> None:
    data = tmp_path / "data"
    system = MynaSystem(data)
    system.add_municipality("132152")
    system.dispose()
    before = sorted(p.name for p in data.rglob("*"))
    done = runner.invoke(app, ["serve", "--node", node, "--port", str(free_port()),
                               "--data-dir", str(data)])
    assert done.exit_code == 2 and said in done.output.replace("\n", ""), done.output
    assert "Traceback" not in done.output
    assert sorted(p.name for p in data.rglob("*")) == before  # no database, no certificate
