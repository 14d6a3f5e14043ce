"""Delivery: pending outbox events to their receivers, in order, at least once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from myna.events.inbox import Inbox, Receipt
from myna.events.model import Event
from myna.events.outbox import Outbox
from myna.transport.guard import describe

log = logging.getLogger("myna.events")


class EventSink(Protocol):
    """Where a destination's events are handed over (in-process or over the network)."""

    def receive(self, events: Sequence[Event]) -> Receipt: ...


class InboxSink:
    """The receiver's inbox in the same process."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def receive(self, events: Sequence[Event]) -> Receipt:
        return self.inbox.receive(events)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class Relay:
    """Delivers one node's outbox.

    Events of a destination go in outbox order and the next batch is sent only
    after the receiver acknowledged the previous one, so the receiver sees them
    in order.  An event the receiver refuses holds back that person's later events
    (the subject) until the next run, while everyone else's go on; a receiver
    that cannot be reached stops its destination until the next run.  An event
    is marked delivered only after its receipt: a crash in between sends it
    again, and the receiver's inbox ignores the repeat.
    """

    def __init__(self, outbox: Outbox,
                 sinks: Mapping[str, EventSink] | Callable[[str], EventSink | None],
                 batch: int = 500) -> None:
        self.outbox = outbox
        self._sinks = sinks
        self.batch = batch
        self._lock = threading.Lock()

    def sink(self, destination: str) -> EventSink | None:
        if callable(self._sinks):
            return self._sinks(destination)
        return self._sinks.get(destination)

    def deliver(self, destinations: Sequence[str] | None = None) -> DeliveryReport:
        """Deliver everything pending now (for the given destinations, or all)."""
        report = DeliveryReport()
        with self._lock:
            for destination in destinations or self.outbox.destinations():
                self._deliver_to(destination, report)
        return report

    def _deliver_to(self, destination: str, report: DeliveryReport) -> None:
        sink = self.sink(destination)
        if sink is None:
            report.failed[destination] = "no route"
            return
        held: set[str] = set()  # persons whose next event the receiver refused
        while True:
            events = self.outbox.pending(destination, self.batch, held)
            if not events:
                return
            try:
                receipt = sink.receive(events)
            except Exception as exc:  # receiver down, network, a bug there: try again later
                error = describe(exc)
                self.outbox.record_failure(events[0].event_id, error)
                report.failed[destination] = error
                return
            acknowledged = set(receipt.applied)  # a receiver acknowledges only what it got
            done = [e for e in events if e.event_id in acknowledged]
            self.outbox.mark_delivered(done)
            report.delivered += len(done)
            if len(done) == len(events):
                if len(events) < self.batch:
                    return  # everything that was pending went; later ones go with the next run
                continue
            # the refused event and that person's later ones wait (order per person);
            # everyone else's go on
            stuck = next(e for e in events if e.event_id not in acknowledged)
            error = receipt.error or "not acknowledged"
            self.outbox.record_failure(stuck.event_id, error)
            report.failed[destination] = error
            held.add(stuck.subject)


class RelayWorker:
    """Runs a relay in the background: soon after it is woken, else every ``interval`` s.

    Woken, it first waits ``linger`` seconds, so that what is written meanwhile goes
    in the same delivery: a node writing many changes sends a few large requests
    (one receiver transaction each) instead of one for every event or two, and its
    relay does not compete with those writes for each one.  It never stops on an
    error; it logs counts and error classes only.
    """

    def __init__(self, relay: Relay, interval: float = 2.0, name: str = "relay",
                 linger: float = 0.05) -> None:
        self.relay = relay
        self.interval = interval
        self.linger = linger
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"myna-{name}", daemon=True)

    def start(self) -> RelayWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.relay.deliver()
                if report.failed:
                    log.warning("event delivery: %d delivered, waiting: %s", report.delivered,
                                ", ".join(f"{d} ({e})" for d, e in report.failed.items()))
            except Exception as exc:  # the database of this node itself is unreachable
                log.warning("event relay failed: %s", describe(exc))
            if self._wake.wait(self.interval) and self.linger:
                self._stop.wait(self.linger)
            self._wake.clear()
