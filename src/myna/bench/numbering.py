"""``myna bench numbering``: generation, validation and the initial bulk assignment.

Every figure is measured in one run on the same machine, and the report puts
the ones that matter side by side as ratios:

* bulk assignment (J-LIS's part of 初期一斉指定: the numbers answered, then kept
  with the 本人確認情報 on confirmation) vs a raw bulk insert of the same rows
  into tables of the same shape — aim ≥ 50%;
* share of the assignment's time spent generating numbers (FF1) — aim ≤ 10%;
* bulk (NumPy) validation per number vs python-stdnum's
  ``stdnum.jp.in_.is_valid`` in a loop — aim ≥ 20×; scalar validation vs
  stdnum — aim ≥ 1×.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import Index, MetaData, UniqueConstraint, text
from sqlalchemy import Table as SqlTable

from myna.db import bulk_insert, make_engine, node_url
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
    bulk_s, ok = _timed(lambda: bulk.validate_individual(numbers))
    assert bool(np.all(ok))
    sample = as_text[: min(n, 200_000)]
    scalar_s, _ = _timed(lambda: [individual.is_valid(x) for x in sample])
    from stdnum.jp import in_

    stdnum_s, _ = _timed(lambda: [in_.is_valid(x) for x in sample])
    per_bulk = bulk_s / n
    per_scalar = scalar_s / len(sample)
    per_stdnum = stdnum_s / len(sample)
    report["validation"] = {
        "bulk_per_second": 1 / per_bulk,
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
        report["backends"][name] = _bulk_assignment(name, url, keys, n, gen_s, progress)
    return report


def _bulk_assignment(
    name: str, url: str, keys: MemoryKeyStore, n: int, gen_s: float,
    progress: ProgressFactory | None,
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
        # the raw insert: the same rows into tables of the same shape, one transaction
        raw_meta = MetaData()
        raw = SqlTable(
            "raw_numbers", raw_meta, *[c._copy() for c in jt.numbers.columns],
            UniqueConstraint("resident_code", "generation", name="uq_raw_numbers_input"),
            Index("ix_raw_numbers_person", "person_key"),
        )
        raw_persons = SqlTable("raw_persons", raw_meta,
                               *[c._copy() for c in jt.persons.columns])
        raw_history = SqlTable(
            "raw_history", raw_meta, *[c._copy() for c in jt.identity_history.columns],
            Index("ix_raw_history_person", "person_key"))
        raw_meta.create_all(engine)
        now = dt.datetime.now(dt.UTC)
        person_keys = secrets.token_bytes(16 * n).hex()
        key = [person_keys[32 * i: 32 * i + 32] for i in range(n)]
        rows = [(num, code, 0, key[i], "active", now)
                for i, (num, code) in enumerate(zip(numbers, codes, strict=True))]
        people = [(key[i], f.resident_code, MUNICIPALITY, f.name, f.furigana, f.birth_date,
                   f.sex, f.address, "住民", now) for i, f in enumerate(infos)]
        history = [(key[i], "初期一斉指定", {"name": f.name, "address": f.address},
                    MUNICIPALITY, now) for i, f in enumerate(infos)]

        def raw_insert() -> None:
            with engine.begin() as conn:
                bulk_insert(conn, raw, rows, ["number", "resident_code", "generation",
                                              "person_key", "status", "assigned_at"])
                bulk_insert(conn, raw_persons, people, [
                    "person_key", "resident_code", "municipality_code", "name", "furigana",
                    "birth_date", "sex", "address", "status", "updated_at"])
                bulk_insert(conn, raw_history, history, [
                    "person_key", "event", "detail", "municipality_code", "recorded_at"])

        raw_s, _ = _timed(raw_insert)
        return {
            "assignment_seconds": assign_s,
            "assignment_rows_per_second": n / assign_s,
            "raw_insert_seconds": raw_s,
            "raw_insert_rows_per_second": n / raw_s,
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
    table.add_row("一括検査（NumPy）", f"{v['bulk_per_second']:,.0f} 件/秒", "")
    table.add_row("単体検査 myna", f"{v['scalar_per_second']:,.0f} 件/秒", "")
    table.add_row("単体検査 python-stdnum", f"{v['stdnum_per_second']:,.0f} 件/秒", "")
    table.add_row("一括検査 ÷ stdnum（1件あたり）", f"{v['bulk_vs_stdnum']:.1f}×", "≥ 20×")
    table.add_row("単体検査 ÷ stdnum", f"{v['scalar_vs_stdnum']:.2f}×", "≥ 1×")
    for name, b in report["backends"].items():
        table.add_row(f"{name}: 初期一斉指定", f"{b['assignment_rows_per_second']:,.0f} 行/秒", "")
        table.add_row(f"{name}: 単純一括挿入", f"{b['raw_insert_rows_per_second']:,.0f} 行/秒", "")
        table.add_row(f"{name}: 一斉指定 ÷ 単純挿入", f"{b['assignment_vs_raw']:.0%}", "≥ 50%")
        table.add_row(f"{name}: 生成時間の割合", f"{b['generation_share_of_assignment']:.1%}",
                      "≤ 10%")
    console.print(table)
