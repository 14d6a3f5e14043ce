"""Tables of the provision-record log (its own database) and of the witness (another one).

Log database (``metadata``, migrations in ``myna/transparency/migrations``):

* ``tlog_logs`` — one row per log: committed tree size and root (the append lock);
* ``tlog_batches`` — one row per :meth:`append` call: first index, count, time,
  and when its data expired (retention works on batches);
* ``tlog_entries`` — the entry data as given (``NULL`` once expired);
* ``tlog_tiles`` — every node hash, in C2SP tlog-tiles groups (see
  :mod:`.tiles`); leaf hashes live in level-0 tiles, so they survive the
  expiry of the data;
* ``tlog_checkpoints`` — every signed checkpoint the log issued;
* ``tlog_witnesses`` / ``tlog_cosignatures`` — witness keys and cosignatures received.

Witness database (``witness_metadata``, migrations in
``myna/transparency/witness_store/migrations``): registered logs and the
checkpoints it cosigned.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from myna.db import UtcDateTime

metadata = MetaData()

logs = Table(
    "tlog_logs",
    metadata,
    Column("log_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

batches = Table(
    "tlog_batches",
    metadata,
    Column("log_id", Integer, ForeignKey("tlog_logs.log_id"), primary_key=True),
    Column("first_index", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("appended_at", UtcDateTime(), nullable=False),
    Column("expired_at", UtcDateTime()),
)

# Hot tables: no foreign key (one lookup less per row); WITHOUT ROWID on SQLite so
# the primary key is the table itself.
entries = Table(
    "tlog_entries",
    metadata,
    Column("log_id", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary),
    sqlite_with_rowid=False,
)

tiles = Table(
    "tlog_tiles",
    metadata,
    Column("log_id", Integer, primary_key=True, autoincrement=False),
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),  # bottom row (tlog-tiles tile)
    Column("inner_rows", LargeBinary, nullable=False),  # rows 1..7 above it
    sqlite_with_rowid=False,
)

checkpoints = Table(
    "tlog_checkpoints",
    metadata,
    Column("log_id", Integer, ForeignKey("tlog_logs.log_id"), primary_key=True),
    Column("size", BigInteger, primary_key=True),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

witnesses = Table(
    "tlog_witnesses",
    metadata,
    Column("log_id", Integer, ForeignKey("tlog_logs.log_id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
)

cosignatures = Table(
    "tlog_cosignatures",
    metadata,
    Column("log_id", Integer, ForeignKey("tlog_logs.log_id"), primary_key=True),
    Column("size", BigInteger, primary_key=True),
    Column("witness", String(200), primary_key=True),
    Column("line", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

witness_metadata = MetaData()

witnessed_logs = Table(
    "witness_logs",
    witness_metadata,
    Column("origin", String(200), primary_key=True),
    Column("key_name", String(200), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime()),
)

cosigned = Table(
    "witness_cosigned",
    witness_metadata,
    Column("origin", String(200), ForeignKey("witness_logs.origin"), primary_key=True),
    Column("size", BigInteger, primary_key=True),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("checkpoint", Text, nullable=False),
    Column("cosignature", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("cosigned_at", UtcDateTime(), nullable=False),
)
