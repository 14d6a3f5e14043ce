"""How the nodes of the network reach each other.

:class:`Network` binds node ids to their interfaces in-process; an HTTP
binding implements the same protocols between separately started nodes.
A node marked down raises :class:`NodeUnavailable`, as a refused connection
would.
"""

from __future__ import annotations

from typing import Protocol

from myna.errors import Unavailable
from myna.linkage.messages import LinkAnswer, LinkRequest, ProvideAnswer, ProvideRequest


class NodeUnavailable(Unavailable):
    """The other node cannot be reached; the caller may retry later."""


class IntermediateApi(Protocol):
    """What the hub may call on an institution's intermediate server."""

    def deliver_codes(self, deliveries: list[tuple[str, str]], hub_signature: str) -> None: ...

    def provide(self, request: ProvideRequest) -> ProvideAnswer: ...


class HubApi(Protocol):
    """What intermediate servers (and J-LIS) may call on the hub."""

    def issue_codes(self, institution: str, people: list[tuple[str, str]]) -> None: ...

    def request(self, message: LinkRequest) -> LinkAnswer: ...

    def complete(self, answer: ProvideAnswer) -> None: ...

    def poll(self, requester: str, request_id: str) -> LinkAnswer: ...


class NetworkApi(Protocol):
    """How a node reaches the others (in-process or over HTTP)."""

    def intermediate(self, institution: str) -> IntermediateApi: ...

    def the_hub(self) -> HubApi: ...


class Network:
    """In-process binding of node ids to interfaces."""

    def __init__(self) -> None:
        self.hub: HubApi | None = None
        self._intermediates: dict[str, IntermediateApi] = {}
        self.down: set[str] = set()

    def add_intermediate(self, institution: str, node: IntermediateApi) -> None:
        self._intermediates[institution] = node

    def intermediate(self, institution: str) -> IntermediateApi:
        if institution in self.down or institution not in self._intermediates:
            raise NodeUnavailable(
                f"{institution} の中間サーバーに接続できません。しばらくしてから再送してください",
                f"intermediate server of {institution} is unreachable",
            )
        return self._intermediates[institution]

    def the_hub(self) -> HubApi:
        if self.hub is None or "hub" in self.down:
            raise NodeUnavailable("情報提供ネットワークシステムに接続できません",
                                  "the hub is unreachable")
        return self.hub
