"""``myna bench demo``: the whole demo in one process and with every organisation apart.

Both runs are the user's command as a whole (``myna demo`` and ``myna demo
--processes``, each in a fresh process, from an empty directory to the printed
summary, node start-ups included), on the same machine, alternately, ``repeats``
times each.  The report gives min and median wall time of each, the ratio of the
medians (aim: across processes ≤ 3× one process) and the median time of each phase
the demo reports, so that where the extra time goes is visible.
"""

from __future__ import annotations

import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ProgressFactory = Callable[[str, int], Callable[[int], None]]
MODES = {"one": "1プロセス", "nodes": "機関別プロセス"}
PHASES = {"register": "登録", "numbering": "付番", "notification": "通知",
          "linkage": "連携", "cards": "カード"}
LONG = {"register": "住民の登録", "numbering": "初期一斉指定", "notification": "番号通知と送達",
        "linkage": "符号・情報連携", "cards": "カード"}


def _once(residents: int, seed: int, processes: bool, workdir: Path) -> tuple[float, dict[str,
                                                                                   float]]:
    data = workdir / ("nodes" if processes else "one")
    shutil.rmtree(data, ignore_errors=True)
    command = [sys.executable, "-m", "myna.cli", "demo", "--residents", str(residents),
               "--seed", str(seed), "--data-dir", str(data), "--json"]
    if processes:
        command.append("--processes")
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"myna demo failed: {done.stderr[-1000:]}")
    timings = json.loads(done.stdout)["timings_seconds"]
    phases: dict[str, float] = {}
    for key, seconds in timings.items():
        phase = key.split("_", 1)[1] if "_" in key else key
        phases[phase] = phases.get(phase, 0.0) + float(seconds)
    return wall, phases


def run(residents: int, repeats: int, seed: int = 2015,
        progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Run both demos ``repeats`` times each (alternating); returns the report."""
    workdir = Path(tempfile.mkdtemp(prefix="myna-bench-demo-"))
    walls: dict[str, list[float]] = {m: [] for m in MODES}
    phases: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    advance = progress("デモ（1プロセスと機関ごと）", 2 * repeats) if progress else None
    try:
        for _ in range(repeats):
            for mode in MODES:
                wall, parts = _once(residents, seed, mode == "nodes", workdir)
                walls[mode].append(wall)
                phases[mode].append(parts)
                if advance:
                    advance(1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report: dict[str, Any] = {"residents": residents, "repeats": repeats, "modes": {}}
    for mode in MODES:
        report["modes"][mode] = {
            "min": round(min(walls[mode]), 2), "median": round(statistics.median(walls[mode]), 2),
            "phases": {p: round(statistics.median(run.get(p, 0.0) for run in phases[mode]), 2)
                       for p in PHASES},
        }
    report["ratio"] = round(report["modes"]["nodes"]["median"]
                            / report["modes"]["one"]["median"], 2)
    return report


def print_report(report: dict[str, Any], out: Console) -> None:
    table = Table(title=f"デモ全体の所要時間（住民 {report['residents']:,}人、"
                        f"各{report['repeats']}回、秒）")
    table.add_column("実行方法")
    table.add_column("最小", justify="right")
    table.add_column("中央値", justify="right")
    for phase in PHASES.values():
        table.add_column(phase, justify="right")
    for mode, label in MODES.items():
        m = report["modes"][mode]
        table.add_row(label, f"{m['min']:.1f}", f"{m['median']:.1f}",
                      *(f"{m['phases'][p]:.1f}" for p in PHASES))
    out.print(table)
    verdict = "目標内" if report["ratio"] <= 3 else "目標外"
    out.print("登録＝住民の登録、付番＝初期一斉指定、通知＝番号通知と送達、連携＝符号と情報照会")
    out.print(f"機関別プロセス / 1プロセス = [bold]{report['ratio']:.2f}倍[/bold]"
              f"（目標 3倍以内: {verdict}）")


def render_chart(report: dict[str, Any], dpi: int = 100) -> bytes:
    """Median time of each phase, one process vs each organisation apart (PNG)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from myna.fonts import matplotlib_family

    with matplotlib.rc_context({"font.family": matplotlib_family(),
                                "axes.unicode_minus": False}):
        fig = Figure(figsize=(9, 4), dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        labels = [MODES[m] for m in MODES]
        left = [0.0, 0.0]
        colours = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#e53935"]
        for phase, colour in zip(PHASES, colours, strict=True):
            values = [report["modes"][m]["phases"][phase] for m in MODES]
            ax.barh(labels, values, left=left, color=colour, label=LONG[phase])
            left = [a + b for a, b in zip(left, values, strict=True)]
        rest = [report["modes"][m]["median"] - done for m, done in zip(MODES, left, strict=True)]
        ax.barh(labels, rest, left=left, color="#bdbdbd", label="起動・その他")
        ax.set_xlabel("秒（中央値）")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        ax.invert_yaxis()
        ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(f"デモ全体（住民 {report['residents']:,}人）: 機関別プロセスは "
                     f"1プロセスの {report['ratio']:.2f}倍")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()
