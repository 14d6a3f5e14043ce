"""``myna bench merkle``: the provision-record log at national scale, on SQLite.

One log in a temporary directory grows through ``sizes`` (default 10^6 then
10^7 entries of 32 random bytes, i.e. record commitments).  It is *built*
through the log's own bulk path: :meth:`TransparencyLog.append` with 65,536
entries per call (one transaction each: entries by ``executemany``, 256
level-0 tiles and their parents in the same transaction), so the stored tree
is exactly what production appends produce.  At each size it measures:

* inclusion proofs for random leaves: p50/p99, first with a cold cache and
  again warm — the target is < 1 ms.  Cold means cold all the way down: the
  engine's connections are closed (SQLite's page cache goes with them) and the
  database files are dropped from the operating system's page cache
  (``posix_fadvise(DONTNEED)`` after an fsync; the report says whether that was
  possible), then a freshly opened log answers: after its first call has loaded
  the tiles above level 0, 1/256 of all hashes, every proof reads its level-0
  tile from the disk;
* consistency proofs from a random older size to the current one;
* durable appends: batches of 256 entries, each its own transaction, committed
  with ``synchronous=FULL`` (WAL fsync per batch): entries/s and batches/s;
* optionally the full audit (:func:`verify_log`) time.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from myna.db import make_engine, node_url
from myna.keys import MemoryKeyStore
from myna.transparency.merkle import verify_consistency, verify_inclusion
from myna.transparency.service import TransparencyLog
from myna.transparency.verify import verify_log

ProgressFactory = Callable[[str, int], Callable[[int], None]]
BULK = 65_536
NAME = "bench.myna.example/provision-records"


def _percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3,
            "max_ms": ordered[-1] * 1e3}


def _time_each(calls: Sequence[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    times: list[float] = []
    values: list[Any] = []
    for call in calls:
        t0 = time.perf_counter()
        values.append(call())
        times.append(time.perf_counter() - t0)
    return times, values


def run(
    sizes: Sequence[int] = (10**6, 10**7), progress: ProgressFactory | None = None,
    data_dir: Path | None = None, batch: int = 256, batches: int = 200,
    samples: int = 1000, verify: bool = True, seed: int = 2015,
) -> dict[str, Any]:
    """Run the benchmark; returns the report (see :func:`print_report`)."""
    rng = random.Random(seed)
    workdir = Path(data_dir or tempfile.mkdtemp(prefix="myna-bench-merkle-"))
    keys = MemoryKeyStore()
    engine = make_engine(node_url(workdir, "bench-transparency"), "bench-transparency")
    report: dict[str, Any] = {
        "backend": "sqlite", "batch": batch, "bulk_chunk": BULK, "samples": samples,
        "directory": str(workdir), "sizes": {},
    }
    try:
        log = TransparencyLog(engine, keys, NAME)
        log.create_schema()
        built = 0
        build_seconds = 0.0
        for target in sorted(sizes):
            advance = progress(f"構築 {target:,} 件", target - built) if progress else None
            t0 = time.perf_counter()
            while built < target:
                k = min(BULK, target - built)
                blob = os.urandom(32 * k)
                log.append([blob[32 * i:32 * i + 32] for i in range(k)])
                built += k
                if advance:
                    advance(k)
            build_seconds += time.perf_counter() - t0
            result: dict[str, Any] = {
                "build_seconds_total": build_seconds,
                "build_entries_per_second": built / build_seconds if build_seconds else 0.0,
            }
            files = sorted(workdir.glob("bench-transparency.sqlite3*"))
            result.update(_proofs(engine, keys, built, samples, rng, files))
            result.update(_appends(log, batch, batches, progress))
            built = log.size()
            if verify:
                t0 = time.perf_counter()
                audit = verify_log(log)
                result["verify_seconds"] = time.perf_counter() - t0
                result["verify_ok"] = audit.ok
            result["database_bytes"] = sum(
                f.stat().st_size for f in workdir.glob("bench-transparency.sqlite3*"))
            report["sizes"][str(target)] = result
    finally:
        engine.dispose()
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def drop_caches(engine: Any, files: Sequence[Path]) -> bool:
    """Close ``engine``'s connections and drop ``files`` from the OS page cache; whether
    the operating system could be asked to (Linux ``posix_fadvise``)."""
    engine.dispose()
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return False
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # the WAL and shared-memory files go when the last connection closes
        try:
            os.fsync(fd)  # dirty pages are not dropped
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def _proofs(engine: Any, keys: MemoryKeyStore, size: int, samples: int,
            rng: random.Random, files: Sequence[Path] = ()) -> dict[str, Any]:
    """Inclusion and consistency proof latency at ``size``, cold cache then warm."""
    dropped = drop_caches(engine, files)
    cold = TransparencyLog(engine, keys, NAME)  # a fresh object: empty tile cache
    t0 = time.perf_counter()
    root = cold.root(size)  # the first call also loads the tiles above level 0
    out: dict[str, Any] = {"size": size, "first_call_ms": (time.perf_counter() - t0) * 1e3,
                           "page_cache_dropped": dropped}
    leaves = [rng.randrange(size) for _ in range(samples)]
    olds = [rng.randrange(1, size) for _ in range(samples)]
    times, proofs = _time_each([partial(cold.inclusion_proof, i, size) for i in leaves])
    out["inclusion_cold"] = _percentiles(times)
    times, _ = _time_each([partial(cold.inclusion_proof, i, size) for i in leaves])
    out["inclusion_warm"] = _percentiles(times)
    out["inclusion_proof_hashes"] = len(proofs[0])
    for i, proof in list(zip(leaves, proofs, strict=True))[:50]:
        assert verify_inclusion(cold.entry(i).leaf_hash, i, size, proof, root)
    drop_caches(engine, files)
    fresh = TransparencyLog(engine, keys, NAME)
    times, cons = _time_each([partial(fresh.consistency_proof, m, size) for m in olds])
    out["consistency_cold"] = _percentiles(times)
    times, _ = _time_each([partial(fresh.consistency_proof, m, size) for m in olds])
    out["consistency_warm"] = _percentiles(times)
    for m, proof in list(zip(olds, cons, strict=True))[:20]:
        assert verify_consistency(m, size, proof, fresh.root(m), root)
    return out


def _appends(log: TransparencyLog, batch: int, batches: int,
             progress: ProgressFactory | None) -> dict[str, Any]:
    """Durable appends: ``batches`` transactions of ``batch`` entries each."""
    advance = progress(f"追記 {batch} 件 × {batches}", batches) if progress else None
    blobs = [os.urandom(32 * batch) for _ in range(batches)]
    t0 = time.perf_counter()
    for blob in blobs:
        log.append([blob[32 * i:32 * i + 32] for i in range(batch)])
        if advance:
            advance(1)
    seconds = time.perf_counter() - t0
    return {"append_entries_per_second": batch * batches / seconds,
            "append_batches_per_second": batches / seconds,
            "append_batch_ms": seconds / batches * 1e3}


def print_report(report: dict[str, Any], console: Console) -> None:
    """The report as a table (Japanese labels)."""
    table = Table(title=f"記録ログ（Merkle）ベンチマーク — SQLite, 追記 {report['batch']} 件/取引")
    table.add_column("測定")
    for size in report["sizes"]:
        table.add_column(f"{int(size):,} 件", justify="right")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("構築（一括 65,536 件/取引）", lambda r: f"{r['build_entries_per_second']:,.0f} 件/秒"),
        ("キャッシュなしの測定", lambda r: "OS のページキャッシュも破棄"
         if r.get("page_cache_dropped") else "SQLite のキャッシュのみ空（OS のは破棄できず）"),
        ("開いて最初の呼び出し（上位タイル読込）", lambda r: f"{r['first_call_ms']:.1f} ms"),
        ("包含証明 p50（キャッシュなし）", lambda r: f"{r['inclusion_cold']['p50_ms']:.3f} ms"),
        ("包含証明 p99（キャッシュなし）", lambda r: f"{r['inclusion_cold']['p99_ms']:.3f} ms"),
        ("包含証明 p50（キャッシュあり）", lambda r: f"{r['inclusion_warm']['p50_ms']:.3f} ms"),
        ("包含証明 p99（キャッシュあり）", lambda r: f"{r['inclusion_warm']['p99_ms']:.3f} ms"),
        ("整合性証明 p50（キャッシュなし）", lambda r: f"{r['consistency_cold']['p50_ms']:.3f} ms"),
        ("整合性証明 p99（キャッシュなし）", lambda r: f"{r['consistency_cold']['p99_ms']:.3f} ms"),
        ("整合性証明 p50（キャッシュあり）", lambda r: f"{r['consistency_warm']['p50_ms']:.3f} ms"),
        ("整合性証明 p99（キャッシュあり）", lambda r: f"{r['consistency_warm']['p99_ms']:.3f} ms"),
        ("耐久追記（FULL 同期）", lambda r: f"{r['append_entries_per_second']:,.0f} 件/秒"),
        ("耐久追記 1取引あたり", lambda r: f"{r['append_batch_ms']:.2f} ms"),
        ("全件検証（verify_log）", lambda r: f"{r['verify_seconds']:.1f} 秒"
         if "verify_seconds" in r else "—"),
        ("データベースの大きさ", lambda r: f"{r['database_bytes'] / 2**20:,.0f} MiB"),
    ]
    for label, render in rows:
        table.add_row(label, *(render(r) for r in report["sizes"].values()))
    console.print(table)
    console.print("目安: 包含証明 < 1 ms（10^7 件）", style="dim")
