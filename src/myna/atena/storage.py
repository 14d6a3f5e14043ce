"""統合宛名 tables."""

from __future__ import annotations

from sqlalchemy import CHAR, Column, Integer, MetaData, String, Table

from myna.db import UtcDateTime, counters_table

metadata = MetaData()

atena = Table(
    "atena",
    metadata,
    Column("atena_no", String(12), primary_key=True),
    Column("individual_number", CHAR(12), unique=True),
    Column("resident_id", Integer, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

counters = counters_table(metadata)
