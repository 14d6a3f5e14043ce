"""Durable events between nodes: a transactional outbox, a relay, an idempotent inbox.

What one organisation must learn from another (a death, a move, a changed basic
item, a number change, 支援措置 set or lifted …) is written as an :class:`Event`
into the sender's ``event_outbox`` in the same local transaction as the change
itself (:meth:`Outbox.add`), so that the change and the promise to tell others
commit or vanish together.  A :class:`Relay` delivers pending events in order,
per destination, at least once, through an :class:`EventSink` — in-process or
over HTTP — and marks them delivered only when the receiver has answered.  The
receiver's :class:`Inbox` applies each event exactly once, in its own
transaction together with the inbox row keyed by the event id: a redelivered
event is acknowledged and not applied again.

Events carry only what the receiver is entitled to: J-LIS gets the
本人確認情報 it keeps by law; the 統合宛名 gets the municipality's own references;
an intermediate server gets its own 符号, never a number.
"""

from myna.events.inbox import Handler, Inbox
from myna.events.model import Event
from myna.events.outbox import Outbox
from myna.events.relay import EventSink, InboxSink, Relay, RelayWorker

__all__ = ["Event", "EventSink", "Handler", "Inbox", "InboxSink", "Outbox", "Relay",
           "RelayWorker"]
