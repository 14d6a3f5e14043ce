"""J-LIS as the other organisations see it: numbering, 本人確認情報, 符号 requests.

Municipalities call :class:`NumberingApi`; institutions authorised by law call
:class:`JlisApi`'s look-up and 符号 requests.  What J-LIS must learn from a
municipality — a confirmed number, changed 本人確認情報, a number or 住民票コード
change — arrives as events in its inbox, never as a call inside the
municipality's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

#: Reports progress of a long call: ``advance(n)`` after n more items.
Progress = Callable[[int], None]

#: The purpose J-LIS records when an institution asks for 符号 (番号法21条の2).
CODE_PURPOSE = "符号の取得"

#: What a caller not approved for a 支援措置 case sees instead of the address.
WITHHELD = "（支援措置により非表示）"


@dataclass(frozen=True)
class IdentityRecord:
    """What J-LIS answers about a person: 本人確認情報 and the current number (and the
    住民票コード, to a caller allowed to receive it)."""

    resident_code: str | None
    individual_number: str
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    address: str
    municipality_code: str
    status: str

    def as_json(self) -> dict[str, str]:
        data = asdict(self)
        data["birth_date"] = self.birth_date.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> IdentityRecord:
        return cls(data.get("resident_code"), str(data["individual_number"]),
                   str(data["name"]), str(data["furigana"]),
                   dt.date.fromisoformat(str(data["birth_date"])), str(data["sex"]),
                   str(data["address"]), str(data["municipality_code"]), str(data["status"]))


class NumberingApi(Protocol):
    """The calls a municipality makes to J-LIS (in-process, or over HTTP)."""

    def issue_resident_codes(self, municipality_code: str, count: int,
                             request_id: str | None = None) -> list[str]:
        """A batch of never-issued 住民票コード; asked again with the same ``request_id``
        (after a crash), the same batch."""
        ...

    def assign_number(self, municipality_code: str, code: str) -> str: ...

    def assign_numbers_bulk(
        self, municipality_code: str, codes: Sequence[str], progress: Progress | None = None
    ) -> list[str]: ...

    def next_number(self, municipality_code: str, code: str) -> tuple[str, int]: ...

    def carried_numbers(self, municipality_code: str) -> dict[str, str]:
        """住民票コード → active number of the town's people, as J-LIS holds them (for the
        town's own ``myna check``; over HTTP a town gets only its own)."""
        ...


class JlisApi(NumberingApi, Protocol):
    """Every call J-LIS answers: a municipality's, and an authorised institution's."""

    def lookup_by_number(self, caller_id: str, purpose: str, number: str) -> IdentityRecord: ...

    def request_codes(
        self, institution: str, requests: Sequence[tuple[str, str]],
        progress: Progress | None = None, chunk: int = 20_000,
    ) -> None: ...

    def stats(self) -> dict[str, int]:
        """Counts only (resident codes issued, numbers active and retired, persons)."""
        ...
