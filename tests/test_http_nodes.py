"""The same exchange between separately started node processes over HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from myna.errors import PermissionDenied
from myna.netca import NetworkCA
from myna.registry.domain import PersonDetails
from myna.registry.service import InitialResident
from myna.system import MynaSystem
from myna.transport.http import NodeIdentity, _Client
from myna.transport.processes import free_port, running_nodes

OLD, NEW = "132152", "132144"
OLD_INST, NEW_INST = f"municipality-{OLD}", f"municipality-{NEW}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("cluster")
    system = MynaSystem(data)
    people: dict[str, list[tuple[int, str]]] = {}
    for code, name in ((OLD, "鰐淵"), (NEW, "鷲尾")):
        registry = system.add_municipality(code)
        registry.register_initial([
            InitialResident(PersonDetails(f"{name}\u3000花子", "ためし\u3000はなこ",
                                          dt.date(1990, 1, 1), "女"), "h1", "世帯主",
                            "1860001" if code == OLD else "1850012",
                            f"{registry.title}本町1丁目1番1号", dt.date(2015, 4, 1))])
        registry.initial_numbering()
        town = system.municipalities[code]
        people[code] = registry.numbered_residents()
        town.atena.assign(people[code])
    nodes = ["hub", "jlis", f"intermediate:{OLD_INST}", f"intermediate:{NEW_INST}"]
    ports = {node: free_port() for node in nodes}
    system.config.endpoints = {node: f"http://127.0.0.1:{port}" for node, port in ports.items()}
    system.save_config()
    atena = {code: system.municipalities[code].atena for code in (OLD, NEW)}
    system.dispose()
    with running_nodes(data, ports):
        ca = NetworkCA(system.keys, data / "netca")
        yield {"data": data, "endpoints": system.config.endpoints, "ca": ca, "people": people,
               "atena": atena}


def _business(cluster: dict[str, Any], inst: str, node: str) -> _Client:
    key, cert = cluster["ca"].identity(f"business:{inst}")
    return _Client(cluster["endpoints"][node], NodeIdentity(f"business:{inst}", key, cert))


def test_exchange_across_processes(cluster: dict[str, Any]) -> None:
    for code, inst in ((OLD, OLD_INST), (NEW, NEW_INST)):
        [(rid, number)] = cluster["people"][code]
        atena_no = cluster["atena"][code].atena_for_resident(rid)
        own = _business(cluster, inst, f"intermediate:{inst}")
        refs = own.post("/node/v1/intermediate/begin-acquisition",
                        {"local_refs": [atena_no]})["refs"]
        _business(cluster, inst, "jlis").post("/node/v1/jlis/request-codes",
                                               {"requests": [[number, refs[0]]]})
    # the two towns' people are different persons: the old town holds a copy for its resident
    [(old_rid, _)] = cluster["people"][OLD]
    old_ref = cluster["atena"][OLD].atena_for_resident(old_rid)
    old_town = _business(cluster, OLD_INST, f"intermediate:{OLD_INST}")
    old_town.post("/node/v1/intermediate/put-item", {
        "local_ref": old_ref, "item": "地方税関係情報",
        "payload": {"年度": 2025, "総所得金額": 2_000_000, "課税区分": "課税"}})
    # the new town asks about its own resident: the old town has no data for that person
    [(new_rid, _)] = cluster["people"][NEW]
    new_ref = cluster["atena"][NEW].atena_for_resident(new_rid)
    new_town = _business(cluster, NEW_INST, f"intermediate:{NEW_INST}")
    answer = new_town.post("/node/v1/intermediate/request", {
        "local_ref": new_ref, "row_id": "T2-0001", "affair": "児童手当の支給",
        "provider": OLD_INST, "item": "地方税関係情報"})
    assert answer["result"] == "no_data"
    # the old town asks about its own resident from the new town: also no data, but routed
    again = old_town.post("/node/v1/intermediate/request", {
        "local_ref": old_ref, "row_id": "T2-0017", "affair": "地方税の賦課徴収",
        "provider": OLD_INST, "item": "地方税関係情報"})
    assert again["result"] == "provided"
    assert again["payload"]["総所得金額"] == 2_000_000
    # Table 2 refusals cross the wire with their reason
    with pytest.raises(PermissionDenied, match="別表第二"):
        old_town.post("/node/v1/intermediate/request", {
            "local_ref": old_ref, "row_id": "T2-0017", "affair": "地方税の賦課徴収",
            "provider": OLD_INST, "item": "年金給付関係情報"})


def test_unauthenticated_and_misdirected_calls_are_refused(cluster: dict[str, Any]) -> None:
    hub_url = cluster["endpoints"]["hub"]
    # no signature at all
    bare = httpx.post(hub_url + "/node/v1/hub/poll", json={"request_id": "x"})
    assert bare.status_code == 403 and "ノード認証" in bare.json()["message"]
    # a certificate from another CA
    rogue_key = Ed25519PrivateKey.generate()
    rogue_ca = NetworkCA(_RogueKeys(rogue_key), cluster["data"] / "rogue-ca")
    key, cert = rogue_ca.identity("intermediate:" + OLD_INST)
    rogue = _Client(hub_url, NodeIdentity("intermediate:" + OLD_INST, key, cert))
    with pytest.raises(PermissionDenied, match="ネットワークCA"):
        rogue.post("/node/v1/hub/poll", {"request_id": "x"})
    # a genuine business node may not call the hub directly
    business = _business(cluster, OLD_INST, "hub")
    with pytest.raises(PermissionDenied, match="この操作"):
        business.post("/node/v1/hub/poll", {"request_id": "x"})
    # nor another town's intermediate server
    other = _business(cluster, OLD_INST, f"intermediate:{NEW_INST}")
    with pytest.raises(PermissionDenied):
        other.post("/node/v1/intermediate/pending", {})


class _RogueKeys:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.others: dict[str, Ed25519PrivateKey] = {}

    def secret(self, name: str, length: int = 32) -> bytes:
        raise NotImplementedError

    def ed25519(self, name: str) -> Ed25519PrivateKey:
        if name == "netca/root":
            return self.key
        return self.others.setdefault(name, Ed25519PrivateKey.generate())
