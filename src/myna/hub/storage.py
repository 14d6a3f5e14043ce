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

from collections.abc import Mapping
from typing import Any

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
from myna.hub.domain import RecordEntry, RefusedMessage, RequestSeen
from myna.linkage.messages import Result

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

#: people under 支援措置 (by link): an institution that gets a 符号 for one of them
#: later is told to protect them at once (番号法19条, 住基法の支援措置)
protected_links = Table(
    "protected_links",
    metadata,
    Column("link", CHAR(64), primary_key=True),
    Column("since", UtcDateTime(), nullable=False),
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
    Index("ix_records_leaf", "leaf_index"),
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


# -- rows ↔ records: the only place the hub's records are rows ------------------------------

_ENTRY_COLUMNS = ("request_id", "attempt", "requester", "provider", "row_id", "affair", "item",
                  "requested_at", "provided_at", "reason", "link", "sealed", "leaf_index",
                  "log_from")


def record_row(entry: RecordEntry) -> dict[str, Any]:
    """The ``records`` row of ``entry``."""
    row = {name: getattr(entry, name) for name in _ENTRY_COLUMNS}
    return row | {"result": Result(entry.result).value, "undisclosed": bool(entry.undisclosed)}


def record_entry(row: Mapping[Any, Any]) -> RecordEntry:
    """The record of a ``records`` row (``sealed`` may be left out of the query)."""
    leaf, since = row["leaf_index"], row["log_from"]
    return RecordEntry(
        request_id=row["request_id"], attempt=int(row["attempt"]),
        requester=row["requester"], provider=row["provider"], row_id=row["row_id"],
        affair=row["affair"], item=row["item"], requested_at=row["requested_at"],
        result=Result(row["result"]), reason=row["reason"], provided_at=row["provided_at"],
        link=row["link"], sealed=row.get("sealed"), undisclosed=bool(row["undisclosed"]),
        leaf_index=None if leaf is None else int(leaf),
        log_from=None if since is None else int(since))


def request_row(seen: RequestSeen) -> dict[str, Any]:
    return {"request_id": seen.request_id, "requester": seen.requester,
            "digest": seen.digest, "first_seen": seen.first_seen}


def refusal_row(refused: RefusedMessage) -> dict[str, Any]:
    return {"at": refused.at, "sender": refused.sender, "request_id": refused.request_id,
            "reason": refused.reason}
