"""JPKI CA storage: its tables (the "jpki" node's own database; no other node reads
them) and the repository its use cases work through.

CA private keys are stored here only as encrypted PKCS#8 (PEM,
BestAvailableEncryption) under the passphrase ``keys.secret("jpki/ca-passphrase")``.
``person_key`` is J-LIS's stable reference of the certificate's holder
(docs/glossary.md); the certificates carry it nowhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from myna.clock import aware
from myna.db import UtcDateTime, inserted_id
from myna.jpki.domain import (
    CertificateRecord,
    CertKind,
    PartyCategory,
    QueryRecord,
    RelyingParty,
    RelyingPartyKind,
)

T = TypeVar("T")

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
    Column("person_key", String(100), nullable=False),
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
    Index("ix_certificates_person", "person_key"),
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


# -- what the repository hands back ------------------------------------------------------


@dataclass(frozen=True)
class StoredCa:
    """A CA certificate of J-LIS's own (root, issuing or OCSP responder) as stored."""

    ca_id: int
    role: str
    generation: int
    der: bytes
    encrypted_key: bytes


@dataclass(frozen=True)
class StoredCrl:
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime
    der: bytes


@dataclass(frozen=True)
class RevokedEntry:
    serial: str
    revoked_at: dt.datetime
    reason: str | None


def _record(r: Row[Any]) -> CertificateRecord:
    return CertificateRecord(
        serial=int(r.serial, 16), kind=CertKind(r.kind), card_id=r.card_id,
        person_key=r.person_key, not_before=aware(r.not_before), not_after=aware(r.not_after),
        issued_at=aware(r.issued_at), status=r.status,
        revoked_at=aware(r.revoked_at) if r.revoked_at else None,
        revocation_reason=x509.ReasonFlags(r.revocation_reason) if r.revocation_reason
        else None,
        certificate=x509.load_der_x509_certificate(r.der),
    )


def _party(r: Row[Any]) -> RelyingParty:
    return RelyingParty(r.party_id, r.name, RelyingPartyKind(r.kind),
                        PartyCategory(r.category), r.approval_ref, bool(r.active))


class JpkiRepository:
    """The JPKI tables within one connection (one transaction, when it was begun)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- the CA's own certificates

    def cas(self, role: str) -> list[StoredCa]:
        """The CA certificates of ``role``, newest generation first."""
        c = ca_certificates.c
        rows = self.conn.execute(select(ca_certificates).where(c.role == role)
                                 .order_by(c.generation.desc())).all()
        return [StoredCa(r.ca_id, r.role, r.generation, r.certificate, r.encrypted_key)
                for r in rows]

    def add_ca(self, role: str, generation: int, serial: str, cert: x509.Certificate,
               der: bytes, encrypted_key: bytes, issuer_ca_id: int | None,
               created_at: dt.datetime) -> int:
        return inserted_id(self.conn.execute(insert(ca_certificates).values(
            role=role, generation=generation, serial=serial,
            subject=cert.subject.rfc4514_string(), certificate=der,
            encrypted_key=encrypted_key, issuer_ca_id=issuer_ca_id,
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
            created_at=created_at,
        )))

    # -- card certificates

    def add_certificate(self, *, serial: str, kind: CertKind, card_id: str, person_key: str,
                        issuer_ca_id: int, subject_id: str | None, fingerprint: str, der: bytes,
                        not_before: dt.datetime, not_after: dt.datetime) -> None:
        self.conn.execute(insert(certificates).values(
            serial=serial, kind=kind.value, card_id=card_id, person_key=person_key,
            issuer_ca_id=issuer_ca_id, subject_id=subject_id, fingerprint=fingerprint, der=der,
            not_before=not_before, not_after=not_after, issued_at=not_before, status="good",
        ))

    def certificate(self, serial: str,
                    issued_by: Collection[int] | None = None) -> CertificateRecord | None:
        """The record of ``serial`` (only if one of ``issued_by`` issued it, when given)."""
        c = certificates.c
        q = select(certificates).where(c.serial == serial)
        if issued_by is not None:
            q = q.where(c.issuer_ca_id.in_(list(issued_by)))
        row = self.conn.execute(q).first()
        return _record(row) if row is not None else None

    def certificates_for_card(self, card_id: str) -> list[CertificateRecord]:
        c = certificates.c
        rows = self.conn.execute(select(certificates).where(c.card_id == card_id)
                                 .order_by(c.issued_at, c.serial)).all()
        return [_record(r) for r in rows]

    def cards_of_person(self, person_key: str) -> list[str]:
        c = certificates.c
        return sorted(set(self.conn.execute(
            select(c.card_id).where(c.person_key == person_key)).scalars()))

    def good_serials(self, *, card_id: str | None = None, person_key: str | None = None,
                     kind: CertKind | None = None) -> list[str]:
        """Serials not revoked, of one card or one person, optionally of one kind."""
        c = certificates.c
        q = select(c.serial).where(c.status == "good")
        if card_id is not None:
            q = q.where(c.card_id == card_id)
        if person_key is not None:
            q = q.where(c.person_key == person_key)
        if kind is not None:
            q = q.where(c.kind == kind.value)
        return list(self.conn.execute(q.order_by(c.serial)).scalars())

    def mark_revoked(self, serial: str, reason: x509.ReasonFlags, note: str,
                     at: dt.datetime) -> bool:
        """Revoke ``serial`` if it is still good; whether this call revoked it."""
        c = certificates.c
        done = self.conn.execute(
            update(certificates).where(c.serial == serial, c.status == "good")
            .values(status="revoked", revoked_at=at, revocation_reason=reason.value,
                    revocation_note=note[:500]))
        return done.rowcount == 1

    def revoked_unexpired(self, ca_id: int, at: dt.datetime) -> list[RevokedEntry]:
        """What a CRL of ``ca_id`` lists at ``at``: revoked and not yet expired."""
        c = certificates.c
        rows = self.conn.execute(
            select(c.serial, c.revoked_at, c.revocation_reason)
            .where(c.issuer_ca_id == ca_id, c.status == "revoked", c.not_after >= at)
            .order_by(c.revoked_at, c.serial)).all()
        return [RevokedEntry(r.serial, aware(r.revoked_at), r.revocation_reason) for r in rows]

    # -- CRLs

    def last_crl(self, ca_id: int) -> StoredCrl | None:
        c = crls.c
        row = self.conn.execute(select(crls).where(c.ca_id == ca_id)
                                .order_by(c.crl_number.desc()).limit(1)).first()
        if row is None:
            return None
        return StoredCrl(row.crl_number, aware(row.this_update), aware(row.next_update), row.der)

    def add_crl(self, ca_id: int, crl_number: int, this_update: dt.datetime,
                next_update: dt.datetime, entries: int, der: bytes) -> None:
        self.conn.execute(insert(crls).values(
            ca_id=ca_id, crl_number=crl_number, this_update=this_update,
            next_update=next_update, entries=entries, der=der))

    # -- relying parties and their questions

    def party(self, party_id: str) -> RelyingParty | None:
        """The party, registered now or withdrawn (``active`` says which)."""
        row = self.conn.execute(select(relying_parties).where(
            relying_parties.c.party_id == party_id)).first()
        return _party(row) if row is not None else None

    def parties(self) -> list[RelyingParty]:
        rows = self.conn.execute(select(relying_parties)
                                 .order_by(relying_parties.c.party_id)).all()
        return [_party(r) for r in rows]

    def put_party(self, party: RelyingParty, registered_at: dt.datetime) -> None:
        """Store ``party``, replacing the row of the same id."""
        self.conn.execute(relying_parties.delete().where(
            relying_parties.c.party_id == party.party_id))
        self.conn.execute(insert(relying_parties).values(
            party_id=party.party_id, name=party.name, kind=party.kind.value,
            category=party.category.value, approval_ref=party.approval_ref,
            active=party.active, registered_at=registered_at))

    def withdraw_party(self, party_id: str) -> bool:
        done = self.conn.execute(update(relying_parties).where(
            relying_parties.c.party_id == party_id).values(active=False))
        return done.rowcount == 1

    def log_query(self, party_id: str, operation: str, serial: str | None,
                  purpose: CertKind | None, result: str, at: dt.datetime) -> None:
        self.conn.execute(insert(query_log).values(
            party_id=party_id[:100], operation=operation, serial=serial,
            purpose=purpose.value if purpose else None, result=result, at=at))

    def query_log(self, party_id: str | None, serial: str | None) -> list[QueryRecord]:
        q = select(query_log).order_by(query_log.c.id)
        if party_id is not None:
            q = q.where(query_log.c.party_id == party_id)
        if serial is not None:
            q = q.where(query_log.c.serial == serial)
        return [QueryRecord(r.party_id, r.operation, r.serial, r.purpose, r.result, aware(r.at))
                for r in self.conn.execute(q).all()]


class JpkiStore:
    """The JPKI node's database: each use case reads or writes in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def begin(self) -> Iterator[JpkiRepository]:
        """A transaction: everything done in it is written, or nothing."""
        with self.engine.begin() as conn:
            yield JpkiRepository(conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[JpkiRepository]:
        with self.engine.connect() as conn:
            yield JpkiRepository(conn)

    def first_writer(self, write: Callable[[JpkiRepository], T]) -> T | None:
        """``write`` in a transaction; None when another process wrote the same unique row
        first (e.g. two node processes creating the CA hierarchy at once)."""
        try:
            with self.begin() as repo:
                return write(repo)
        except IntegrityError:
            return None
