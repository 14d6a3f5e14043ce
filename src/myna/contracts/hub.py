"""The hub's contract (情報提供ネットワークシステム): what other nodes read and send there.

A town's staff screens and other institutions read Table 2, the institutions on
the network and the provision records (情報提供等記録, 番号法23条) in which they took
part; intermediate servers send requests, completions and polls, and J-LIS asks
for 符号.  :class:`myna.hub.service.HubService` implements it in one process,
:class:`myna.transport.hub_client.HubClient` between processes, where the hub takes
the caller's institution from its certificate and answers records only to the
institution they concern.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from myna.linkage.messages import LinkAnswer, LinkRequest, ProvideAnswer


@dataclass(frozen=True)
class Table2Row:
    """One row of 別表第二: who may ask (情報照会者), for which affair (事務), whom
    (情報提供者), for which items (特定個人情報)."""

    id: str
    requester: str
    affair: str
    provider: str
    items: tuple[str, ...]
    #: Items whose provision records are 不開示 to the person (番号法23条2項).
    undisclosed: tuple[str, ...] = ()
    #: The provision on 不開示情報 the ``undisclosed`` items rely on.
    undisclosed_basis: str = ""


@dataclass(frozen=True)
class Institution:
    """An institution on the network (情報照会者・情報提供者) and its Table 2 role."""

    institution_id: str
    name: str
    role: str


@dataclass(frozen=True)
class ProvisionRecord:
    """情報提供等記録 (番号法23条) as the hub keeps it: one attempt at one request."""

    request_id: str
    attempt: int
    requester: str
    provider: str
    row_id: str
    affair: str
    item: str
    requested_at: dt.datetime
    provided_at: dt.datetime | None
    #: a :class:`myna.linkage.messages.Result` value
    result: str
    reason: str
    leaf_index: int | None
    #: 番号法23条2項: the fact of this provision is 不開示 to the person (see Table 2).
    undisclosed: bool = False


class HubApi(Protocol):
    """What a town's systems, other institutions, intermediate servers and J-LIS call
    on the hub."""

    # -- reading (staff screens, other nodes) -----------------------------------------------

    def table2_rows(self, *, requester: str | None = None,
                    provider: str | None = None) -> list[Table2Row]:
        """The rows of Table 2, by id; only those of a requester or provider role when given."""
        ...

    def institution(self, institution_id: str) -> Institution:
        """One registered institution (NotFound when there is none)."""
        ...

    def institutions(self) -> list[Institution]:
        """Every registered institution, by id."""
        ...

    def records_for_institution(self, institution: str) -> list[ProvisionRecord]:
        """The records in which ``institution`` asked or provided, oldest first."""
        ...

    def records_of_request(self, institution: str, request_id: str) -> list[ProvisionRecord]:
        """Every attempt at one request, if ``institution`` asked or provided in it
        (nothing otherwise), oldest first."""
        ...

    # -- the exchange (intermediate servers, J-LIS) --------------------------------------------

    def issue_codes(self, institution: str, people: list[tuple[str, str]]) -> None:
        """符号 for (person key, acquisition reference) pairs, delivered to the
        institution's intermediate server (J-LIS asks)."""
        ...

    def request(self, message: LinkRequest) -> LinkAnswer:
        """情報照会, signed by the requester's intermediate server."""
        ...

    def complete(self, answer: ProvideAnswer) -> None:
        """A provider's staff decided a pending request."""
        ...

    def poll(self, requester: str, request_id: str) -> LinkAnswer:
        """The current answer to one of ``requester``'s requests."""
        ...
