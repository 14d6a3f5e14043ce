"""``myna bench numbering``: generation, validation and the initial bulk assignment.

Every figure is measured in one run on the same machine, and the report puts
the ones that matter side by side as ratios:

* bulk assignment (J-LIS's part of 初期一斉指定: the numbers answered, then kept
  with the 本人確認情報 on confirmation) vs a raw bulk insert of the same rows
  into tables of the same shape — aim ≥ 50%.  The raw insert is plain library
  code outside the project's paths — :mod:`sqlite3` ``executemany`` with the same
  pragmas, psycopg ``COPY`` — into a fresh database (or schema) each time, with
  the tables created from the same DDL; it is repeated and reported as min and
  median;
* share of the assignment's time spent generating numbers (FF1) — aim ≤ 10%;
* validation from strings as people type them (``1234 5678 9018``,
  ``1234-5678-9018``, run together, full-width): bulk (NumPy) per number and
  scalar vs python-stdnum's ``stdnum.jp.in_.is_valid`` on the same strings in a
  loop — aims ≥ 50× and ≥ 5×; bulk validation of numbers already held as
  integers is shown beside it, for reference only.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SqlTable
from sqlalchemy import text

from myna.db import make_engine, node_url
from myna.jlis import storage as jt
from myna.jlis.domain import IdentityInfo
from myna.jlis.service import JlisService
from myna.keys import MemoryKeyStore
from myna.numbers import bulk, individual

ProgressFactory = Callable[[str, int], Callable[[int], None]]
MUNICIPALITY = "132152"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _best(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """The fastest of ``repeats`` runs (validation is CPU-bound: noise only adds)."""
    runs = [_timed(fn) for _ in range(repeats)]
    return min(r[0] for r in runs), runs[0][1]


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _as_typed(i: int, number: str) -> str:
    """``number`` as a person types it: grouped by spaces or hyphens, run together, or
    in full-width digits (one in four each)."""
    grouped = f"{number[:4]} {number[4:8]} {number[8:]}"
    return (grouped, grouped.replace(" ", "-"), number, number.translate(_FULL_WIDTH))[i % 4]


def run(
    n: int, postgres_url: str | None = None, data_dir: Path | None = None,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Run the numbering benchmark on ``n`` residents; returns the report."""
    keys = MemoryKeyStore()
    report: dict[str, Any] = {"residents": n, "backends": {}}
    workdir = Path(data_dir or tempfile.mkdtemp(prefix="myna-bench-"))

    # generation and validation (no database)
    service = JlisService(make_engine("sqlite://", "scratch"), keys)
    codes = service.generator.resident_codes(0, n)
    code_ints = np.array(codes, dtype="S11").astype(np.int64)
    gen_s, numbers = _timed(lambda: service.generator.numbers_for(code_ints))
    report["generation"] = {"seconds": gen_s, "per_second": n / gen_s}
    as_text = [f"{v:012d}" for v in numbers.tolist()]
    typed = [_as_typed(i, x) for i, x in enumerate(as_text)]
    int_s, ok = _best(lambda: bulk.validate_individual(numbers))
    assert bool(np.all(ok))
    bulk_s, ok = _best(lambda: bulk.validate_individual_typed(typed))
    assert bool(np.all(ok))
    sample = typed[: min(n, 200_000)]
    scalar_s, _ = _best(lambda: [individual.is_valid(x) for x in sample])
    from stdnum.jp import in_

    stdnum_s, checked = _best(lambda: [in_.is_valid(x) for x in sample])
    assert all(checked)  # python-stdnum accepts every input form used here
    per_bulk = bulk_s / n
    per_scalar = scalar_s / len(sample)
    per_stdnum = stdnum_s / len(sample)
    report["validation"] = {
        "input": "as typed: 1234 5678 9018 / 1234-5678-9018 / 123456789018 / full-width",
        "bulk_per_second": 1 / per_bulk,
        "bulk_parsed_per_second": n / int_s,
        "scalar_per_second": 1 / per_scalar,
        "stdnum_per_second": 1 / per_stdnum,
        "bulk_vs_stdnum": per_stdnum / per_bulk,
        "scalar_vs_stdnum": per_stdnum / per_scalar,
    }

    backends: list[tuple[str, str]] = [
        ("sqlite", node_url(workdir, f"bench-jlis-{uuid.uuid4().hex[:8]}")),
    ]
    if postgres_url:
        backends.append(("postgresql", postgres_url))
    for name, url in backends:
        report["backends"][name] = _bulk_assignment(name, url, keys, n, gen_s, progress,
                                                    workdir)
    return report


#: the raw insert's repetitions (median and min reported)
RAW_REPEATS = 3
#: the tables J-LIS's part of 初期一斉指定 writes, and their columns as inserted
RAW_TABLES: tuple[tuple[SqlTable, tuple[str, ...]], ...] = (
    (jt.numbers, ("number", "resident_code", "generation", "person_key", "status",
                  "assigned_at")),
    (jt.persons, ("person_key", "resident_code", "municipality_code", "name", "furigana",
                  "birth_date", "sex", "address", "status", "updated_at")),
    (jt.identity_history, ("person_key", "event", "detail", "municipality_code",
                           "recorded_at")),
)


def _plain(value: Any) -> Any:
    """A value as plain library code would hand it to the driver."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def raw_insert(name: str, url: str, workdir: Path, *tables: list[tuple[Any, ...]]) -> float:
    """Seconds to insert ``tables``' rows (in :data:`RAW_TABLES` order) with plain library
    calls into a fresh database of the same shape, in one transaction."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect: Any = postgresql.dialect() if name == "postgresql" else sqlite.dialect()  # type: ignore[no-untyped-call]
    ddl = [str(CreateTable(table).compile(dialect=dialect)) for table, _ in RAW_TABLES]
    ddl += [str(CreateIndex(index).compile(dialect=dialect))
            for table, _ in RAW_TABLES for index in table.indexes]
    if name == "postgresql":
        import psycopg

        schema = f"bench_raw_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'SET search_path TO "{schema}"')
            for statement in ddl:
                conn.execute(statement)
            conn.commit()
            try:
                t0 = time.perf_counter()
                with conn.cursor() as cur:
                    for (table, columns), rows in zip(RAW_TABLES, tables, strict=True):
                        cols = ", ".join(f'"{c}"' for c in columns)
                        with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                            for row in rows:
                                copy.write_row([_plain(v) if isinstance(v, dict) else v
                                                for v in row])
                conn.commit()
                return time.perf_counter() - t0
            finally:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
                conn.commit()
    path = workdir / f"raw-{uuid.uuid4().hex[:8]}.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-131072"):
            db.execute(f"PRAGMA {pragma}")
        for statement in ddl:
            db.execute(statement)
        t0 = time.perf_counter()
        db.execute("BEGIN")
        for (table, columns), rows in zip(RAW_TABLES, tables, strict=True):
            marks = ", ".join("?" for _ in columns)
            db.executemany(f'INSERT INTO "{table.name}" ({", ".join(columns)}) VALUES ({marks})',
                           [tuple(_plain(v) for v in row) for row in rows])
        db.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        db.close()
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()


def _bulk_assignment(
    name: str, url: str, keys: MemoryKeyStore, n: int, gen_s: float,
    progress: ProgressFactory | None, workdir: Path,
) -> dict[str, Any]:
    node = f"bench-jlis-{uuid.uuid4().hex[:8]}"
    engine = make_engine(url, node)
    try:
        service = JlisService(engine, keys)
        service.create_schema()
        codes = service.issue_resident_codes(MUNICIPALITY, n)
        infos = [IdentityInfo(c, "国立\u3000太郎", "くにたち\u3000たろう", dt.date(1980, 4, 1),
                              "男", "東京都国立市富士見台一丁目1番1号") for c in codes]
        advance = progress(f"{name}: 初期一斉指定", n) if progress else None

        def assign_and_confirm() -> list[str]:
            # J-LIS's whole part: answer the numbers, then keep them with the 本人確認情報
            # when the town confirms (one transaction, as the numbering.initial event does)
            numbers = service.assign_numbers_bulk(MUNICIPALITY, codes, advance)
            service.confirm_initial(MUNICIPALITY, infos, numbers)
            return numbers

        assign_s, numbers = _timed(assign_and_confirm)
        now = dt.datetime.now(dt.UTC)
        person_keys = secrets.token_bytes(16 * n).hex()
        key = [person_keys[32 * i: 32 * i + 32] for i in range(n)]
        rows = [(num, code, 0, key[i], "active", now)
                for i, (num, code) in enumerate(zip(numbers, codes, strict=True))]
        people = [(key[i], f.resident_code, MUNICIPALITY, f.name, f.furigana, f.birth_date,
                   f.sex, f.address, "住民", now) for i, f in enumerate(infos)]
        history = [(key[i], "初期一斉指定", {"name": f.name, "address": f.address},
                    MUNICIPALITY, now) for i, f in enumerate(infos)]
        raw_runs = [raw_insert(name, url, workdir, rows, people, history)
                    for _ in range(RAW_REPEATS)]
        raw_s = statistics.median(raw_runs)
        return {
            "assignment_seconds": assign_s,
            "assignment_rows_per_second": n / assign_s,
            "raw_insert_seconds": raw_s,
            "raw_insert_seconds_min": min(raw_runs),
            "raw_insert_rows_per_second": n / raw_s,
            "raw_insert_rows_per_second_max": n / min(raw_runs),
            "assignment_vs_raw": raw_s / assign_s,
            "generation_share_of_assignment": gen_s / assign_s,
        }
    finally:
        if name == "postgresql":
            from myna.db import schema_name

            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_name(node)}" CASCADE'))
        engine.dispose()


def print_report(report: dict[str, Any], console: Console) -> None:
    n = report["residents"]
    table = Table(title=f"付番ベンチマーク（{n:,} 件）")
    table.add_column("測定")
    table.add_column("値", justify="right")
    table.add_column("目安", justify="right")
    g = report["generation"]
    v = report["validation"]
    table.add_row("番号生成（FF1, ベクトル化）", f"{g['per_second']:,.0f} 件/秒", "")
    table.add_row("一括検査（NumPy、入力どおりの文字列から）", f"{v['bulk_per_second']:,.0f} 件/秒",
                  "")
    table.add_row("一括検査（整数で保持済み、参考）", f"{v['bulk_parsed_per_second']:,.0f} 件/秒",
                  "")
    table.add_row("単体検査 myna", f"{v['scalar_per_second']:,.0f} 件/秒", "")
    table.add_row("単体検査 python-stdnum", f"{v['stdnum_per_second']:,.0f} 件/秒", "")
    table.add_row("一括検査 ÷ stdnum（1件あたり）", f"{v['bulk_vs_stdnum']:.1f}×", "≥ 50×")
    table.add_row("単体検査 ÷ stdnum", f"{v['scalar_vs_stdnum']:.2f}×", "≥ 5×")
    for name, b in report["backends"].items():
        table.add_row(f"{name}: 初期一斉指定", f"{b['assignment_rows_per_second']:,.0f} 行/秒", "")
        table.add_row(f"{name}: 単純一括挿入", f"{b['raw_insert_rows_per_second']:,.0f} 行/秒", "")
        table.add_row(f"{name}: 一斉指定 ÷ 単純挿入", f"{b['assignment_vs_raw']:.0%}", "≥ 50%")
        table.add_row(f"{name}: 生成時間の割合", f"{b['generation_share_of_assignment']:.1%}",
                      "≤ 10%")
    console.print(table)
