"""The hub's node routes: :class:`myna.contracts.hub.HubApi` served over HTTP.

Who may call what is decided from the caller's certificate: J-LIS asks for 符号;
intermediate servers send requests, completions and polls; an institution's
intermediate server and business systems (``business:<id>``) read Table 2, the
institutions and the records — only the records their own institution took part
in (番号法23条: each party keeps and sees its own records).  The protection
commission (``ppc``) alone reads what its audit needs (:func:`audit_routes`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from myna.contracts.audit import COMMISSION, HubAuditApi
from myna.contracts.hub import HubApi
from myna.errors import PermissionDenied, ValidationError
from myna.linkage.messages import LinkRequest, ProvideAnswer
from myna.transport.audit_client import AUDIT_PREFIX, MAX_AUDIT_CHUNK
from myna.transport.http import Handler, answer_to_json
from myna.transport.hub_client import PREFIX, institution_to_json, record_to_json, row_to_json

Routes = dict[str, tuple[Handler, Callable[[str], bool]]]


def institution_of(caller: str) -> str:
    """The institution a node speaks for: ``intermediate:<id>`` and ``business:<id>``."""
    return caller.split(":", 1)[1]


def is_intermediate(caller: str) -> bool:
    return caller.startswith("intermediate:")


def is_institution(caller: str) -> bool:
    return caller.startswith(("intermediate:", "business:"))


def _optional(p: dict[str, Any], key: str) -> str | None:
    value = p.get(key)
    return None if value is None else str(value)


def hub_routes(hub: HubApi) -> Routes:
    """Every route of the hub but the events route (which the node adds with its relay)."""

    def issue(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        hub.issue_codes(p["institution"], [(a, b) for a, b in p["people"]])
        return {"ok": True}

    def request(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        message = LinkRequest.from_json(p)
        if message.requester != institution_of(caller):
            raise PermissionDenied("他機関の名義で照会することはできません",
                                   "requester does not match the calling node")
        return answer_to_json(hub.request(message))

    def complete(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        answer = ProvideAnswer.from_json(p)
        if answer.provider != institution_of(caller):
            raise PermissionDenied("他機関の名義で回答することはできません",
                                   "provider does not match the calling node")
        hub.complete(answer)
        return {"ok": True}

    def poll(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return answer_to_json(hub.poll(institution_of(caller), p["request_id"]))

    def table2(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        rows = hub.table2_rows(requester=_optional(p, "requester"),
                               provider=_optional(p, "provider"))
        return {"rows": [row_to_json(r) for r in rows]}

    def institution(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return institution_to_json(hub.institution(str(p["institution_id"])))

    def institutions(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"institutions": [institution_to_json(i) for i in hub.institutions()]}

    def records(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        own = institution_of(caller)
        if str(p["institution"]) != own:
            raise PermissionDenied("他機関の情報提供等記録は参照できません",
                                   "records are shown only to the institution they concern")
        request_id = _optional(p, "request_id")
        found = (hub.records_for_institution(own) if request_id is None
                 else hub.records_of_request(own, request_id))
        return {"records": [record_to_json(r) for r in found]}

    return {
        f"{PREFIX}/issue-codes": (issue, lambda c: c == "jlis"),
        f"{PREFIX}/request": (request, is_intermediate),
        f"{PREFIX}/complete": (complete, is_intermediate),
        f"{PREFIX}/poll": (poll, is_intermediate),
        f"{PREFIX}/table2": (table2, is_institution),
        f"{PREFIX}/institution": (institution, is_institution),
        f"{PREFIX}/institutions": (institutions, is_institution),
        f"{PREFIX}/records": (records, is_institution),
    }


def _leaf_range(p: dict[str, Any]) -> tuple[int, int]:
    """``[start, end)`` of a request, at most :data:`MAX_AUDIT_CHUNK` leaves."""
    start, end = int(p["start"]), int(p["end"])
    if not 0 <= start < end or end - start > MAX_AUDIT_CHUNK:
        raise ValidationError(f"記録の範囲が不正です（1回に {MAX_AUDIT_CHUNK:,} 件まで）",
                              f"bad leaf range (at most {MAX_AUDIT_CHUNK} at a time)")
    return start, end


def audit_routes(audit: HubAuditApi) -> Routes:
    """What the protection commission (node ``ppc``) reads for its audit, and nobody else:
    :class:`myna.contracts.audit.HubAuditApi` (commitments, hashes and 照会番号, no
    personal data)."""

    def head(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return audit.head().to_json()

    def leaves(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return audit.leaf_chunk(int(p["size"]), *_leaf_range(p)).to_json()

    def structure(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return audit.structure(int(p["size"])).to_json()

    def claims(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return audit.claims(*_leaf_range(p)).to_json()

    def unplaced(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return audit.unplaced(int(p["size"]), min(1000, int(p.get("limit", 100)))).to_json()

    def commission(caller: str) -> bool:
        return caller == COMMISSION

    return {f"{AUDIT_PREFIX}/{name}": (handler, commission) for name, handler in (
        ("head", head), ("leaves", leaves), ("structure", structure), ("claims", claims),
        ("unplaced", unplaced))}
