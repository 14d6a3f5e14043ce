"""Provision records past their retention period are erased at a node's start, on a
schedule while it serves, and by ``myna log expire`` — 29 February included."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from exchanges import Exchange, make_exchange
from myna.cli import app as cli
from myna.clock import JST, backdated
from myna.expiry import Expiry, RetentionTask
from myna.hub import storage as ht
from myna.intermediate import storage as it
from myna.keys import FileKeyStore
from myna.nodes import NodeHost
from myna.system import MynaSystem
from myna.web import create_app

SECRET = b"s" * 32
LEAP_DAY = dt.datetime(2024, 2, 29, 12, 0, tzinfo=JST)


@pytest.fixture
def exchange(system: MynaSystem) -> Exchange:
    return make_exchange(system)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def _hub_records(system: MynaSystem) -> list[str]:
    return [r.request_id for r in system.hub.records()]


def _journal(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(it.journal)).scalar_one())


def test_records_of_29_february_go_on_1_march_seven_years_later(exchange: Exchange) -> None:
    system = exchange.system
    with backdated(LEAP_DAY):
        old_id, _ = exchange.ask()
    new_id, _ = exchange.ask()
    [old_leaf] = [r.leaf_index for r in system.hub.records(old_id)]
    assert old_leaf is not None
    expiry = Expiry(system.retention_tasks())
    # the last day of the seven years (民法143条): everything is kept
    kept = expiry.tick(dt.datetime(2031, 2, 28, 23, 59, 59, tzinfo=JST))
    assert kept.total == 0 and not kept.failed
    assert sorted(_hub_records(system)) == sorted([old_id, new_id])
    # the day after: the records of that day are gone — hub, log data, both towns' journals
    gone = expiry.tick(dt.datetime(2031, 3, 1, 0, 0, tzinfo=JST))
    assert not gone.failed
    assert gone.counts["hub"] == 1 and gone.counts["log"] == 1
    assert gone.counts[f"intermediate:{exchange.provider.institution}"] == 1   # "in"
    assert gone.counts[f"intermediate:{exchange.requester.institution}"] == 1  # "out"
    assert _hub_records(system) == [new_id]
    assert system.provision_log.entry(old_leaf).data is None  # its hash stays in the log
    assert system.provision_log.size() == 2
    assert exchange.provisions(new_id) == 1 and exchange.provisions(old_id) == 0
    assert expiry.tick(dt.datetime(2031, 3, 2, tzinfo=JST)).total == 0
    # a run on a 29 February itself works too (the old limit could not be computed there)
    leap = expiry.tick(dt.datetime(2032, 2, 29, 12, 0, tzinfo=JST))
    assert not leap.failed and leap.total == 0


def test_an_expiry_run_that_fails_in_one_store_erases_the_others_and_says_which(
    exchange: Exchange,
) -> None:
    with backdated(LEAP_DAY):
        exchange.ask()

    def broken(now: dt.datetime) -> int:
        raise RuntimeError("disk on fire 123456789018")

    expiry = Expiry([RetentionTask("broken", "壊れた記録", broken),
                     *exchange.system.retention_tasks()])
    report = expiry.tick(dt.datetime(2031, 3, 1, tzinfo=JST))
    assert report.failed == {"broken": "RuntimeError"}
    assert report.counts["hub"] == 1
    assert "broken=failed" in report.line() and "123456789018" not in report.line()


def _installation(tmp_path: Path, backend: str | None) -> tuple[Path, MynaSystem]:
    """An installation on disk (keys included), as a node process finds it."""
    data = tmp_path / "node-data"
    return data, MynaSystem(data, backend, keys=FileKeyStore(data / "keys"),
                            namespace=f"n{uuid.uuid4().hex[:10]}_")


def test_building_a_node_erases_what_is_past_retention(tmp_path: Path,
                                                       backend: str | None) -> None:
    data, system = _installation(tmp_path, backend)
    try:
        exchange = make_exchange(system)
        with backdated(dt.datetime(2015, 6, 1, 10, 0, tzinfo=JST)):
            old_id, _ = exchange.ask()
        new_id, _ = exchange.ask()
        provider = exchange.provider.institution
        assert exchange.provisions(old_id) == 1
    finally:
        system.dispose()
    hosts = [NodeHost(data), NodeHost(data)]
    hosts[0].hub_app()
    hosts[1].intermediate_app(provider)
    for host in hosts:
        host.stop()  # their relays would outlive the schemas dropped below
    system = MynaSystem(data, backend)
    try:
        assert _hub_records(system) == [new_id]
        assert system.provision_log.entry(0).data is None
        assert system.provision_log.entry(1).data is not None
        with system.intermediates[provider].engine.connect() as conn:
            ids = conn.execute(select(it.journal.c.request_id)).scalars().all()
        assert ids == [new_id]
    finally:
        _drop(system, backend)


def _drop(system: MynaSystem, backend: str | None) -> None:
    from sqlalchemy import create_engine, text

    namespace = system.namespace
    system.dispose()
    if backend:
        engine = create_engine(backend, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for schema in conn.execute(text(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                    {"p": f"myna_{namespace}%"}).scalars().all():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_the_schedule_erases_while_the_app_serves_and_survives_failures(
    exchange: Exchange,
) -> None:
    system = exchange.system
    with backdated(LEAP_DAY):
        old_id, _ = exchange.ask()
    new_id, _ = exchange.ask()
    clock = Clock(dt.datetime(2031, 2, 28, 12, 0, tzinfo=JST))
    late_runs = 0  # runs of the failing store once the records are due

    def broken(now: dt.datetime) -> int:
        nonlocal late_runs
        if now >= dt.datetime(2031, 3, 1, tzinfo=JST):
            late_runs += 1
        raise RuntimeError("broken store")

    expiry = Expiry([*system.retention_tasks(), RetentionTask("broken", "壊れた記録", broken)],
                    interval=dt.timedelta(milliseconds=20), now=clock)
    app = create_app(system, SECRET, expiry)
    assert expiry.runs == 1 and expiry.last is not None and expiry.last.total == 0  # at start
    assert sorted(_hub_records(system)) == sorted([old_id, new_id])
    with TestClient(app) as client:
        clock.at = dt.datetime(2031, 3, 1, 0, 0, tzinfo=JST)
        deadline = time.monotonic() + 60
        while late_runs < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # two scheduled runs came: the failing store stopped neither them nor the server
        assert late_runs >= 2, "the schedule did not run"
        assert client.get("/").status_code == 200
    assert _hub_records(system) == [new_id]


def test_an_expiry_interval_must_be_positive() -> None:
    with pytest.raises(Exception, match="正の時間"):
        Expiry([], interval=dt.timedelta(0))


def test_myna_log_expire_says_how_many_records_went(tmp_path: Path) -> None:
    data, system = _installation(tmp_path, None)
    try:
        exchange = make_exchange(system)
        with backdated(dt.datetime(2016, 1, 10, 10, 0, tzinfo=JST)):
            old_id, _ = exchange.ask()
        exchange.ask()
    finally:
        system.dispose()
    runner = CliRunner()
    first = runner.invoke(cli, ["log", "expire", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())
    assert "情報提供ネットワークシステムの情報提供等記録 │ 1" in said, said
    assert "中間サーバー（municipality-132152）の情報提供等記録 │ 1" in said, said
    again = runner.invoke(cli, ["log", "expire", "--data-dir", str(data), "--json"])
    assert again.exit_code == 0, again.output
    counts = json.loads(again.output)["counts"]
    assert counts["hub"] == 0 and set(counts) >= {"hub", "log", "intermediate:municipality-132152"}
    system = MynaSystem(data)
    try:
        with system.hub.engine.connect() as conn:
            left = conn.execute(select(ht.records.c.request_id)).scalars().all()
        assert old_id not in left and len(left) == 1
    finally:
        system.dispose()
