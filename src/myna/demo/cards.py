"""Sample cards for the demo: a few residents apply with their letter's 申請書ID.

Most people in the demo do not apply at all — the card is voluntary, and the demo
shows that nothing else depends on it.  Each town asks J-LIS to produce its waiting
applications (作成依頼) and hands most cards over at its counter.  Photos are
drawn, not real faces.
"""

from __future__ import annotations

import random
from typing import Any

from myna.card.lifecycle.sample import DOCUMENTS, ONLINE_CHANNELS, REACHED, synthetic_portrait
from myna.errors import MynaError

from .world import DemoWorld


def sample_cards(world: DemoWorld, per_municipality: int = 5, seed: int = 2015) -> dict[str, Any]:
    """Some residents whose letter arrived apply (mail, online, kiosk); their towns have
    J-LIS produce the cards and hand most of them over.  Returns counts."""
    rng = random.Random(seed)
    counts = {"applied": 0, "produced": 0, "issued": 0, "with_signing_certificate": 0,
              "waiting_at_counter": 0}
    towns = sorted(world.towns)
    for code in towns:
        members = [m for letter in world.notify(code).letters(code) if letter.state in REACHED
                   for m in letter.members if not m.used]
        cards = world.cards(code)
        for member in rng.sample(members, min(per_municipality, len(members))):
            try:
                cards.apply(synthetic_portrait(rng), channel=rng.choice(ONLINE_CHANNELS),
                            application_id=member.application_id)
            except MynaError:  # moved away, died … since the letter: no card
                continue
            counts["applied"] += 1
    made = []
    for code in towns:
        cards = world.cards(code)
        for application in cards.pending_applications():
            if application.municipality_code != code:
                continue
            try:
                made.append((code, cards.produce(application.receipt_no)))
            except MynaError:
                continue
    counts["produced"] = len(made)
    for code, card in made:
        if rng.random() < 0.2:  # not collected (yet)
            counts["waiting_at_counter"] += 1
            continue
        try:
            world.cards(code).issue(
                card.card_number, staff_id="demo-clerk", documents=rng.choice(DOCUMENTS),
                auth_pin=f"{rng.randrange(10_000):04d}",
                signing_pin=f"MYNA{rng.randrange(10_000):04d}"
                if card.has_signing_certificate else None)
        except MynaError:
            continue
        counts["issued"] += 1
        counts["with_signing_certificate"] += card.has_signing_certificate
    return counts
