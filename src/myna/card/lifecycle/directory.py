"""Who a card is for: the card node's only way to learn about a person.

:class:`HolderDirectory` is what :class:`~myna.card.lifecycle.service.CardService`
needs: a resident's current 住民票 items (for the card face and the signing
certificate), their individual number (back of the card) and J-LIS's stable
person key (the ``holder_ref`` of the JPKI certificates, which J-LIS's
identity listener uses to revoke them on death or a change of the four items).

:class:`RegistryDirectory` reads the municipality registries through their
public interface, so every read is in the resident's access log with its
purpose (e.g. 「個人番号カードの作成（J-LIS）」).  The person key comes from
J-LIS through :meth:`~myna.jlis.service.JlisService.holder`, which J-LIS offers to
its own card centre and JPKI only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from myna.errors import Conflict, NotFound
from myna.jlis.service import JlisService
from myna.registry.affairs import MY_NUMBER
from myna.registry.domain import Resident, Role, Staff
from myna.registry.service import MunicipalityRegistry

#: How the card centre appears in municipalities' access logs.
CARD_CENTRE = Staff("jlis-card-centre", "J-LIS 個人番号カード交付申請受付・作成",
                    Role.ADMINISTRATOR, interface=True)


@dataclass(frozen=True)
class Holder:
    """A (would-be) card holder as the registry and J-LIS know them now."""

    holder_ref: str
    municipality_code: str
    resident_id: int
    name: str
    birth_date: dt.date
    sex: str
    address: str
    individual_number: str
    nationality: str | None
    residence_status: str | None
    period_of_stay_until: dt.date | None
    is_resident: bool
    removal_reason: str | None


class HolderDirectory(Protocol):
    """Where the card node looks people up (every look-up states its purpose)."""

    def resident(self, municipality_code: str, resident_id: int, purpose: str) -> Holder: ...

    def by_number(self, individual_number: str, purpose: str) -> Holder: ...


def jlis_person(jlis: JlisService, number: str) -> tuple[str, str]:
    """(J-LIS person key, current municipality code) for an active individual number."""
    return jlis.holder(number)


class RegistryDirectory:
    """Residents from the municipality registries, person keys from J-LIS."""

    def __init__(
        self, registries: Mapping[str, MunicipalityRegistry], jlis: JlisService,
        staff: Staff = CARD_CENTRE,
    ) -> None:
        self.registries = registries
        self.jlis = jlis
        self.staff = staff

    def _registry(self, code: str) -> MunicipalityRegistry:
        registry = self.registries.get(code)
        if registry is None:
            raise NotFound(f"市区町村 {code} はこのシステムに登録されていません",
                           f"municipality {code} is not part of this installation")
        return registry

    def resident(self, municipality_code: str, resident_id: int, purpose: str) -> Holder:
        registry = self._registry(municipality_code)
        found = registry.view(self.staff, resident_id, MY_NUMBER, reveal_number=True,
                              note=purpose)
        return self._holder(registry.code, found)

    def by_number(self, individual_number: str, purpose: str) -> Holder:
        _, code = jlis_person(self.jlis, individual_number)
        registry = self._registry(code)
        hits = registry.search(self.staff, MY_NUMBER, number=individual_number,
                               include_removed=True, note=purpose)
        if not hits:
            raise NotFound(f"{registry.title}にこの個人番号の住民票がありません",
                           "no resident record for this number")
        current = [r for r in hits if r.is_resident] or hits
        return self._holder(registry.code, current[0])

    def _holder(self, code: str, r: Resident) -> Holder:
        if r.individual_number is None:
            raise Conflict(
                f"住民ID {r.resident_id} の方にはまだ個人番号が指定されていません",
                f"resident {r.resident_id} has no individual number yet",
            )
        key, _ = jlis_person(self.jlis, r.individual_number)
        return Holder(
            holder_ref=key, municipality_code=code, resident_id=r.resident_id, name=r.name,
            birth_date=r.birth_date, sex=r.sex, address=r.address,
            individual_number=r.individual_number, nationality=r.nationality,
            residence_status=r.residence_status, period_of_stay_until=r.period_of_stay_until,
            is_resident=r.is_resident, removal_reason=r.removal_reason,
        )
