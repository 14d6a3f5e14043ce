"""個人番号カード for the pages: status labels, lines of lists, a resident's cards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from myna.contracts.cards import Application, Card, CardsApi, CardStatus, CertificateState
from myna.registry.domain import CardState
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


@dataclass(frozen=True)
class TownCardLine:
    """A resident's card as the town's registry knows it (told by the card centre)."""

    card_number: str
    text: str  # 個人番号カード: 一時停止中（2027年1月5日から）
    css: str


def town_cards(states: list[CardState]) -> list[TownCardLine]:
    """The lines the resident's page shows from the town's own record of its cards."""
    return [TownCardLine(s.card_number, f"個人番号カード: {s.label}", STATUS_LABELS[s.status][1])
            for s in states]
