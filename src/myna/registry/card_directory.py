"""The municipality's side of :class:`myna.contracts.residents.ResidentDirectory`.

J-LIS's card centre asks a town only what J-LIS does not hold itself (resident
id, nationality, residence status, period of stay, whether the person is still a
resident).  The town answers through its registry's public reading interface, as
the card centre's interface account (:data:`CARD_CENTRE`), so every answer is in
the resident's access log with the card centre's purpose.

:class:`RegistryCardDirectory` serves the towns of one process;
:func:`card_directory_routes` the same over HTTP, to the node ``jlis`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from myna.contracts.residents import ResidentFacts
from myna.errors import NotFound, PermissionDenied, ValidationError
from myna.numbers import individual
from myna.numbers import municipality_code as municipality_codes
from myna.registry.affairs import MY_NUMBER
from myna.registry.domain import Resident, Role, Staff
from myna.registry.service import MunicipalityRegistry
from myna.text import clean_text
from myna.transport.residents_client import BY_NUMBER_PATH, RESIDENT_PATH

#: How the card centre appears in municipalities' access logs.
CARD_CENTRE = Staff("jlis-card-centre", "J-LIS 個人番号カード交付申請受付・作成",
                    Role.ADMINISTRATOR, interface=True)


def _purpose(text: str) -> str:
    return clean_text(text, "照会の目的", max_length=100, label_en="purpose")


def _facts(code: str, r: Resident) -> ResidentFacts:
    return ResidentFacts(
        municipality_code=code, resident_id=r.resident_id,
        individual_number=r.individual_number, nationality=r.nationality,
        residence_status=r.residence_status, period_of_stay_until=r.period_of_stay_until,
        is_resident=r.is_resident, removal_reason=r.removal_reason,
    )


class RegistryCardDirectory:
    """The card centre's questions answered by the registries of this process."""

    def __init__(self, registries: Mapping[str, MunicipalityRegistry],
                 staff: Staff = CARD_CENTRE) -> None:
        self.registries = registries
        self.staff = staff

    def _registry(self, code: str) -> MunicipalityRegistry:
        registry = self.registries.get(municipality_codes.validate(code))
        if registry is None:
            raise NotFound(f"市区町村 {code} はこのシステムに登録されていません",
                           f"municipality {code} is not part of this installation")
        return registry

    def resident(self, municipality_code: str, resident_id: int,
                 purpose: str) -> ResidentFacts:
        registry = self._registry(municipality_code)
        found = registry.view(self.staff, resident_id, MY_NUMBER, reveal_number=True,
                              note=_purpose(purpose))
        return _facts(registry.code, found)

    def by_number(self, municipality_code: str, individual_number: str,
                  purpose: str) -> ResidentFacts:
        registry = self._registry(municipality_code)
        number = individual.validate(individual_number)
        hits = registry.search(self.staff, MY_NUMBER, number=number, include_removed=True,
                               note=_purpose(purpose))
        if not hits:
            raise NotFound(f"{registry.title}にこの個人番号の住民票がありません",
                           "no resident record for this number")
        current = [r for r in hits if r.is_resident] or list(hits)
        return _facts(registry.code, current[0])


Route = tuple[Callable[[str, dict[str, Any]], dict[str, Any]], Callable[[str], bool]]


def card_directory_routes(registries: Mapping[str, MunicipalityRegistry]) -> dict[str, Route]:
    """The node routes by which J-LIS's card centre asks this town (caller ``jlis`` only)."""
    directory = RegistryCardDirectory(registries)

    def only_jlis(caller: str) -> bool:
        return caller == "jlis"

    def code_of(p: dict[str, Any]) -> str:
        code = municipality_codes.validate(str(p["municipality_code"]))
        if code not in registries:
            raise PermissionDenied(f"このノードは市区町村 {code} を扱いません",
                                   f"this node does not serve municipality {code}")
        return code

    def resident(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        rid = p["resident_id"]
        if not isinstance(rid, int) or isinstance(rid, bool):
            raise ValidationError("住民IDが不正です", "resident id must be an integer")
        return directory.resident(code_of(p), rid, str(p["purpose"])).as_json()

    def by_number(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return directory.by_number(code_of(p), str(p["individual_number"]),
                                   str(p["purpose"])).as_json()

    return {RESIDENT_PATH: (resident, only_jlis), BY_NUMBER_PATH: (by_number, only_jlis)}
