"""Tables every node that sends or receives events has in its own database.

They are migrated by their own Alembic history (version table
``events_alembic_version``), next to the node's own tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from myna.db import UtcDateTime

metadata = MetaData()

VERSION_TABLE = "events_alembic_version"

event_outbox = Table(
    "event_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("destination", String(80), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(200)),
    Index("ix_event_outbox_pending", "destination", "delivered_at", "seq"),
)

event_inbox = Table(
    "event_inbox",
    metadata,
    Column("event_id", String(32), primary_key=True),
    Column("source", String(80), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("source_seq", Integer, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

#: the highest outbox position applied per sender and person (``subject``): order is kept
#: per person, so one event the receiver refuses holds back only that person's later ones
event_positions = Table(
    "event_subject_positions",
    metadata,
    Column("source", String(80), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("last_seq", Integer, nullable=False),
    PrimaryKeyConstraint("source", "subject"),
)

def with_event_tables(node_metadata: MetaData) -> MetaData:
    """A node's own tables together with the event tables it also has, their migration
    history's version table included (for schema checks)."""
    combined = MetaData()
    for table in [*node_metadata.tables.values(), *metadata.tables.values()]:
        table.to_metadata(combined)
    Table(VERSION_TABLE, combined, Column("version_num", String(32), primary_key=True))
    return combined
