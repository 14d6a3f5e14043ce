"""One municipality in its own process: ``myna serve --node municipality:<code>``.

:class:`TownHost` opens the town's own databases only — its registry (既存住基) and
its 統合宛名 — and reaches every other organisation through its contract over
HTTP, with the town's certificates from the network CA:

* J-LIS for numbering as ``municipality:<code>``, for 符号 as the institution
  ``business:municipality-<code>``; the notification mailing and the card centre,
  hosted by J-LIS, as ``municipality:<code>``;
* its own intermediate server and the hub as ``business:municipality-<code>``.

What the town tells others travels as events from its outboxes (the registry's to
J-LIS, the notification mailing and its 統合宛名; the 統合宛名's to its
intermediate server), delivered right after each transaction and again by a
background relay until every receiver has it.  The staff web app
(:func:`myna.web.app.create_app`) runs on a TownHost as on the in-process
installation: it sees only this town.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine

from myna.atena.service import AtenaService
from myna.config import SystemConfig, read_config
from myna.contracts.cards import CardsApi
from myna.contracts.hub import HubApi
from myna.contracts.municipality import MoveOutSource
from myna.contracts.notify import NotifyApi
from myna.errors import NotFound, Unavailable
from myna.events import InboxSink, Relay, RelayWorker
from myna.events.outbox import Outbox
from myna.expiry import RetentionTask
from myna.keys import FileKeyStore, KeyStore
from myna.municipality import Municipality, institution_id
from myna.netca import NetworkCA
from myna.numbers import municipality_code
from myna.registry.peers import LocalTown, TownPeerClient
from myna.registry.service import MunicipalityRegistry
from myna.transport.cards_client import CardsClient
from myna.transport.http import HttpNetwork, NodeIdentity
from myna.transport.hub_client import HubClient
from myna.transport.intermediate_client import IntermediateClient
from myna.transport.notify_client import NotifyClient


class TownHost:
    """A municipality's systems in one process; the other organisations over HTTP."""

    def __init__(self, data_dir: Path | str, code: str, keys: KeyStore | None = None,
                 config: SystemConfig | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.config = config or read_config(self.data_dir)
        self.code = municipality_code.validate(code)
        if self.code not in self.config.municipalities:
            raise NotFound(f"市区町村コード {self.code} はこのシステムに登録されていません",
                           f"municipality {self.code} is not part of this installation")
        self.keys = keys or FileKeyStore(self.data_dir / "keys")
        self.ca = NetworkCA(self.keys, self.data_dir / "netca")
        self.node = f"municipality:{self.code}"
        self.institution = institution_id(self.code)
        as_town = self._network(self.node)
        as_institution = self._network(f"business:{self.institution}")
        registry = MunicipalityRegistry(self._engine(f"registry-{self.code}"), self.code,
                                             as_town.jlis())
        registry.create_schema()
        self.atena = AtenaService(self._engine(f"atena-{self.code}"),
                                  node=registry.atena_node,
                                  intermediate=f"intermediate:{self.institution}")
        self.atena.create_schema()
        atena_inbox = InboxSink(self.atena.inbox)
        self.relays = [
            Relay(registry.outbox,
                  lambda d: atena_inbox if d == self.atena.inbox.node else as_town.events(d)),
            Relay(self.atena.outbox, self._network(self.atena.inbox.node).events),
        ]
        registry.publish = self._publish
        self.atena.publish = self._publish
        self.town = Municipality(registry, self.atena,
                                 IntermediateClient(
                                     as_institution.url(f"intermediate:{self.institution}"),
                                     as_institution.identity),
                                 as_institution.jlis())
        self.notify: NotifyApi = NotifyClient(as_town.url("notify"), as_town.identity)
        self.cards: CardsApi = CardsClient(as_town.url("cards"), as_town.identity)
        self.hub: HubApi = HubClient(as_institution.url("hub"), as_institution.identity)
        self.workers: list[RelayWorker] = []

    def _engine(self, node: str) -> Engine:
        return self.config.engine(self.data_dir, node)

    def _network(self, node_id: str) -> HttpNetwork:
        return HttpNetwork(self.config.endpoints, NodeIdentity.of(self.ca, node_id))

    # -- what the staff web app asks of its services (myna.web.state.StaffServices) ------

    @property
    def registries(self) -> Mapping[str, MunicipalityRegistry]:
        return {self.code: self.town.registry}

    def registry(self, code: str) -> MunicipalityRegistry:
        return self.municipality(code).registry

    def municipality(self, code: str) -> Municipality:
        if code != self.code:
            raise NotFound(f"このノードは市区町村 {self.code} のものです（{code} ではありません）",
                           f"this node serves municipality {self.code}, not {code}")
        return self.town

    def moveout_source(self, code: str, asking: str) -> MoveOutSource | None:
        """The town that issued a 転出証明書: this one, another town's node, or None for a
        town outside the installation (its certificate is taken as presented)."""
        if code == self.code:
            return LocalTown(self.town.registry, asking)
        if code not in self.config.municipalities:
            return None
        url = self.config.endpoints.get(f"municipality:{code}")
        if url is None:
            raise Unavailable(
                f"転出元（{code}）のノードの接続先が設定されていないため、転出証明書を照合できません",
                f"no endpoint for municipality:{code}: cannot check the certificate")
        return TownPeerClient(url, NodeIdentity.of(self.ca, self.node))

    def retention_tasks(self) -> list[RetentionTask]:
        """None here: provision records live at the hub and the intermediate servers."""
        return []

    # -- events ---------------------------------------------------------------------------

    def deliver_events(self) -> int:
        """Deliver the town's pending events now (after each of its transactions); a
        receiver that is down gets them from the background relay later."""
        total = 0
        for _ in range(3):  # registry → 統合宛名 → intermediate server
            delivered = sum(relay.deliver().delivered for relay in self.relays)
            total += delivered
            if not delivered:
                break
        return total

    def _publish(self) -> None:
        self.deliver_events()

    def start_relays(self) -> list[RelayWorker]:
        """Keep delivering in the background while the process serves."""
        if not self.workers:
            self.workers = [RelayWorker(relay, name=f"{self.node}:{i}").start()
                            for i, relay in enumerate(self.relays)]
        return self.workers

    def outboxes(self) -> list[Outbox]:
        return [self.town.registry.outbox, self.atena.outbox]

    def dispose(self) -> None:
        for engine in (self.town.registry.engine, self.atena.engine):
            engine.dispose()
