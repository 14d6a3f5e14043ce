"""J-LIS tables (its own database; no other node reads them)."""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
)

from myna.db import UtcDateTime, counters_table

metadata = MetaData()

counters = counters_table(metadata)

code_batches = Table(
    "code_batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("first_counter", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    #: the town's name for its request: asked again, the same batch
    Column("request_id", String(64)),
    Index("uq_code_batches_request", "municipality_code", "request_id", unique=True),
)

resident_codes = Table(
    "resident_codes",
    metadata,
    Column("code", CHAR(11), primary_key=True),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("batch_id", Integer, ForeignKey("code_batches.batch_id"), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Index("ix_resident_codes_municipality", "municipality_code"),
)

numbers = Table(
    "numbers",
    metadata,
    Column("number", CHAR(12), primary_key=True),
    Column("resident_code", CHAR(11), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("person_key", CHAR(32), nullable=False),
    Column("status", String(10), nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("retired_at", UtcDateTime()),
    Column("retire_reason", String(500)),
    UniqueConstraint("resident_code", "generation", name="uq_numbers_input"),
    Index("ix_numbers_person", "person_key"),
)

persons = Table(
    "persons",
    metadata,
    Column("person_key", CHAR(32), primary_key=True),
    Column("resident_code", CHAR(11), nullable=False, unique=True),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("name", String(200), nullable=False),
    Column("furigana", String(400), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(2), nullable=False),
    Column("address", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

identity_history = Table(
    "identity_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_key", CHAR(32), nullable=False, index=True),
    Column("event", String(40), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

callers = Table(
    "callers",
    metadata,
    Column("caller_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("purposes", JSON, nullable=False),
    # 住基法30条の42ほか: the 住民票コード goes only to bodies allowed to use it
    Column("receives_resident_code", Boolean, nullable=False, server_default=false()),
)

lookup_log = Table(
    "lookup_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("caller_id", String(100), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("person_key", CHAR(32)),
    Column("result", String(20), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

#: 支援措置 (DV等支援措置) reported by the person's municipality: the address is withheld
#: from 本人確認情報 answers to every caller not approved for the case
protected_persons = Table(
    "protected_persons",
    metadata,
    Column("person_key", CHAR(32), primary_key=True),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("approved_callers", JSON, nullable=False),
    Column("since", UtcDateTime(), nullable=False),
)
