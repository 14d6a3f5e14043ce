"""Wiring: the nodes of one Myna installation, from its data directory.

``system.json`` in the data directory lists the municipalities and other
institutions and an optional database URL (SQLite files are used when none is
given; on PostgreSQL every node gets its own schema).  Keys live in ``keys/``
under the data directory (see :mod:`myna.keys`).  Nodes are connected
in-process through :class:`myna.linkage.network.Network`.

The protection commission's witness is reached, in this order, at
``endpoints["witness"]`` (a separate ``myna serve --node witness`` process; its key
pinned as ``witness_key``), in ``witness_dir`` (in-process, its state in a
directory of its own, outside the data directory), or — for a throwaway demo — in
the data directory itself, which does not protect against whoever holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from myna.atena.service import AtenaService
from myna.card.authorisation import MunicipalityCardDesk
from myna.card.chip import ChipStore
from myna.card.lifecycle.service import CardService
from myna.config import CONFIG, SystemConfig, read_config
from myna.contracts.jlis import CODE_PURPOSE
from myna.contracts.municipality import MoveOutSource
from myna.errors import NotFound
from myna.events import Inbox, InboxSink, Outbox, Relay
from myna.expiry import RetentionTask, hub_tasks, intermediate_task
from myna.hub.service import HubService
from myna.intermediate.service import IntermediateServer
from myna.jlis.service import JlisService
from myna.jpki.service import JpkiService
from myna.keys import FileKeyStore, KeyStore
from myna.linkage.network import Network
from myna.municipality import ROLE, Municipality, institution_id
from myna.netca import NetworkCA
from myna.notify.service import NotificationService
from myna.numbers import municipality_code
from myna.registry.card_directory import RegistryCardDirectory
from myna.registry.peers import LocalTown
from myna.registry.service import MunicipalityRegistry
from myna.transparency.service import TransparencyLog
from myna.transparency.witness import DEFAULT_NAME as DEFAULT_WITNESS_NAME
from myna.transparency.witness import Witness, WitnessApi, open_witness_dir, witness_log
from myna.transport.witness import WitnessClient

LOG_NAME = "hub.myna.example/provision-records"
WITNESS_NAME = DEFAULT_WITNESS_NAME


def open_provision_log(engine: Engine, keys: KeyStore) -> TransparencyLog:
    """The hub's append-only log of provision records (its own database)."""
    log = TransparencyLog(engine, keys, LOG_NAME)
    log.create_schema()
    return log


def witness_inside(config: SystemConfig, data_dir: Path) -> bool:
    """Whether the installation's witness keeps its state inside ``data_dir`` — where
    whoever can replace the directory can replace the witness's history with it."""
    if config.endpoints.get("witness"):
        return False
    if not config.witness_dir:
        return True
    inside = Path(config.witness_dir).resolve()
    return inside == Path(data_dir).resolve() or Path(data_dir).resolve() in inside.parents


def open_witness(config: SystemConfig, data_dir: Path, keys: KeyStore,
                 log: TransparencyLog | None = None) -> WitnessApi:
    """The protection commission's witness, as the installation's configuration names
    it (see the module's docstring).  ``log`` is registered with a witness kept in the
    installation (none is given when the commission only reads it, for an audit)."""
    url = config.endpoints.get("witness")
    if url:
        return WitnessClient(url, config.witness_key)
    if config.witness_dir:
        return open_witness_dir(config.witness_dir)  # registered by `myna witness`
    witness = Witness(config.engine(data_dir, "ppc-witness"), keys, WITNESS_NAME)
    witness.create_schema()
    if log is not None:
        witness.add_log(log.origin, log.public_key)
    return witness


class MynaSystem:
    """J-LIS, the hub, municipalities and institutions of one installation."""

    def __init__(
        self, data_dir: Path | str, database_url: str | None = None,
        keys: KeyStore | None = None, namespace: str = "", repair: bool = True,
    ) -> None:
        """Open the installation.  ``repair`` gives records left without a log leaf by
        a crash their leaves (:meth:`HubService.reconcile`); an audit passes False to
        see the stored state as it is."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = self._load_config()
        if database_url:
            self.config.database_url = database_url
        if namespace:
            self.config.namespace = namespace
        self.namespace = self.config.namespace
        self.keys = keys or FileKeyStore(self.data_dir / "keys")
        self.ca = NetworkCA(self.keys, self.data_dir / "netca")
        for node in ("hub", "jlis"):
            self.ca.identity(node)
        self.network = Network()
        self.jlis = JlisService(self._engine("jlis"), self.keys)
        self.jlis.create_schema()
        self.jlis.network = self.network
        self.hub = HubService(self._engine("hub"), self.keys, self.network)
        self.hub.create_schema()
        self.network.hub = self.hub
        self.provision_log = open_provision_log(self._engine("transparency"), self.keys)
        self.hub.log = self.provision_log
        if repair:
            self.hub.reconcile()
        self.witness: WitnessApi = self._open_witness()
        self.jpki = JpkiService(self._engine("jpki"), self.keys)
        self.jpki.create_schema()
        self.chips = ChipStore(self._engine("card-chips"), self.keys)
        self.chips.create_schema()
        self.notify = NotificationService(self._engine("notify"))
        self.notify.create_schema()
        self.registries: dict[str, MunicipalityRegistry] = {}
        self.municipalities: dict[str, Municipality] = {}
        self.intermediates: dict[str, IntermediateServer] = {}
        self.cards = CardService(self._engine("cards"), self.jpki, self.chips, self.notify,
                                 self.jlis, RegistryCardDirectory(self.registries))
        self.cards.create_schema()
        #: every node's inbox by node id, and a relay per outbox: in one process events
        #: are delivered right after the sender's transaction (see :meth:`deliver_events`)
        self.inboxes: dict[str, Inbox] = {}
        self.relays: list[Relay] = []
        for inbox in (self.jlis.inbox, self.jpki.inbox, self.cards.inbox, self.notify.inbox,
                      self.hub.inbox):
            self.inboxes[inbox.node] = inbox
        self._relay(self.jlis.outbox)
        self._relay(self.hub.outbox)
        self._relay(self.cards.outbox)  # the holders' towns learn of their cards' states
        self.jlis.publish = self._publish
        self.cards.publish = self._publish
        for code in self.config.municipalities:
            self._open_municipality(code)
        for inst in self.config.institutions:
            self._open_institution(inst["id"], inst["name"], inst["role"])

    def _load_config(self) -> SystemConfig:
        return self.read_config(self.data_dir)

    @staticmethod
    def read_config(data_dir: Path) -> SystemConfig:
        return read_config(data_dir)

    def _open_witness(self) -> WitnessApi:
        return open_witness(self.config, self.data_dir, self.keys, self.provision_log)

    def save_config(self) -> None:
        (self.data_dir / CONFIG).write_text(self.config.to_json(), encoding="utf-8")

    def _engine(self, node: str) -> Engine:
        return self.config.engine(self.data_dir, node)

    def _open_institution(self, inst: str, name: str, role: str) -> IntermediateServer:
        server = IntermediateServer(self._engine(f"intermediate-{inst}"), self.keys, inst,
                                    self.network, self.hub.public_key)
        server.create_schema()
        self.ca.identity(f"intermediate:{inst}")
        self.ca.identity(f"business:{inst}")
        self.network.add_intermediate(inst, server)
        self.inboxes[server.inbox.node] = server.inbox
        self._relay(server.outbox)
        server.publish = self._publish
        self.hub.register_institution(inst, name, role, server.signing_key, server.box_key)
        self.jlis.register_caller(inst, name, [CODE_PURPOSE])
        self.intermediates[inst] = server
        return server

    def retention_tasks(self) -> list[RetentionTask]:
        """Every store of provision records here, for :class:`~myna.expiry.Expiry`."""
        return hub_tasks(self.hub, self.provision_log) + [
            intermediate_task(server) for server in self.intermediates.values()]

    def publish_checkpoint(self) -> str:
        """Sign the provision log's checkpoint and have the protection commission cosign it."""
        return witness_log(self.provision_log, self.witness)

    def deliver_events(self) -> int:
        """Deliver every node's pending events, in-process, until none is left.

        Each node's relay runs after its own transaction has committed; an event a
        receiver refuses, or one for a receiver that is down, stays pending (see
        ``myna check``) and goes with the next delivery.
        """
        total = 0
        for _ in range(10):  # an event may cause events: registry → J-LIS → JPKI
            delivered = sum(relay.deliver().delivered for relay in self.relays)
            total += delivered
            if not delivered:
                break
        return total

    def _relay(self, outbox: Outbox) -> None:
        self.relays.append(Relay(outbox, self._sink))

    def _sink(self, destination: str) -> InboxSink | None:
        inbox = self.inboxes.get(destination)
        return None if inbox is None else InboxSink(inbox)

    def _publish(self) -> None:
        self.deliver_events()

    def _open_municipality(self, code: str) -> Municipality:
        registry = MunicipalityRegistry(self._engine(f"registry-{code}"), code, self.jlis)
        registry.create_schema()
        atena = AtenaService(self._engine(f"atena-{code}"), node=registry.atena_node,
                             intermediate=f"intermediate:{institution_id(registry.code)}")
        atena.create_schema()
        self.inboxes[atena.inbox.node] = atena.inbox
        self.inboxes[registry.inbox.node] = registry.inbox
        self._relay(registry.outbox)
        self._relay(atena.outbox)
        registry.publish = self._publish
        atena.publish = self._publish
        server = self._open_institution(institution_id(registry.code), registry.title, ROLE)
        town = Municipality(registry, atena, server, self.jlis)
        self.chips.trust_municipality(registry.code,
                                      MunicipalityCardDesk(registry.code, self.keys).public_key())
        self.registries[registry.code] = registry
        self.municipalities[registry.code] = town
        return town

    def add_municipality(self, code: str) -> MunicipalityRegistry:
        """Open (creating when new) a municipality's registry, 統合宛名 and intermediate server."""
        code = municipality_code.lookup(code).code
        if code in self.registries:
            return self.registries[code]
        town = self._open_municipality(code)
        self.config.municipalities.append(code)
        self.save_config()
        return town.registry

    def add_institution(self, inst: str, name: str, role: str) -> IntermediateServer:
        """Join another institution (e.g. 日本年金機構) to the network."""
        if inst in self.intermediates:
            return self.intermediates[inst]
        server = self._open_institution(inst, name, role)
        self.config.institutions.append({"id": inst, "name": name, "role": role})
        self.save_config()
        return server

    def registry(self, code: str) -> MunicipalityRegistry:
        return self.municipality(code).registry

    def municipality(self, code: str) -> Municipality:
        try:
            return self.municipalities[code]
        except KeyError:
            raise NotFound(
                f"市区町村コード {code} はこのシステムに登録されていません",
                f"municipality {code} is not part of this installation",
            ) from None

    def moveout_source(self, code: str, asking: str) -> MoveOutSource | None:
        """A town of this installation, answering another's check of a 転出証明書."""
        registry = self.registries.get(code)
        return None if registry is None else LocalTown(registry, asking)

    def engines(self) -> list[Any]:
        engines: list[Any] = [self.jlis.engine, self.hub.engine, self.jpki.engine,
                              self.chips.engine, self.provision_log.engine,
                              self.notify.engine, self.cards.engine]
        if isinstance(self.witness, Witness):
            engines.append(self.witness.engine)
        for town in self.municipalities.values():
            engines += [town.registry.engine, town.atena.engine]
        engines += [s.engine for s in self.intermediates.values()]
        return engines

    def dispose(self) -> None:
        for engine in self.engines():
            engine.dispose()
