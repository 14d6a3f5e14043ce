"""SYNTHETIC delivery outcomes for the demo — not real data.

The seeds report that about 2.8 % of households nationwide (約170万 of 約5968万
世帯) never received their notification.  The default rates below are invented to
land near that figure: 5.75 % of letters come back; of those, people collect
most letters the post office could not deliver (保管期間経過), a quarter of those
with an unknown address (宛所不明) and few refused ones (受取拒否); the rest are
disposed of after the holding period::

    0.0575 × (1 − (0.60×0.70 + 0.35×0.25 + 0.05×0.10)) ≈ 0.0280
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field

from myna.notify.domain import LetterState, ReturnReason
from myna.notify.service import NotificationService


@dataclass(frozen=True)
class SyntheticRates:
    """SYNTHETIC probabilities of what happens to a mailed letter."""

    returned: float = 0.0575
    reasons: dict[ReturnReason, float] = field(default_factory=lambda: {
        ReturnReason.NOT_COLLECTED: 0.60,
        ReturnReason.UNKNOWN_ADDRESS: 0.35,
        ReturnReason.REFUSED: 0.05,
    })
    #: chance that a returned letter is later collected at the counter, by reason
    collected: dict[ReturnReason, float] = field(default_factory=lambda: {
        ReturnReason.NOT_COLLECTED: 0.70,
        ReturnReason.UNKNOWN_ADDRESS: 0.25,
        ReturnReason.REFUSED: 0.10,
    })

    @property
    def expected_unreached(self) -> float:
        kept = sum(share * self.collected[r] for r, share in self.reasons.items())
        return self.returned * (1 - kept)


SYNTHETIC_RATES = SyntheticRates()
_DOCUMENTS = ("運転免許証", "個人番号カード以外の写真付き公的身分証", "パスポート", "在留カード",
              "健康保険証と年金手帳")


@dataclass(frozen=True)
class SimulationResult:
    """What the SYNTHETIC run recorded."""

    mailed: int
    delivered: int
    returned: Counter[ReturnReason]
    handed_over: int
    disposed: int

    @property
    def unreached_rate(self) -> float:
        return self.disposed / self.mailed if self.mailed else 0.0


def simulation_days(holding_months: int) -> int:
    """How many days after mailing the simulated fate of every letter is complete."""
    return 31 * holding_months + 21


def simulate_delivery(
    service: NotificationService, batch_id: int, rng: random.Random,
    rates: SyntheticRates = SYNTHETIC_RATES, until: dt.datetime | None = None,
) -> SimulationResult:
    """SYNTHETIC: mail a batch (if not yet) and record an invented fate for every letter.

    The service's clock is moved forward for the run (returns after about ten
    days, disposal after the holding period) and put back afterwards.  With
    ``until`` (the demo passes the present), nothing is recorded after it: what would
    happen later has not happened yet, and the letter stays in the state it reached —
    so a batch mailed :func:`simulation_days` ago or earlier gets its whole story.
    """
    summary = service.batch(batch_id)
    if summary.mailed_at is None:
        summary = service.mark_mailed(batch_id)
    real_now = service.now
    end = until or dt.datetime.max.replace(tzinfo=dt.UTC)
    start = summary.mailed_at or real_now()
    clock = [start]
    service.now = lambda: clock[0]

    def happened(at: dt.datetime) -> bool:
        clock[0] = at
        return at <= end

    delivered, handed_over, disposed = 0, 0, 0
    returned: Counter[ReturnReason] = Counter()
    late: list[int] = []
    reasons = list(rates.reasons)
    weights = [rates.reasons[r] for r in reasons]
    try:
        for letter_id in summary.letter_ids:
            if service.letter(letter_id).state is not LetterState.MAILED:
                continue
            # every draw is made whether or not the event has happened yet, so that one
            # seed gives the same fates whatever day the simulation runs
            first = start + dt.timedelta(days=rng.randint(2, 12))
            is_returned = rng.random() < rates.returned
            if not is_returned:
                if happened(first):
                    service.record(letter_id, LetterState.DELIVERED, note="合成データ")
                    delivered += 1
                continue
            reason = rng.choices(reasons, weights)[0]
            collected = rng.random() < rates.collected[reason]
            wait = dt.timedelta(days=rng.randint(1, 60))
            document = rng.choice(_DOCUMENTS)
            if not happened(first):
                continue
            returned[reason] += 1
            service.record(letter_id, LetterState.RETURNED, reason, note="合成データ")
            if not happened(first + dt.timedelta(days=2)):
                continue
            service.record(letter_id, LetterState.HELD, note="合成データ")
            if collected:
                if happened(first + dt.timedelta(days=2) + wait):
                    service.record(letter_id, LetterState.HANDED_OVER, note="合成データ",
                                   identity_document=document)
                    handed_over += 1
            else:
                late.append(letter_id)
        if late and happened(start + dt.timedelta(days=simulation_days(service.holding_months)
                                                  - 1)):
            disposed = len(set(service.dispose_expired(summary.municipality_code)) & set(late))
    finally:
        service.now = real_now
    return SimulationResult(len(summary.letter_ids), delivered, returned, handed_over, disposed)
