"""A chart of the mailing's outcome: letters by state, and why letters came back.

matplotlib is driven through its object API (no pyplot state) with IPAex Gothic
registered from :func:`myna.fonts.japanese_font_path`.
"""

from __future__ import annotations

import io

from myna.fonts import matplotlib_family
from myna.notify.domain import STATS_STATES, DeliveryStats, LetterState, ReturnReason

_STATE_COLOURS: dict[LetterState, str] = {
    LetterState.PREPARED: "#9e9e9e",
    LetterState.MAILED: "#64b5f6",
    LetterState.DELIVERED: "#43a047",
    LetterState.RETURNED: "#fb8c00",
    LetterState.HELD: "#fdd835",
    LetterState.HANDED_OVER: "#00897b",
    LetterState.DISPOSED: "#e53935",
}
_REASON_COLOURS: dict[ReturnReason, str] = {
    ReturnReason.UNKNOWN_ADDRESS: "#8e24aa",
    ReturnReason.NOT_COLLECTED: "#fb8c00",
    ReturnReason.REFUSED: "#6d4c41",
}


def render_chart(stats: DeliveryStats, dpi: int = 100) -> bytes:
    """Bar chart of letters by current state and of return reasons, as PNG bytes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    family = matplotlib_family()
    with matplotlib.rc_context({"font.family": family, "axes.unicode_minus": False}):
        fig = Figure(figsize=(11, 4.8), dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])

        labels = [s.value for s in STATS_STATES]
        counts = [stats.by_state.get(s, 0) for s in STATS_STATES]
        bars = left.bar(labels, counts, color=[_STATE_COLOURS[s] for s in STATS_STATES])
        for bar, state, n in zip(bars, STATS_STATES, counts, strict=True):
            text = f"{n:,}"
            if state not in (LetterState.PREPARED,) and stats.mailed:
                text += f"\n{stats.state_rate(state):.1%}"
            left.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                          textcoords="offset points")
        left.set_title("通知の状態（現在）")
        left.set_ylabel("通数")
        left.set_ylim(0, max(counts + [1]) * 1.22)
        left.spines[["top", "right"]].set_visible(False)
        left.tick_params(axis="x", labelsize=9)

        reasons = list(ReturnReason)
        r_counts = [stats.by_reason.get(r, 0) for r in reasons]
        right.set_title(f"返戻理由の内訳（返戻 {stats.returned:,}通・{stats.return_rate:.1%}）")
        if stats.returned:
            hbars = right.barh([r.value for r in reasons], r_counts,
                               color=[_REASON_COLOURS[r] for r in reasons])
            for bar, reason, n in zip(hbars, reasons, r_counts, strict=True):
                right.annotate(f"{n:,}（{stats.reason_rate(reason):.0%}）",
                               (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                               ha="left", va="center", fontsize=9, xytext=(3, 0),
                               textcoords="offset points")
            right.set_xlim(0, max(r_counts) * 1.45)
            right.invert_yaxis()
            right.set_xlabel("通数")
        else:
            right.text(0.5, 0.5, "返戻はありません", ha="center", va="center",
                       transform=right.transAxes)
            right.set_xticks([])
            right.set_yticks([])
        right.spines[["top", "right"]].set_visible(False)

        fig.suptitle(
            f"個人番号通知の送付状況 — {stats.municipality_name}"
            f"（発送 {stats.mailed:,}通、未達 {stats.unreached:,}通・{stats.unreached_rate:.1%}）",
            fontsize=13,
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()
