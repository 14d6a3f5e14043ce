"""J-LIS's card centre asking towns about their residents over HTTP.

:class:`ResidentsClient` implements :class:`myna.contracts.residents.ResidentDirectory`
for a card centre running in its own process: each town is the node
``municipality:<code>`` at the endpoint of that name in ``system.json``.
"""

from __future__ import annotations

import httpx

from myna.clock import utcnow
from myna.contracts.residents import ResidentFacts
from myna.errors import Conflict
from myna.numbers import municipality_code as municipality_codes
from myna.transport.http import NodeIdentity, Now, _Client

RESIDENT_PATH = "/node/v1/municipality/card-resident"
BY_NUMBER_PATH = "/node/v1/municipality/card-resident-by-number"


class ResidentsClient:
    """:class:`~myna.contracts.residents.ResidentDirectory` over HTTP, one town per endpoint."""

    def __init__(self, endpoints: dict[str, str], identity: NodeIdentity,
                 now: Now = utcnow, timeout: float = 10.0) -> None:
        self.endpoints = endpoints
        self.identity = identity
        self.now = now
        self._http = httpx.Client(timeout=timeout)

    def _town(self, municipality_code: str) -> _Client:
        code = municipality_codes.validate(municipality_code)
        url = self.endpoints.get(f"municipality:{code}")
        if not url:
            raise Conflict(
                f"市区町村 {code} の接続先（municipality:{code}）が system.json の endpoints に"
                "ありません。カードの申請・作成にはその市区町村への照会が必要です",
                f"no endpoint municipality:{code} in system.json: the card centre cannot "
                "ask that town about its residents",
            )
        return _Client(url, self.identity, self.now, client=self._http)

    def resident(self, municipality_code: str, resident_id: int,
                 purpose: str) -> ResidentFacts:
        data = self._town(municipality_code).post(RESIDENT_PATH, {
            "municipality_code": municipality_code, "resident_id": resident_id,
            "purpose": purpose})
        return ResidentFacts.from_json(data)

    def by_number(self, municipality_code: str, individual_number: str,
                  purpose: str) -> ResidentFacts:
        data = self._town(municipality_code).post(BY_NUMBER_PATH, {
            "municipality_code": municipality_code, "individual_number": individual_number,
            "purpose": purpose})
        return ResidentFacts.from_json(data)

    def close(self) -> None:
        self._http.close()
