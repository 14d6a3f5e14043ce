"""Durable events: outbox in the sender's transaction, in-order delivery, exactly-once apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, select, update
from starlette.testclient import TestClient

from myna.clock import utcnow
from myna.db import make_engine
from myna.errors import PermissionDenied
from myna.events import Event, Inbox, InboxSink, Outbox, Relay
from myna.events import storage as et
from myna.events.inbox import Receipt
from myna.keys import MemoryKeyStore
from myna.netca import NetworkCA
from myna.transport.http import HttpEventSink, NodeIdentity, events_route, node_app

state = MetaData()
applied = Table("applied", state, Column("n", Integer, primary_key=True, autoincrement=True),
                Column("subject", String(20)), Column("value", String(20)))


def _engine(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / (name + '.sqlite3')}", name)
    state.create_all(engine)
    return engine


def _record(conn: Connection, event: Event) -> None:
    conn.execute(applied.insert().values(subject=event.subject, value=event.payload["v"]))


def _fail_on_bad(conn: Connection, event: Event) -> None:
    if event.payload["v"] == "bad":
        from myna.errors import ValidationError
        raise ValidationError("不正な値です", "bad value")
    _record(conn, event)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Outbox, Inbox]:
    sender = _engine(tmp_path, "sender")
    receiver = _engine(tmp_path, "receiver")
    outbox = Outbox(sender, "municipality:132152")
    outbox.create_schema()
    inbox = Inbox(receiver, "jlis", {"changed": _record, "checked": _fail_on_bad})
    inbox.create_schema()
    return outbox, inbox


def _values(inbox: Inbox) -> list[tuple[str, str]]:
    with inbox.engine.connect() as conn:
        return [(r.subject, r.value) for r in conn.execute(select(applied).order_by(applied.c.n))]


def _queue(outbox: Outbox, *values: str, kind: str = "changed") -> None:
    with outbox.engine.begin() as conn:
        for i, v in enumerate(values):
            outbox.add(conn, "jlis", kind, f"p{i % 2}", {"v": v})


def test_an_event_exists_only_if_its_change_committed(pair: tuple[Outbox, Inbox]) -> None:
    outbox, _ = pair
    with pytest.raises(RuntimeError), outbox.engine.begin() as conn:
        outbox.add(conn, "jlis", "changed", "p1", {"v": "x"})
        raise RuntimeError("the change failed")
    assert outbox.pending("jlis") == []


def test_delivered_in_order_and_applied_once_even_when_sent_again(
    pair: tuple[Outbox, Inbox],
) -> None:
    outbox, inbox = pair
    _queue(outbox, "a", "b", "c")
    relay = Relay(outbox, {"jlis": InboxSink(inbox)}, batch=2)
    assert relay.deliver().delivered == 3
    assert _values(inbox) == [("p0", "a"), ("p1", "b"), ("p0", "c")]
    # the acknowledgement was lost: the sender still thinks they are pending
    with outbox.engine.begin() as conn:
        conn.execute(update(et.event_outbox).values(delivered_at=None))
    assert relay.deliver().delivered == 3
    assert _values(inbox) == [("p0", "a"), ("p1", "b"), ("p0", "c")]
    assert outbox.pending("jlis") == []
    assert inbox.applied_count() == 3


def test_a_receiver_that_is_down_gets_everything_later(pair: tuple[Outbox, Inbox]) -> None:
    outbox, inbox = pair

    class Down:
        def receive(self, events: Any) -> Receipt:
            raise ConnectionError("refused")

    _queue(outbox, "a", "b")
    report = Relay(outbox, {"jlis": Down()}).deliver()
    assert report.delivered == 0 and "ConnectionError" in report.failed["jlis"]
    backlog = outbox.backlog()
    assert [(b.destination, b.pending, b.attempts) for b in backlog] == [("jlis", 2, 1)]
    _queue(outbox, "c")
    assert Relay(outbox, {"jlis": InboxSink(inbox)}).deliver().delivered == 3
    assert [v for _, v in _values(inbox)] == ["a", "b", "c"]
    assert outbox.backlog() == []


def test_a_refused_event_holds_back_only_that_persons_later_ones(
    pair: tuple[Outbox, Inbox],
) -> None:
    outbox, inbox = pair
    _queue(outbox, "a", "bad", "c", "d", kind="checked")  # subjects p0, p1, p0, p1
    report = Relay(outbox, {"jlis": InboxSink(inbox)}).deliver()
    assert report.delivered == 2 and report.failed["jlis"].startswith("invalid")
    # p0's events went on; p1's "d" waits behind its refused "bad", in order
    assert _values(inbox) == [("p0", "a"), ("p0", "c")]
    assert [e.payload["v"] for e in outbox.pending("jlis")] == ["bad", "d"]
    assert outbox.backlog()[0].attempts == 1
    # once the receiver accepts it (here: the handler is mended), p1 catches up in order
    inbox.handlers["checked"] = _record
    assert Relay(outbox, {"jlis": InboxSink(inbox)}).deliver().delivered == 2
    assert [v for s, v in _values(inbox) if s == "p1"] == ["bad", "d"]


def test_out_of_order_wrong_address_and_impersonation_are_refused(
    pair: tuple[Outbox, Inbox],
) -> None:
    outbox, inbox = pair
    _queue(outbox, "a", "b", "c")
    first, _, third = outbox.pending("jlis")  # first and third are about p0
    assert inbox.receive([third]).applied == [third.event_id]
    late = inbox.receive([first])
    assert late.applied == [] and late.error is not None and late.error.startswith("conflict")
    other = Event("e" * 32, outbox.source, "hub", "changed", "p", 99, first.created_at, {"v": "x"})
    assert inbox.receive([other]).error_ja is not None
    forged = Event("f" * 32, "municipality:999999", "jlis", "changed", "p", 100,
                   first.created_at, {"v": "x"})
    assert "他のノード" in (inbox.receive([forged], sender="municipality:132152").error_ja or "")
    unknown = Event("a" * 32, outbox.source, "jlis", "mystery", "p", 101, first.created_at, {})
    assert inbox.receive([unknown]).error is not None
    assert [v for _, v in _values(inbox)] == ["c"]


def test_events_travel_over_http_and_only_from_their_own_sender(
    pair: tuple[Outbox, Inbox], tmp_path: Path,
) -> None:
    outbox, inbox = pair
    ca = NetworkCA(MemoryKeyStore(), tmp_path / "netca")
    app = node_app("receiver", ca.certificate,
                   events_route(inbox, lambda caller: caller.startswith("municipality:")))
    client = TestClient(app)
    key, cert = ca.identity("municipality:132152")
    sink = HttpEventSink("http://testserver", NodeIdentity("municipality:132152", key, cert),
                         client=client)
    _queue(outbox, "a", "b", "c")
    assert Relay(outbox, {"jlis": sink}).deliver().delivered == 3
    assert [v for _, v in _values(inbox)] == ["a", "b", "c"]
    # another municipality cannot deliver events in this one's name
    key2, cert2 = ca.identity("municipality:131016")
    impostor = HttpEventSink("http://testserver",
                             NodeIdentity("municipality:131016", key2, cert2), client=client)
    forged = Event("b" * 32, "municipality:132152", "jlis", "changed", "p", 500, utcnow(),
                   {"v": "forged"})
    receipt = impostor.receive([forged])
    assert receipt.applied == [] and receipt.error is not None
    # and a node the route does not admit is refused outright
    key3, cert3 = ca.identity("hub")
    hub = HttpEventSink("http://testserver", NodeIdentity("hub", key3, cert3), client=client)
    with pytest.raises(PermissionDenied):
        hub.receive([forged])
    assert [v for _, v in _values(inbox)] == ["a", "b", "c"]


def test_an_event_on_a_connection_without_begin_commits_and_rolls_back_with_it(
    pair: tuple[Outbox, Inbox],
) -> None:
    outbox, _ = pair
    with outbox.engine.connect() as conn:
        outbox.add(conn, "jlis", "changed", "p0", {"v": "kept"})
        conn.commit()
    with outbox.engine.connect() as conn:
        outbox.add(conn, "jlis", "changed", "p1", {"v": "undone"})
        conn.rollback()
    with outbox.engine.connect() as conn:
        outbox.add(conn, "jlis", "changed", "p1", {"v": "never committed"})
    assert [e.payload["v"] for e in outbox.pending("jlis")] == ["kept"]


def test_a_payload_is_stored_as_written_and_read_back_the_same(
    pair: tuple[Outbox, Inbox],
) -> None:
    outbox, _ = pair
    payload = {"name": "髙橋\u3000𠮷太郎", "n": 1, "none": None, "list": ["東京都", 2]}
    with outbox.engine.begin() as conn:
        outbox.add(conn, "jlis", "changed", 42, payload)
    with outbox.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT payload, subject FROM event_outbox").one()
    assert "髙橋" in stored[0] and stored[1] == "42"  # UTF-8 text, not \\u escapes
    (event,) = outbox.pending("jlis")
    assert event.payload == payload and event.created_at.tzinfo is not None


def test_a_receiver_cannot_acknowledge_an_event_it_was_not_sent(
    pair: tuple[Outbox, Inbox],
) -> None:
    outbox, _ = pair
    _queue(outbox, "a", "b", "c")
    last = outbox.pending("jlis")[2]
    received: list[str] = []

    class Greedy:
        """Acknowledges what it got and also "c", which it has not been sent yet."""

        def receive(self, events: Any) -> Receipt:
            received.extend(e.payload["v"] for e in events)
            return Receipt([last.event_id] + [e.event_id for e in events])

    assert Relay(outbox, {"jlis": Greedy()}, batch=1).deliver().delivered == 3
    assert received == ["a", "b", "c"]  # "c" stayed pending until it was sent itself
    assert outbox.pending("jlis") == []
