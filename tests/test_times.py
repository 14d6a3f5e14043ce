"""One convention for every time a person reads (Japan time, labelled), and a demo whose
synthetic history never lies after the day it was built."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from sqlalchemy import Date, DateTime, MetaData, Table, func, inspect, select
from typer.testing import CliRunner

from myna.cli import app
from myna.clock import JST, show_time, utcnow
from myna.system import MynaSystem

runner = CliRunner()

#: Columns that name a future moment by design (expiry, a booked slot, a lock's end).
FUTURE_BY_DESIGN = {"expires_at", "expires_on", "hold_until", "locked_until", "next_update",
                    "not_after", "slot_start", "period_of_stay_until", "valid_until",
                    "keep_until"}  # keep_until: a replayed request is refused until then


def test_the_demo_records_nothing_after_the_day_it_runs(shared_demo: Path) -> None:
    now = utcnow() + dt.timedelta(minutes=1)
    today = now.astimezone(JST).date()
    system = MynaSystem(shared_demo)
    late: list[str] = []
    checked = 0
    try:
        for engine in system.engines():
            inspector = inspect(engine)
            for name in inspector.get_table_names():
                table = Table(name, MetaData(), autoload_with=engine)
                for column in table.columns:
                    if column.name in FUTURE_BY_DESIGN:
                        continue
                    if not isinstance(column.type, DateTime | Date):
                        continue
                    with engine.connect() as conn:
                        latest = conn.execute(select(func.max(column))).scalar()
                    if latest is None:
                        continue
                    checked += 1
                    if isinstance(latest, dt.datetime):
                        latest = latest if latest.tzinfo else latest.replace(tzinfo=dt.UTC)
                        if latest > now:
                            late.append(f"{engine.url.database}:{name}.{column.name}={latest}")
                    elif latest > today:
                        late.append(f"{engine.url.database}:{name}.{column.name}={latest}")
    finally:
        system.dispose()
    assert checked > 40  # the scan reached the tables
    assert not late, late


def test_the_notification_story_happened_before_today(shared_demo: Path) -> None:
    system = MynaSystem(shared_demo)
    try:
        batches = [system.notify.batch(b) for b in (1, 2)]
        stats = system.notify.stats().to_dict()["overall"]
    finally:
        system.dispose()
    for batch in batches:
        assert batch.mailed_at is not None and batch.mailed_at < utcnow() - dt.timedelta(days=90)
    assert stats["by_state"]["発送済み"]["count"] == 0  # every letter's fate is known by now


def test_commands_show_japan_time_and_say_so(shared_demo: Path) -> None:
    history = runner.invoke(app, ["link", "history", "--data-dir", str(shared_demo)],
                            env={"COLUMNS": "250"})
    assert history.exit_code == 0, history.output
    assert "JST" in history.output
    as_json = json.loads(runner.invoke(app, ["link", "history", "--data-dir",
                                             str(shared_demo), "--json"]).stdout)
    first = dt.datetime.fromisoformat(as_json[0]["requested_at"])
    assert first.utcoffset() == dt.timedelta(hours=9)
    assert show_time(first, seconds=True) in history.output
    unlabelled = re.findall(r"\d{2}:\d{2}:\d{2}(?! JST)", history.output)
    assert not unlabelled, unlabelled
