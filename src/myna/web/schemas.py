"""Pydantic models of the JSON API (``/api/v1``), as documented in ``/openapi.json``."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from myna.registry.access import AccessRequest
from myna.registry.affairs import AFFAIR_IDS
from myna.registry.domain import (
    LIMITS,
    MEIJI_START,
    ForeignResidence,
    HouseholdPlacement,
    MoveOutCertificate,
    PersonDetails,
    Resident,
    Staff,
    parse_date,
)
from myna.relationships import RELATIONSHIPS, check_relationship
from myna.text import check_characters
from myna.web.forms import household_number
from myna.web.presenters import HIDDEN, mask_code, mask_number


def _typed_date(value: Any) -> Any:
    """Dates as people type them: full-width digits and 年月日 are accepted."""
    return parse_date(value) if isinstance(value, str) else value


#: A date given to the registry: 明治 or later, since every 住民票 is printed in 和暦.
WarekiDate = Annotated[
    dt.date, BeforeValidator(_typed_date),
    Field(ge=MEIJI_START,
          description="YYYY-MM-DD（明治以降。全角数字や「2024年4月1日」も受け付けます）"),
]


def _clean(value: str) -> str:
    return check_characters(value, "入力")


#: Every text field of the API also refuses what no name or address contains
#: (control and bidirectional characters, lone surrogates, U+FFFD …: :mod:`myna.text`);
#: its ``maxLength`` is in the OpenAPI document and checked before anything is written.
CLEAN = AfterValidator(_clean)

#: Documented in the OpenAPI (and followed by generators such as schemathesis): the
#: characters every text field refuses, as a JSON Schema ``pattern``.  The rule itself is
#: :func:`myna.text.forbidden_kind`, which refuses these and a few more.
NO_HIDDEN_CHARACTERS = (
    "^[^\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufffd]*$"
)


def _text(max_length: int, **field: Any) -> Any:
    """``Field`` arguments of a text field: its limit and the documented pattern."""
    extra = {"pattern": NO_HIDDEN_CHARACTERS} | field.pop("json_schema_extra", {})
    return Field(max_length=max_length, json_schema_extra=extra, **field)

Name = Annotated[str, _text(LIMITS["name"], examples=["国立 花子"],
                            description="氏名（書かれたとおりに。字形は変換しません）"), CLEAN]
Furigana = Annotated[str, _text(LIMITS["furigana"], examples=["くにたち はなこ"]), CLEAN]
Address = Annotated[str, _text(LIMITS["address"], examples=["東京都国立市富士見台1-1-1"]),
                    CLEAN]
Purpose = Annotated[str, _text(LIMITS["purpose"], min_length=2,
                               description="目的（事務の名称・提出先など。2文字以上）"), CLEAN]
Reason = Annotated[str, _text(LIMITS["reason"]), CLEAN]
Nationality = Annotated[str, _text(LIMITS["nationality"]), CLEAN]
ResidenceStatus = Annotated[str, _text(LIMITS["residence_status"]), CLEAN]
Postcode = Annotated[str, _text(LIMITS["postcode"], examples=["186-0001"]), CLEAN]
Code = Annotated[str, _text(20), CLEAN]
"""Identifiers and codes (numbers, 住民票コード, 世帯番号, 証明書番号): short, checked later."""
MunicipalityName = Annotated[str, _text(60), CLEAN]
Relationship = Annotated[
    str, Field(max_length=20, description="続柄（住民基本台帳事務処理要領の用語）",
               examples=["世帯主"], json_schema_extra={"enum": list(RELATIONSHIPS)}),
    AfterValidator(check_relationship),
]


class ErrorResponse(BaseModel):
    """Every API error."""

    error: str = Field(description="機械可読なエラーコード（invalid, not_found, forbidden …）")
    message: str = Field(description="日本語のメッセージ")
    message_en: str = Field(description="English message")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="有効期間（秒）")
    idle_timeout: int = Field(description="この秒数だけ使われないとセッションは終了します")
    municipality_code: str
    staff_id: str
    role: str


class Foreign(BaseModel):
    """外国人住民の国籍・在留資格・在留期間の満了日."""

    model_config = ConfigDict(extra="forbid")

    nationality: Nationality
    residence_status: ResidenceStatus
    period_of_stay_until: WarekiDate | None = None

    def to_domain(self) -> ForeignResidence:
        return ForeignResidence(self.nationality, self.residence_status, self.period_of_stay_until)


class Person(BaseModel):
    """届出に記載された本人の事項."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    furigana: Furigana
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

    model_config = ConfigDict(extra="forbid")

    relationship: Relationship
    household_number: Code | None = None
    postcode: Postcode | None = None
    address: Address | None = None

    def to_domain(self) -> HouseholdPlacement:
        return HouseholdPlacement(
            self.relationship,
            household_number(self.household_number) if self.household_number else None,
            self.postcode or None,
            self.address or None,
        )


class BirthRequest(BaseModel):
    """出生届."""

    model_config = ConfigDict(extra="forbid")

    person: Person
    placement: Placement
    confirm_not_duplicate: bool = Field(
        default=False,
        description="同じ世帯・同じ生年月日の子が既にいるとき、双子などの別の子であることを"
        "確認した（二重の出生届でない）",
    )


class Certificate(BaseModel):
    """転出証明書 (the JSON a 転出届 produces; give it unchanged to 転入届)."""

    model_config = ConfigDict(extra="forbid")

    certificate_id: Code
    from_municipality_code: Code
    from_municipality_name: MunicipalityName
    resident_code: Code
    individual_number: Code
    name: Name
    furigana: Furigana
    birth_date: WarekiDate
    sex: Code
    address: Address
    household_number: Code
    relationship: Code
    destination: Address
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

    model_config = ConfigDict(extra="forbid")

    certificate: Certificate
    placement: Placement
    moved_on: WarekiDate


class MoveOutRequest(BaseModel):
    """転出届."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"destination": "東京都千代田区千代田1-1", "moving_on": dt.date.today().isoformat()}]})

    destination: Address
    moving_on: WarekiDate


class CopyRequest(BaseModel):
    """住民票の写しの交付請求."""

    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    whole_household: bool = Field(default=True, description="世帯全員（false なら本人のみ）")
    include_number: bool = Field(default=False, description="個人番号・住民票コードの記載")
    number_reason: Reason | None = Field(default=None,
                                         description="記載が必要な理由（記載時は必須）")


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
        """A row as the registry gave it: a 支援措置 person's address is already withheld
        (:meth:`MunicipalityRegistry.search`) unless an approval lets ``staff`` see it."""
        hidden = resident.support_measure and resident.address == HIDDEN
        return cls(
            resident_id=resident.resident_id, name=resident.name, furigana=resident.furigana,
            birth_date=resident.birth_date, sex=resident.sex,
            address=HIDDEN if hidden else resident.address, status=resident.status,
            masked_number=HIDDEN if hidden else mask_number(resident.individual_number),
            support_measure=resident.support_measure,
        )


class SearchResponse(BaseModel):
    """One page of a search (each page is logged, with the residents on it)."""

    purpose: str = Field(description="事務のID")
    affair: str = Field(description="事務の名称")
    count: int = Field(description="このページの件数")
    total: int = Field(description="条件に該当する件数（全ページ）")
    page: int
    per_page: int
    pages: int
    results: list[ResidentSummary]


class ResidentCreated(ResidentSummary):
    """The new 住民票 of a 出生届 / 転入届 (number masked: use the view to see it)."""

    household_number: str
    relationship: str


class ResidentDetail(BaseModel):
    """One 住民票, for an affair (this view is logged).

    ``individual_number`` and ``resident_code`` are given in full only when asked for
    (``reveal_number``) by a role the town lets see numbers: that is logged as a
    number disclosure.  Otherwise they are null, and the masked forms say which.
    """

    resident_id: int
    resident_code: str | None
    masked_resident_code: str
    individual_number: str | None
    masked_number: str
    number_disclosed: bool
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

    @classmethod
    def of(cls, resident: Resident) -> ResidentDetail:
        """From the record :meth:`MunicipalityRegistry.view` returned (masked unless
        disclosed)."""
        number = resident.individual_number
        disclosed = bool(number) and "*" not in (number or "")
        fields = {k: v for k, v in asdict(resident).items()
                  if k not in ("individual_number", "resident_code")}
        return cls(
            **fields,
            individual_number=number if disclosed else None,
            masked_number=mask_number(number),
            resident_code=resident.resident_code if disclosed else None,
            masked_resident_code=mask_code(resident.resident_code),
            number_disclosed=disclosed,
        )


class Affair(BaseModel):
    """One affair a view or search may be for, and who performs it in this town."""

    id: str
    name: str
    law: str
    roles: list[str] = Field(description="この事務を行う役割（clerk / supervisor / administrator）")
    yours: bool = Field(description="サインインしている職員の役割が行う事務か")


class AffairsResponse(BaseModel):
    """The town's table of affairs (changed by a supervisor on the 事務と役割 page)."""

    affairs: list[Affair]
    number_roles: list[str] = Field(description="個人番号の全桁を表示できる役割")


class AccessRequestBody(BaseModel):
    """A request to open a 支援措置 record for an affair (approved by another supervisor)."""

    model_config = ConfigDict(extra="forbid")

    resident_id: int = Field(ge=1, le=2**31 - 1)
    purpose: Annotated[str, Field(max_length=40, description="事務のID",
                                  json_schema_extra={"enum": list(AFFAIR_IDS)})]
    reason: Reason = Field(description="記録を開く必要がある理由（2文字以上）")


class AccessRequestInfo(BaseModel):
    request_id: int
    resident_id: int
    staff_id: str
    purpose: str = Field(description="事務のID")
    affair: str
    reason: str
    status: Literal["pending", "approved", "declined"]
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, request: AccessRequest) -> AccessRequestInfo:
        return cls(
            request_id=request.request_id, resident_id=request.resident_id,
            staff_id=request.staff_id, purpose=request.affair.id, affair=request.affair.name,
            reason=request.reason, status=request.status.value,
            requested_at=request.requested_at, decided_by=request.decided_by,
            decided_at=request.decided_at, expires_at=request.expires_at,
        )


class CopyResponse(BaseModel):
    """An issued 住民票の写し: metadata, the HTML, and where to get the PDF."""

    certificate_number: str
    municipality_code: str
    household_number: str
    issued_at: dt.datetime
    includes_number: bool
    is_removed_record: bool
    people: int
    withheld: int = Field(default=0, description="支援措置により記載しなかった世帯員の数"
                                                 "（承認がないため。写しには印字されない）")
    html: str
    pdf_url: str


class NumberToCheck(BaseModel):
    """An individual number as typed (full-width digits, spaces and hyphens accepted)."""

    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, _text(40, examples=["1234 5678 9018"]), CLEAN]


class NumberCheck(BaseModel):
    """Result of checking an individual number (nothing is looked up)."""

    valid: bool
    compact: str | None
    formatted: str | None
    masked: str | None
    error: str | None
    error_en: str | None = None
