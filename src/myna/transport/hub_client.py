""":class:`myna.contracts.hub.HubApi` over HTTP, and the JSON its routes carry.

The hub takes the caller's institution from its certificate (``intermediate:<id>``
or ``business:<id>``): records are answered only to an institution that took part
in them, and a call naming another institution is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from myna.contracts.hub import Institution, ProvisionRecord, Table2Row
from myna.linkage.messages import LinkAnswer, LinkRequest, ProvideAnswer
from myna.transport.http import _Client, answer_from_json

PREFIX = "/node/v1/hub"


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(str(value))


def record_to_json(record: ProvisionRecord) -> dict[str, Any]:
    data = asdict(record)
    data["requested_at"] = _time(record.requested_at)
    data["provided_at"] = _time(record.provided_at)
    return data


def record_from_json(data: dict[str, Any]) -> ProvisionRecord:
    requested = _parse(data["requested_at"])
    if requested is None:
        raise ValueError("a provision record has a time of request")
    leaf = data.get("leaf_index")
    return ProvisionRecord(
        str(data["request_id"]), int(data["attempt"]), str(data["requester"]),
        str(data["provider"]), str(data["row_id"]), str(data["affair"]), str(data["item"]),
        requested, _parse(data.get("provided_at")), str(data["result"]), str(data["reason"]),
        None if leaf is None else int(leaf), bool(data.get("undisclosed", False)))


def institution_to_json(institution: Institution) -> dict[str, Any]:
    return {"institution_id": institution.institution_id, "name": institution.name,
            "role": institution.role}


def institution_from_json(data: dict[str, Any]) -> Institution:
    return Institution(str(data["institution_id"]), str(data["name"]), str(data["role"]))


def row_to_json(row: Table2Row) -> dict[str, Any]:
    return asdict(row)


def row_from_json(data: dict[str, Any]) -> Table2Row:
    return Table2Row(str(data["id"]), str(data["requester"]), str(data["affair"]),
                     str(data["provider"]), tuple(str(i) for i in data["items"]),
                     tuple(str(i) for i in data.get("undisclosed", ())),
                     str(data.get("undisclosed_basis", "")))


class HubClient(_Client):
    """:class:`~myna.contracts.hub.HubApi` over HTTP."""

    def table2_rows(self, *, requester: str | None = None,
                    provider: str | None = None) -> list[Table2Row]:
        data = self.post(f"{PREFIX}/table2", {"requester": requester, "provider": provider})
        return [row_from_json(r) for r in data["rows"]]

    def institution(self, institution_id: str) -> Institution:
        return institution_from_json(self.post(f"{PREFIX}/institution",
                                               {"institution_id": institution_id}))

    def institutions(self) -> list[Institution]:
        data = self.post(f"{PREFIX}/institutions", {})
        return [institution_from_json(i) for i in data["institutions"]]

    def records_for_institution(self, institution: str) -> list[ProvisionRecord]:
        data = self.post(f"{PREFIX}/records", {"institution": institution})
        return [record_from_json(r) for r in data["records"]]

    def records_of_request(self, institution: str, request_id: str) -> list[ProvisionRecord]:
        data = self.post(f"{PREFIX}/records",
                         {"institution": institution, "request_id": request_id})
        return [record_from_json(r) for r in data["records"]]

    def issue_codes(self, institution: str, people: list[tuple[str, str]]) -> None:
        self.post(f"{PREFIX}/issue-codes", {"institution": institution,
                                            "people": [list(p) for p in people]})

    def request(self, message: LinkRequest) -> LinkAnswer:
        return answer_from_json(self.post(f"{PREFIX}/request", message.as_json()))

    def complete(self, answer: ProvideAnswer) -> None:
        self.post(f"{PREFIX}/complete", answer.as_json())

    def poll(self, requester: str, request_id: str) -> LinkAnswer:
        return answer_from_json(self.post(f"{PREFIX}/poll", {"requester": requester,
                                                             "request_id": request_id}))
