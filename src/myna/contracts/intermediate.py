"""An intermediate server's contract (中間サーバー): what its own institution's systems call.

A town's systems (its 統合宛名, staff screens, go-live loads, the command line) keep
the copies (副本) of their data items on their intermediate server, set the flags
that hold a provision for staff (自動応答不可, a person's refusal), ask other
institutions through the hub (情報照会) and decide the requests waiting for
approval.  They know each person by their 宛名番号 (``atena_no``): the 符号 never
leaves the server.  What the hub calls on it (code delivery, forwarded requests) is
:class:`myna.linkage.network.IntermediateApi`.

:class:`myna.intermediate.service.IntermediateServer` implements it in one process,
:class:`myna.transport.intermediate_client.IntermediateClient` between processes,
where only the institution's own business systems may call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from myna.linkage.messages import LinkAnswer, Result


@dataclass(frozen=True)
class PendingRequest:
    """A request for an item that waits for a staff member's decision."""

    request_id: str
    #: the person's 宛名番号 (None when the 符号 is no longer held here)
    atena_no: str | None
    item: str
    affair: str
    requester: str
    received_at: dt.datetime


@dataclass(frozen=True)
class HeldItem:
    """A copy (副本) held for a person, and whether each provision needs approval."""

    item: str
    manual_approval: bool
    updated_at: dt.datetime


@dataclass(frozen=True)
class Refusal:
    """本人の申出による提供拒否 for one affair."""

    affair: str
    registered_at: dt.datetime


@dataclass(frozen=True)
class Received:
    """A decrypted answer at the requester."""

    request_id: str
    result: Result
    payload: dict[str, Any] | None
    reason: str
    leaf_index: int | None


class IntermediateApi(Protocol):
    """What an institution's own systems call on its intermediate server."""

    # -- 符号 -------------------------------------------------------------------------------

    def begin_acquisition(self, atena_nos: Sequence[str]) -> list[str]:
        """Processing references for a 符号 request sent through J-LIS, one per 宛名番号."""
        ...

    def coded_refs(self) -> set[str]:
        """The 宛名番号 that have a 符号 here."""
        ...

    def acquired_refs(self) -> set[str]:
        """The references (宛名番号) whose 符号 was delivered here, kept or not since."""
        ...

    def has_code(self, atena_no: str) -> bool:
        """Whether a 符号 was acquired for this 宛名番号."""
        ...

    def unfinished_acquisitions(self) -> int:
        """Acquisitions begun whose 符号 never arrived."""
        ...

    # -- copies and flags -------------------------------------------------------------------

    def put_item(self, atena_no: str, item: str, payload: dict[str, Any],
                 manual_approval: bool = False) -> None:
        """Register or replace the copy (副本) of an item; schema-checked."""
        ...

    def put_items_bulk(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        """Many (宛名番号, item, payload) copies at once, all or nothing."""
        ...

    def set_manual_approval(self, atena_no: str, item: str, on: bool) -> None:
        """自動応答不可: a staff member must approve each provision of this item."""
        ...

    def set_refusal(self, atena_no: str, affair: str, refused: bool) -> None:
        """The person's refusal of provision for an affair (or its withdrawal), here and
        at every other holder of their data."""
        ...

    def flags(self, atena_no: str) -> tuple[tuple[HeldItem, ...], tuple[Refusal, ...]]:
        """The copies held for the person with their 自動応答不可 flags, and the refusals."""
        ...

    def is_protected(self, atena_no: str) -> bool:
        """Whether 支援措置 holds every provision about this person for a staff decision."""
        ...

    # -- asking -------------------------------------------------------------------------------

    def request(self, atena_no: str, row_id: str, affair: str, provider: str, item: str,
                request_id: str | None = None) -> LinkAnswer:
        """情報照会 under a Table 2 row; sent again with the same id, it is answered once."""
        ...

    def open(self, answer: LinkAnswer) -> Received:
        """Decrypt an answer meant for this institution."""
        ...

    def fetch(self, request_id: str) -> Received:
        """The current answer to one of our requests, from the hub, opened."""
        ...

    def unanswered(self) -> list[str]:
        """Our requests whose answer never arrived."""
        ...

    def resume(self) -> int:
        """Send every unanswered request again, with its own id; how many."""
        ...

    # -- answering ----------------------------------------------------------------------------

    def pending(self) -> list[PendingRequest]:
        """The staff approval queue, oldest first."""
        ...

    def decide(self, request_id: str, staff_id: str, approve: bool, reason: str = "") -> None:
        """A staff member approves or refuses a pending provision (a refusal needs a reason)."""
        ...
