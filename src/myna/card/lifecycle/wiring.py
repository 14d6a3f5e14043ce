"""The card node of an installation, until :class:`myna.system.MynaSystem` opens it itself."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from myna.card.lifecycle.directory import RegistryDirectory
from myna.card.lifecycle.service import CardService

if TYPE_CHECKING:
    from myna.system import MynaSystem

NODE = "cards"


def card_service(system: MynaSystem) -> CardService:
    """The installation's card service (node "cards"), listening to J-LIS.

    Uses ``system.cards`` when the system has one.  Otherwise opens the node
    (SQLite file or PostgreSQL schema, like every other node), migrates it and
    registers :meth:`CardService.on_identity_changed` with J-LIS; the caller
    then disposes of ``service.engine`` when done (or uses :func:`opened_cards`).
    """
    existing = getattr(system, "cards", None)
    if isinstance(existing, CardService):
        return existing
    service = CardService(
        system.config.engine(system.data_dir, NODE), system.jpki, system.chips, system.notify,
        RegistryDirectory(system.registries, system.jlis),
    )
    service.create_schema()
    system.jlis.identity_listeners.append(service.on_identity_changed)
    return service


@contextlib.contextmanager
def opened_cards(system: MynaSystem) -> Iterator[CardService]:
    """:func:`card_service` for the duration of a ``with`` block: afterwards the J-LIS
    listener is removed and the engine disposed (unless the system owns the service)."""
    existing = getattr(system, "cards", None)
    if isinstance(existing, CardService):
        yield existing
        return
    service = card_service(system)
    try:
        yield service
    finally:
        with contextlib.suppress(ValueError):
            system.jlis.identity_listeners.remove(service.on_identity_changed)
        service.engine.dispose()
