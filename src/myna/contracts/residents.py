"""What J-LIS's card centre asks a municipality about one of its residents.

J-LIS holds a person's 本人確認情報 (the four basic items, the number, the person
key); a card also needs what only the person's municipality holds: its own
resident id, nationality, status and period of stay of a foreign resident, and
whether the person is still its resident (or why the 住民票 was removed).  Every
look-up carries its purpose, and the municipality writes it in the resident's
access log (住基法30条の37: who saw the 住民票, for what).

In one process the municipality side is
:class:`myna.registry.card_directory.RegistryCardDirectory`; between processes
:class:`myna.transport.residents_client.ResidentsClient` calls the town's node.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ResidentFacts:
    """A town's answer about one resident: only what J-LIS does not hold itself.

    ``individual_number`` is the number on the 住民票, by which the card centre
    finds the person's 本人確認情報 at J-LIS (both already hold it); None while
    the town has not had one assigned.
    """

    municipality_code: str
    resident_id: int
    individual_number: str | None
    nationality: str | None
    residence_status: str | None
    period_of_stay_until: dt.date | None
    is_resident: bool
    removal_reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "municipality_code": self.municipality_code, "resident_id": self.resident_id,
            "individual_number": self.individual_number, "nationality": self.nationality,
            "residence_status": self.residence_status,
            "period_of_stay_until": self.period_of_stay_until.isoformat()
            if self.period_of_stay_until else None,
            "is_resident": self.is_resident, "removal_reason": self.removal_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResidentFacts:
        stay = data.get("period_of_stay_until")
        number = data.get("individual_number")
        return cls(
            municipality_code=str(data["municipality_code"]),
            resident_id=int(data["resident_id"]),
            individual_number=str(number) if number is not None else None,
            nationality=data.get("nationality"), residence_status=data.get("residence_status"),
            period_of_stay_until=dt.date.fromisoformat(stay) if stay else None,
            is_resident=bool(data["is_resident"]), removal_reason=data.get("removal_reason"),
        )


class ResidentDirectory(Protocol):
    """A municipality's answers to the card centre (each look-up logged with ``purpose``)."""

    def resident(self, municipality_code: str, resident_id: int,
                 purpose: str) -> ResidentFacts: ...

    def by_number(self, municipality_code: str, individual_number: str,
                  purpose: str) -> ResidentFacts: ...
