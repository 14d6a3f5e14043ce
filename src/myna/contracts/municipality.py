"""A municipality as other organisations see it: what one town asks another.

A 転入届 presents the 転出証明書 the old town issued (住基法22条, 24条).  The new
town checks it with the town that issued it, through :class:`MoveOutSource` — the
old town's node over HTTP, or the same process — which answers the certificate it
issued (and logs the read in the resident's access log with the asking town), or
that it issued none (:class:`~myna.errors.NotFound`).  What J-LIS's card centre asks
a town is :mod:`myna.contracts.residents`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from myna.clock import JST
from myna.errors import ValidationError
from myna.fields import parse_date


@dataclass(frozen=True)
class ForeignResidence:
    """外国人住民: nationality, status of residence and period of stay."""

    nationality: str
    residence_status: str
    period_of_stay_until: dt.date | None


@dataclass(frozen=True)
class MoveOutCertificate:
    """転出証明書: what the old municipality hands to the new one."""

    certificate_id: str
    from_municipality_code: str
    from_municipality_name: str
    resident_code: str
    individual_number: str
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    address: str
    household_number: str
    relationship: str
    destination: str
    moving_on: dt.date
    issued_at: dt.datetime
    foreign: ForeignResidence | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "certificate_id": self.certificate_id,
            "from_municipality_code": self.from_municipality_code,
            "from_municipality_name": self.from_municipality_name,
            "resident_code": self.resident_code,
            "individual_number": self.individual_number,
            "name": self.name,
            "furigana": self.furigana,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "address": self.address,
            "household_number": self.household_number,
            "relationship": self.relationship,
            "destination": self.destination,
            "moving_on": self.moving_on.isoformat(),
            "issued_at": self.issued_at.isoformat(),
            "foreign": None
            if self.foreign is None
            else {
                "nationality": self.foreign.nationality,
                "residence_status": self.foreign.residence_status,
                "period_of_stay_until": self.foreign.period_of_stay_until.isoformat()
                if self.foreign.period_of_stay_until
                else None,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> MoveOutCertificate:
        def s(key: str) -> str:
            value = data.get(key)
            if value is None or value == "":
                raise ValidationError(
                    f"転出証明書の項目「{key}」がありません", f"move-out certificate lacks {key}"
                )
            if not isinstance(value, str):
                raise ValidationError(
                    f"転出証明書の項目「{key}」は文字列で記載してください",
                    f"move-out certificate field {key} must be a string",
                )
            return value

        def moment(key: str) -> dt.datetime:
            try:
                value = dt.datetime.fromisoformat(s(key))
            except ValueError:
                raise ValidationError(
                    f"転出証明書の項目「{key}」が日時ではありません"
                    "（例: 2026-12-01T10:00:00+09:00）",
                    f"move-out certificate field {key} is not an ISO date and time",
                ) from None
            return value if value.tzinfo else value.replace(tzinfo=JST)

        foreign = data.get("foreign")
        fr = None
        if isinstance(foreign, dict):
            until = foreign.get("period_of_stay_until")
            fr = ForeignResidence(
                str(foreign.get("nationality", "")),
                str(foreign.get("residence_status", "")),
                parse_date(until, "在留期間") if isinstance(until, str) else None,
            )
        return cls(
            certificate_id=s("certificate_id"),
            from_municipality_code=s("from_municipality_code"),
            from_municipality_name=s("from_municipality_name"),
            resident_code=s("resident_code"),
            individual_number=s("individual_number"),
            name=s("name"),
            furigana=s("furigana"),
            birth_date=parse_date(s("birth_date"), "生年月日"),
            sex=s("sex"),
            address=s("address"),
            household_number=s("household_number"),
            relationship=s("relationship"),
            destination=s("destination"),
            moving_on=parse_date(s("moving_on"), "転出予定日"),
            issued_at=moment("issued_at"),
            foreign=fr,
        )


class MoveOutSource(Protocol):
    """The town that issued a 転出証明書, as another town reaches it."""

    def moveout_certificate(self, certificate_id: str) -> MoveOutCertificate: ...
