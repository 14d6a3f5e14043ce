"""The whole demo with every organisation in its own process, against the same demo in one.

``myna demo --processes`` starts J-LIS, the hub, three intermediate servers, both
towns and the witness as ``myna serve --node`` processes; the demo acts as the
towns' staff on the towns' own databases and reaches everyone else over HTTP.  Its
summary must be the in-process demo's, up to what is random by design (numbers,
card numbers, passwords, times).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from myna.cli import app

pytestmark = pytest.mark.slow

RESIDENTS, SEED = "60", "31"


def _demo(data_dir: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["demo", "--residents", RESIDENTS, "--seed", SEED,
                                      "--data-dir", str(data_dir), "--json", *extra])
    assert result.exit_code == 0, result.output[-3000:]
    return dict(json.loads(result.stdout))


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what differs between any two runs, however they are run."""
    summary = {k: v for k, v in summary.items() if k not in ("data_dir", "timings_seconds")}
    summary["staff"] = [{k: v for k, v in s.items() if k != "password"}
                        for s in summary["staff"]]
    text = json.dumps(summary, ensure_ascii=False, sort_keys=True)
    text = re.sub(r"\*\*\*\* \*\*\*\* \d{4}", "**** **** ####", text)  # random numbers
    text = re.sub(r'"card_number": "\d{12}"', '"card_number": "…"', text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST", "…", text)  # when it was revoked
    return dict(json.loads(text))


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any],
                                                            Path]:
    root = tmp_path_factory.mktemp("demos")
    return _demo(root / "one"), _demo(root / "nodes", "--processes"), root / "nodes"


def test_the_demo_across_processes_has_the_same_summary(
    both: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    one, nodes, _ = both
    assert _comparable(nodes) == _comparable(one)
    # and it did something: numbers, letters, exchanges with proofs, cards
    assert nodes["jlis"]["active_numbers"] > 60
    assert nodes["notification"]["overall"]["mailed"] > 0
    proofs = [e["proof"]["verified"] for e in nodes["exchanges"] if "proof" in e]
    assert proofs and all(proofs)
    assert nodes["cards"]["story"]["after_suspension"].startswith("この証明書は失効")
    # the commission audited the hub through its audit interface (over HTTP, as ppc)
    assert nodes["audit"]["ok"] and nodes["audit"]["records"] >= len(proofs), nodes["audit"]


def test_every_organisation_ran_as_its_own_node(
    both: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    *_, data = both
    logs = {p.name for p in data.glob("*.log")}
    assert logs == {"hub.log", "jlis.log", "witness.log", "intermediate-nenkin.log",
                    "intermediate-municipality-132152.log",
                    "intermediate-municipality-132144.log",
                    "municipality-132152.log", "municipality-132144.log"}
    for log in data.glob("*.log"):  # each started twice: months ago, then today
        assert log.read_text(encoding="utf-8").count("で起動します") == 1  # (its last start)
    config = json.loads((data / "system.json").read_text(encoding="utf-8"))
    assert config["endpoints"] == {} and config["witness_dir"]  # back to one process


def test_after_the_demo_across_processes_every_node_agrees(
    both: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    *_, data = both
    runner = CliRunner()
    check = runner.invoke(app, ["check", "--data-dir", str(data)])
    assert check.exit_code == 0, check.output
    verify = runner.invoke(app, ["log", "verify", "--data-dir", str(data)])
    assert verify.exit_code == 0 and "異常なし" in verify.output, verify.output
