"""An intermediate server over HTTP, and the JSON its routes carry.

:class:`IntermediateClient` implements both faces of the server: what its own
institution's systems call (:class:`myna.contracts.intermediate.IntermediateApi`,
open to ``business:<institution>`` only) and what the hub calls
(:class:`myna.linkage.network.IntermediateApi`: code delivery and forwarded
requests, open to the hub only).  The server checks the caller's certificate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from myna.contracts.intermediate import HeldItem, PendingRequest, Received, Refusal
from myna.linkage.messages import LinkAnswer, ProvideAnswer, ProvideRequest, Result
from myna.transport.http import _Client, answer_from_json, answer_to_json

PREFIX = "/node/v1/intermediate"


def received_to_json(received: Received) -> dict[str, Any]:
    return {"request_id": received.request_id, "result": received.result.value,
            "payload": received.payload, "reason": received.reason,
            "leaf_index": received.leaf_index}


def received_from_json(data: dict[str, Any]) -> Received:
    leaf = data.get("leaf_index")
    payload = data.get("payload")
    return Received(str(data["request_id"]), Result(data["result"]),
                    None if payload is None else dict(payload), str(data.get("reason", "")),
                    None if leaf is None else int(leaf))


def pending_to_json(waiting: PendingRequest) -> dict[str, Any]:
    return {"request_id": waiting.request_id, "atena_no": waiting.atena_no,
            "item": waiting.item, "affair": waiting.affair, "requester": waiting.requester,
            "received_at": waiting.received_at.isoformat()}


def pending_from_json(data: dict[str, Any]) -> PendingRequest:
    atena_no = data.get("atena_no")
    return PendingRequest(str(data["request_id"]), None if atena_no is None else str(atena_no),
                          str(data["item"]), str(data["affair"]), str(data["requester"]),
                          dt.datetime.fromisoformat(str(data["received_at"])))


def flags_to_json(flags: tuple[tuple[HeldItem, ...], tuple[Refusal, ...]]) -> dict[str, Any]:
    items, refusals = flags
    return {"items": [{"item": i.item, "manual_approval": i.manual_approval,
                       "updated_at": i.updated_at.isoformat()} for i in items],
            "refusals": [{"affair": r.affair, "registered_at": r.registered_at.isoformat()}
                         for r in refusals]}


def flags_from_json(data: dict[str, Any]) -> tuple[tuple[HeldItem, ...], tuple[Refusal, ...]]:
    return (tuple(HeldItem(str(i["item"]), bool(i["manual_approval"]),
                           dt.datetime.fromisoformat(str(i["updated_at"])))
                  for i in data["items"]),
            tuple(Refusal(str(r["affair"]), dt.datetime.fromisoformat(str(r["registered_at"])))
                  for r in data["refusals"]))


class IntermediateClient(_Client):
    """An intermediate server over HTTP (see the module docstring)."""

    # -- what the hub calls ------------------------------------------------------------------

    def deliver_codes(self, deliveries: list[tuple[str, str]], hub_signature: str) -> None:
        self.post(f"{PREFIX}/deliver-codes",
                  {"deliveries": [list(d) for d in deliveries], "hub_signature": hub_signature})

    def provide(self, request: ProvideRequest) -> ProvideAnswer:
        return ProvideAnswer.from_json(self.post(f"{PREFIX}/provide", request.as_json()))

    # -- what the institution's own systems call -------------------------------------------

    def begin_acquisition(self, atena_nos: Sequence[str]) -> list[str]:
        data = self.post(f"{PREFIX}/begin-acquisition", {"atena_nos": list(atena_nos)})
        return [str(r) for r in data["refs"]]

    def coded_refs(self) -> set[str]:
        return {str(r) for r in self.post(f"{PREFIX}/coded-refs", {})["atena_nos"]}

    def acquired_refs(self) -> set[str]:
        return {str(r) for r in self.post(f"{PREFIX}/acquired-refs", {})["atena_nos"]}

    def has_code(self, atena_no: str) -> bool:
        return bool(self.post(f"{PREFIX}/has-code", {"atena_no": atena_no})["has_code"])

    def unfinished_acquisitions(self) -> int:
        return int(self.post(f"{PREFIX}/unfinished-acquisitions", {})["count"])

    def put_item(self, atena_no: str, item: str, payload: dict[str, Any],
                 manual_approval: bool = False) -> None:
        self.post(f"{PREFIX}/put-item", {"atena_no": atena_no, "item": item,
                                         "payload": payload,
                                         "manual_approval": manual_approval})

    def put_items_bulk(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        data = self.post(f"{PREFIX}/put-items", {"rows": [list(r) for r in rows]})
        return int(data["count"])

    def set_manual_approval(self, atena_no: str, item: str, on: bool) -> None:
        self.post(f"{PREFIX}/manual-approval", {"atena_no": atena_no, "item": item, "on": on})

    def set_refusal(self, atena_no: str, affair: str, refused: bool) -> None:
        self.post(f"{PREFIX}/refusal", {"atena_no": atena_no, "affair": affair,
                                        "refused": refused})

    def flags(self, atena_no: str) -> tuple[tuple[HeldItem, ...], tuple[Refusal, ...]]:
        return flags_from_json(self.post(f"{PREFIX}/flags", {"atena_no": atena_no}))

    def is_protected(self, atena_no: str) -> bool:
        return bool(self.post(f"{PREFIX}/protected", {"atena_no": atena_no})["protected"])

    def request(self, atena_no: str, row_id: str, affair: str, provider: str, item: str,
                request_id: str | None = None) -> LinkAnswer:
        return answer_from_json(self.post(f"{PREFIX}/request", {
            "atena_no": atena_no, "row_id": row_id, "affair": affair, "provider": provider,
            "item": item, "request_id": request_id}))

    def open(self, answer: LinkAnswer) -> Received:
        return received_from_json(self.post(f"{PREFIX}/open", answer_to_json(answer)))

    def fetch(self, request_id: str) -> Received:
        return received_from_json(self.post(f"{PREFIX}/fetch", {"request_id": request_id}))

    def unanswered(self) -> list[str]:
        return [str(r) for r in self.post(f"{PREFIX}/unanswered", {})["request_ids"]]

    def resume(self) -> int:
        return int(self.post(f"{PREFIX}/resume", {})["count"])

    def pending(self) -> list[PendingRequest]:
        return [pending_from_json(w) for w in self.post(f"{PREFIX}/pending", {})["pending"]]

    def decide(self, request_id: str, staff_id: str, approve: bool, reason: str = "") -> None:
        self.post(f"{PREFIX}/decide", {"request_id": request_id, "staff_id": staff_id,
                                       "approve": approve, "reason": reason})
