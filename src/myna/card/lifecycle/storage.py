"""Tables of the card node ("cards": J-LIS card production and municipal issuance).

It holds what is printed on each card — name, address, birth date, sex, the
individual number (back) and the face photo — so it is a 特定個人情報ファイル.
Nothing here is ever deleted: ended cards and withdrawn applications stay as
history.  Keys and PINs are not here: they live on the chip (node "card-chips").
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from myna.db import UtcDateTime

metadata = MetaData()

applications = Table(
    "applications",
    metadata,
    Column("receipt_no", Integer, primary_key=True, autoincrement=True),  # 受付番号
    Column("notice_application_id", String(23), unique=True),  # 申請書ID (none at the counter)
    Column("channel", String(10), nullable=False),
    Column("municipality_code", String(6), nullable=False),
    Column("resident_id", Integer, nullable=False),
    Column("person_key", String(64), nullable=False, index=True),  # J-LIS's person key
    Column("photo_format", String(4), nullable=False),
    Column("photo_width", Integer, nullable=False),
    Column("photo_height", Integer, nullable=False),
    Column("face_image", LargeBinary, nullable=False),  # JPEG 480x600, no metadata
    Column("signing_requested", Boolean, nullable=False),
    Column("staff_id", String(50)),  # counter applications
    Column("reissue_of", String(12)),  # 再交付: the card it replaces
    Column("status", String(10), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("card_number", String(12)),
    Column("closed_at", UtcDateTime()),
)

cards = Table(
    "cards",
    metadata,
    Column("card_number", String(12), primary_key=True),  # also the chip's and JPKI's card id
    Column("receipt_no", Integer, ForeignKey("applications.receipt_no"), nullable=False,
           unique=True),
    Column("person_key", String(64), nullable=False),
    Column("municipality_code", String(6), nullable=False),  # issuing municipality
    Column("resident_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(2), nullable=False),
    Column("address", String(500), nullable=False),
    Column("individual_number", String(12), nullable=False),
    Column("nationality", String(100)),
    Column("period_of_stay_until", Date),
    Column("face_image", LargeBinary, nullable=False),
    Column("issued_on", Date, nullable=False),  # 発行日 (production)
    Column("expires_on", Date, nullable=False),
    Column("produced_at", UtcDateTime(), nullable=False),
    Column("hold_until", Date, nullable=False),  # unclaimed cards are voided after this day
    Column("status", String(10), nullable=False),
    Column("auth_serial", String(40)),  # current certificates (upper-case hex)
    Column("signing_serial", String(40)),
    Column("handed_over_at", UtcDateTime()),
    Column("handed_over_by", String(50)),
    Column("identity_method", String(10)),
    Column("identity_documents", JSON),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", String(20)),
    Index("ix_cards_person_key", "person_key"),
    Index("ix_cards_status", "status", "municipality_code"),
)

appointments = Table(
    "appointments",
    metadata,
    Column("card_number", String(12), ForeignKey("cards.card_number"), primary_key=True),
    Column("municipality_code", String(6), nullable=False),
    Column("slot_start", UtcDateTime(), nullable=False),
    Column("booked_at", UtcDateTime(), nullable=False),
    Index("ix_appointments_slot", "municipality_code", "slot_start"),
)

suspensions = Table(
    "suspensions",
    metadata,
    Column("suspension_id", Integer, primary_key=True, autoincrement=True),
    Column("card_number", String(12), ForeignKey("cards.card_number"), nullable=False,
           index=True),
    Column("reported_by", String(20), nullable=False),
    Column("note", String(200), nullable=False),
    Column("suspended_at", UtcDateTime(), nullable=False),
    Column("revoked", JSON, nullable=False),  # {"auth": "serial", "signing": "serial"}
    Column("resumed_at", UtcDateTime()),
    Column("resumed_by", String(50)),
    Column("identity_documents", JSON),
)

notes = Table(
    "notes",
    metadata,
    Column("note_id", Integer, primary_key=True, autoincrement=True),
    Column("card_number", String(12), ForeignKey("cards.card_number"), nullable=False,
           index=True),
    Column("text", String(200), nullable=False),
    Column("staff_id", String(50), nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("card_number", String(12), index=True),
    Column("receipt_no", Integer, index=True),
    Column("event", String(30), nullable=False),
    Column("actor", String(50), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

#: 作成 (production) in steps: the intent, with everything the card is made from, is
#: recorded before the chip and JPKI are touched; the card row is written only when
#: both key pairs are certified and the certificates are on the chip.
productions = Table(
    "productions",
    metadata,
    Column("receipt_no", Integer, ForeignKey("applications.receipt_no"), primary_key=True),
    Column("card_number", String(12), nullable=False, unique=True),
    Column("holder", JSON, nullable=False),  # the holder's items when production began
    Column("issued_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("signing", Boolean, nullable=False),
    Column("state", String(10), nullable=False),  # 作成中 | 完了 | 中止
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)

#: 交付 (hand-over) in steps: the intent (who, with which documents) before the chip's
#: PINs are set, the card's activation after.  PINs are never stored here.
handovers = Table(
    "handovers",
    metadata,
    Column("card_number", String(12), ForeignKey("cards.card_number"), primary_key=True),
    Column("staff_id", String(50), nullable=False),
    Column("identity_method", String(10), nullable=False),
    Column("identity_documents", JSON, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)
