"""Intermediate-server tables: 符号 and copies, never names, numbers or 住民票コード.

``atena_no`` is the person's 宛名番号 at a municipality's 統合宛名 (at another
institution, its own reference of the person, in the same column): the
institution's internal reference, which means nothing outside it.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from myna.db import UtcDateTime

metadata = MetaData()

codes = Table(
    "codes",
    metadata,
    Column("atena_no", String(40), primary_key=True),
    Column("code", CHAR(32), nullable=False, unique=True),
    Column("acquired_at", UtcDateTime(), nullable=False),
)

acquisitions = Table(
    "acquisitions",
    metadata,
    Column("ref", CHAR(32), primary_key=True),
    Column("atena_no", String(40), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
)

items = Table(
    "items",
    metadata,
    Column("code", CHAR(32), nullable=False),
    Column("item", String(50), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("manual_approval", Boolean, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("code", "item"),
)

refusals = Table(
    "refusals",
    metadata,
    Column("code", CHAR(32), nullable=False),
    Column("affair", String(100), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("code", "affair"),
)

queue = Table(
    "queue",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("code", CHAR(32), nullable=False),
    Column("item", String(50), nullable=False),
    Column("row_id", String(20), nullable=False),
    Column("affair", String(100), nullable=False),
    Column("requester", String(50), nullable=False),
    Column("requester_box_key", String(100), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("decided_by", String(50)),
    Column("decided_at", UtcDateTime()),
    Column("reason", String(500)),
    #: the answer decided (sealed for the requester), until the hub has it
    Column("sealed", Text),
    Column("completed_at", UtcDateTime()),
    Index("ix_queue_status", "status"),
)

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("direction", String(10), nullable=False),
    Column("request_id", String(64), nullable=False, index=True),
    Column("counterpart", String(50), nullable=False),
    Column("row_id", String(20), nullable=False),
    Column("affair", String(100), nullable=False),
    Column("item", String(50), nullable=False),
    Column("atena_no", String(40)),
    Column("result", String(20), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_journal_at", "at"),
)

#: The hub's forwarded requests already answered, by the hub's request id: a replay
#: of one, or the hub's own retry of it, gets the stored answer again; the same id
#: with other content is refused.  Kept while a replay could still pass the
#: freshness check (``keep_until``), then pruned.
answered = Table(
    "answered",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("digest", CHAR(64), nullable=False),
    Column("answer", JSON, nullable=False),
    Column("keep_until", UtcDateTime(), nullable=False),
    Index("ix_answered_keep_until", "keep_until"),
)

#: 支援措置: every item held for this 符号 needs a staff member's decision, whoever asks
protections = Table(
    "protections",
    metadata,
    Column("code", CHAR(32), primary_key=True),
    Column("since", UtcDateTime(), nullable=False),
)

#: 支援措置 asked for (by our own institution) for a 宛名番号 that has no 符号 yet: applied,
#: and passed on to the hub, when the 符号 arrives
protection_requests = Table(
    "protection_requests",
    metadata,
    Column("atena_no", String(40), primary_key=True),
    Column("since", UtcDateTime(), nullable=False),
)

#: our own requests, written before the hub is asked: one still unanswered after a crash
#: is sent again with the same id (the hub and the provider answer a repeat once)
outgoing = Table(
    "outgoing",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("atena_no", String(40), nullable=False),
    Column("row_id", String(20), nullable=False),
    Column("affair", String(100), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("item", String(50), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
)
