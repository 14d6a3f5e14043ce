"""Start nodes as separate ``myna serve --node`` processes on 127.0.0.1 (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float = 30) -> None:
    """Until ``proc`` listens on ``port`` (its log is quoted if it exits first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"node exited before listening on {port}: {detail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open within {seconds} s")


def launch(arguments: list[str], log: Path,
           env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``myna <arguments>`` in its own process, its output (stdout and stderr) to ``log``;
    ``env`` adds to this process's environment."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "myna.cli", *arguments],
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})), stdout=sink,
            stderr=subprocess.STDOUT)


def start(arguments: list[str], port: int, log: Path, seconds: float = 30,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``myna <arguments>`` in its own process, once it listens on ``port``; its output
    (stdout and stderr) goes to ``log``."""
    proc = launch(arguments, log, env)
    try:
        wait_for(port, proc, log, seconds)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return proc


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_nodes(data_dir: Path, ports: Mapping[str, int], seconds: float = 30,
                  env: Mapping[str, str] | None = None,
                  ) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start one process per node id (``hub``, ``intermediate:<id>`` …), wait until each
    listens, and stop them all afterwards.  Each node's output goes to
    ``<data_dir>/<node>.log``."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        waiting = []
        for node, port in ports.items():  # all start at once; then each is waited for
            log = Path(data_dir) / (node.replace(":", "-") + ".log")
            proc = launch(["serve", "--node", node, "--port", str(port), "--data-dir",
                           str(data_dir)], log, env)
            procs.append(proc)
            waiting.append((port, proc, log))
        for port, proc, log in waiting:
            wait_for(port, proc, log, seconds)
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextlib.contextmanager
def running_staff_app(data_dir: Path, port: int, log: Path,
                      seconds: float = 30) -> Iterator[subprocess.Popen[bytes]]:
    """``myna serve`` (the staff web app and API) in its own process."""
    proc = start(["serve", "--port", str(port), "--data-dir", str(data_dir)], port, log,
                 seconds)
    try:
        yield proc
    finally:
        stop([proc])
