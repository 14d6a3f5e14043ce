"""``myna cluster``: a whole installation as processes, for people to use, until stopped."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from myna.cli import app
from myna.cluster import node_ids
from myna.transport.processes import free_port

pytestmark = pytest.mark.slow


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_cluster_serves_each_town_and_puts_the_installation_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    built = CliRunner().invoke(app, ["demo", "--residents", "50", "--data-dir", str(data),
                                     "--json"])
    assert built.exit_code == 0, built.output[-2000:]
    before = (data / "system.json").read_text(encoding="utf-8")
    base = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "myna.cli", "cluster", "--data-dir",
                             str(data), "--base-port", str(base)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        nodes = node_ids(data)
        town = f"http://127.0.0.1:{base + nodes.index('municipality:132144')}"
        deadline = time.monotonic() + 60
        while not _answers(town + "/") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        endpoints = json.loads((data / "system.json").read_text(encoding="utf-8"))["endpoints"]
        assert set(endpoints) == set(nodes)
        staff = next(s for s in json.loads((data / "demo-staff.json").read_text("utf-8"))
                     if s["municipality"] == "132144" and s["staff_id"] == "clerk")
        with httpx.Client(base_url=town, timeout=30, follow_redirects=True) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
            assert token
            signed = client.post("/signin", data={
                "csrf_token": token[1], "municipality": "132144", "staff_id": "clerk",
                "password": staff["password"]})
            assert signed.status_code == 200 and "国分寺市" in signed.text
            letters = client.get("/m/132144/notify/letters", params={"purpose": "my-number"})
            assert letters.status_code == 200  # read from J-LIS's node
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "municipality:132144（職員用画面）" in output
    assert (data / "system.json").read_text(encoding="utf-8") == before
    assert not _answers(town + "/")
