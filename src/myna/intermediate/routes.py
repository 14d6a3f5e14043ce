"""An intermediate server's node routes (see :mod:`myna.transport.intermediate_client`).

The hub alone delivers 符号 and forwards requests; the institution's own business
systems (``business:<institution>``) alone call everything else — what
:class:`myna.contracts.intermediate.IntermediateApi` names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from myna.contracts.intermediate import IntermediateApi
from myna.linkage.messages import ProvideRequest
from myna.linkage.network import IntermediateApi as ProviderApi
from myna.transport.http import Handler, answer_from_json, answer_to_json
from myna.transport.intermediate_client import (
    PREFIX,
    flags_to_json,
    pending_to_json,
    received_to_json,
)

Routes = dict[str, tuple[Handler, Callable[[str], bool]]]


class ServedApi(IntermediateApi, ProviderApi, Protocol):
    """Both faces of an intermediate server: what its routes serve."""


def intermediate_routes(server: ServedApi, institution: str) -> Routes:
    """Every route of ``institution``'s server but the events route."""
    own = f"business:{institution}"

    def is_own(caller: str) -> bool:
        return caller == own

    def is_hub(caller: str) -> bool:
        return caller == "hub"

    def deliver(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        server.deliver_codes([(a, b) for a, b in p["deliveries"]], p["hub_signature"])
        return {"ok": True}

    def provide(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return server.provide(ProvideRequest.from_json(p)).as_json()

    def begin(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"refs": server.begin_acquisition([str(a) for a in p["atena_nos"]])}

    def coded(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"atena_nos": sorted(server.coded_refs())}

    def acquired(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"atena_nos": sorted(server.acquired_refs())}

    def has_code(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"has_code": server.has_code(str(p["atena_no"]))}

    def unfinished(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"count": server.unfinished_acquisitions()}

    def put_item(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        server.put_item(str(p["atena_no"]), str(p["item"]), dict(p["payload"]),
                        bool(p.get("manual_approval", False)))
        return {"ok": True}

    def put_items(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        rows = [(str(a), str(i), dict(payload)) for a, i, payload in p["rows"]]
        return {"count": server.put_items_bulk(rows)}

    def manual_approval(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        server.set_manual_approval(str(p["atena_no"]), str(p["item"]), bool(p["on"]))
        return {"ok": True}

    def refusal(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        server.set_refusal(str(p["atena_no"]), str(p["affair"]), bool(p["refused"]))
        return {"ok": True}

    def flags(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return flags_to_json(server.flags(str(p["atena_no"])))

    def protected(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"protected": server.is_protected(str(p["atena_no"]))}

    def ask(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        """The hub's answer (sealed), and opened here for the caller's convenience."""
        request_id = p.get("request_id")
        answer = server.request(str(p["atena_no"]), str(p["row_id"]), str(p["affair"]),
                                str(p["provider"]), str(p["item"]),
                                None if request_id is None else str(request_id))
        return answer_to_json(answer) | {"payload": server.open(answer).payload}

    def open_(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return received_to_json(server.open(answer_from_json(p)))

    def fetch(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return received_to_json(server.fetch(str(p["request_id"])))

    def unanswered(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"request_ids": server.unanswered()}

    def resume(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"count": server.resume()}

    def pending(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"pending": [pending_to_json(w) for w in server.pending()]}

    def decide(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        server.decide(str(p["request_id"]), str(p["staff_id"]), bool(p["approve"]),
                      str(p.get("reason", "")))
        return {"ok": True}

    return {
        f"{PREFIX}/deliver-codes": (deliver, is_hub),
        f"{PREFIX}/provide": (provide, is_hub),
        f"{PREFIX}/begin-acquisition": (begin, is_own),
        f"{PREFIX}/coded-refs": (coded, is_own),
        f"{PREFIX}/acquired-refs": (acquired, is_own),
        f"{PREFIX}/has-code": (has_code, is_own),
        f"{PREFIX}/unfinished-acquisitions": (unfinished, is_own),
        f"{PREFIX}/put-item": (put_item, is_own),
        f"{PREFIX}/put-items": (put_items, is_own),
        f"{PREFIX}/manual-approval": (manual_approval, is_own),
        f"{PREFIX}/refusal": (refusal, is_own),
        f"{PREFIX}/flags": (flags, is_own),
        f"{PREFIX}/protected": (protected, is_own),
        f"{PREFIX}/request": (ask, is_own),
        f"{PREFIX}/open": (open_, is_own),
        f"{PREFIX}/fetch": (fetch, is_own),
        f"{PREFIX}/unanswered": (unanswered, is_own),
        f"{PREFIX}/resume": (resume, is_own),
        f"{PREFIX}/pending": (pending, is_own),
        f"{PREFIX}/decide": (decide, is_own),
    }
