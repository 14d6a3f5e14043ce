"""JPKI CA tables (the "jpki" node's own database; no other node reads them).

CA private keys are stored here only as encrypted PKCS#8 (PEM,
BestAvailableEncryption) under the passphrase ``keys.secret("jpki/ca-passphrase")``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from myna.db import UtcDateTime

metadata = MetaData()

ca_certificates = Table(
    "ca_certificates",
    metadata,
    Column("ca_id", Integer, primary_key=True, autoincrement=True),
    Column("role", String(10), nullable=False),  # root | issuing | ocsp
    Column("generation", Integer, nullable=False),
    Column("serial", String(40), nullable=False, unique=True),
    Column("subject", String(500), nullable=False),
    Column("certificate", LargeBinary, nullable=False),  # DER
    Column("encrypted_key", LargeBinary, nullable=False),  # PKCS#8 PEM, encrypted
    Column("issuer_ca_id", Integer, ForeignKey("ca_certificates.ca_id")),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("not_after", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("role", "generation", name="uq_ca_role_generation"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("serial", String(40), primary_key=True),  # upper-case hex
    Column("kind", String(10), nullable=False),  # signing | auth
    Column("card_id", String(64), nullable=False),
    Column("holder_ref", String(100), nullable=False),
    Column("issuer_ca_id", Integer, ForeignKey("ca_certificates.ca_id"), nullable=False),
    Column("subject_id", String(64)),  # auth certificates: the random subject identifier
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the DER, hex
    Column("der", LargeBinary, nullable=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("not_after", UtcDateTime(), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("status", String(10), nullable=False),  # good | revoked
    Column("revoked_at", UtcDateTime()),
    Column("revocation_reason", String(30)),  # RFC 5280 reason name
    Column("revocation_note", String(500)),
    Index("ix_certificates_card", "card_id"),
    Index("ix_certificates_holder", "holder_ref"),
)

relying_parties = Table(
    "relying_parties",
    metadata,
    Column("party_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("category", String(20), nullable=False),
    Column("approval_ref", String(100)),
    Column("active", Boolean, nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
)

query_log = Table(
    "query_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("party_id", String(100), nullable=False),
    Column("operation", String(20), nullable=False),  # ocsp | verify | verify_signature
    Column("serial", String(40)),
    Column("purpose", String(10)),
    Column("result", String(30), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_query_log_party", "party_id"),
    Index("ix_query_log_serial", "serial"),
)

crls = Table(
    "crls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ca_id", Integer, ForeignKey("ca_certificates.ca_id"), nullable=False),
    Column("crl_number", Integer, nullable=False),
    Column("this_update", UtcDateTime(), nullable=False),
    Column("next_update", UtcDateTime(), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("der", LargeBinary, nullable=False),
    UniqueConstraint("ca_id", "crl_number", name="uq_crls_number"),
)
