"""``myna check``: what the nodes hold about each other, compared.

Every node keeps its own copy of what it must know of the others — J-LIS the
numbers that 住民票 carry, the 統合宛名 the number of each resident, every sender
the events it still owes.  This compares them through each node's interface
and names every disagreement by resident id (a municipality's own reference),
never by number, 住民票コード or name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from myna.clock import show_time
from myna.commission.audit import audit_records
from myna.hub.audit import HubAudit
from myna.system import MynaSystem

SHOW = 5  # resident ids named per disagreement


@dataclass(frozen=True)
class Disagreement:
    """One kind of mismatch between two nodes, with how many and a few examples."""

    nodes: str
    what_ja: str
    what_en: str
    count: int
    examples: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    disagreements: list[Disagreement] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def add(self, nodes: str, what_ja: str, what_en: str, items: list[str]) -> None:
        if items:
            self.disagreements.append(Disagreement(nodes, what_ja, what_en, len(items),
                                                   items[:SHOW]))


def check_installation(system: MynaSystem) -> CheckReport:
    """Compare registry ↔ J-LIS, registry ↔ 統合宛名, the hub's records ↔ the log's leaves,
    unfinished 符号 acquisitions and requests, and every node's undelivered events."""
    report = CheckReport()
    for code, town in sorted(system.municipalities.items()):
        carried = town.registry.carried_numbers()
        report.compared[f"registry-{code}"] = len(carried)
        at_jlis = system.jlis.carried_numbers(code)
        name = f"住民基本台帳({code}) ↔ J-LIS"
        by_code = {c: (rid, n) for rid, c, n in carried}
        report.add(name, "個人番号のない住民", "residents without a number",
                   [f"住民ID {rid}" for rid, _, n in carried if n is None])
        report.add(name, "J-LIS に登録されていない（または異なる）番号の住民",
                   "residents whose number J-LIS does not hold (or holds another)",
                   [f"住民ID {rid}" for rid, c, n in carried
                    if n is not None and at_jlis.get(c) != n])
        report.add(name, "どの住民票にも記載されていない J-LIS の番号",
                   "numbers at J-LIS that no 住民票 of the town carries",
                   [f"J-LIS の登録 {i + 1}" for i, c in enumerate(sorted(at_jlis))
                    if c not in by_code])
        atena = town.atena.numbers()
        name = f"住民基本台帳({code}) ↔ 統合宛名"
        report.add(name, "統合宛名の番号が住民票と異なる",
                   "the 統合宛名 maps a resident to another number",
                   [f"住民ID {rid}" for rid, _, n in carried
                    if n is not None and rid in atena and atena[rid] != n])
    audit = audit_records(HubAudit(system.hub, system.provision_log))
    report.compared["hub-records"] = audit.records
    by_kind: dict[str, list[str]] = {}
    for problem in audit.problems:
        by_kind.setdefault(problem.kind, []).append(problem.message_ja)
    for kind, found in sorted(by_kind.items()):
        report.disagreements.append(Disagreement(
            "情報提供等記録 ↔ 記録ログ", f"記録とログの不一致（{kind}）",
            f"records and log leaves disagree ({kind})", len(found), found[:SHOW]))
    for inst, server in sorted(system.intermediates.items()):
        unfinished = server.unfinished_acquisitions()
        if unfinished:
            report.disagreements.append(Disagreement(
                f"中間サーバー({inst}) ↔ 情報提供ネットワークシステム",
                "符号の取得が完了していない（再実行で完了します）",
                "符号 acquisitions begun but never delivered (run again to complete)",
                unfinished))
        waiting = server.unanswered()
        if waiting:
            report.disagreements.append(Disagreement(
                f"中間サーバー({inst}) → 情報提供ネットワークシステム",
                "回答を受け取っていない照会（再実行で完了します）",
                "requests sent whose answer never arrived (run again to complete)",
                len(waiting), [f"照会番号 {r}" for r in waiting[:SHOW]]))
    for card_problem in system.cards.problems():  # card centre ↔ JPKI and the chips
        report.add("個人番号カード ↔ 公的個人認証・チップ", card_problem.what_ja,
                   card_problem.what_en, card_problem.examples)
    outboxes = [("J-LIS", system.jlis.outbox), ("情報提供ネットワークシステム", system.hub.outbox)]
    outboxes += [
        (f"住民基本台帳({code})", town.registry.outbox)
        for code, town in sorted(system.municipalities.items())]
    outboxes += [(f"統合宛名({code})", town.atena.outbox)
                 for code, town in sorted(system.municipalities.items())]
    outboxes += [(f"中間サーバー({inst})", server.outbox)
                 for inst, server in sorted(system.intermediates.items())]
    for label, outbox in outboxes:
        for backlog in outbox.backlog():
            failure = f"、失敗 {backlog.attempts}回" if backlog.attempts else ""
            if backlog.last_error:
                failure += f"（{backlog.last_error}）"
            oldest = show_time(backlog.oldest) if backlog.oldest else "-"
            report.disagreements.append(Disagreement(
                f"{label} → {backlog.destination}", "未配送のイベント",
                "events not yet delivered", backlog.pending,
                [f"最古 {oldest}{failure}"]))
    return report
