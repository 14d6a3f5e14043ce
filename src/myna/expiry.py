"""Provision records past their retention period are erased: at start, then on a schedule.

番号法23条 has the hub (3項) and every 情報照会者・情報提供者 (1項) keep their
records of each request and provision for the period of 施行令30条 — 7 years,
counted as :mod:`myna.retention` says — and nothing obliges anyone to keep them
longer.  A node that holds such records runs :meth:`Expiry.tick` once when it
starts and then every ``interval`` (a day unless configured) in a background
task of its server: the hub its records and the data of its log's entries (the
leaf hashes stay, so the count and every proof still hold), an intermediate
server its journal.

A failed run is logged with the error's class and where it happened (never its
message) and the next run tries again; the server never stops for it.  Log lines
carry counts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from myna.clock import utcnow
from myna.errors import ValidationError
from myna.transport.guard import describe, where


class RecordStore(Protocol):
    """A store of provision records that erases those past their retention period."""

    def expire_records(self, now: dt.datetime | None = None) -> int: ...


class InstitutionRecords(RecordStore, Protocol):
    @property
    def institution(self) -> str: ...


class ExpiringLog(Protocol):
    def expire(self, before: dt.datetime | None = None, *,
               now: dt.datetime | None = None) -> int: ...

log = logging.getLogger(__name__)

#: How often the records are looked at, unless configured.
DAILY = dt.timedelta(days=1)


@dataclass(frozen=True)
class RetentionTask:
    """One kind of record to expire: ``run(now)`` erases what has outlived its period
    at ``now`` and says how many."""

    name: str
    label: str
    run: Callable[[dt.datetime], int]


@dataclass(frozen=True)
class ExpiryReport:
    """What one run erased (by task name) and which tasks failed (with the error class)."""

    at: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        """The run in one log line: names and counts only."""
        parts = [f"{name}={count}" for name, count in self.counts.items()]
        parts += [f"{name}=failed" for name in self.failed]
        return " ".join(parts) or "nothing to look at"


def hub_tasks(hub: RecordStore, provision_log: ExpiringLog | None) -> list[RetentionTask]:
    """The hub's records (番号法23条3項) and the data of its log's entries."""
    tasks = [RetentionTask("hub", "情報提供ネットワークシステムの情報提供等記録",
                           hub.expire_records)]
    if provision_log is not None:
        log_ = provision_log
        tasks.append(RetentionTask(
            "log", "情報提供等記録ログのエントリのデータ（ハッシュは残す）",
            lambda now: log_.expire(now=now)))
    return tasks


def intermediate_task(server: InstitutionRecords) -> RetentionTask:
    """An intermediate server's own records (番号法23条1項)."""
    return RetentionTask(f"intermediate:{server.institution}",
                         f"中間サーバー（{server.institution}）の情報提供等記録",
                         server.expire_records)


class Expiry:
    """Runs ``tasks`` now (:meth:`tick`) and every ``interval`` while a server runs."""

    def __init__(self, tasks: Sequence[RetentionTask], interval: dt.timedelta = DAILY,
                 now: Callable[[], dt.datetime] = utcnow) -> None:
        if interval <= dt.timedelta(0):
            raise ValidationError("消去の間隔は正の時間です",
                                  "the expiry interval must be positive")
        self.tasks = list(tasks)
        self.interval = interval
        self.now = now
        self.runs = 0
        self.last: ExpiryReport | None = None

    def tick(self, now: dt.datetime | None = None) -> ExpiryReport:
        """Erase what has outlived its period at ``now`` (the clock's time); never raises."""
        report = ExpiryReport(now or self.now())
        for task in self.tasks:
            try:
                report.counts[task.name] = int(task.run(report.at))
            except Exception as exc:  # noqa: BLE001 - one failed store must not stop the rest
                report.failed[task.name] = describe(exc)
                log.error("expiry of %s failed: %s at %s", task.name, describe(exc), where(exc))
        self.runs += 1
        self.last = report
        log.info("provision records past their retention period erased: %s", report.line())
        return report

    async def run_forever(self) -> None:
        """Every ``interval``: one :meth:`tick` in a worker thread (the loop stays free)."""
        while True:
            await asyncio.sleep(self.interval.total_seconds())
            try:
                await asyncio.to_thread(self.tick)
            except Exception as exc:  # noqa: BLE001 - the schedule goes on whatever happens
                log.error("expiry run failed: %s at %s", describe(exc), where(exc))

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """A server's lifespan: the schedule runs while the server does."""
        task = asyncio.create_task(self.run_forever(), name="myna-expiry")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
