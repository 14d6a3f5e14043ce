"""What J-LIS reports to ``myna check``: its cards against JPKI and the chips, and the
events it has not delivered (see :mod:`myna.contracts.check`)."""

from __future__ import annotations

from myna.card.lifecycle.service import CardService
from myna.contracts.check import NodeCheck, backlog_check
from myna.events.outbox import Outbox


def jlis_check(outbox: Outbox, cards: CardService) -> NodeCheck:
    """The card centre ↔ JPKI and the chips, and the undelivered events of J-LIS and of
    its card centre (the holders' towns told of their cards)."""
    report = NodeCheck()
    for problem in cards.problems():
        report.add("個人番号カード ↔ 公的個人認証・チップ", problem.what_ja, problem.what_en,
                   problem.examples)
    return report.merge(backlog_check([("J-LIS", outbox),
                                       ("J-LIS 個人番号カード", cards.outbox)]))
