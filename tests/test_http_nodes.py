"""The same exchange between separately started node processes over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from myna.errors import PermissionDenied
from myna.linkage.messages import ProvideRequest
from myna.netca import NetworkCA, node_key_name
from myna.registry.domain import PersonDetails
from myna.registry.service import InitialResident
from myna.system import MynaSystem
from myna.transport.http import NodeIdentity, _Client
from myna.transport.hub_client import HubClient
from myna.transport.intermediate_client import IntermediateClient
from myna.transport.processes import free_port, running_nodes

pytestmark = pytest.mark.slow  # every test here talks to node processes

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
    # the hub reaches the old town's intermediate server through a wiretap
    provider = system.config.endpoints[f"intermediate:{OLD_INST}"]
    tap = Wiretap(provider)
    system.config.endpoints[f"intermediate:{OLD_INST}"] = tap.url
    system.save_config()
    atena = {code: system.municipalities[code].atena for code in (OLD, NEW)}
    system.dispose()
    with tap, running_nodes(data, ports):
        ca = NetworkCA(system.keys, data / "netca")
        yield {"data": data, "endpoints": system.config.endpoints, "ca": ca, "people": people,
               "atena": atena, "tap": tap, "provider": provider, "keys": system.keys}


class Wiretap(ThreadingHTTPServer):
    """Passes POSTs on to ``target`` unchanged and keeps a copy of each exchange: what
    someone on the wire between the hub and a provider would see."""

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Pass)
        self.target = target
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.seen: list[tuple[str, dict[str, str], bytes, int, bytes]] = []

    def __enter__(self) -> Wiretap:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Pass(BaseHTTPRequestHandler):
    server: Wiretap

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items()
                   if k.lower().startswith("x-myna-") or k.lower() == "content-type"}
        answer = httpx.post(self.server.target + self.path, content=body, headers=headers,
                            timeout=30)
        self.server.seen.append((self.path, headers, body, answer.status_code, answer.content))
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _business(cluster: dict[str, Any], inst: str, node: str) -> _Client:
    key, cert = cluster["ca"].identity(f"business:{inst}")
    return _Client(cluster["endpoints"][node], NodeIdentity(f"business:{inst}", key, cert))


def test_exchange_across_processes(cluster: dict[str, Any]) -> None:
    for code, inst in ((OLD, OLD_INST), (NEW, NEW_INST)):
        [(rid, number)] = cluster["people"][code]
        atena_no = cluster["atena"][code].atena_for_resident(rid)
        own = _business(cluster, inst, f"intermediate:{inst}")
        refs = own.post("/node/v1/intermediate/begin-acquisition",
                        {"atena_nos": [atena_no]})["refs"]
        _business(cluster, inst, "jlis").post("/node/v1/jlis/request-codes",
                                               {"requests": [[number, refs[0]]]})
    # the two towns' people are different persons: the old town holds a copy for its resident
    [(old_rid, _)] = cluster["people"][OLD]
    old_ref = cluster["atena"][OLD].atena_for_resident(old_rid)
    old_town = _business(cluster, OLD_INST, f"intermediate:{OLD_INST}")
    old_town.post("/node/v1/intermediate/put-item", {
        "atena_no": old_ref, "item": "地方税関係情報",
        "payload": {"年度": 2025, "総所得金額": 2_000_000, "課税区分": "課税"}})
    # the new town asks about its own resident: the old town has no data for that person
    [(new_rid, _)] = cluster["people"][NEW]
    new_ref = cluster["atena"][NEW].atena_for_resident(new_rid)
    new_town = _business(cluster, NEW_INST, f"intermediate:{NEW_INST}")
    answer = new_town.post("/node/v1/intermediate/request", {
        "atena_no": new_ref, "row_id": "T2-0001", "affair": "児童手当の支給",
        "provider": OLD_INST, "item": "地方税関係情報"})
    assert answer["result"] == "no_data"
    # the old town asks about its own resident from the new town: also no data, but routed
    again = old_town.post("/node/v1/intermediate/request", {
        "atena_no": old_ref, "row_id": "T2-0017", "affair": "地方税の賦課徴収",
        "provider": OLD_INST, "item": "地方税関係情報"})
    assert again["result"] == "provided"
    assert again["payload"]["総所得金額"] == 2_000_000
    # Table 2 refusals cross the wire with their reason
    with pytest.raises(PermissionDenied, match="別表第二"):
        old_town.post("/node/v1/intermediate/request", {
            "atena_no": old_ref, "row_id": "T2-0017", "affair": "地方税の賦課徴収",
            "provider": OLD_INST, "item": "年金給付関係情報"})


def _acquire(cluster: dict[str, Any], code: str, inst: str) -> str:
    """The town's resident's 宛名番号, with a 符号 acquired for them (again)."""
    [(rid, number)] = cluster["people"][code]
    atena_no = str(cluster["atena"][code].atena_for_resident(rid))
    own = _business(cluster, inst, f"intermediate:{inst}")
    refs = own.post("/node/v1/intermediate/begin-acquisition", {"atena_nos": [atena_no]})["refs"]
    _business(cluster, inst, "jlis").post("/node/v1/jlis/request-codes",
                                           {"requests": [[number, refs[0]]]})
    return atena_no


def test_a_request_replayed_on_the_wire_is_not_provided_twice(cluster: dict[str, Any]) -> None:
    ref = _acquire(cluster, OLD, OLD_INST)
    town = _business(cluster, OLD_INST, f"intermediate:{OLD_INST}")
    town.post("/node/v1/intermediate/put-item", {
        "atena_no": ref, "item": "地方税関係情報",
        "payload": {"年度": 2025, "総所得金額": 2_345_678, "課税区分": "課税"}})
    request_id = uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))
    answer = town.post("/node/v1/intermediate/request", {
        "atena_no": ref, "row_id": "T2-0017", "affair": "地方税の賦課徴収",
        "provider": OLD_INST, "item": "地方税関係情報", "request_id": request_id})
    assert answer["result"] == "provided"
    # what crossed the wire from the hub to the provider, signed twice (HTTP and message)
    [(path, headers, body, status, answered)] = [
        x for x in cluster["tap"].seen
        if x[0].endswith("/provide") and json.loads(x[2])["request_id"] == request_id]
    assert status == 200
    # sent again, byte for byte, within the freshness window: the same answer, no provision
    replayed = httpx.post(cluster["provider"] + path, content=body, headers=headers)
    assert replayed.status_code == 200
    assert replayed.json() == json.loads(answered)
    # the same request id with another content (signed with the hub's own key): refused
    captured = ProvideRequest.from_json(json.loads(body))
    hub_key = cluster["keys"].ed25519(node_key_name("hub"))
    other = replace(captured, row_id="T2-0001", affair="児童手当の支給").signed(hub_key)
    key, cert = cluster["ca"].identity("hub")
    as_hub = _Client(cluster["provider"], NodeIdentity("hub", key, cert))
    with pytest.raises(PermissionDenied, match="同じ照会番号"):
        as_hub.post("/node/v1/intermediate/provide", other.as_json())
    # one provision in the provider's own records
    db = sqlite3.connect(cluster["data"] / f"intermediate-{OLD_INST}.sqlite3")
    try:
        rows = db.execute("SELECT direction FROM journal WHERE request_id = ?",
                          (request_id,)).fetchall()
    finally:
        db.close()
    assert sorted(rows) == [("in",), ("out",)]  # the town asked itself: one of each
    # the provider's log says what it refused, and nothing about the person
    log = (cluster["data"] / f"intermediate-{OLD_INST}.log").read_text(encoding="utf-8")
    assert f"provision request {request_id} from {OLD_INST} answered with the stored" in log
    assert f"provision request {request_id} from {OLD_INST} refused (request_reused)" in log
    [(_, number)] = cluster["people"][OLD]
    for secret in ("鰐淵", number, ref, captured.provider_code, "2345678"):
        assert secret not in log, secret


def test_the_nodes_erase_expired_records_when_they_start(cluster: dict[str, Any]) -> None:
    said = {node: (cluster["data"] / f"{node}.log").read_text(encoding="utf-8")
            for node in ("hub", f"intermediate-{OLD_INST}")}
    assert "情報提供等記録の消去（起動時）: hub=0 log=0（以後 24 時間ごと）" in said["hub"]
    assert f"消去（起動時）: intermediate:{OLD_INST}=0" in said[f"intermediate-{OLD_INST}"]


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


def _identity(cluster: dict[str, Any], node: str) -> NodeIdentity:
    key, cert = cluster["ca"].identity(node)
    return NodeIdentity(node, key, cert)


def _hub_as(cluster: dict[str, Any], inst: str) -> HubClient:
    return HubClient(cluster["endpoints"]["hub"], _identity(cluster, f"business:{inst}"))


def _server_of(cluster: dict[str, Any], inst: str, caller: str | None = None
               ) -> IntermediateClient:
    return IntermediateClient(cluster["endpoints"][f"intermediate:{inst}"],
                              _identity(cluster, caller or f"business:{inst}"))


def test_the_exchange_story_through_the_contracts_across_processes(
        cluster: dict[str, Any]) -> None:
    """The story the services pass in one process (``test_linkage``), told to the HTTP
    clients of the hub and the two intermediate servers, each its own process."""
    from linkage_story import exchange_story

    old_ref = _acquire(cluster, OLD, OLD_INST)
    new_ref = _acquire(cluster, NEW, NEW_INST)
    exchange_story(lambda inst: _hub_as(cluster, inst), _server_of(cluster, OLD_INST),
                   OLD_INST, old_ref, _server_of(cluster, NEW_INST), NEW_INST, new_ref)


def test_the_hub_shows_records_only_to_the_institution_they_concern(
        cluster: dict[str, Any]) -> None:
    """The institution a call names must be the caller's own (its certificate says which)."""
    hub = _hub_as(cluster, OLD_INST)
    assert all(OLD_INST in (r.requester, r.provider) for r in hub.records_for_institution(
        OLD_INST))
    with pytest.raises(PermissionDenied, match="他機関の情報提供等記録"):
        hub.records_for_institution(NEW_INST)
    with pytest.raises(PermissionDenied, match="他機関の情報提供等記録"):
        hub.records_of_request(NEW_INST, "any-request")
    as_server = HubClient(cluster["endpoints"]["hub"],
                          _identity(cluster, f"intermediate:{NEW_INST}"))
    with pytest.raises(PermissionDenied):
        as_server.records_for_institution(OLD_INST)
    # and a town's intermediate server answers only its own institution's systems
    with pytest.raises(PermissionDenied):
        _server_of(cluster, OLD_INST, f"business:{NEW_INST}").pending()
    with pytest.raises(PermissionDenied):
        _server_of(cluster, OLD_INST, "hub").flags("A0000000001")


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
