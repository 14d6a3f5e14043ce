"""``myna cluster``: every organisation of an installation as its own process, until stopped.

Each node — J-LIS (with JPKI, the card centre and the notification mailing), the
hub, every intermediate server, every municipality (its staff screens and API) and,
where the installation has one in a directory of its own, the protection
commission's witness — is started as ``myna serve --node`` on 127.0.0.1 at
consecutive ports from ``base_port``.  Their endpoints are written to
``system.json`` for as long as they run; on exit the nodes are stopped and the
file is put back as it was, so that ``myna serve`` runs everything in one process
again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from myna.config import CONFIG, read_config
from myna.errors import Unavailable
from myna.transport.processes import launch, running_nodes, stop, wait_for

#: (node id, URL) of every node started, the municipalities' staff screens among them
Started = list[tuple[str, str]]


def node_ids(data_dir: Path) -> list[str]:
    """The nodes of the installation in ``data_dir``, in start order."""
    config = read_config(data_dir)
    towns = [f"municipality:{c}" for c in config.municipalities]
    servers = [f"intermediate:municipality-{c}" for c in config.municipalities]
    servers += [f"intermediate:{i['id']}" for i in config.institutions]
    return ["hub", "jlis", *servers, *towns]


def _free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def running_cluster(data_dir: Path, base_port: int = 8100) -> Iterator[Started]:
    """Start every node of the installation; stop them and restore ``system.json`` after."""
    path = data_dir / CONFIG
    original = path.read_text(encoding="utf-8")
    config = read_config(data_dir)
    nodes = node_ids(data_dir)
    witness_dir = config.witness_dir
    count = len(nodes) + (1 if witness_dir else 0)
    ports = list(range(base_port, base_port + count))
    taken = [p for p in ports if not _free(p)]
    if taken:
        raise Unavailable(
            f"ポート {', '.join(map(str, taken))} は使用中です。"
            "--base-port で別の番号を指定してください",
            f"ports {taken} are in use; choose another --base-port")
    config.endpoints = {n: f"http://127.0.0.1:{p}" for n, p in zip(nodes, ports, strict=False)}
    if witness_dir:
        config.endpoints["witness"] = f"http://127.0.0.1:{ports[-1]}"
        config.witness_dir = None
    path.write_text(config.to_json(), encoding="utf-8")
    try:
        with contextlib.ExitStack() as stack:
            if witness_dir:
                log = data_dir / "witness.log"
                witness = launch(["serve", "--node", "witness", "--witness-dir", witness_dir,
                                  "--port", str(ports[-1])], log)
                stack.callback(stop, [witness])
            stack.enter_context(running_nodes(data_dir, dict(zip(nodes, ports, strict=False))))
            if witness_dir:
                wait_for(ports[-1], witness, log)
            yield sorted(config.endpoints.items(), key=lambda item: item[1])
    finally:
        path.write_text(original, encoding="utf-8")


def serve_until_stopped(data_dir: Path, base_port: int,
                        ready: Callable[[Started], None]) -> None:
    """Run the cluster until SIGINT or SIGTERM."""
    stopped = threading.Event()

    def stop_now(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {s: signal.signal(s, stop_now) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with running_cluster(data_dir, base_port) as started:
            ready(started)
            stopped.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
