"""The hub's tables: no names, numbers, 住民票コード or plaintext items.

``records`` holds the provision records (番号法23条).  A record is written first,
with ``leaf_index`` NULL and ``log_from`` (a size the provision log had already
reached before the record existed, so its leaf can only sit at or after it); its
leaf is appended afterwards and ``leaf_index`` filled in.  Rows still waiting for
their leaf are found through the small partial index ``ix_records_unlogged``.
``expired_records`` keeps, for each record deleted at the end of its retention
period, which leaf it had: the leaf stays in the log, and an audit can tell an
expired record from a deleted one.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
    text,
)

from myna.db import UtcDateTime

metadata = MetaData()

institutions = Table(
    "institutions",
    metadata,
    Column("institution_id", String(50), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(50), nullable=False),
    Column("signing_key", String(100), nullable=False),
    Column("box_key", String(100), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
)

codes = Table(
    "codes",
    metadata,
    Column("institution_id", String(50), nullable=False),
    Column("code", CHAR(32), nullable=False),
    Column("link", CHAR(64), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("institution_id", "code"),
    Index("uq_codes_link", "link", "institution_id", unique=True),
)

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("requester", String(50), nullable=False),
    Column("digest", CHAR(64), nullable=False),
    Column("first_seen", UtcDateTime(), nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("request_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("requester", String(50), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("row_id", String(20), nullable=False),
    Column("affair", String(100), nullable=False),
    Column("item", String(50), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("provided_at", UtcDateTime()),
    Column("result", String(20), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("link", CHAR(64)),
    Column("leaf_index", Integer),
    Column("sealed", LargeBinary),
    Column("undisclosed", Boolean, nullable=False, server_default=false()),
    Column("log_from", BigInteger),
    PrimaryKeyConstraint("request_id", "attempt"),
    Index("ix_records_link", "link"),
    Index("ix_records_unlogged", "log_from", sqlite_where=text("leaf_index IS NULL"),
          postgresql_where=text("leaf_index IS NULL")),
)

expired_records = Table(
    "expired_records",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("request_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("expired_at", UtcDateTime(), nullable=False),
)

refusals = Table(
    "refusals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("sender", String(50), nullable=False),
    Column("request_id", String(64)),
    Column("reason", Text, nullable=False),
)
