"""The ``myna`` command line: demo, number tools, benchmark."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from myna.cli import app
from myna.errors import PermissionDenied
from myna.numbers import individual, resident_code
from myna.system import MynaSystem

runner = CliRunner()


def test_demo_json_summary_and_export(tmp_path: Path) -> None:
    data = tmp_path / "data"
    export = tmp_path / "residents.csv"
    result = runner.invoke(app, ["demo", "--residents", "120", "--data-dir", str(data),
                                 "--seed", "7", "--json", "--export", str(export)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    towns = {m["code"]: m for m in summary["municipalities"]}
    assert set(towns) == {"132152", "132144"}
    assert towns["132152"]["residents"] == towns["132152"]["numbered"]
    assert summary["jlis"]["retired_numbers"] == 1
    kinds = [e["event"] for e in summary["events"]]
    for kind in ("出生", "転出→転入", "転居", "死亡", "個人番号変更", "住民票の写し"):
        assert kind in kinds
    assert {s["role"] for s in summary["staff"]} == {"担当者", "監督者", "管理者"}
    story = summary["cards"]["story"]
    assert story["verified_before_loss"] and "失効" in story["after_suspension"]
    assert story["signing_certificate"] == "revoked"
    notified = summary["notification"]["overall"]
    assert notified["mailed"] > 0 and 0 <= notified["unreached_rate"] < 0.2
    with export.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(m["residents"] for m in summary["municipalities"])
    assert all(individual.is_valid(r["individual_number"]) for r in rows)
    assert all(resident_code.is_valid(r["resident_code"]) for r in rows)
    assert len({r["individual_number"] for r in rows}) == len(rows)
    # reproducible with the same seed (numbers depend on the keys, names on the seed)
    again = runner.invoke(app, ["demo", "--residents", "120", "--data-dir", str(data),
                                "--seed", "7", "--json"])
    assert again.exit_code == 0, again.output
    names = sorted(e["resident"] for e in json.loads(again.stdout)["events"])
    assert names == sorted(e["resident"] for e in summary["events"])


def test_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = runner.invoke(app, ["demo", "--residents", "50", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "空ではなく" in result.output
    assert (tmp_path / "precious.txt").exists()


def test_number_commands() -> None:
    ok = runner.invoke(app, ["number", "check", "１２３４ ５６７８ ９０１８"])
    assert ok.exit_code == 0 and "1234 5678 9018" in ok.output
    bad = runner.invoke(app, ["number", "check", "123456789011"])
    assert bad.exit_code == 1 and "チェックデジット" in bad.output
    assert runner.invoke(app, ["number", "mask", "123456789018"]).output.strip() == (
        "**** **** 9018")
    assert runner.invoke(app, ["number", "format", "123456789018"]).output.strip() == (
        "1234 5678 9018")
    generated = runner.invoke(app, ["number", "generate", "--count", "50", "--seed", "1"])
    values = generated.stdout.split()
    assert len(values) == 50 and all(individual.is_valid(v) for v in values)
    assert runner.invoke(app, ["number", "generate", "--count", "0"]).exit_code == 2


def test_bench_numbering_reports_ratios(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "numbering", "--residents", "3000", "--json",
                                 "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    sqlite = report["backends"]["sqlite"]
    for key in ("assignment_vs_raw", "generation_share_of_assignment"):
        assert sqlite[key] > 0
    assert report["validation"]["bulk_vs_stdnum"] > 0


def test_staff_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert runner.invoke(app, ["demo", "--residents", "50", "--data-dir", str(data),
                               "--json"]).exit_code == 0
    added = runner.invoke(app, ["staff", "add", "--municipality", "132152", "--id", "suzuki",
                                "--name", "鈴木 一郎", "--role", "supervisor",
                                "--data-dir", str(data)], input="long-password\nlong-password\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["staff", "list", "--municipality", "132152",
                                 "--data-dir", str(data)])
    assert "suzuki" in listed.output and "監督者" in listed.output
    short = runner.invoke(app, ["staff", "add", "--municipality", "132152", "--id", "tanaka",
                                "--name", "田中", "--data-dir", str(data)], input="short\nshort\n")
    assert short.exit_code == 2 and "8文字" in short.output
    unknown = runner.invoke(app, ["staff", "list", "--municipality", "131016",
                                  "--data-dir", str(data)])
    assert unknown.exit_code == 2 and "登録されていません" in unknown.output
    for name in ("", "　 ", "名前\u202e"):
        nameless = runner.invoke(app, ["staff", "add", "--municipality", "132152", "--id",
                                       "nameless", "--name", name, "--data-dir", str(data),
                                       "--password", "long-password"])
        assert nameless.exit_code == 2 and "職員の氏名" in nameless.output, nameless.output
    wide = {"COLUMNS": "200"}
    system = MynaSystem(data)
    try:
        for _ in range(5):
            with contextlib.suppress(PermissionDenied):
                system.registry("132152").authenticate("suzuki", "wrong-password")
    finally:
        system.dispose()
    locked = runner.invoke(app, ["staff", "list", "--municipality", "132152",
                                 "--data-dir", str(data)], env=wide)
    row = next(line for line in locked.output.splitlines() if "suzuki" in line)
    assert "ロック中" in row and "JST" in row
    by_clerk = runner.invoke(app, ["staff", "role", "--municipality", "132152", "--id", "suzuki",
                                   "--role", "clerk", "--by", "clerk", "--data-dir", str(data)])
    assert by_clerk.exit_code == 2 and "管理者" in by_clerk.output
    for argv in (["role", "--role", "clerk"], ["lock"], ["unlock"]):
        done = runner.invoke(app, ["staff", argv[0], *argv[1:], "--municipality", "132152",
                                   "--id", "suzuki", "--by", "administrator",
                                   "--data-dir", str(data)])
        assert done.exit_code == 0, done.output
    after = runner.invoke(app, ["staff", "list", "--municipality", "132152",
                                "--data-dir", str(data)], env=wide)
    row = next(line for line in after.output.splitlines() if "suzuki" in line)
    assert "担当者" in row and "有効" in row


def test_relying_parties_are_added_once_and_changed_explicitly(shared_demo: Path) -> None:
    data = str(shared_demo)
    added = runner.invoke(app, ["jpki", "rp", "add", "city-library", "国立市立図書館",
                                "--kind", "auth", "--data-dir", data])
    assert added.exit_code == 0, added.output
    again = runner.invoke(app, ["jpki", "rp", "add", "city-library", "別の名前",
                                "--data-dir", data])
    said = " ".join(again.output.split())
    assert again.exit_code == 2 and "既に登録されています" in said and "rp update" in said
    changed = runner.invoke(app, ["jpki", "rp", "update", "city-library", "国立市立くにたち図書館",
                                  "--kind", "both", "--data-dir", data])
    assert changed.exit_code == 0, changed.output
    listed = json.loads(runner.invoke(app, ["jpki", "rp", "list", "--json",
                                            "--data-dir", data]).stdout)
    (party,) = [p for p in listed if p["party_id"] == "city-library"]
    assert party["name"] == "国立市立くにたち図書館"
    assert party["kind"] == "署名検証者・利用者証明検証者"
    missing = runner.invoke(app, ["jpki", "rp", "update", "no-such-party", "名前",
                                  "--data-dir", data])
    assert missing.exit_code == 2 and "登録されていません" in missing.output


def test_link_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo_run = runner.invoke(app, ["demo", "--residents", "80", "--data-dir", str(data),
                                   "--json", "--seed", "3"])
    assert demo_run.exit_code == 0, demo_run.output
    exchanges = json.loads(demo_run.stdout)["exchanges"]
    assert {x["result"] for x in exchanges} >= {"provided", "refused"}
    assert any("承認" in x["label"] for x in exchanges)
    table = runner.invoke(app, ["link", "table2"], terminal_width=200)
    assert table.exit_code == 0 and "T2-0001" in table.output and "署名検証済み" in table.output
    hist = runner.invoke(app, ["link", "history", "--data-dir", str(data), "--json"])
    assert hist.exit_code == 0
    records = json.loads(hist.stdout)
    assert {"provided", "pending", "refused"} <= {r["result"] for r in records}
    assert all(r["requester"] and r["provider"] and r["requested_at"] for r in records)
    asked = runner.invoke(app, [
        "link", "request", "--municipality", "132144", "--resident-id", "1", "--staff", "clerk",
        "--purpose", "child-allowance", "--row", "T2-0002", "--affair", "児童手当の支給",
        "--provider", "nenkin", "--item", "年金給付関係情報", "--data-dir", str(data)],
        terminal_width=200)
    assert asked.exit_code == 0, asked.output
    assert "該当情報なし" in asked.output
    wrong = runner.invoke(app, [
        "link", "request", "--municipality", "132144", "--resident-id", "1", "--staff", "clerk",
        "--purpose", "child-allowance", "--row", "T2-0002", "--affair", "児童手当の支給",
        "--provider", "nenkin", "--item", "地方税関係情報", "--data-dir", str(data)],
        terminal_width=200)
    assert wrong.exit_code == 2 and "別表第二" in wrong.output
    pending = runner.invoke(app, ["link", "pending", "--municipality", "132152", "--staff",
                                  "clerk", "--purpose", "local-tax", "--data-dir", str(data)])
    assert pending.exit_code == 0


def test_log_checkpoint_and_verify_pinpoint_tampering(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    assert runner.invoke(app, ["demo", "--residents", "60", "--data-dir", str(data),
                               "--json"]).exit_code == 0
    checkpoint = runner.invoke(app, ["log", "checkpoint", "--data-dir", str(data)])
    assert checkpoint.exit_code == 0
    assert checkpoint.stdout.startswith("hub.myna.example/provision-records\n")
    assert "— ppc.myna.example/witness" in checkpoint.stdout
    clean = runner.invoke(app, ["log", "verify", "--data-dir", str(data)])
    assert clean.exit_code == 0 and "異常なし" in clean.output
    with sqlite3.connect(data / "transparency.sqlite3") as db:
        db.execute("UPDATE tlog_entries SET data = X'00' WHERE idx = 1")
    tampered = runner.invoke(app, ["log", "verify", "--data-dir", str(data)])
    assert tampered.exit_code == 1
    assert "1" in tampered.output and ("改ざん" in tampered.output or "altered" in tampered.output)
