"""個人番号カード for the pages: status labels, lines of lists, a resident's cards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from myna.contracts.cards import Application, Card, CardsApi, CardStatus, CertificateState
from myna.web.presenters import HIDDEN

#: How each status is shown, with its badge style.
STATUS_LABELS = {
    CardStatus.PRODUCED: ("交付前（窓口で保管中）", "warn"),
    CardStatus.ACTIVE: ("交付済み", "ok"),
    CardStatus.SUSPENDED: ("一時停止", "danger"),
    CardStatus.ENDED: ("廃止", "muted"),
}


@dataclass(frozen=True)
class CardLine:
    card: Card
    label: str
    css: str
    name: str
    hidden: bool
    auth: CertificateState
    signing: CertificateState

    @property
    def number(self) -> str:
        return self.card.card_number


def card_line(service: CardsApi, card: Card, hidden: bool) -> CardLine:
    """A card for a list or its page, with its certificates as J-LIS holds them now."""
    label, css = STATUS_LABELS[card.status]
    auth, signing = service.certificate_states(card)
    return CardLine(card, label, css, HIDDEN if hidden else card.name, hidden, auth, signing)


def town_pending(service: CardsApi, code: str) -> list[Application]:
    """The town's applications waiting for production, oldest first."""
    return [a for a in service.pending_applications() if a.municipality_code == code]


def person_cards(service: CardsApi, code: str, resident_id: int) -> dict[str, Any]:
    """The card section of a resident's page (the page itself is the logged view)."""
    return {
        "cards": [card_line(service, c, False)
                  for c in reversed(service.cards_of_resident(code, resident_id))],
        "pending": [a for a in town_pending(service, code) if a.resident_id == resident_id],
    }
