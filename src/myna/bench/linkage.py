"""``myna bench linkage``: end-to-end exchanges against their unavoidable work.

In one run on the same machine it measures

* the *floor*: only the work every exchange must do — the HMACs of code
  conversion, one sealed-box encryption and decryption of the item, and one
  durable append to the provision log, batched as the exchange batches it
  (one record per exchange);
* exchanges/s and p50/p99 latency end to end in-process (request signature,
  Table 2, conversion, routing, sealing, recording, log append, opening);
* the same over HTTP: the requester's intermediate server in this process, the hub
  and the provider's intermediate server each in its own process;
* Merkle inclusion and consistency proof times at large log sizes.

and reports the end-to-end rates as ratios of the floor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nacl.public import PrivateKey, SealedBox
from rich.console import Console
from rich.table import Table

from myna.db import make_engine, node_url
from myna.keys import MemoryKeyStore
from myna.linkage.messages import Result, canonical
from myna.registry.domain import PersonDetails
from myna.registry.service import InitialResident
from myna.system import MynaSystem
from myna.transparency.service import TransparencyLog
from myna.transport.processes import free_port, running_nodes

ProgressFactory = Callable[[str, int], Callable[[int], None]]
TOWN = "132152"
PENSION = ("nenkin", "日本年金機構", "厚生労働大臣・日本年金機構")
ROW, AFFAIR, ITEM = "T2-0018", "国民年金の給付の支給", "地方税関係情報"
PAYLOAD = {"年度": 2025, "総所得金額": 3_100_000, "市町村民税所得割額": 186_000,
           "市町村民税均等割額": 5_000, "課税区分": "課税"}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def floor(n: int, workdir: Path) -> dict[str, float]:
    """The unavoidable work of ``n`` exchanges, one durable log append each."""
    keys = MemoryKeyStore()
    log = TransparencyLog(make_engine(node_url(workdir, "floor-log"), "floor-log"), keys,
                          "bench.myna/floor")
    log.create_schema()
    link_key, code_key, commit_key = (secrets.token_bytes(32) for _ in range(3))
    box = PrivateKey.generate()
    sealer = SealedBox(box.public_key)
    opener = SealedBox(box)
    body = canonical(PAYLOAD)
    t0 = time.perf_counter()
    for i in range(n):
        person = f"{i:032x}".encode()
        link = hmac.new(link_key, person, hashlib.sha256).hexdigest().encode()
        hmac.new(code_key, b"a\x00" + link, hashlib.sha256).digest()
        hmac.new(code_key, b"b\x00" + link, hashlib.sha256).digest()
        leaf = hashlib.sha256(hmac.new(commit_key, link, hashlib.sha256).digest() + body).digest()
        opener.decrypt(sealer.encrypt(body))
        log.append([leaf])
    seconds = time.perf_counter() - t0
    log.engine.dispose()
    return {"seconds": seconds, "per_second": n / seconds}


def _setup(data: Path, people: int, keys: Any = None) -> tuple[MynaSystem, list[str]]:
    system = MynaSystem(data, keys=keys)
    registry = system.add_municipality(TOWN)
    registry.register_initial([
        InitialResident(PersonDetails(f"試験\u3000{i}", "しけん", dt.date(1970, 1, 1), "女"),
                        f"h{i}", "世帯主", "1860001", f"{registry.title}北1丁目{i + 1}番",
                        dt.date(2000, 1, 1))
        for i in range(people)])
    registry.initial_numbering()
    town = system.municipalities[TOWN]
    town.acquire_codes()
    town.intermediate.put_items_bulk(
        [(town.atena_no(rid), ITEM, PAYLOAD) for rid, _ in registry.numbered_residents()])
    pension = system.add_institution(*PENSION)
    numbers = [n for _, n in registry.numbered_residents()]
    refs = pension.begin_acquisition([f"P{i:08d}" for i in range(len(numbers))])
    system.jlis.request_codes(PENSION[0], list(zip(numbers, refs, strict=True)))
    return system, [f"P{i:08d}" for i in range(len(numbers))]


def in_process(n: int, workdir: Path, progress: ProgressFactory | None) -> dict[str, Any]:
    system, refs = _setup(workdir / "inproc", min(n, 500), MemoryKeyStore())
    pension = system.intermediates[PENSION[0]]
    advance = progress("in-process 情報照会", n) if progress else None
    latencies = []
    t0 = time.perf_counter()
    for i in range(n):
        start = time.perf_counter()
        answer = pension.request(refs[i % len(refs)], ROW, AFFAIR, f"municipality-{TOWN}", ITEM)
        received = pension.open(answer)
        latencies.append(time.perf_counter() - start)
        if received.result is not Result.PROVIDED:
            raise RuntimeError(f"unexpected {received.result}: {received.reason}")
        if advance:
            advance(1)
    seconds = time.perf_counter() - t0
    system.dispose()
    return _rates(n, seconds, latencies)


def _rates(n: int, seconds: float, latencies: list[float]) -> dict[str, Any]:
    return {"exchanges": n, "seconds": seconds, "per_second": n / seconds,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * _percentile(latencies, 0.99)}


def over_http(n: int, workdir: Path, progress: ProgressFactory | None) -> dict[str, Any]:
    """The requester's intermediate server here; the hub and the provider's in processes."""
    from myna.db import make_engine, node_url
    from myna.intermediate.service import IntermediateServer
    from myna.netca import NetworkCA
    from myna.nodes import peer_key
    from myna.transport.http import HttpNetwork, NodeIdentity

    data = workdir / "http"
    system, refs = _setup(data, min(n, 500))
    nodes = ["hub", f"intermediate:municipality-{TOWN}"]
    ports = {node: free_port() for node in nodes}
    system.config.endpoints = {node: f"http://127.0.0.1:{p}" for node, p in ports.items()}
    system.save_config()
    keys = system.keys
    system.dispose()
    with running_nodes(data, ports):
        ca = NetworkCA(keys, data / "netca")
        node_id = f"intermediate:{PENSION[0]}"
        network = HttpNetwork(system.config.endpoints, NodeIdentity.of(ca, node_id))
        pension = IntermediateServer(
            make_engine(node_url(data, f"intermediate-{PENSION[0]}"), node_id), keys,
            PENSION[0], network, lambda: peer_key(ca, "hub"))
        advance = progress("HTTP 情報照会", n) if progress else None
        latencies = []
        t0 = time.perf_counter()
        for i in range(n):
            start = time.perf_counter()
            received = pension.open(pension.request(
                refs[i % len(refs)], ROW, AFFAIR, f"municipality-{TOWN}", ITEM))
            latencies.append(time.perf_counter() - start)
            if received.result is not Result.PROVIDED:
                raise RuntimeError(f"unexpected {received.result}: {received.reason}")
            if advance:
                advance(1)
        seconds = time.perf_counter() - t0
        pension.engine.dispose()
    return _rates(n, seconds, latencies)


def run(n: int = 1000, http: bool = True, proof_sizes: tuple[int, ...] = (10**6,),
        progress: ProgressFactory | None = None, data_dir: Path | None = None) -> dict[str, Any]:
    workdir = Path(data_dir or tempfile.mkdtemp(prefix="myna-bench-linkage-"))
    report: dict[str, Any] = {"exchanges": n}
    report["floor"] = floor(n, workdir)
    report["in_process"] = inproc = in_process(n, workdir, progress)
    inproc["vs_floor"] = inproc["per_second"] / report["floor"]["per_second"]
    if http:
        report["http"] = remote = over_http(n, workdir, progress)
        remote["vs_floor"] = remote["per_second"] / report["floor"]["per_second"]
    if proof_sizes:
        from myna.bench import merkle

        report["merkle"] = merkle.run(sizes=proof_sizes, progress=progress, verify=False)
    return report


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"情報連携ベンチマーク（{report['exchanges']:,} 件）")
    table.add_column("測定")
    table.add_column("件/秒", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("下限比", justify="right")
    table.add_column("目安", justify="right")
    f = report["floor"]
    table.add_row("下限（HMAC・封緘と開封・ログ追記のみ）", f"{f['per_second']:,.0f}", "", "",
                  "100%", "")
    for key, label, aim in (("in_process", "プロセス内 end-to-end", "≥ 25%"),
                            ("http", "HTTP（別プロセスのノード間）", "≥ 10%")):
        if key in report:
            r = report[key]
            table.add_row(label, f"{r['per_second']:,.0f}", f"{r['p50_ms']:.2f} ms",
                          f"{r['p99_ms']:.2f} ms", f"{r['vs_floor']:.0%}", aim)
    console.print(table)
    if "merkle" in report:
        from myna.bench import merkle

        merkle.print_report(report["merkle"], console)
