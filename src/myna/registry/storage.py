"""A municipality's own tables (its 既存住基システム database)."""

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
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)

from myna.db import UtcDateTime, counters_table

metadata = MetaData()

municipality = Table(
    "municipality",
    metadata,
    Column("code", CHAR(6), primary_key=True),
    Column("prefecture", String(10), nullable=False),
    Column("name", String(50), nullable=False),
)

counters = counters_table(metadata)

code_pool = Table(
    "code_pool",
    metadata,
    Column("code", CHAR(11), primary_key=True),
    Column("used", Boolean, nullable=False, default=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Index("ix_code_pool_free", "used"),
)

#: a request for 住民票コード, recorded before J-LIS is asked and closed when its
#: batch is in the pool: asked again after a crash, J-LIS answers the same batch
code_requests = Table(
    "code_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime()),
)

households = Table(
    "households",
    metadata,
    Column("household_number", String(12), primary_key=True),
    Column("postcode", CHAR(7), nullable=False),
    Column("address", String(500), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

residents = Table(
    "residents",
    metadata,
    Column("resident_id", Integer, primary_key=True, autoincrement=True),
    Column("resident_code", CHAR(11), nullable=False),
    Column("individual_number", CHAR(12)),
    Column("name", String(200), nullable=False),
    Column("furigana", String(400), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(2), nullable=False),
    Column("postcode", CHAR(7), nullable=False),
    Column("address", String(500), nullable=False),
    Column(
        "household_number",
        String(12),
        ForeignKey("households.household_number"),
        nullable=False,
    ),
    Column("relationship", String(20), nullable=False),
    Column("became_resident_on", Date, nullable=False),
    Column("address_since", Date, nullable=False),
    Column("previous_address", String(500)),
    Column("status", String(10), nullable=False),
    Column("removal_reason", String(20)),
    Column("removed_on", Date),
    Column("nationality", String(100)),
    Column("residence_status", String(100)),
    Column("period_of_stay_until", Date),
    Column("support_measure", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(
        "uq_residents_active_code",
        "resident_code",
        unique=True,
        sqlite_where=text("status = '住民'"),
        postgresql_where=text("status = '住民'"),
    ),
    Index(
        "uq_residents_active_number",
        "individual_number",
        unique=True,
        sqlite_where=text("status = '住民'"),
        postgresql_where=text("status = '住民'"),
    ),
    Index("ix_residents_number", "individual_number"),
    Index("ix_residents_household", "household_number"),
    Index("ix_residents_furigana", "furigana"),
    Index("ix_residents_birth", "birth_date"),
)

resident_versions = Table(
    "resident_versions",
    metadata,
    Column("resident_id", Integer, ForeignKey("residents.resident_id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", Integer, ForeignKey("events.event_id"), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("resident_id", "version"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("resident_id", Integer, nullable=False, index=True),
    Column("occurred_on", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("staff_id", String(50), nullable=False),
    Column("detail", JSON, nullable=False),
)

moveout_certificates = Table(
    "moveout_certificates",
    metadata,
    Column("certificate_id", String(40), primary_key=True),
    Column("resident_id", Integer, ForeignKey("residents.resident_id"), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
)

staff = Table(
    "staff",
    metadata,
    Column("staff_id", String(50), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("session_hash", CHAR(64), primary_key=True),
    Column("staff_id", String(50), ForeignKey("staff.staff_id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", String(40)),
    Index("ix_staff_sessions_staff", "staff_id"),
)

access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("staff_id", String(50), nullable=False),
    Column("resident_id", Integer, index=True),
    Column("action", String(40), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

copies = Table(
    "copies",
    metadata,
    Column("certificate_number", String(30), primary_key=True),
    Column("household_number", String(12)),
    #: everyone the copy shows: the people on it, and the 世帯主 it names when not one of them
    Column("resident_ids", JSON, nullable=False),
    Column("includes_number", Boolean, nullable=False),
    Column("reason", String(500)),
    Column("staff_id", String(50), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("document", JSON, nullable=False),
)

#: Which role performs which affair here (see :mod:`myna.registry.affairs`); a missing
#: row means the role does not.  Changed by a supervisor, every change logged.
affair_roles = Table(
    "affair_roles",
    metadata,
    Column("affair_id", String(40), nullable=False),
    Column("role", String(20), nullable=False),
    PrimaryKeyConstraint("affair_id", "role"),
)

#: The roles to which a full individual number (and 住民票コード) may be shown.
number_roles = Table(
    "number_roles",
    metadata,
    Column("role", String(20), primary_key=True),
)

#: 支援措置 records: a member of staff asks to open one for an affair, with a reason;
#: a different supervisor approves (or declines); the view is then allowed until
#: ``expires_at``.
protected_access = Table(
    "protected_access",
    metadata,
    Column("request_id", Integer, primary_key=True, autoincrement=True),
    Column("resident_id", Integer, ForeignKey("residents.resident_id"), nullable=False),
    Column("staff_id", String(50), nullable=False),
    Column("affair_id", String(40), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("status", String(10), nullable=False),
    Column("decided_by", String(50)),
    Column("decided_at", UtcDateTime()),
    Column("expires_at", UtcDateTime()),
    Index("ix_protected_access_resident", "resident_id"),
    Index("ix_protected_access_staff", "staff_id"),
)

#: 個人番号カード of residents as J-LIS's card centre last told the town (events
#: ``card.state_changed``): one row per card, replaced by newer news of the same card.
card_states = Table(
    "card_states",
    metadata,
    Column("card_number", String(12), primary_key=True),
    Column("resident_id", Integer, ForeignKey("residents.resident_id"), nullable=False),
    Column("status", String(10), nullable=False),  # myna.contracts.cards.CardStatus
    Column("end_reason", String(20)),  # myna.contracts.cards.EndReason (廃止 only)
    Column("since", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Index("ix_card_states_resident", "resident_id"),
)
