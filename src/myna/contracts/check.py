"""What every node tells the installation's check (``myna check``) about the others.

Each node compares what it holds with what the nodes it depends on hold — a town
its 住民票 with J-LIS's numbers and its 統合宛名, J-LIS its cards with JPKI and the
chips, an intermediate server its 符号 acquisitions and requests — and reports the
disagreements (:class:`NodeCheck`), naming people only by the town's own resident
id, never by number, 住民票コード or name.  In one process
(:func:`myna.check.check_installation`) the parts are called directly; across
processes each node answers :data:`CHECK_PATH` to the protection commission's node
(``ppc``) and :func:`myna.check.check_nodes` puts the answers together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from myna.clock import show_time
from myna.events.outbox import Outbox

CHECK_PATH = "/node/v1/check"
#: examples named per disagreement
SHOW = 5


@dataclass(frozen=True)
class Disagreement:
    """One kind of mismatch between two nodes, with how many and a few examples."""

    nodes: str
    what_ja: str
    what_en: str
    count: int
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "what_ja": self.what_ja, "what_en": self.what_en,
                "count": self.count, "examples": list(self.examples)}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Disagreement:
        return cls(str(p["nodes"]), str(p["what_ja"]), str(p["what_en"]), int(p["count"]),
                   [str(e) for e in p["examples"]])


@dataclass
class NodeCheck:
    """What was compared (how many of each), and every disagreement found."""

    disagreements: list[Disagreement] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def add(self, nodes: str, what_ja: str, what_en: str, items: Sequence[str],
            count: int | None = None) -> None:
        """A disagreement over ``items`` (``count`` of them if not all are listed)."""
        n = len(items) if count is None else count
        if n:
            self.disagreements.append(Disagreement(nodes, what_ja, what_en, n,
                                                   list(items[:SHOW])))

    def merge(self, other: NodeCheck) -> NodeCheck:
        self.disagreements += other.disagreements
        self.compared |= other.compared
        return self

    def to_json(self) -> dict[str, Any]:
        return {"compared": dict(self.compared),
                "disagreements": [d.to_json() for d in self.disagreements]}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> NodeCheck:
        return cls([Disagreement.from_json(d) for d in p["disagreements"]],
                   {str(k): int(v) for k, v in dict(p["compared"]).items()})


def backlog_check(outboxes: Iterable[tuple[str, Outbox]]) -> NodeCheck:
    """Events a node's outboxes (each with its label) have not delivered yet."""
    report = NodeCheck()
    for label, outbox in outboxes:
        for backlog in outbox.backlog():
            failure = f"、失敗 {backlog.attempts}回" if backlog.attempts else ""
            if backlog.last_error:
                failure += f"（{backlog.last_error}）"
            oldest = show_time(backlog.oldest) if backlog.oldest else "-"
            report.add(f"{label} → {backlog.destination}", "未配送のイベント",
                       "events not yet delivered", [f"最古 {oldest}{failure}"],
                       count=backlog.pending)
    return report
