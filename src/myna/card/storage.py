"""Persistent state of the card chips (node "card-chips"; no other node reads it).

Private keys are kept only wrapped with AES-256-GCM under a key derived from
``keys.secret("card/chip-storage")``, bound to card and slot; PINs only as
salted, peppered scrypt hashes.  Retry counters live here so that every
process sees the same count.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from myna.db import UtcDateTime

metadata = MetaData()

chips = Table(
    "chips",
    metadata,
    Column("card_id", String(64), primary_key=True),
    Column("salt", LargeBinary(32), nullable=False),
    Column("status", String(10), nullable=False),  # active | retired
    Column("manufactured_at", UtcDateTime(), nullable=False),
)

chip_slots = Table(
    "chip_slots",
    metadata,
    Column("card_id", String(64), ForeignKey("chips.card_id"), primary_key=True),
    Column("slot", String(10), primary_key=True),  # signing | auth
    Column("key_generation", Integer, nullable=False),
    Column("public_key", LargeBinary, nullable=False),  # SubjectPublicKeyInfo DER
    Column("wrapped_key", LargeBinary, nullable=False),  # nonce ‖ AES-GCM(PKCS#8 DER)
    Column("certificate", LargeBinary),  # DER, written by J-LIS after issuance
    Column("pin_hash", LargeBinary),
    Column("failures", Integer, nullable=False),
    Column("max_tries", Integer, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

trusted_municipalities = Table(
    "trusted_municipalities",
    metadata,
    Column("municipality_code", String(6), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),  # raw Ed25519
    Column("registered_at", UtcDateTime(), nullable=False),
)

used_reset_tokens = Table(
    "used_reset_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("card_id", String(64), nullable=False),
    Column("slot", String(10), nullable=False),
    Column("municipality_code", String(6), nullable=False),
    Column("staff_id", String(100), nullable=False),
    Column("used_at", UtcDateTime(), nullable=False),
)

chip_events = Table(
    "chip_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", String(64), nullable=False, index=True),
    Column("slot", String(10)),
    Column("event", String(30), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)
