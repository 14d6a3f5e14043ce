"""``myna bench events``: durable events from one node process to another over HTTP.

The job timed is the whole one a municipality runs when 届出 come in: each
change is its own transaction that writes the changed row and its event (the
outbox), while the relay delivers the events over signed HTTP to a receiver in
another process, which applies each in its own transaction with its inbox row.
The clock stops when the receiver has applied the last event.

Next to it, in the same run and on the same table shapes and SQLite settings:

* the durable local writes alone, with plain :mod:`sqlite3` (one transaction per
  change writing the row and the outbox row) — the baseline; aim: events
  delivered per second ≥ 25% of it;
* the project's own local writes without delivery, for reference.

Each is repeated; the report gives the minimum and the median, the delivery
delay (event written → applied at the receiver) at p50 and p99, and a chart.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    bindparam,
    select,
)
from sqlalchemy import Table as SqlTable

from myna.clock import aware, utcnow
from myna.db import make_engine
from myna.events import Event, Inbox, Outbox, Relay, RelayWorker
from myna.events import storage as et
from myna.keys import FileKeyStore
from myna.netca import NetworkCA
from myna.transport.http import HttpEventSink, NodeIdentity, events_route, node_app
from myna.transport.processes import free_port, start, stop

ProgressFactory = Callable[[str, int], Callable[[int], None]]
SENDER, RECEIVER = "municipality:132152", "jlis"
#: events per delivery (one HTTP request, one receiver transaction)
BATCH = 500

changes_metadata = MetaData()
#: the changed row each 届出 writes with its event (as a 住民票 update would)
changes = SqlTable(
    "changes", changes_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resident_code", String(11), nullable=False),
    Column("address", String(500), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
#: what the receiver keeps of each event it applies
copies = SqlTable(
    "copies", changes_metadata,
    Column("resident_code", String(11), primary_key=True),
    Column("address", String(500), nullable=False),
)
#: the sender's change (a prepared statement, as a node's own writes are)
_RECORD = changes.insert()
#: the receiver's two statements, bound parameters (compiled once, cached)
_FORGET = copies.delete().where(copies.c.resident_code == bindparam("code"))
_KEEP = copies.insert()


def _payload(i: int) -> dict[str, Any]:
    """An identity.recorded event as a town sends it, with a name and address as written."""
    code = f"{4_000_000_000 + i:010d}{i % 10}"
    address = (f"東京都国立市富士見台一丁目{i % 30 + 1}番{i % 7 + 1}号"
               f"\u3000国立ハイツ{i % 400}号室")
    return {"resident_code": code, "name": "髙橋\u3000𠮷太郎",
            "furigana": "たかはし\u3000きちたろう", "birth_date": "1984-02-29", "sex": "男",
            "address": address, "event": "転居", "status": "住民"}


# -- the receiver process ---------------------------------------------------------------------

def receiver_app(directory: Path) -> Any:
    """The receiving node: an inbox whose handler keeps a copy of each change."""
    engine = make_engine(f"sqlite:///{directory / 'receiver.sqlite3'}", "receiver")
    changes_metadata.create_all(engine, tables=[copies])

    def apply(conn: Connection, event: Event) -> None:
        p = event.payload
        conn.execute(_FORGET, {"code": p["resident_code"]})
        conn.execute(_KEEP, {"resident_code": p["resident_code"], "address": p["address"]})

    inbox = Inbox(engine, RECEIVER, {"identity.recorded": apply})
    inbox.create_schema()
    ca = NetworkCA(FileKeyStore(directory / "keys"), directory / "netca")
    return node_app("Myna bench receiver", ca.certificate,
                    events_route(inbox, lambda caller: caller == SENDER))


# -- one run ------------------------------------------------------------------------------------

def _sender_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}", "sender")
    changes_metadata.create_all(engine, tables=[changes])
    return engine


def _write(engine: Engine, outbox: Outbox, i: int, after: Callable[[], None] | None) -> None:
    payload = _payload(i)
    with engine.begin() as conn:
        conn.execute(_RECORD, {"resident_code": payload["resident_code"],
                               "address": payload["address"], "at": utcnow()})
        outbox.add(conn, RECEIVER, "identity.recorded", payload["resident_code"], payload)
    if after:
        after()


def local_writes(directory: Path, n: int) -> float:
    """Seconds for ``n`` changes with their events, nothing delivered (the project's code)."""
    engine = _sender_engine(directory / f"local-{uuid.uuid4().hex[:6]}.sqlite3")
    outbox = Outbox(engine, SENDER)
    outbox.create_schema()
    try:
        t0 = time.perf_counter()
        for i in range(n):
            _write(engine, outbox, i, None)
        return time.perf_counter() - t0
    finally:
        engine.dispose()


def plain_sqlite3(directory: Path, n: int) -> float:
    """The baseline: the same rows with plain :mod:`sqlite3`, one transaction each, the same
    table shapes and the same settings (WAL, synchronous=NORMAL)."""
    path = directory / f"plain-{uuid.uuid4().hex[:6]}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE changes (id INTEGER PRIMARY KEY, resident_code VARCHAR(11) "
                 "NOT NULL, address VARCHAR(500) NOT NULL, at DATETIME NOT NULL)")
    conn.execute("CREATE TABLE event_outbox (seq INTEGER PRIMARY KEY, event_id VARCHAR(32) "
                 "NOT NULL UNIQUE, destination VARCHAR(80) NOT NULL, kind VARCHAR(60) NOT NULL, "
                 "subject VARCHAR(80) NOT NULL, payload JSON NOT NULL, created_at DATETIME NOT "
                 "NULL, delivered_at DATETIME, attempts INTEGER NOT NULL, last_error "
                 "VARCHAR(200))")
    conn.execute("CREATE INDEX ix_event_outbox_pending ON event_outbox (destination, "
                 "delivered_at, seq)")
    try:
        t0 = time.perf_counter()
        for i in range(n):
            payload = _payload(i)
            now = dt.datetime.now(dt.UTC).isoformat()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO changes (resident_code, address, at) VALUES (?, ?, ?)",
                         (payload["resident_code"], payload["address"], now))
            conn.execute("INSERT INTO event_outbox (event_id, destination, kind, subject, "
                         "payload, created_at, attempts) VALUES (?, ?, ?, ?, ?, ?, 0)",
                         (uuid.uuid4().hex, RECEIVER, "identity.recorded",
                          payload["resident_code"], json.dumps(payload, ensure_ascii=False),
                          now))
            conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def delivered(directory: Path, n: int, progress: Callable[[int], None] | None) -> dict[str, Any]:
    """The whole job: write ``n`` changes while the relay delivers them to the receiver
    process over HTTP; seconds until the last was applied, and each event's delay."""
    port = free_port()
    keys = FileKeyStore(directory / "keys")
    ca = NetworkCA(keys, directory / "netca")
    key, cert = ca.identity(SENDER)
    proc = start(["bench", "events", "--serve-receiver", str(directory), "--port", str(port)],
                 port, directory / "receiver.log")
    engine = _sender_engine(directory / "sender.sqlite3")
    outbox = Outbox(engine, SENDER)
    outbox.create_schema()
    sink = HttpEventSink(f"http://127.0.0.1:{port}", NodeIdentity(SENDER, key, cert))
    worker = RelayWorker(Relay(outbox, {RECEIVER: sink}, batch=BATCH), interval=0.05,
                         name="bench")
    worker.start()
    try:
        t0 = time.perf_counter()
        for i in range(n):
            _write(engine, outbox, i, worker.wake)
            if progress and i % 500 == 499:
                progress(500)
        while outbox.backlog():
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        if progress:
            progress(n % 500)
    finally:
        worker.stop()
        stop([proc])
    receiver = make_engine(f"sqlite:///{directory / 'receiver.sqlite3'}", "receiver")
    try:
        with engine.connect() as conn:
            written = {r.event_id: aware(r.created_at) for r in conn.execute(
                select(et.event_outbox.c.event_id, et.event_outbox.c.created_at))}
        with receiver.connect() as conn:
            applied = {r.event_id: aware(r.received_at) for r in conn.execute(
                select(et.event_inbox.c.event_id, et.event_inbox.c.received_at))}
    finally:
        receiver.dispose()
        engine.dispose()
    if set(applied) != set(written):
        raise RuntimeError("the receiver did not apply every event exactly once")
    delays = sorted((applied[e] - written[e]).total_seconds() for e in written)
    return {"seconds": seconds, "delays": delays}


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def run(n: int, repeats: int = 3, progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Run every measurement ``repeats`` times on ``n`` events; the report."""
    runs: dict[str, list[float]] = {"delivered": [], "local": [], "plain": []}
    delays: list[float] = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="myna-bench-events-") as tmp:
            directory = Path(tmp)
            advance = progress(f"配送 {r + 1}/{repeats}", n) if progress else None
            result = delivered(directory, n, advance)
            runs["delivered"].append(result["seconds"])
            delays = result["delays"] if not delays or result["seconds"] <= min(
                runs["delivered"]) else delays
            runs["local"].append(local_writes(directory, n))
            runs["plain"].append(plain_sqlite3(directory, n))
    rates = {k: [n / s for s in v] for k, v in runs.items()}
    median = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "events": n, "repeats": repeats,
        "rates": {k: {"min": min(v), "median": median[k], "max": max(v)}
                  for k, v in rates.items()},
        "delay_ms": {"p50": 1000 * _percentile(delays, 0.50),
                     "p99": 1000 * _percentile(delays, 0.99),
                     "max": 1000 * delays[-1]},
        "delivered_vs_plain": median["delivered"] / median["plain"],
        "local_vs_plain": median["local"] / median["plain"],
    }


LABELS = {"delivered": "配送（HTTP・受信側で適用まで）", "local": "送信側の書き込みのみ（Myna）",
          "plain": "素の sqlite3（同じ表・1件1トランザクション）"}


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"イベント配送ベンチマーク（{report['events']:,}件 × "
                        f"{report['repeats']}回）")
    table.add_column("測定")
    table.add_column("最小", justify="right")
    table.add_column("中央値", justify="right")
    for key, label in LABELS.items():
        rate = report["rates"][key]
        table.add_row(label, f"{rate['min']:,.0f} 件/秒", f"{rate['median']:,.0f} 件/秒")
    console.print(table)
    d = report["delay_ms"]
    console.print(f"配送遅延（書き込み→適用）: p50 {d['p50']:,.1f} ms、p99 {d['p99']:,.1f} ms、"
                  f"最大 {d['max']:,.1f} ms")
    ratio = report["delivered_vs_plain"]
    mark = "[green]達成[/green]" if ratio >= 0.25 else "[red]未達[/red]"
    console.print(f"配送 ÷ 素の書き込み（中央値）: {ratio:.0%}（目安 ≥ 25%）{mark}")
    console.print(f"Myna の書き込み ÷ 素の書き込み: {report['local_vs_plain']:.0%}")


def render_chart(report: dict[str, Any], dpi: int = 100) -> bytes:
    """Rates (median, with min–max) and delivery delay percentiles, as PNG bytes."""
    import io

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from myna.fonts import matplotlib_family

    with matplotlib.rc_context({"font.family": matplotlib_family(),
                                "axes.unicode_minus": False}):
        fig = Figure(figsize=(11, 4.2), dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
        keys = list(LABELS)
        med = [report["rates"][k]["median"] for k in keys]
        low = [m - report["rates"][k]["min"] for k, m in zip(keys, med, strict=True)]
        high = [report["rates"][k]["max"] - m for k, m in zip(keys, med, strict=True)]
        bars = left.barh([LABELS[k] for k in keys], med, xerr=[low, high],
                         color=["#1e88e5", "#90caf9", "#9e9e9e"])
        for bar, m in zip(bars, med, strict=True):
            left.annotate(f"{m:,.0f} 件/秒", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                          ha="left", va="center", fontsize=9, xytext=(6, 0),
                          textcoords="offset points")
        left.invert_yaxis()
        left.set_xlim(0, max(med) * 1.35)
        left.set_title(f"件/秒（中央値、誤差棒は最小〜最大、{report['repeats']}回）")
        left.spines[["top", "right"]].set_visible(False)
        d = report["delay_ms"]
        right.bar(["p50", "p99", "最大"], [d["p50"], d["p99"], d["max"]],
                  color=["#43a047", "#fb8c00", "#e53935"])
        right.set_title("配送遅延（ms）")
        right.spines[["top", "right"]].set_visible(False)
        fig.suptitle(f"イベント配送 {report['events']:,}件: 素の書き込みの "
                     f"{report['delivered_vs_plain']:.0%}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()
