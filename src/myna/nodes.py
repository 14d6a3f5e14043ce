"""One node per process: ``myna serve --node hub | jlis | intermediate:<institution>``.

Each process opens only its own database, reaches the other nodes through
the endpoints listed in ``system.json`` and authenticates with its
certificate from the network CA (see :mod:`myna.transport.http`).  The hub and
the intermediate servers erase their provision records past the retention
period when they are built and then every ``expiry_interval`` while they serve
(:mod:`myna.expiry`).

The protection commission's witness (``myna serve --node witness --witness-dir DIR``)
is not part of any installation: :func:`witness_node_app` serves it from its own
directory (see :mod:`myna.transport.witness`).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI

from myna.card.chip import ChipStore
from myna.card.lifecycle.service import CardService
from myna.card.routes import card_routes
from myna.contracts.check import backlog_check
from myna.errors import NotFound, PermissionDenied, ValidationError
from myna.events import InboxSink, Relay, RelayWorker
from myna.expiry import DAILY, Expiry, hub_tasks, intermediate_task
from myna.hub.audit import HubAudit
from myna.hub.routes import audit_routes, hub_routes, is_intermediate
from myna.hub.service import HubService
from myna.intermediate.routes import intermediate_routes
from myna.intermediate.service import IntermediateServer
from myna.jlis.consistency import jlis_check
from myna.jlis.service import JlisService
from myna.jpki.routes import jpki_routes
from myna.jpki.service import JpkiService
from myna.keys import FileKeyStore, KeyStore
from myna.netca import NetworkCA, check_certificate
from myna.notify.routes import notify_routes
from myna.notify.service import NotificationService
from myna.system import MynaSystem, open_provision_log, open_witness
from myna.transparency.witness import witness_log
from myna.transport.http import (
    HttpNetwork,
    NodeIdentity,
    backlog_route,
    check_route,
    events_route,
    node_app,
    node_router,
)
from myna.transport.residents_client import ResidentsClient


def peer_key(ca: NetworkCA, node_id: str) -> Ed25519PublicKey:
    """A peer's public key from its certificate in the CA directory, checked."""
    path = ca.directory / (node_id.replace(":", ".").lower() + ".pem")
    if not path.exists():
        raise NotFound(f"{node_id} の証明書がありません", f"no certificate for {node_id}")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    named, key = check_certificate(ca.certificate, cert, dt.datetime.now(dt.UTC))
    if named != node_id:
        raise PermissionDenied("証明書のノードIDが違います", "certificate names another node")
    return key


def witness_node_app(witness_dir: Path) -> FastAPI:
    """The witness of ``witness_dir`` as its own HTTP node."""
    from myna.transparency.witness import open_witness_dir
    from myna.transport.witness import witness_app

    return witness_app(open_witness_dir(witness_dir))


class NodeHost:
    """Builds one node of an installation for a separate process."""

    def __init__(self, data_dir: Path, keys: KeyStore | None = None,
                 expiry_interval: dt.timedelta = DAILY) -> None:
        self.data_dir = Path(data_dir)
        self.expiry_interval = expiry_interval
        self.expiry: Expiry | None = None
        self.config = MynaSystem.read_config(self.data_dir)
        self.keys = keys or FileKeyStore(self.data_dir / "keys")
        self.ca = NetworkCA(self.keys, self.data_dir / "netca")
        #: background relays of the node built here (stopped when the server stops)
        self.workers: list[RelayWorker] = []

    def _engine(self, node: str) -> Any:
        return self.config.engine(self.data_dir, node)

    def network(self, node_id: str) -> HttpNetwork:
        return HttpNetwork(self.config.endpoints, NodeIdentity.of(self.ca, node_id))

    def app(self, node: str) -> FastAPI:
        if node == "hub":
            return self.hub_app()
        if node == "jlis":
            return self.jlis_app()
        if node.startswith("intermediate:"):
            institution = node.split(":", 1)[1]
            known = ([f"municipality-{c}" for c in self.config.municipalities]
                     + [str(i["id"]) for i in self.config.institutions])
            if institution not in known:
                raise NotFound(
                    f"機関 {institution} はこのシステムに登録されていません"
                    f"（登録済み: {', '.join(known) or 'なし'}）",
                    f"institution {institution!r} is not part of this installation")
            return self.intermediate_app(institution)
        if node.startswith("municipality:"):
            return self.municipality_app(node.split(":", 1)[1])
        raise ValidationError(
            f"ノードの指定が不正です: {node}"
            "（hub / jlis / intermediate:<機関ID> / municipality:<市区町村コード>）",
            f"unknown node {node!r}",
        )

    def _worker(self, relay: Relay, name: str) -> RelayWorker:
        """Deliver this node's outbox in the background, as long as the process runs."""
        worker = RelayWorker(relay, name=name).start()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        """Stop the background relays of the nodes built here."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def _expiry(self, expiry: Expiry) -> Expiry:
        """Erase what is past retention now, at the node's start; the schedule follows."""
        expiry.tick()
        self.expiry = expiry
        return expiry

    def hub_app(self) -> FastAPI:
        provision_log = open_provision_log(self._engine("transparency"), self.keys)
        hub = HubService(self._engine("hub"), self.keys, self.network("hub"), log=provision_log)
        hub.create_schema()
        hub.reconcile()  # records a crash left without their leaves get them now
        NodeIdentity.of(self.ca, "hub")
        expiry = self._expiry(Expiry(hub_tasks(hub, provision_log), self.expiry_interval))

        witness = open_witness(self.config, self.data_dir, self.keys, provision_log)

        def checkpoint(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            """A checkpoint of the provision log, signed now and cosigned by the witness."""
            return {"checkpoint": witness_log(provision_log, witness)}

        def proof(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            """A leaf of the log (commitments only: no personal data) and its inclusion
            proof up to ``size``."""
            index, size = int(p["index"]), int(p["size"])
            entry = provision_log.entry(index)
            return {"data": base64.b64encode(entry.data or b"").decode(),
                    "proof": [base64.b64encode(h).decode()
                              for h in provision_log.inclusion_proof(index, size)]}

        network = self.network("hub")
        worker = self._worker(Relay(hub.outbox, network.events), "hub")
        return node_app("Myna hub", self.ca.certificate, {
            **hub_routes(hub),
            **audit_routes(HubAudit(hub, provision_log)),
            "/node/v1/hub/log/checkpoint": (checkpoint, lambda c: c.startswith("business:")),
            "/node/v1/hub/log/proof": (proof, lambda c: c.startswith("business:")),
            **events_route(hub.inbox, is_intermediate, after=worker.wake),
            **backlog_route([hub.outbox]),
            **check_route(lambda: backlog_check([("情報提供ネットワークシステム", hub.outbox)])),
        }, lifespan=expiry.lifespan)

    def jlis_app(self) -> FastAPI:
        """J-LIS with its own services (JPKI, card centre, notification mailing), which
        follow 本人確認情報 through J-LIS's outbox, delivered in this process."""
        jlis = JlisService(self._engine("jlis"), self.keys)
        jlis.create_schema()
        jlis.network = self.network("jlis")
        jpki = JpkiService(self._engine("jpki"), self.keys)
        jpki.create_schema()
        chips = ChipStore(self._engine("card-chips"), self.keys)
        chips.create_schema()
        notify = NotificationService(self._engine("notify"))
        notify.create_schema()
        cards = CardService(self._engine("cards"), jpki, chips, notify, jlis,
                            ResidentsClient(self.config.endpoints,
                                            NodeIdentity.of(self.ca, "jlis")))
        cards.create_schema()
        worker = self._worker(Relay(jlis.outbox, {"jpki": InboxSink(jpki.inbox),
                                                  "cards": InboxSink(cards.inbox)}), "jlis")
        jlis.publish = worker.wake
        # the card centre's news for the holders' towns, over HTTP as J-LIS's node
        cards.publish = self._worker(Relay(cards.outbox, self.network("jlis").events),
                                     "cards").wake

        def request_codes(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            institution = caller.split(":", 1)[1]
            jlis.request_codes(institution, [(a, b) for a, b in p["requests"]])
            return {"ok": True}

        def town(caller: str) -> str:
            return caller.split(":", 1)[1]

        def resident_codes(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            request_id = p.get("request_id")
            return {"codes": jlis.issue_resident_codes(
                town(caller), int(p["count"]), None if request_id is None else str(request_id))}

        def assign(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            return {"number": jlis.assign_number(town(caller), str(p["code"]))}

        def assign_all(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            return {"numbers": jlis.assign_numbers_bulk(town(caller),
                                                        [str(c) for c in p["codes"]])}

        def next_number(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            number, generation = jlis.next_number(town(caller), str(p["code"]))
            return {"number": number, "generation": generation}

        def is_town(caller: str) -> bool:
            return caller.startswith("municipality:")

        def identity_of(caller: str, p: dict[str, Any]) -> dict[str, Any]:
            record = jlis.lookup_by_number(caller.split(":", 1)[1], str(p["purpose"]),
                                           str(p["number"]))
            return record.as_json()

        return node_app("Myna J-LIS", self.ca.certificate, {
            "/node/v1/jlis/request-codes": (request_codes, lambda c: c.startswith("business:")),
            "/node/v1/jlis/resident-codes": (resident_codes, is_town),
            "/node/v1/jlis/assign-number": (assign, is_town),
            "/node/v1/jlis/assign-numbers": (assign_all, is_town),
            "/node/v1/jlis/next-number": (next_number, is_town),
            "/node/v1/jlis/identity": (identity_of, lambda c: c.startswith("business:")),
            "/node/v1/jlis/stats": (lambda caller, p: dict(jlis.stats()), lambda c: True),
            "/node/v1/jlis/carried-numbers": (
                lambda caller, p: {"numbers": jlis.carried_numbers(town(caller))}, is_town),
            **jpki_routes(jpki),
            **card_routes(cards),
            **notify_routes(notify),
            **events_route({"jlis": jlis.inbox, "notify": notify.inbox}, is_town,
                           after=worker.wake),
            **backlog_route([jlis.outbox, cards.outbox]),
            **check_route(lambda: jlis_check(jlis.outbox, cards)),
        })

    def municipality_app(self, code: str) -> FastAPI:
        """A town's staff web app and API, with its node routes beside them: its
        registry and 統合宛名 here, every other organisation over HTTP."""
        from myna.registry.card_directory import card_directory_routes
        from myna.registry.peers import town_routes
        from myna.town import TownHost
        from myna.web.app import create_app

        host = TownHost(self.data_dir, code, self.keys, self.config)
        self.workers += host.start_relays()
        app = create_app(host, self.keys.secret("web/session-secret", 32))
        app.include_router(node_router(self.ca.certificate, {
            **town_routes(host.town.registry),
            **card_directory_routes(host.registries),
            # J-LIS's card centre tells the town of its residents' cards
            **events_route(host.town.registry.inbox, lambda caller: caller == "jlis"),
            **backlog_route(host.outboxes()),
            **check_route(lambda: host.municipality(host.code).consistency()),
        }))
        return app

    def intermediate_app(self, institution: str) -> FastAPI:
        node_id = f"intermediate:{institution}"
        server = IntermediateServer(
            self._engine(f"intermediate-{institution}"), self.keys, institution,
            self.network(node_id), lambda: peer_key(self.ca, "hub"),
        )
        server.create_schema()
        NodeIdentity.of(self.ca, node_id)
        expiry = self._expiry(Expiry([intermediate_task(server)], self.expiry_interval))
        worker = self._worker(Relay(server.outbox, self.network(node_id).events), node_id)
        server.publish = worker.wake
        town = institution.removeprefix("municipality-")

        def may_send(caller: str) -> bool:
            """The hub, and (for a town's own server) the town's 統合宛名."""
            return caller == "hub" or caller == f"atena:{town}"

        return node_app(f"Myna intermediate server ({institution})", self.ca.certificate, {
            **intermediate_routes(server, institution),
            **events_route(server.inbox, may_send, after=worker.wake),
            **backlog_route([server.outbox]),
            **check_route(server.consistency),
        }, lifespan=expiry.lifespan)


def app_from_env() -> FastAPI:
    """``uvicorn --factory myna.nodes:app_from_env`` with ``MYNA_DATA_DIR`` set.

    The session secret is the key ``web/session-secret`` of the installation's key store.
    """
    from myna.web.app import create_app

    system = MynaSystem(os.environ.get("MYNA_DATA_DIR", "myna-data"))
    return create_app(system, system.keys.secret("web/session-secret", 32))
