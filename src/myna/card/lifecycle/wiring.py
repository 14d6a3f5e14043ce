"""The card node of an installation (kept for callers that reach it through here)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from myna.card.lifecycle.service import CardService

if TYPE_CHECKING:
    from myna.system import MynaSystem

NODE = "cards"


def card_service(system: MynaSystem) -> CardService:
    """The installation's card service (node "cards"); J-LIS tells it of deaths,
    removals and number changes through events (see :class:`myna.system.MynaSystem`)."""
    return system.cards


@contextlib.contextmanager
def opened_cards(system: MynaSystem) -> Iterator[CardService]:
    """:func:`card_service` for the duration of a ``with`` block."""
    yield system.cards
