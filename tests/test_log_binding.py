"""Provision records bound to their log leaves, crash repair, 不開示, and a witness apart."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from myna.cli import app
from myna.commission.audit import RecordAudit, audit_records
from myna.hub import storage as ht
from myna.hub.audit import HubAudit
from myna.hub.domain import record_leaf
from myna.jlis import storage as jt
from myna.linkage.messages import Result
from myna.registry.domain import PersonDetails
from myna.registry.service import InitialResident
from myna.system import MynaSystem
from myna.transparency import merkle
from myna.transparency import storage as lt
from myna.transparency.verify import verify_log
from myna.transparency.witness import open_witness_dir, verify_cosigned
from myna.transport.processes import free_port, start, stop

TOWN, OTHER_TOWN = "132152", "132144"
INST = f"municipality-{TOWN}"
NENKIN = ("nenkin", "日本年金機構", "厚生労働大臣・日本年金機構")
PENSION_ROW, PENSION_AFFAIR = "T2-0018", "国民年金の給付の支給"
TAX_ROW, TAX_AFFAIR = "T2-0017", "地方税の賦課徴収"  # marked 不開示 in Table 2
TAX = "地方税関係情報"
PAYLOAD = {"年度": 2025, "総所得金額": 2_345_678, "市町村民税所得割額": 98_700,
           "市町村民税均等割額": 5_000, "課税区分": "課税"}
NAMES = [f"鰐淵\u3000花子{i}" for i in range(4)]
runner = CliRunner()


def _populate(system: MynaSystem) -> None:
    """One town with four residents and their tax copies; 日本年金機構 with their 符号."""
    registry = system.add_municipality(TOWN)
    registry.register_initial([
        InitialResident(PersonDetails(name, "ためし\u3000はなこ", dt.date(1980, 1, i + 1), "女"),
                        f"h{i}", "世帯主", "1860001", f"{registry.title}中1丁目{i + 1}番",
                        dt.date(2015, 4, 1))
        for i, name in enumerate(NAMES)])
    registry.initial_numbering()
    town = system.municipalities[TOWN]
    town.acquire_codes()
    for rid, _ in registry.numbered_residents():
        town.intermediate.put_item(town.atena_no(rid), TAX, PAYLOAD)
    pension = system.add_institution(*NENKIN)
    numbers = [n for _, n in registry.numbered_residents()]
    refs = pension.begin_acquisition([f"P{i:04d}" for i in range(len(numbers))])
    system.jlis.request_codes(NENKIN[0], list(zip(numbers, refs, strict=True)))


def _ask(system: MynaSystem, person: int, request_id: str | None = None) -> Any:
    """日本年金機構 asks the town for person ``person``'s tax information."""
    return system.intermediates[NENKIN[0]].request(
        f"P{person:04d}", PENSION_ROW, PENSION_AFFAIR, INST, TAX, request_id)


def _ask_undisclosed(system: MynaSystem, person: int) -> Any:
    """The town asks itself under 地方税の賦課徴収 (a 不開示 item)."""
    town = system.municipalities[TOWN]
    rid = town.registry.numbered_residents()[person][0]
    return town.intermediate.request(town.atena_no(rid), TAX_ROW, TAX_AFFAIR, INST, TAX)


def _audit(system: MynaSystem) -> RecordAudit:
    return audit_records(HubAudit(system.hub, system.provision_log))


def _secrets(system: MynaSystem) -> list[str]:
    """What must never appear in a finding: names, numbers, 住民票コード, links."""
    out = list(NAMES)
    for resident in system.registry(TOWN).current_residents():
        out += [resident.resident_code, resident.individual_number or "?"]
    with system.hub.engine.connect() as conn:
        out += [str(x) for x in conn.execute(select(ht.records.c.link)).scalars() if x]
    return out


def _no_identifiers(system: MynaSystem, audit: RecordAudit) -> None:
    text = "\n".join(audit.lines())
    for secret in _secrets(system):
        assert secret not in text, secret


def _reopen(system: MynaSystem, repair: bool = True) -> MynaSystem:
    return MynaSystem(system.data_dir, system.config.database_url, keys=system.keys,
                      namespace=system.namespace, repair=repair)


@pytest.fixture
def linked(system: MynaSystem) -> MynaSystem:
    """An installation with provided, 不開示, denied and no-data records, all in the log."""
    _populate(system)
    assert _ask(system, 0).result is Result.PROVIDED
    assert _ask(system, 1).result is Result.PROVIDED
    assert _ask_undisclosed(system, 2).result is Result.PROVIDED
    with pytest.raises(Exception, match="別表第二"):
        system.intermediates[NENKIN[0]].request("P0003", PENSION_ROW, PENSION_AFFAIR, INST,
                                                "生活保護関係情報")
    audit = _audit(system)
    assert audit.ok, audit.lines()
    assert (audit.records, audit.leaves) == (4, 4)
    return system


def _record(system: MynaSystem, result: str = "provided") -> Any:
    with system.hub.engine.connect() as conn:
        return conn.execute(select(ht.records).where(ht.records.c.result == result)
                            .order_by(ht.records.c.leaf_index).limit(1)).one()


def _set(system: MynaSystem, row: Any, **values: Any) -> None:
    with system.hub.engine.begin() as conn:
        conn.execute(update(ht.records).where(ht.records.c.request_id == row.request_id,
                                              ht.records.c.attempt == row.attempt)
                     .values(**values))


# -- every field of a record is bound to its leaf ----------------------------------------------

ALTERATIONS: dict[str, Any] = {
    "requester": "municipality-132144",
    "provider": "nenkin",
    "row_id": "T2-0006",
    "affair": "生活保護の決定・実施",
    "item": "年金給付関係情報",
    "requested_at": dt.timedelta(seconds=1),
    "provided_at": dt.timedelta(seconds=-1),
    "result": "refused",
    "reason": "書き換えた理由",
    "undisclosed": True,
    "link": "0" * 64,
}


def test_every_altered_field_of_a_record_is_named(linked: MynaSystem) -> None:
    row = _record(linked)
    for column, change in ALTERATIONS.items():
        old = getattr(row, column)
        new = old + change if isinstance(change, dt.timedelta) else change
        assert new != old, column
        _set(linked, row, **{column: new})
        audit = _audit(linked)
        assert [p.kind for p in audit.problems] == ["record_altered"], (column, audit.lines())
        [problem] = audit.problems
        assert problem.indexes == (row.leaf_index,)
        assert row.request_id in problem.message_ja and f"記録 {row.leaf_index}" in \
            problem.message_ja, column
        _no_identifiers(linked, audit)
        _set(linked, row, **{column: old})
        assert _audit(linked).ok, column
    # the 不開示 flag of a flagged record cannot be cleared unseen either
    flagged = next(r for r in linked.hub.records() if r.undisclosed)
    _set(linked, flagged, undisclosed=False)
    assert [p.kind for p in _audit(linked).problems] == ["record_altered"]


def test_a_deleted_record_and_an_inserted_leaf_are_leaves_without_records(
    linked: MynaSystem,
) -> None:
    row = _record(linked)
    with linked.hub.engine.begin() as conn:
        conn.execute(delete(ht.records).where(ht.records.c.request_id == row.request_id))
    extra = linked.provision_log.append([os.urandom(32)])[0]
    audit = _audit(linked)
    assert sorted((p.kind, p.indexes) for p in audit.problems) == [
        ("leaf_without_record", (row.leaf_index,)), ("leaf_without_record", (extra,))]
    text = "\n".join(audit.lines())
    for i in (row.leaf_index, extra):
        assert f"記録ログの記録 {i} に対応する情報提供等記録がありません" in text
    _no_identifiers(linked, audit)
    assert verify_log(linked.provision_log).ok  # the log alone cannot see it


def test_a_deleted_leaf_or_a_rewritten_leaf_index_leaves_a_record_without_its_leaf(
    linked: MynaSystem,
) -> None:
    row = _record(linked)
    with linked.provision_log.engine.begin() as conn:
        conn.execute(delete(lt.entries).where(lt.entries.c.idx == row.leaf_index))
    audit = _audit(linked)
    assert [(p.kind, p.indexes) for p in audit.problems] == [
        ("record_without_leaf", (row.leaf_index,))]
    assert row.request_id in audit.problems[0].message_ja
    assert "missing" in {p.kind for p in verify_log(linked.provision_log).problems}

    other = _record(linked, "denied")
    _set(linked, other, leaf_index=99)
    kinds = sorted(p.kind for p in _audit(linked).problems)
    assert kinds == ["leaf_without_record", "record_without_leaf", "record_without_leaf"]


def test_expired_records_are_not_reported_but_an_early_deletion_is(linked: MynaSystem) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * 7 + 3)
    assert linked.hub.expire_records(later) == 4
    audit = _audit(linked)
    assert audit.ok and (audit.records, audit.expired) == (0, 4), audit.lines()
    # a fresh record deleted and dressed up as expired
    _ask(linked, 3)
    row = _record(linked)
    with linked.hub.engine.begin() as conn:
        conn.execute(delete(ht.records).where(ht.records.c.request_id == row.request_id))
        conn.execute(insert(ht.expired_records).values(
            leaf_index=row.leaf_index, request_id=row.request_id, attempt=row.attempt,
            expired_at=dt.datetime.now(dt.UTC)))
    assert [p.kind for p in _audit(linked).problems] == ["early_expiry"]


# -- a person recomputes their own leaf --------------------------------------------------------


def test_a_person_recomputes_the_leaf_of_their_record_with_their_own_key(
    linked: MynaSystem,
) -> None:
    hub, log = linked.hub, linked.provision_log
    number = linked.registry(TOWN).numbered_residents()[0][1]
    with linked.jlis.engine.connect() as conn:
        person_key = conn.execute(select(jt.numbers.c.person_key).where(
            jt.numbers.c.number == number)).scalar_one()
    key = hub.person_commit_key(person_key)
    [mine] = hub.records_for_person(person_key)
    assert mine.leaf_index is not None
    leaf = record_leaf(mine, key)
    assert log.entry(mine.leaf_index).data == leaf
    cosigned = verify_cosigned(linked.publish_checkpoint(), log.public_key,
                               linked.witness.public_key).checkpoint
    proof = log.inclusion_proof(mine.leaf_index, cosigned.size)
    assert merkle.verify_inclusion(merkle.leaf_hash(leaf), mine.leaf_index, cosigned.size, proof,
                                   cosigned.root)
    # a record shown with another 事務, or the flag, or another person's key: no match
    assert record_leaf(replace(mine, affair="生活保護の決定・実施"), key) != leaf
    assert record_leaf(replace(mine, undisclosed=True), key) != leaf
    assert record_leaf(mine, hub.person_commit_key("0" * 32)) != leaf


# -- 不開示 (番号法23条2項) ------------------------------------------------------------------


def test_records_of_items_marked_undisclosed_carry_the_flag(linked: MynaSystem) -> None:
    flags = {(r.row_id, r.result): r.undisclosed for r in linked.hub.records()}
    assert flags == {(PENSION_ROW, "provided"): False, (TAX_ROW, "provided"): True,
                     (PENSION_ROW, "denied"): False}
    row = linked.hub.table2.row(TAX_ROW)
    assert row.undisclosed == (TAX,) and "第78条第1項第7号ロ" in row.undisclosed_basis


# -- crashes between the record and its leaf ---------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"], ids=["before-append", "after-append"])
def test_a_crash_between_record_and_leaf_is_repaired_at_the_next_start(
    system: MynaSystem, monkeypatch: pytest.MonkeyPatch, when: str,
) -> None:
    _populate(system)
    _ask(system, 0)
    log = system.provision_log
    real = log.append_once

    def crash(entries: list[bytes], since: int) -> list[int]:
        if when == "after":
            real(entries, since)  # the leaf is in the log; the hub never hears of it
        raise RuntimeError("process died")

    monkeypatch.setattr(log, "append_once", crash)
    with pytest.raises(RuntimeError):
        _ask(system, 1, request_id="crashed-request")
    monkeypatch.undo()
    [record] = system.hub.records("crashed-request")
    assert record.leaf_index is None and log.size() == (2 if when == "after" else 1)
    seen = _reopen(system, repair=False)
    try:
        kinds = [p.kind for p in _audit(seen).problems]
        assert kinds == (["record_unlinked"] if when == "after" else ["record_without_leaf"])
    finally:
        seen.dispose()
    restarted = _reopen(system)
    try:
        [record] = restarted.hub.records("crashed-request")
        assert record.leaf_index == 1 and restarted.provision_log.size() == 2  # no duplicate
        audit = _audit(restarted)
        assert audit.ok and (audit.records, audit.leaves) == (2, 2), audit.lines()
        # the requester asks again with the same id: the same answer, now with its leaf
        again = _ask(restarted, 1, request_id="crashed-request")
        assert again.leaf_index == 1 and restarted.provision_log.size() == 2
    finally:
        restarted.dispose()


_KILLED = """
import os, signal, sys
from myna.system import MynaSystem
system = MynaSystem(sys.argv[1])
log = system.provision_log
real = log.append_once
def crash(entries, since):
    if sys.argv[2] == "after":
        real(entries, since)
    os.kill(os.getpid(), signal.SIGKILL)
log.append_once = crash
system.intermediates["nenkin"].request("P0001", "T2-0018", "国民年金の給付の支給",
                                       "municipality-132152", "地方税関係情報", "killed")
"""


@pytest.mark.parametrize("when", ["before", "after"], ids=["before-append", "after-append"])
def test_a_process_killed_between_record_and_leaf_leaves_them_consistent(
    tmp_path: Path, when: str,
) -> None:
    data = tmp_path / "data"
    system = MynaSystem(data)
    _populate(system)
    _ask(system, 0)
    system.dispose()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", _KILLED, str(data), when], env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    restarted = MynaSystem(data)
    try:
        [record] = restarted.hub.records("killed")
        assert record.leaf_index == 1 and restarted.provision_log.size() == 2
        audit = _audit(restarted)
        assert audit.ok and audit.records == 2, audit.lines()
    finally:
        restarted.dispose()


# -- myna log verify ---------------------------------------------------------------------------


def test_log_verify_names_a_record_whose_affair_was_rewritten(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    system = MynaSystem(data)
    _populate(system)
    _ask(system, 0)
    _ask_undisclosed(system, 1)
    secrets = _secrets(system)
    system.dispose()
    assert runner.invoke(app, ["log", "checkpoint", "--data-dir", str(data)]).exit_code == 0
    clean = runner.invoke(app, ["log", "verify", "--data-dir", str(data)])
    assert clean.exit_code == 0 and "総合: 異常なし" in clean.output, clean.output
    assert "監視者（個人情報保護委員会）の状態がこのデータディレクトリの中にあります" in \
        clean.output.replace("\n", "")  # nothing stands apart here, and it says so
    history = runner.invoke(app, ["link", "history", "--data-dir", str(data)],
                            terminal_width=250)
    assert "不開示" in history.output and "番号法第23条第2項" in history.output
    with sqlite3.connect(data / "hub.sqlite3") as db:
        request_id, index = db.execute(
            "SELECT request_id, leaf_index FROM records WHERE row_id = ?",
            (PENSION_ROW,)).fetchone()
        db.execute("UPDATE records SET affair = '生活保護の決定・実施' WHERE request_id = ?",
                   (request_id,))
    tampered = runner.invoke(app, ["log", "verify", "--data-dir", str(data)],
                             terminal_width=400)
    assert tampered.exit_code == 1
    assert f"照会番号 {request_id}（試行 1） の記録が記録ログの記録 {index} と一致しません" in \
        tampered.output
    assert "総合: 問題あり" in tampered.output
    for secret in secrets:
        assert secret not in tampered.output


# -- the witness stands apart ------------------------------------------------------------------


@dataclass
class Pair:
    """Installation A (the genuine one) and B, built by whoever holds A's directory."""

    a: Path
    b: Path
    witness: Path


@dataclass
class Ran:
    exit_code: int
    output: str  # with the console's line wrapping undone


def _cli(*args: str | Path) -> Ran:
    result = runner.invoke(app, [str(a) for a in args])
    return Ran(result.exit_code, result.output.replace("\n", ""))


def _exchanges(data: Path, people: list[int]) -> None:
    system = MynaSystem(data)
    try:
        for person in people:
            assert _ask(system, person).result is Result.PROVIDED
    finally:
        system.dispose()


def _replace(target: Path, source: Path) -> None:
    shutil.rmtree(target)
    shutil.copytree(source, target)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    a, b, witness = tmp_path / "a", tmp_path / "b", tmp_path / "ppc"
    system = MynaSystem(a)
    _populate(system)
    system.dispose()
    yield Pair(a, b, witness)


def _fork_b(p: Pair, people: list[int]) -> None:
    """B: a copy of A's directory (keys, configuration) taken before A's exchanges."""
    shutil.copytree(p.a, p.b)
    _exchanges(p.a, [0, 1])
    _exchanges(p.b, people)


@pytest.mark.parametrize(("people", "refusal"), [
    ([2, 3, 0], "整合性証明（2 件 → 3 件）が検証できません"),
    ([3, 2], "の大きさ 2 の根ハッシュが、以前連署したものと違います"),
    ([3], "縮みました（連署済み 2 件 → 1 件）"),
], ids=["longer", "same-size", "shorter"])
def test_a_replaced_data_directory_is_refused_and_reported_as_a_fork(
    pair: Pair, people: list[int], refusal: str,
) -> None:
    init = _cli("witness", "init", "--witness-dir", pair.witness, "--data-dir", pair.a)
    assert init.exit_code == 0, init.output
    assert init.output.startswith("ppc.myna.example/witness+")
    _fork_b(pair, people)
    first = _cli("log", "checkpoint", "--data-dir", pair.a)
    assert first.exit_code == 0 and "— ppc.myna.example/witness" in first.output, first.output
    apart = _cli("log", "verify", "--data-dir", pair.a)
    assert apart.exit_code == 0 and "データディレクトリの中にあります" not in apart.output
    genuine = open_witness_dir(pair.witness).latest("hub.myna.example/provision-records")
    assert genuine is not None and genuine.size == 2

    _replace(pair.a, pair.b)  # the whole data directory, log, keys and all
    refused = _cli("log", "checkpoint", "--data-dir", pair.a)
    assert refused.exit_code == 2 and refusal in refused.output, refused.output
    verify = _cli("log", "verify", "--data-dir", pair.a)
    assert verify.exit_code == 1, verify.output
    assert ("記録ログが分岐しています" in verify.output
            or "ログの差し替え" in verify.output), verify.output
    after = open_witness_dir(pair.witness).latest("hub.myna.example/provision-records")
    assert after == genuine  # nothing of B was cosigned


def test_a_directory_with_other_keys_is_refused_and_reported_as_a_fork(pair: Pair) -> None:
    assert _cli("witness", "init", "--witness-dir", pair.witness, "--data-dir",
                pair.a).exit_code == 0
    _exchanges(pair.a, [0])
    assert _cli("log", "checkpoint", "--data-dir", pair.a).exit_code == 0
    other = MynaSystem(pair.b)  # a new installation: its own keys
    _populate(other)
    other.config.witness_dir = str(pair.witness)
    other.config.witness_key = MynaSystem.read_config(pair.a).witness_key
    other.save_config()
    other.dispose()
    _exchanges(pair.b, [0, 1])
    _replace(pair.a, pair.b)
    refused = _cli("log", "checkpoint", "--data-dir", pair.a)
    assert refused.exit_code == 2 and "署名が検証できない" in refused.output, refused.output
    verify = _cli("log", "verify", "--data-dir", pair.a)
    assert verify.exit_code == 1 and "記録ログが分岐しています" in verify.output, verify.output


def test_the_witness_as_its_own_process_refuses_a_fork_over_http(pair: Pair) -> None:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init = _cli("witness", "init", "--witness-dir", pair.witness, "--data-dir", pair.a,
                "--url", url)
    assert init.exit_code == 0, init.output
    config = MynaSystem.read_config(pair.a)
    assert config.endpoints["witness"] == url and config.witness_dir is None
    _fork_b(pair, [3, 2, 0])
    proc = start(["serve", "--node", "witness", "--witness-dir", str(pair.witness),
                  "--port", str(port)], port, pair.witness.parent / "witness.log")
    try:
        assert httpx.get(url + "/key").text.strip() == config.witness_key
        malformed = httpx.post(url + "/add-checkpoint", content=b"nonsense")
        assert malformed.status_code == 400 and "形式" in malformed.json()["message"]
        first = _cli("log", "checkpoint", "--data-dir", pair.a)
        assert first.exit_code == 0 and "— ppc.myna.example/witness" in first.output, \
            first.output
        clean = _cli("log", "verify", "--data-dir", pair.a)
        assert clean.exit_code == 0, clean.output
        _replace(pair.a, pair.b)
        refused = _cli("log", "checkpoint", "--data-dir", pair.a)
        assert refused.exit_code == 2 and "整合性証明（2 件 → 3 件）が検証できません" in \
            refused.output, refused.output
        verify = _cli("log", "verify", "--data-dir", pair.a)
        assert verify.exit_code == 1 and "記録ログが分岐しています" in verify.output, \
            verify.output
        # the auditor may also name the witness and its key on the command line
        pinned = _cli("log", "verify", "--data-dir", pair.a, "--witness-url", url,
                      "--witness-key", str(config.witness_key))
        assert pinned.exit_code == 1 and "記録ログが分岐しています" in pinned.output
    finally:
        stop([proc])
    down = _cli("log", "verify", "--data-dir", pair.a)
    assert down.exit_code == 1 and "監視者に接続できない" in down.output, down.output


def test_no_witness_is_made_up_where_none_was_set_up(pair: Pair) -> None:
    """A witness without history would trust whatever it is shown first."""
    nowhere = pair.witness.parent / "nowhere"
    verify = _cli("log", "verify", "--data-dir", pair.a, "--witness-dir", nowhere)
    assert verify.exit_code == 2 and "監視者のディレクトリではありません" in verify.output
    served = _cli("serve", "--node", "witness", "--witness-dir", nowhere, "--port", "1")
    assert served.exit_code == 2 and "myna witness init" in served.output
    missing = _cli("serve", "--node", "witness", "--port", "1")
    assert missing.exit_code == 2 and "--witness-dir" in missing.output
    assert not nowhere.exists()
