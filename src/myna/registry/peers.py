"""Town to town: the new municipality checks a 転出証明書 with the one that issued it
(:class:`~myna.contracts.municipality.MoveOutSource`).

A 転入届 presents the 転出証明書 the old town issued (住基法22条, 24条).  The new
town does not read the old town's registry: it asks the old town's node, which
answers the certificate it issued — and logs the read in the resident's access
log with the asking town — or that it issued none (:class:`~myna.errors.NotFound`).
A town that is not part of the installation cannot be asked; its certificate is
taken as presented, as on paper.
"""

from __future__ import annotations

from typing import Any

from myna.contracts.municipality import MoveOutCertificate
from myna.registry.service import MunicipalityRegistry
from myna.transport.http import Routes, _Client

MOVEOUT_PATH = "/node/v1/municipality/moveout-certificate"


def purpose_for(town_code: str) -> str:
    return f"転入地（{town_code}）からの照合"


class TownPeerClient(_Client):
    """Another town's node over HTTP (:class:`MoveOutSource`)."""

    def moveout_certificate(self, certificate_id: str) -> MoveOutCertificate:
        data = self.post(MOVEOUT_PATH, {"certificate_id": certificate_id})
        return MoveOutCertificate.from_json(data)


class LocalTown:
    """A town of the same process, answering as its node would."""

    def __init__(self, registry: MunicipalityRegistry, asking: str) -> None:
        self.registry = registry
        self.asking = asking

    def moveout_certificate(self, certificate_id: str) -> MoveOutCertificate:
        return self.registry.moveout_certificate(certificate_id,
                                                 purpose=purpose_for(self.asking))


def town_routes(registry: MunicipalityRegistry) -> Routes:
    """What a town's node answers other towns (callers ``municipality:<code>``)."""

    def moveout(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        asking = caller.split(":", 1)[1]
        return registry.moveout_certificate(str(p["certificate_id"]),
                                            purpose=purpose_for(asking)).as_json()

    def other_town(caller: str) -> bool:
        return caller.startswith("municipality:") and caller != f"municipality:{registry.code}"

    return {MOVEOUT_PATH: (moveout, other_town)}
