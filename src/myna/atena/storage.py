"""統合宛名 tables.

``measures`` remembers a 支援措置 set for a resident who has no 宛名番号 yet: the
intermediate server knows people only by 宛名番号, so the measure is passed on when
the 宛名番号 is assigned.
"""

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

#: 支援措置 in force for residents still without a 宛名番号 (passed on at assignment)
measures = Table(
    "measures",
    metadata,
    Column("resident_id", Integer, primary_key=True, autoincrement=False),
    Column("since", UtcDateTime(), nullable=False),
)

counters = counters_table(metadata)
