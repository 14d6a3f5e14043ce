"""The municipality node's registry: every 届出 and every staff access.

Each public method is one transaction: it either completes, with its event,
version snapshot and access-log row, or leaves nothing behind.  J-LIS is
reached only through :class:`myna.jlis.service.NumberingApi` and events.  The use
cases are modules of their own (see :mod:`myna.registry.core`).
"""

from __future__ import annotations

from myna.registry.copies import Copies
from myna.registry.core import (
    JLIS,
    NOTIFY,
    PER_PAGE,
    PROTECTED,
    SYSTEM,
    AccessLogEntry,
    InitialResident,
    SearchPage,
)
from myna.registry.initial import InitialLoad
from myna.registry.notifications import Notifications
from myna.registry.reading import Reading


class MunicipalityRegistry(Notifications, Reading, Copies, InitialLoad):
    """住民基本台帳 of one municipality."""


__all__ = ["JLIS", "NOTIFY", "PER_PAGE", "PROTECTED", "SYSTEM", "AccessLogEntry",
           "InitialResident", "MunicipalityRegistry", "SearchPage"]
