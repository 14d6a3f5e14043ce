"""Who a card is for: J-LIS's 本人確認情報 and the municipality's few facts, joined.

The four basic items, the number and the person key come from J-LIS's own
本人確認情報 (the card centre is part of J-LIS; :meth:`JlisService.card_identity`).
Only what J-LIS does not hold — the resident id, nationality, status and period
of stay, whether the person is still a resident — is asked of the person's
municipality through :class:`myna.contracts.residents.ResidentDirectory`, each
question with its purpose (the town logs it in the resident's access log).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from myna.contracts.residents import ResidentDirectory, ResidentFacts
from myna.errors import Conflict


class IdentityRecordLike(Protocol):
    """The part of J-LIS's 本人確認情報 a card is made from."""

    @property
    def individual_number(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def birth_date(self) -> dt.date: ...
    @property
    def sex(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def municipality_code(self) -> str: ...


class JlisIdentity(Protocol):
    """J-LIS's 本人確認情報 as its own card centre reads it (in J-LIS's process)."""

    def card_identity(self, number: str) -> tuple[str, IdentityRecordLike]: ...

    def holder(self, number: str) -> tuple[str, str]: ...

    def residence(self, person_key: str) -> tuple[str, str]: ...


@dataclass(frozen=True)
class Holder:
    """A (would-be) card holder as J-LIS and their municipality know them now."""

    person_key: str
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


class NoDirectory:
    """The card centre of a process that was given no way to ask municipalities."""

    def _refuse(self) -> Conflict:
        return Conflict(
            "市区町村への照会先が設定されていないため、カードを申請・作成できません"
            "（system.json の endpoints に municipality:<市区町村コード> を設定してください）",
            "the card centre has no way to ask municipalities: set endpoints "
            "municipality:<code> in system.json",
        )

    def resident(self, municipality_code: str, resident_id: int,
                 purpose: str) -> ResidentFacts:
        raise self._refuse()

    def by_number(self, municipality_code: str, individual_number: str,
                  purpose: str) -> ResidentFacts:
        raise self._refuse()


class People:
    """The card centre's way of learning about a person (every look-up has a purpose)."""

    def __init__(self, jlis: JlisIdentity, residents: ResidentDirectory) -> None:
        self.jlis = jlis
        self.residents = residents

    def resident(self, municipality_code: str, resident_id: int, purpose: str) -> Holder:
        """A town's resident by its own id (an application names the person so)."""
        facts = self.residents.resident(municipality_code, resident_id, purpose)
        return self._join(facts)

    def by_number(self, individual_number: str, purpose: str) -> Holder:
        """The person with this number, from the town J-LIS says they live in."""
        _, town = self.jlis.holder(individual_number)
        return self._join(self.residents.by_number(town, individual_number, purpose))

    def _join(self, facts: ResidentFacts) -> Holder:
        if facts.individual_number is None:
            raise Conflict(
                f"住民ID {facts.resident_id} の方にはまだ個人番号が指定されていません",
                f"resident {facts.resident_id} has no individual number yet",
            )
        key, record = self.jlis.card_identity(facts.individual_number)
        if facts.is_resident and record.municipality_code != facts.municipality_code:
            raise Conflict(
                "J-LIS の本人確認情報の住所地と市区町村の住民票が一致しません"
                "（異動の通知が届くまでお待ちください）",
                "J-LIS's identity names another municipality than the town's record",
            )
        return Holder(
            person_key=key, municipality_code=facts.municipality_code,
            resident_id=facts.resident_id, name=record.name, birth_date=record.birth_date,
            sex=record.sex, address=record.address, individual_number=record.individual_number,
            nationality=facts.nationality, residence_status=facts.residence_status,
            period_of_stay_until=facts.period_of_stay_until, is_resident=facts.is_resident,
            removal_reason=facts.removal_reason,
        )


def check_holder(holder: Holder) -> None:
    """Only a current resident applies, collects or keeps using a card."""
    if not holder.is_resident:
        raise Conflict(
            f"この方は住民ではありません（{holder.removal_reason or '除票'}）。"
            "お住まいの市区町村で手続きしてください",
            f"the person is not a current resident ({holder.removal_reason})",
        )
