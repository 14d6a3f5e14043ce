"""Tables of the notification node (its own database; no other node reads them).

They hold names, individual numbers and addresses: the letters are printed from
them.  A letter's state is never stored as a column: it is the newest row of
``letter_events``, which is only ever appended to.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from myna.db import UtcDateTime

metadata = MetaData()

batches = Table(
    "batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("municipality_name", String(100), nullable=False),
    Column("apply_url", String(200), nullable=False),
    Column("prepared_at", UtcDateTime(), nullable=False),
    Column("mailed_at", UtcDateTime()),
    Index("ix_batches_municipality", "municipality_code"),
)

letters = Table(
    "letters",
    metadata,
    Column("letter_id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, ForeignKey("batches.batch_id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("household_number", String(20), nullable=False),
    # the registered address (住民票上の住所), printed on the application forms
    Column("postcode", CHAR(7), nullable=False),
    Column("address", String(500), nullable=False),
    # where the envelope goes: the same, or the registered 居所
    Column("send_postcode", CHAR(7), nullable=False),
    Column("send_address", String(500), nullable=False),
    Column("care_of", String(200)),
    Index("ix_letters_batch", "batch_id"),
)

# One row per person on a letter, which is also their application form.
members = Table(
    "members",
    metadata,
    Column("application_id", CHAR(23), primary_key=True),
    Column("letter_id", Integer, ForeignKey("letters.letter_id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("resident_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("furigana", String(400), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(2), nullable=False),
    Column("individual_number", CHAR(12), nullable=False),
    Column("used_at", UtcDateTime()),
    Index("ix_members_letter", "letter_id"),
    Index("ix_members_person", "municipality_code", "resident_id"),
)

letter_events = Table(
    "letter_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("letter_id", Integer, ForeignKey("letters.letter_id"), nullable=False),
    Column("state", String(10), nullable=False),
    Column("reason", String(20)),
    Column("identity_document", String(100)),
    Column("note", String(500)),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_letter_events_letter", "letter_id", "event_id"),
)

alternatives = Table(
    "alternatives",
    metadata,
    Column("alternative_id", Integer, primary_key=True, autoincrement=True),
    Column("municipality_code", CHAR(6), nullable=False),
    Column("resident_id", Integer, nullable=False),
    Column("reason", String(40), nullable=False),
    Column("postcode", CHAR(7), nullable=False),
    Column("address", String(500), nullable=False),
    Column("care_of", String(200)),
    Column("note", String(500)),
    Column("for_remailing", Boolean, nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("withdrawn_at", UtcDateTime()),
    Index("ix_alternatives_person", "municipality_code", "resident_id"),
)
