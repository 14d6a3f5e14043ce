"""The protection commission audits the hub through the hub's interface, not its tables.

The hub runs as its own process; the commission's audit (``myna log verify
--hub-url``) runs from a directory that holds the installation's configuration and
the commission's certificate but none of the hub's databases, and still names a
rewritten record, a deleted log row and a replaced log (fork).  Only the
commission may read the audit routes.  An audit pinned at a size is not disturbed
by appends while it runs.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from myna.commission.audit import audit_records
from myna.contracts.audit import COMMISSION
from myna.errors import PermissionDenied, ValidationError
from myna.hub.audit import HubAudit
from myna.keys import FileKeyStore
from myna.netca import NetworkCA
from myna.system import MynaSystem
from myna.transparency.export import StoredLog, Tile, cut
from myna.transparency.verify import verify_log
from myna.transport.audit_client import AUDIT_PREFIX, HubAuditClient
from myna.transport.http import NodeIdentity
from myna.transport.processes import free_port, running_nodes, start, stop
from test_log_binding import (  # the same installation and exchanges
    NENKIN,
    _ask,
    _cli,
    _exchanges,
    _populate,
    _replace,
    _secrets,
)

ORIGIN = "hub.myna.example/provision-records"


def _commission_dir(installation: Path, target: Path) -> Path:
    """What the commission holds: the configuration and the network's keys, no database."""
    target.mkdir()
    shutil.copy(installation / "system.json", target / "system.json")
    shutil.copytree(installation / "keys", target / "keys")
    shutil.copytree(installation / "netca", target / "netca")
    assert not list(target.glob("*.sqlite3"))
    return target


@pytest.mark.slow
def test_the_commission_audits_the_hub_over_its_interface(tmp_path: Path) -> None:
    hub_dir, genuine_copy = tmp_path / "hub", tmp_path / "fork"
    witness_dir, witness_port, hub_port = tmp_path / "ppc-witness", free_port(), free_port()
    witness_url, hub_url = f"http://127.0.0.1:{witness_port}", f"http://127.0.0.1:{hub_port}"
    system = MynaSystem(hub_dir)
    _populate(system)
    system.dispose()
    assert _cli("witness", "init", "--witness-dir", witness_dir, "--data-dir", hub_dir,
                "--url", witness_url).exit_code == 0
    shutil.copytree(hub_dir, genuine_copy)  # taken by whoever holds the directory
    _exchanges(hub_dir, [0, 1])
    _exchanges(genuine_copy, [3, 2, 0])
    system = MynaSystem(hub_dir)
    secrets = _secrets(system)
    system.dispose()
    commission = _commission_dir(hub_dir, tmp_path / "commission")
    witness = start(["serve", "--node", "witness", "--witness-dir", str(witness_dir),
                     "--port", str(witness_port)], witness_port, tmp_path / "witness.log")
    try:
        assert _cli("log", "checkpoint", "--data-dir", hub_dir).exit_code == 0
        with running_nodes(hub_dir, {"hub": hub_port}):
            clean = _cli("log", "verify", "--data-dir", commission, "--hub-url", hub_url)
            assert clean.exit_code == 0 and "総合: 異常なし" in clean.output, clean.output
            assert "情報提供等記録 2 件を記録ログの 2 件と照合" in clean.output
            assert not list(commission.glob("hub*")) and not list(commission.glob("transp*"))

            ca = NetworkCA(FileKeyStore(commission / "keys"), commission / "netca")
            for caller in (f"business:{NENKIN[0]}", f"intermediate:{NENKIN[0]}", "jlis"):
                with pytest.raises(PermissionDenied):
                    HubAuditClient(hub_url, NodeIdentity.of(ca, caller)).head()
            ppc = HubAuditClient(hub_url, NodeIdentity.of(ca, COMMISSION))
            assert ppc.head().size == 2
            for bad in ({"size": 2, "start": 1, "end": 0}, {"size": 2, "start": -1, "end": 1},
                        {"size": 2, "start": 0, "end": 10**6}):
                with pytest.raises(ValidationError, match="範囲"):
                    ppc.post(f"{AUDIT_PREFIX}/leaves", bad)

            with sqlite3.connect(hub_dir / "hub.sqlite3") as db:  # someone at the hub's disk
                request_id, index = db.execute(
                    "SELECT request_id, leaf_index FROM records ORDER BY leaf_index").fetchone()
                db.execute("UPDATE records SET affair = '生活保護の決定・実施' "
                           "WHERE request_id = ?", (request_id,))
            with sqlite3.connect(hub_dir / "transparency.sqlite3") as db:
                db.execute("DELETE FROM tlog_entries WHERE idx = 1")
            tampered = _cli("log", "verify", "--data-dir", commission, "--hub-url", hub_url)
            assert tampered.exit_code == 1, tampered.output
            assert (f"照会番号 {request_id}（試行 1） の記録が記録ログの記録 {index} と"
                    "一致しません") in tampered.output
            assert "記録 1 の行がありません（削除）" in tampered.output
            for secret in secrets:
                assert secret not in tampered.output

        _replace(hub_dir, genuine_copy)  # the hub's whole directory, log and keys and all
        with running_nodes(hub_dir, {"hub": hub_port}):
            forked = _cli("log", "verify", "--data-dir", commission, "--hub-url", hub_url)
            assert forked.exit_code == 1 and "記録ログが分岐しています" in forked.output, \
                forked.output
    finally:
        stop([witness])
    down = _cli("log", "verify", "--data-dir", commission, "--hub-url", hub_url)
    assert down.exit_code == 2 and "接続できません" in down.output, down.output


def test_an_audit_pinned_at_a_size_ignores_what_is_appended_while_it_runs(
    tmp_path: Path,
) -> None:
    system = MynaSystem(tmp_path / "data")
    try:
        _populate(system)
        for person in range(3):
            _ask(system, person)
        audit = HubAudit(system.hub, system.provision_log)
        head = audit.head()
        for person in (3, 0, 1):  # appended, and checkpointed, during the audit
            _ask(system, person)
        system.publish_checkpoint()
        assert system.provision_log.size() == 6
        report = verify_log(audit, head=head)
        assert report.ok and report.size == 3, report.lines()
        records = audit_records(audit, head=head)
        assert records.ok and (records.records, records.leaves) == (3, 3), records.lines()
        assert verify_log(audit).ok and audit_records(audit).records == 6
    finally:
        system.dispose()


def test_a_tile_read_at_an_earlier_size_is_the_tile_stored_then(tmp_path: Path) -> None:
    from myna.db import make_engine
    from myna.keys import FileKeyStore as Keys
    from myna.transparency.service import TransparencyLog

    log = TransparencyLog(make_engine(f"sqlite:///{tmp_path / 'log.sqlite3'}", "log"),
                          Keys(tmp_path / "keys"), "test.myna.example/log")
    log.create_schema()
    log.append([f"entry {i}".encode() for i in range(300)])
    reader = StoredLog(log)
    then = reader.leaf_chunk(300, 256, 300).tiles[1]
    log.append([f"entry {i}".encode() for i in range(300, 700)])
    later = reader.leaf_chunk(700, 256, 512).tiles[1]
    assert len(later.bottom) == 256 * 32 and later != then
    assert cut(later, 44) == then == reader.leaf_chunk(300, 256, 300).tiles[1]
    assert cut(then, 100) == then  # never widened
    odd = Tile(later.bottom, later.inner[:-32])  # rows that do not fit: left for the audit
    assert cut(odd, 44).inner == odd.inner
    assert verify_log(log).ok
