"""``myna check``: what the nodes hold about each other, compared.

Every node keeps its own copy of what it must know of the others — J-LIS the
numbers that 住民票 carry, the 統合宛名 the number of each resident, every sender
the events it still owes.  Each node compares its part
(:mod:`myna.contracts.check`); the provision records are compared with the log's
leaves by the protection commission's audit (:mod:`myna.commission.audit`).
:func:`check_installation` asks the nodes of an installation in this process,
:func:`check_nodes` the running nodes over HTTP, as the commission's node.  Both
name every disagreement by resident id (a municipality's own reference), never by
number, 住民票コード or name.
"""

from __future__ import annotations

from collections.abc import Mapping

from myna.commission.audit import audit_records
from myna.contracts.audit import HubAuditApi
from myna.contracts.check import CHECK_PATH, SHOW, Disagreement, NodeCheck, backlog_check
from myna.hub.audit import HubAudit
from myna.jlis.consistency import jlis_check
from myna.system import MynaSystem
from myna.transport.audit_client import HubAuditClient
from myna.transport.http import NodeIdentity, _Client

#: what ``myna check`` returns (kept under its earlier name)
CheckReport = NodeCheck

__all__ = ["CheckReport", "Disagreement", "NodeCheck", "check_installation", "check_nodes",
           "records_check"]


def records_check(hub: HubAuditApi) -> NodeCheck:
    """The hub's records against the log's leaves, as the commission's audit finds them."""
    audit = audit_records(hub)
    report = NodeCheck(compared={"hub-records": audit.records})
    by_kind: dict[str, list[str]] = {}
    for problem in audit.problems:
        by_kind.setdefault(problem.kind, []).append(problem.message_ja)
    for kind, found in sorted(by_kind.items()):
        report.disagreements.append(Disagreement(
            "情報提供等記録 ↔ 記録ログ", f"記録とログの不一致（{kind}）",
            f"records and log leaves disagree ({kind})", len(found), found[:SHOW]))
    return report


def check_installation(system: MynaSystem) -> NodeCheck:
    """Compare registry ↔ J-LIS, registry ↔ 統合宛名, the hub's records ↔ the log's leaves,
    unfinished 符号 acquisitions and requests, the cards, and every node's undelivered
    events, in this process."""
    report = NodeCheck()
    for _code, town in sorted(system.municipalities.items()):
        report.merge(town.consistency())
    report.merge(records_check(HubAudit(system.hub, system.provision_log)))
    for _inst, server in sorted(system.intermediates.items()):
        report.merge(server.consistency())
    report.merge(jlis_check(system.jlis.outbox, system.cards))
    return report.merge(backlog_check([("情報提供ネットワークシステム", system.hub.outbox)]))


def check_nodes(endpoints: Mapping[str, str], identity: NodeIdentity) -> NodeCheck:
    """The same comparison asked of the running nodes (``endpoints``) over HTTP, as the
    protection commission's node: each node compares its part with the nodes it
    depends on; the hub's records are audited through its audit interface."""
    report = NodeCheck()
    order = sorted((n for n in endpoints if n != "witness"),
                   key=lambda n: (not n.startswith("municipality:"), n != "hub", n))
    for node in order:
        url = endpoints[node]
        if node == "hub":
            report.merge(records_check(HubAuditClient(url, identity, timeout=600)))
        answer = _Client(url, identity, timeout=600).post(CHECK_PATH, {})
        report.merge(NodeCheck.from_json(answer))
    return report
