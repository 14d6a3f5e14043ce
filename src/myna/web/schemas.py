"""Pydantic models of the JSON API (``/api/v1``), as documented in ``/openapi.json``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from myna.registry.domain import (
    ForeignResidence,
    HouseholdPlacement,
    MoveOutCertificate,
    PersonDetails,
    Resident,
    Staff,
)
from myna.web.forms import FIRST_WAREKI_DAY, household_number
from myna.web.presenters import HIDDEN, hidden_from, mask_number

#: A date given to the registry: 明治 or later, since every 住民票 is printed in 和暦.
WarekiDate = Annotated[dt.date, Field(ge=FIRST_WAREKI_DAY, description="YYYY-MM-DD（明治以降）")]


class ErrorResponse(BaseModel):
    """Every API error."""

    error: str = Field(description="機械可読なエラーコード（invalid, not_found, forbidden …）")
    message: str = Field(description="日本語のメッセージ")
    message_en: str = Field(description="English message")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="有効期間（秒）")
    municipality_code: str
    staff_id: str
    role: str


class Foreign(BaseModel):
    """外国人住民の国籍・在留資格・在留期間の満了日."""

    nationality: str
    residence_status: str
    period_of_stay_until: WarekiDate | None = None

    def to_domain(self) -> ForeignResidence:
        return ForeignResidence(self.nationality, self.residence_status, self.period_of_stay_until)


class Person(BaseModel):
    """届出に記載された本人の事項."""

    name: str = Field(examples=["国立 花子"])
    furigana: str = Field(examples=["くにたち はなこ"])
    birth_date: WarekiDate
    sex: Literal["男", "女"]
    foreign: Foreign | None = None

    def to_domain(self) -> PersonDetails:
        return PersonDetails(
            self.name, self.furigana, self.birth_date, self.sex,
            self.foreign.to_domain() if self.foreign else None,
        )


class Placement(BaseModel):
    """既存世帯（世帯番号）に入るか、新しい世帯（郵便番号・住所）を作るか."""

    relationship: str = Field(examples=["世帯主"], description="続柄")
    household_number: str | None = None
    postcode: str | None = Field(default=None, examples=["1860001"])
    address: str | None = Field(default=None, examples=["東京都国立市富士見台1-1-1"])

    def to_domain(self) -> HouseholdPlacement:
        return HouseholdPlacement(
            self.relationship,
            household_number(self.household_number) if self.household_number else None,
            self.postcode or None,
            self.address or None,
        )


class BirthRequest(BaseModel):
    """出生届."""

    person: Person
    placement: Placement


class Certificate(BaseModel):
    """転出証明書 (the JSON a 転出届 produces; give it unchanged to 転入届)."""

    model_config = ConfigDict(extra="forbid")

    certificate_id: str
    from_municipality_code: str
    from_municipality_name: str
    resident_code: str
    individual_number: str
    name: str
    furigana: str
    birth_date: WarekiDate
    sex: str
    address: str
    household_number: str
    relationship: str
    destination: str
    moving_on: WarekiDate
    issued_at: dt.datetime
    foreign: Foreign | None = None

    @classmethod
    def of(cls, certificate: MoveOutCertificate) -> Certificate:
        return cls.model_validate(certificate.as_json())

    def to_domain(self) -> MoveOutCertificate:
        return MoveOutCertificate.from_json(self.model_dump(mode="json"))


class MoveInRequest(BaseModel):
    """転入届."""

    certificate: Certificate
    placement: Placement
    moved_on: WarekiDate


class MoveOutRequest(BaseModel):
    """転出届."""

    destination: str = Field(examples=["東京都千代田区千代田1-1"])
    moving_on: WarekiDate


class CopyRequest(BaseModel):
    """住民票の写しの交付請求."""

    purpose: str = Field(description="請求の目的（提出先など）")
    whole_household: bool = Field(default=True, description="世帯全員（false なら本人のみ）")
    include_number: bool = Field(default=False, description="個人番号・住民票コードの記載")
    number_reason: str | None = Field(default=None, description="記載が必要な理由（記載時は必須）")


class ResidentSummary(BaseModel):
    """A search hit: never the full individual number."""

    resident_id: int
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    address: str
    status: str
    masked_number: str
    support_measure: bool

    @classmethod
    def of(cls, resident: Resident, staff: Staff) -> ResidentSummary:
        hidden = hidden_from(staff, resident)
        return cls(
            resident_id=resident.resident_id, name=resident.name, furigana=resident.furigana,
            birth_date=resident.birth_date, sex=resident.sex,
            address=HIDDEN if hidden else resident.address, status=resident.status,
            masked_number=HIDDEN if hidden else mask_number(resident.individual_number),
            support_measure=resident.support_measure,
        )


class SearchResponse(BaseModel):
    purpose: str
    count: int
    results: list[ResidentSummary]


class ResidentCreated(ResidentSummary):
    """The new 住民票 of a 出生届 / 転入届 (number masked: use the view to see it)."""

    household_number: str
    relationship: str


class ResidentDetail(BaseModel):
    """One 住民票, for a stated purpose (this view is logged)."""

    resident_id: int
    resident_code: str
    individual_number: str | None
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    postcode: str
    address: str
    household_number: str
    relationship: str
    became_resident_on: dt.date
    address_since: dt.date
    previous_address: str | None
    status: str
    removal_reason: str | None
    removed_on: dt.date | None
    nationality: str | None
    residence_status: str | None
    period_of_stay_until: dt.date | None
    support_measure: bool
    version: int


class CopyResponse(BaseModel):
    """An issued 住民票の写し: metadata, the HTML, and where to get the PDF."""

    certificate_number: str
    municipality_code: str
    household_number: str
    issued_at: dt.datetime
    includes_number: bool
    is_removed_record: bool
    people: int
    html: str
    pdf_url: str


class NumberCheck(BaseModel):
    """Result of checking an individual number (nothing is looked up)."""

    valid: bool
    compact: str | None
    formatted: str | None
    masked: str | None
    error: str | None
    error_en: str | None = None
