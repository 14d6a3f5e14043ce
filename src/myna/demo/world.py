"""Where the demo runs: every organisation in one process, or each in its own.

The demo scenario (:mod:`myna.demo.scenario`) is written against
:class:`DemoWorld`: what the towns' staff and operators, J-LIS's operators, a
relying party and a resident holding their card do.  :class:`LocalWorld` is the
in-process installation; :class:`NodesWorld` starts J-LIS, the hub, every
intermediate server, every municipality and the protection commission's witness
as separate ``myna serve --node`` processes on 127.0.0.1, and the demo then acts
as each town's staff on that town's own databases (:class:`myna.town.TownHost`)
and reaches everyone else over HTTP only.  Both give the same summary.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from myna.card.chip import ChipStore
from myna.card.pins import Slot
from myna.clock import BACKDATE_ENV, utcnow
from myna.config import read_config
from myna.contracts.audit import COMMISSION, HubAuditApi
from myna.contracts.cards import CardsApi
from myna.contracts.hub import HubApi, Institution
from myna.contracts.jpki import JpkiApi
from myna.contracts.notify import NotifyApi
from myna.errors import Unavailable
from myna.hub.audit import HubAudit
from myna.keys import FileKeyStore
from myna.municipality import Municipality, institution_id
from myna.netca import NetworkCA
from myna.notify.service import NotificationService
from myna.system import LOG_NAME, MynaSystem
from myna.town import TownHost
from myna.transparency.witness import WitnessApi, open_witness_dir
from myna.transport.audit_client import HubAuditClient
from myna.transport.http import CLOCK_PATH, NodeIdentity, _Client, pending_events
from myna.transport.jpki_client import JpkiClient
from myna.transport.processes import free_port, launch, running_nodes, stop, wait_for
from myna.transport.witness import WitnessClient

#: the e-Tax-like relying party of the card story, as its node id
RELYING_PARTY = "business:demo-etax"


class CardChips(Protocol):
    """The chip of a card in its holder's hand (simulated in J-LIS's ``card-chips``)."""

    def sign(self, card_id: str, slot: Slot | str, pin: str, data: bytes) -> bytes: ...

    def read_certificate(self, card_id: str, slot: Slot | str,
                         pin: str | None = None) -> x509.Certificate: ...


class DemoWorld(Protocol):
    """What the demo scenario does, whichever way the organisations are run."""

    @property
    def towns(self) -> Mapping[str, Municipality]: ...

    def notify(self, code: str) -> NotifyApi:
        """The notification mailing as town ``code`` reaches it."""
        ...

    def cards(self, code: str) -> CardsApi:
        """The card centre as town ``code`` reaches it."""
        ...

    def jpki(self, party: str | None = None) -> JpkiApi:
        """JPKI as J-LIS's operator (``None``) or as the relying party ``party``."""
        ...

    def chips(self) -> CardChips: ...

    def institution(self, institution: str) -> Institution: ...

    def institution_ids(self) -> list[str]: ...

    def jlis_stats(self) -> dict[str, int]: ...

    def settle(self) -> None:
        """Wait until every node has delivered every event it holds."""
        ...

    def simulate_mail(self, batches: Sequence[int], seed: int) -> dict[str, Any]:
        """SYNTHETIC fates of the mailed letters up to now (J-LIS's own job); returns the
        national delivery figures."""
        ...

    def cosigned_checkpoint(self) -> str: ...

    def leaf(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """A provision log leaf's data and its inclusion proof up to ``size``."""
        ...

    @property
    def log_key(self) -> Ed25519PublicKey: ...

    @property
    def witness_key(self) -> Ed25519PublicKey: ...

    def hub_audit(self) -> HubAuditApi:
        """What the hub shows the protection commission for its audit."""
        ...

    def witness(self) -> WitnessApi:
        """The protection commission's witness."""
        ...

    def present(self) -> None:
        """The history is built: from here on, everything happens today."""
        ...


def simulate_mail(notify: NotificationService, batches: Sequence[int],
                  seed: int) -> dict[str, Any]:
    """SYNTHETIC delivery fates of ``batches`` up to now, with one seeded generator (J-LIS's
    own job: it moves the notification service's clock, so it runs where the service is)."""
    import random

    from myna.notify.simulate import simulate_delivery

    rng = random.Random(seed)
    for batch_id in batches:
        simulate_delivery(notify, batch_id, rng, until=utcnow())
    return notify.stats().overall.to_dict()


class LocalWorld:
    """Every organisation in this process (:class:`~myna.system.MynaSystem`)."""

    def __init__(self, system: MynaSystem) -> None:
        self.system = system

    @property
    def towns(self) -> Mapping[str, Municipality]:
        return self.system.municipalities

    def notify(self, code: str) -> NotifyApi:
        return self.system.notify

    def cards(self, code: str) -> CardsApi:
        return self.system.cards

    def jpki(self, party: str | None = None) -> JpkiApi:
        return self.system.jpki

    def chips(self) -> CardChips:
        return self.system.chips

    def institution(self, institution: str) -> Institution:
        return self.system.hub.institution(institution)

    def institution_ids(self) -> list[str]:
        return list(self.system.intermediates)

    def jlis_stats(self) -> dict[str, int]:
        return self.system.jlis.stats()

    def settle(self) -> None:
        self.system.deliver_events()

    def simulate_mail(self, batches: Sequence[int], seed: int) -> dict[str, Any]:
        return simulate_mail(self.system.notify, batches, seed)

    def cosigned_checkpoint(self) -> str:
        return self.system.publish_checkpoint()

    def leaf(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        log = self.system.provision_log
        return log.entry(index).data or b"", log.inclusion_proof(index, size)

    @property
    def log_key(self) -> Ed25519PublicKey:
        return self.system.provision_log.public_key

    @property
    def witness_key(self) -> Ed25519PublicKey:
        return self.system.witness.public_key

    def hub_audit(self) -> HubAuditApi:
        return HubAudit(self.system.hub, self.system.provision_log)

    def witness(self) -> WitnessApi:
        return self.system.witness

    def present(self) -> None:
        return None


class NodesWorld:
    """Every organisation in its own process; the demo holds only the towns' databases.

    Built from an installation whose organisations were registered with each other
    (:meth:`start`), it assigns each node a port on 127.0.0.1, gives the protection
    commission's witness a directory and a process of its own, and starts every node
    — backdated to ``history_from`` until :meth:`present` brings them to the present,
    as the in-process demo leaves :func:`~myna.clock.backdated`.
    """

    def __init__(self, data_dir: Path, ports: dict[str, int], witness_dir: Path,
                 witness_port: int, history_from: dt.datetime) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.witness_dir = witness_dir
        self.witness_port = witness_port
        self.history_from = history_from
        self.config = read_config(data_dir)
        self.keys = FileKeyStore(data_dir / "keys")
        self.ca = NetworkCA(self.keys, data_dir / "netca")
        self._stack = contextlib.ExitStack()
        self._hosts: dict[str, TownHost] = {}
        self._chips: ChipStore | None = None
        self._clients: dict[tuple[str, str], _Client] = {}

    @classmethod
    @contextlib.contextmanager
    def start(cls, system: MynaSystem, history_from: dt.datetime) -> Iterator[NodesWorld]:
        """Give every node of ``system`` an endpoint, close it here and start them all."""
        data_dir = system.data_dir
        nodes = ["hub", "jlis", *(f"intermediate:{i}" for i in system.intermediates),
                 *(f"municipality:{c}" for c in system.registries)]
        ports = {node: free_port() for node in nodes}
        witness_port = free_port()
        witness_dir = data_dir / "ppc-witness-node"
        witness = open_witness_dir(witness_dir, create=True)
        witness.add_log(system.provision_log.origin, system.provision_log.public_key)
        system.config.endpoints = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        system.config.endpoints["witness"] = f"http://127.0.0.1:{witness_port}"
        system.config.witness_key = witness.verifier_key()
        system.config.witness_dir = None
        system.save_config()
        witness.engine.dispose()
        system.dispose()
        world = cls(data_dir, ports, witness_dir, witness_port, history_from)
        try:
            world._start_nodes()
            yield world
        finally:
            world.close()

    # -- processes --------------------------------------------------------------------------

    def _start_nodes(self) -> None:
        """The witness in the present (it cosigns only today); the others backdated."""
        log = self.data_dir / "witness.log"
        witness = launch(["serve", "--node", "witness", "--witness-dir", str(self.witness_dir),
                          "--port", str(self.witness_port)], log)  # starts beside the others
        self._stack.callback(stop, [witness])
        self._stack.enter_context(running_nodes(
            self.data_dir, self.ports, env={BACKDATE_ENV: self.history_from.isoformat()}))
        wait_for(self.witness_port, witness, log)

    def present(self) -> None:
        """Bring every node to the present, as the in-process demo leaves backdated();
        called while this process is still backdated, after :meth:`settle`."""
        for node in self.ports:
            self._client(node, self._any_town()).post(CLOCK_PATH, {})

    def close(self) -> None:
        """Stop the nodes; the installation then runs in one process again (``myna serve``),
        its witness in its own directory."""
        self._stack.close()
        for host in self._hosts.values():
            host.dispose()
        for client in self._clients.values():
            client.http.close()
        if self._chips is not None:
            self._chips.engine.dispose()
        config = read_config(self.data_dir)
        config.endpoints = {}
        config.witness_dir = str(self.witness_dir.resolve())
        (self.data_dir / "system.json").write_text(config.to_json(), encoding="utf-8")

    # -- clients ----------------------------------------------------------------------------

    def _identity(self, node: str) -> NodeIdentity:
        return NodeIdentity.of(self.ca, node)

    def _client(self, target: str, as_node: str) -> _Client:
        """One client per (node, identity), kept: :meth:`settle` polls every node often."""
        key = (target, as_node)
        if key not in self._clients:
            self._clients[key] = _Client(self.config.endpoints[target], self._identity(as_node),
                                         timeout=600)
        return self._clients[key]

    def _host(self, code: str) -> TownHost:
        if code not in self._hosts:
            self._hosts[code] = TownHost(self.data_dir, code, self.keys, self.config)
        return self._hosts[code]

    @property
    def towns(self) -> Mapping[str, Municipality]:
        return {code: self._host(code).town for code in self.config.municipalities}

    def notify(self, code: str) -> NotifyApi:
        return self._host(code).notify

    def cards(self, code: str) -> CardsApi:
        return self._host(code).cards

    def jpki(self, party: str | None = None) -> JpkiApi:
        return JpkiClient(self.config.endpoints["jlis"], self._identity(party or "jlis"))

    def chips(self) -> CardChips:
        if self._chips is None:
            self._chips = ChipStore(self.config.engine(self.data_dir, "card-chips"), self.keys)
        return self._chips

    def _any_town(self) -> str:
        return f"business:{institution_id(self.config.municipalities[0])}"

    def institution(self, institution: str) -> Institution:
        hub: HubApi = self._host(self.config.municipalities[0]).hub
        return hub.institution(institution)

    def institution_ids(self) -> list[str]:
        return ([institution_id(c) for c in self.config.municipalities]
                + [i["id"] for i in self.config.institutions])

    def jlis_stats(self) -> dict[str, int]:
        data = self._client("jlis", self._any_town()).post("/node/v1/jlis/stats", {})
        return {str(k): int(v) for k, v in data.items()}

    def settle(self, seconds: float = 300) -> None:
        """Deliver the towns' events, then wait until no node holds one undelivered."""
        nodes = list(self.ports)
        deadline = time.monotonic() + seconds
        quiet = 0
        while time.monotonic() < deadline:
            for host in self._hosts.values():
                host.deliver_events()
            waiting = sum(pending_events(self._client(n, self._any_town())) for n in nodes)
            quiet = quiet + 1 if waiting == 0 else 0
            if quiet >= 2:  # twice: an event may move on between two nodes' answers
                return
            time.sleep(0.05)
        raise Unavailable("ノード間のイベントが配送されません（myna check で確認してください）",
                          "events between nodes are not being delivered (see myna check)")

    def simulate_mail(self, batches: Sequence[int], seed: int) -> dict[str, Any]:
        """J-LIS's synthetic mail job, in J-LIS's own process (its notify database)."""
        done = subprocess.run(
            [sys.executable, "-m", "myna.demo.jobs", "mail-fates", str(self.data_dir),
             str(seed), *map(str, batches)], capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise Unavailable("番号通知の送達（合成）を記録できませんでした",
                              f"the synthetic mail job failed: {done.stderr[-500:]}")
        return dict(json.loads(done.stdout))

    def cosigned_checkpoint(self) -> str:
        data = self._client("hub", self._any_town()).post("/node/v1/hub/log/checkpoint", {})
        return str(data["checkpoint"])

    def leaf(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        import base64

        data = self._client("hub", self._any_town()).post(
            "/node/v1/hub/log/proof", {"index": index, "size": size})
        return (base64.b64decode(data["data"]),
                [base64.b64decode(h) for h in data["proof"]])

    @property
    def log_key(self) -> Ed25519PublicKey:
        return self.keys.ed25519(f"transparency/{LOG_NAME}").public_key()

    @property
    def witness_key(self) -> Ed25519PublicKey:
        return self.witness().public_key

    def hub_audit(self) -> HubAuditApi:
        """The commission (node ``ppc``) reading the hub over HTTP."""
        return HubAuditClient(self.config.endpoints["hub"], self._identity(COMMISSION),
                              timeout=600)

    def witness(self) -> WitnessApi:
        return WitnessClient(self.config.endpoints["witness"], self.config.witness_key)


__all__ = ["DemoWorld", "LocalWorld", "NodesWorld", "RELYING_PARTY", "simulate_mail"]
