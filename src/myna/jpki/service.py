"""The JPKI certificate authority of J-LIS: issuance, revocation, CRL, OCSP, verification.

Its own node ("jpki") with its own database.  Revocation status is read from
that database on every OCSP query and every verification — nothing is cached —
so a revoked certificate stops working at once (design.md §5: revoked Aadhaar /
MOSIP IDs reportedly kept authenticating).  Only registered relying parties
(署名検証者 / 利用者証明検証者, including 総務大臣認定事業者) may ask, and every
question is logged: who, which serial, when, the answer.

Document signatures are RSASSA-PKCS1-v1_5 with SHA-256 (what the card computes
and what ``openssl dgst -sha256 -verify`` checks by default).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from sqlalchemy import Connection, Engine, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from myna.clock import JST, as_utc, aware, show_time, utcnow
from myna.db import inserted_id, migrate
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.events import Event, Inbox
from myna.jpki import certs
from myna.jpki import storage as t
from myna.jpki.domain import (
    REVOCATION_REASONS,
    CertificateRejected,
    CertKind,
    PartyCategory,
    RejectReason,
    RelyingPartyKind,
    SigningSubject,
    basic_items,
    check_signing_age,
    not_after,
    revocation_reason,
)
from myna.keys import KeyStore
from myna.text import clean_text

ROOT, ISSUING, OCSP = "root", "issuing", "ocsp"







def _serial(serial: int | str) -> str:
    if isinstance(serial, int):
        return certs.serial_hex(serial)
    text = serial.strip().upper().removeprefix("0X")
    try:
        return certs.serial_hex(int(text, 16))
    except ValueError:
        raise ValidationError(
            f"シリアル番号が不正です: {serial}", f"invalid serial number {serial!r}"
        ) from None


def _check_ref(label_ja: str, label_en: str, value: str) -> str:
    if not value or len(value) > 64 or not value.isprintable() or value.strip() != value:
        raise ValidationError(f"{label_ja}が不正です: {value!r}", f"invalid {label_en} {value!r}")
    return value


@dataclass(frozen=True)
class CertificateRecord:
    """J-LIS's record of one card certificate."""

    serial: int
    kind: CertKind
    card_id: str
    holder_ref: str
    not_before: dt.datetime
    not_after: dt.datetime
    issued_at: dt.datetime
    status: str  # good | revoked
    revoked_at: dt.datetime | None
    revocation_reason: x509.ReasonFlags | None
    certificate: x509.Certificate


@dataclass(frozen=True)
class RelyingParty:
    party_id: str
    name: str
    kind: RelyingPartyKind
    category: PartyCategory
    approval_ref: str | None
    active: bool


@dataclass(frozen=True)
class QueryRecord:
    """One logged question: who asked, about which serial, when, and the answer."""

    party_id: str
    operation: str
    serial: str | None
    purpose: str | None
    result: str
    at: dt.datetime


@dataclass(frozen=True)
class VerifiedCertificate:
    """A certificate that passed every check, with what it says about its holder."""

    serial: int
    kind: CertKind
    not_after: dt.datetime
    subject: SigningSubject | None  # signing certificates: the four basic items
    subject_id: str | None  # auth certificates: the meaningless identifier


@dataclass(frozen=True)
class _Ca:
    ca_id: int
    role: str
    generation: int
    cert: x509.Certificate
    key: rsa.RSAPrivateKey


class JpkiService:
    """J-LIS's JPKI CA: root + issuing CA, card certificates, CRL, OCSP, verification."""

    PASSPHRASE_KEY = "jpki/ca-passphrase"
    ROOT_YEARS = 25
    ISSUING_YEARS = 12
    RESPONDER_DAYS = 90

    def __init__(
        self, engine: Engine, keys: KeyStore, urls: certs.JpkiUrls | None = None,
        now: Callable[[], dt.datetime] = utcnow,
        crl_validity: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.engine = engine
        self.urls = urls or certs.JpkiUrls()
        self.now = now
        self.crl_validity = crl_validity
        self._passphrase = keys.secret(self.PASSPHRASE_KEY)
        self._keys: dict[int, rsa.RSAPrivateKey] = {}
        self.inbox = Inbox(engine, "jpki", {"identity.changed": self._on_identity_changed},
                           lambda: self._now())

    def _now(self) -> dt.datetime:
        return as_utc(self.now()).replace(microsecond=0)

    def issue_date(self) -> dt.date:
        """Today in Japan by the CA's clock: the issue date the age and validity rules use."""
        return self._now().astimezone(JST).date()

    def create_schema(self) -> None:
        """Migrate the node's database and create the CA hierarchy when missing."""
        migrate(self.engine, "myna.jpki")
        self.inbox.create_schema()
        self._root()
        self._issuing()

    # -- CA material ------------------------------------------------------------

    def _encrypt(self, key: rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )

    def _load_key(self, ca_id: int, pem: bytes) -> rsa.RSAPrivateKey:
        if ca_id not in self._keys:
            key = serialization.load_pem_private_key(pem, password=self._passphrase)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValidationError("認証局の鍵が RSA ではありません", "CA key is not RSA")
            self._keys[ca_id] = key
        return self._keys[ca_id]

    def _cas(self, conn: Connection, role: str) -> list[_Ca]:
        rows = conn.execute(
            select(t.ca_certificates).where(t.ca_certificates.c.role == role)
            .order_by(t.ca_certificates.c.generation.desc())
        ).all()
        return [
            _Ca(r.ca_id, r.role, r.generation, x509.load_der_x509_certificate(r.certificate),
                self._load_key(r.ca_id, r.encrypted_key))
            for r in rows
        ]

    def _store_ca(
        self, conn: Connection, role: str, generation: int, cert: x509.Certificate,
        key: rsa.RSAPrivateKey, issuer: _Ca | None,
    ) -> _Ca:
        ca_id = inserted_id(conn.execute(insert(t.ca_certificates).values(
            role=role, generation=generation, serial=certs.serial_hex(cert.serial_number),
            subject=cert.subject.rfc4514_string(),
            certificate=cert.public_bytes(serialization.Encoding.DER),
            encrypted_key=self._encrypt(key),
            issuer_ca_id=issuer.ca_id if issuer else None,
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
            created_at=self._now(),
        )))
        self._keys[ca_id] = key
        return _Ca(ca_id, role, generation, cert, key)

    def _create(self, role: str, make: Callable[[Connection], _Ca]) -> _Ca:
        try:
            with self.engine.begin() as conn:
                return make(conn)
        except IntegrityError:  # another process created it first
            with self.engine.connect() as conn:
                return self._cas(conn, role)[0]

    def _root(self) -> _Ca:
        with self.engine.connect() as conn:
            roots = self._cas(conn, ROOT)
        if roots:
            return roots[0]

        def make(conn: Connection) -> _Ca:
            key = certs.new_ca_key()
            return self._store_ca(
                conn, ROOT, 1, certs.build_root(key, self._now(), self.ROOT_YEARS), key, None
            )

        return self._create(ROOT, make)

    def _issuing(self, needed_until: dt.datetime | None = None) -> _Ca:
        """The newest issuing CA; a new generation when it would not outlive ``needed_until``."""
        with self.engine.connect() as conn:
            current = self._cas(conn, ISSUING)
        if current and (
            needed_until is None or current[0].cert.not_valid_after_utc >= needed_until
        ):
            return current[0]
        root = self._root()
        generation = current[0].generation + 1 if current else 1
        now = self._now()
        if now + dt.timedelta(days=365 * self.ISSUING_YEARS) > root.cert.not_valid_after_utc:
            raise Conflict(
                "ルート認証局の有効期限が近いため、発行用認証局を更新できません",
                "the root CA expires before a new issuing CA would; roll the root over first",
            )

        def make(conn: Connection) -> _Ca:
            key = certs.new_ca_key()
            cert = certs.build_issuing(
                key.public_key(), root.key, root.cert, now, self.ISSUING_YEARS, self.urls,
                generation,
            )
            return self._store_ca(conn, ISSUING, generation, cert, key, root)

        return self._create(ISSUING, make)

    def _responder(self, now: dt.datetime) -> _Ca:
        """The delegated OCSP signing certificate, renewed before it runs out."""
        with self.engine.connect() as conn:
            current = self._cas(conn, OCSP)
        issuing = self._issuing()
        margin = dt.timedelta(days=7)
        if current:
            cert = current[0].cert
            if (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc - margin
                    and cert.issuer == issuing.cert.subject):
                return current[0]
        generation = current[0].generation + 1 if current else 1

        def make(conn: Connection) -> _Ca:
            key = certs.new_end_entity_key()
            cert = certs.build_ocsp_signer(
                key.public_key(), issuing.key, issuing.cert, now, self.RESPONDER_DAYS, generation
            )
            return self._store_ca(conn, OCSP, generation, cert, key, issuing)

        return self._create(OCSP, make)

    def root_certificate(self) -> x509.Certificate:
        """The trust anchor relying parties install."""
        return self._root().cert

    def issuing_certificate(self) -> x509.Certificate:
        """The current issuing CA certificate."""
        return self._issuing().cert

    def issuing_certificates(self) -> list[x509.Certificate]:
        """Every issuing CA generation, newest first."""
        with self.engine.connect() as conn:
            return [ca.cert for ca in self._cas(conn, ISSUING)]

    def ocsp_responder_certificate(self) -> x509.Certificate:
        return self._responder(self._now()).cert

    # -- issuance ------------------------------------------------------------------

    def issue_signing_certificate(
        self, card_id: str, holder_ref: str, subject: SigningSubject,
        public_key: rsa.RSAPublicKey,
    ) -> x509.Certificate:
        """署名用電子証明書 for the key generated on the card; refused under 15."""
        check_signing_age(subject.birth_date, self.issue_date())
        return self._issue(CertKind.SIGNING, card_id, holder_ref, subject.birth_date,
                           public_key, subject)

    def issue_auth_certificate(
        self, card_id: str, holder_ref: str, birth_date: dt.date, public_key: rsa.RSAPublicKey,
    ) -> x509.Certificate:
        """利用者証明用電子証明書: no personal data; the birth date only sets the expiry."""
        return self._issue(CertKind.AUTH, card_id, holder_ref, birth_date, public_key, None)

    def _issue(
        self, kind: CertKind, card_id: str, holder_ref: str, birth_date: dt.date,
        public_key: rsa.RSAPublicKey, subject: SigningSubject | None,
    ) -> x509.Certificate:
        _check_ref("カードID", "card id", card_id)
        _check_ref("本人の参照", "holder reference", holder_ref)
        now = self._now()
        until = not_after(birth_date, now.astimezone(JST).date())
        issuing = self._issuing(needed_until=until)
        subject_id = certs.new_auth_subject_id() if kind is CertKind.AUTH else None
        cert = certs.build_end_entity(
            kind, public_key, issuing.key, issuing.cert, x509.random_serial_number(), now, until,
            self.urls, issuing.generation, subject=subject, subject_id=subject_id,
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        with self.engine.begin() as conn:
            # One valid certificate of each kind per card: the new one supersedes.
            for old in conn.execute(
                select(t.certificates.c.serial).where(
                    t.certificates.c.card_id == card_id, t.certificates.c.kind == kind.value,
                    t.certificates.c.status == "good",
                )
            ).scalars().all():
                self._mark_revoked(
                    conn, old, x509.ReasonFlags.superseded, "新しい証明書の発行", now
                )
            conn.execute(insert(t.certificates).values(
                serial=certs.serial_hex(cert.serial_number), kind=kind.value, card_id=card_id,
                holder_ref=holder_ref, issuer_ca_id=issuing.ca_id, subject_id=subject_id,
                fingerprint=hashlib.sha256(der).hexdigest(), der=der,
                not_before=now, not_after=until, issued_at=now, status="good",
            ))
        return cert

    # -- records and revocation ---------------------------------------------------------

    def _record(self, r: Row[Any]) -> CertificateRecord:
        return CertificateRecord(
            serial=int(r.serial, 16), kind=CertKind(r.kind), card_id=r.card_id,
            holder_ref=r.holder_ref, not_before=aware(r.not_before), not_after=aware(r.not_after),
            issued_at=aware(r.issued_at), status=r.status,
            revoked_at=aware(r.revoked_at) if r.revoked_at else None,
            revocation_reason=x509.ReasonFlags(r.revocation_reason) if r.revocation_reason
            else None,
            certificate=x509.load_der_x509_certificate(r.der),
        )

    def certificate(self, serial: int | str) -> CertificateRecord:
        """The record of a card certificate by serial."""
        key = _serial(serial)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.certificates).where(t.certificates.c.serial == key)
            ).first()
        if row is None:
            raise NotFound(f"シリアル番号 {key} の証明書はありません", f"no certificate {key}")
        return self._record(row)

    def certificates_for_card(self, card_id: str) -> list[CertificateRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.certificates).where(t.certificates.c.card_id == card_id)
                .order_by(t.certificates.c.issued_at, t.certificates.c.serial)
            ).all()
        return [self._record(r) for r in rows]

    def _mark_revoked(
        self, conn: Connection, serial: str, reason: x509.ReasonFlags, note: str,
        now: dt.datetime,
    ) -> bool:
        done = conn.execute(
            update(t.certificates)
            .where(t.certificates.c.serial == serial, t.certificates.c.status == "good")
            .values(status="revoked", revoked_at=now, revocation_reason=reason.value,
                    revocation_note=note[:500])
        )
        return done.rowcount == 1

    def revoke(
        self, serial: int | str, reason: x509.ReasonFlags | str, note: str = ""
    ) -> CertificateRecord:
        """Revoke one certificate for an RFC 5280 reason (e.g. ``keyCompromise``)."""
        flag = revocation_reason(reason)
        key = _serial(serial)
        record = self.certificate(key)
        if record.status == "revoked":
            raise Conflict(
                f"シリアル番号 {key} の証明書は既に失効しています", f"certificate {key} is revoked"
            )
        with self.engine.begin() as conn:
            if not self._mark_revoked(conn, key, flag, note, self._now()):
                raise Conflict(f"シリアル番号 {key} の証明書は既に失効しています",
                               f"certificate {key} is revoked")
        return self.certificate(key)

    def revoke_card(
        self, card_id: str, reason: x509.ReasonFlags | str, note: str = ""
    ) -> list[int]:
        """Revoke both certificates of a card (loss, 廃止, death …)."""
        flag = revocation_reason(reason)
        return self._revoke_where(t.certificates.c.card_id == card_id, flag, note)

    def cards_of_holder(self, holder_ref: str) -> list[str]:
        """Cards that have (had) certificates for this holder."""
        with self.engine.connect() as conn:
            return sorted(set(conn.execute(select(t.certificates.c.card_id).where(
                t.certificates.c.holder_ref == holder_ref)).scalars()))

    def on_identity_changed(self, holder_ref: str, changed_fields: Iterable[str]) -> list[int]:
        """Revoke the holder's SIGNING certificates when one of the 4 basic items changed.

        The auth certificate holds no personal data and survives (公的個人認証法).
        Fields other than name / birth_date / sex / address (or 氏名 / 生年月日 /
        性別 / 住所) are not in the certificate and revoke nothing.  Returns the
        revoked serials.
        """
        items = basic_items(changed_fields)
        if not items:
            return []
        labels = {"name": "氏名", "birth_date": "生年月日", "sex": "性別", "address": "住所"}
        note = "基本4情報の変更: " + "・".join(labels[i] for i in sorted(items))
        return self._revoke_where(
            (t.certificates.c.holder_ref == holder_ref)
            & (t.certificates.c.kind == CertKind.SIGNING.value),
            x509.ReasonFlags.affiliation_changed, note,
        )

    def _revoke_where(self, where: object, reason: x509.ReasonFlags, note: str,
                      conn: Connection | None = None) -> list[int]:
        if conn is None:
            with self.engine.begin() as own:
                return self._revoke_where(where, reason, note, own)
        now = self._now()
        serials = conn.execute(
            select(t.certificates.c.serial).where(
                where, t.certificates.c.status == "good"  # type: ignore[arg-type]
            )
        ).scalars().all()
        done = [s for s in serials if self._mark_revoked(conn, s, reason, note, now)]
        return [int(s, 16) for s in done]

    def _on_identity_changed(self, conn: Connection, event: Event) -> None:
        """J-LIS → JPKI (event): a changed basic item revokes the signing certificate;
        death or leaving the registry ends both (公的個人認証法)."""
        holder, status = event.subject, str(event.payload.get("status", "住民"))
        items = basic_items(event.payload.get("changed", []))
        if items:
            labels = {"name": "氏名", "birth_date": "生年月日", "sex": "性別", "address": "住所"}
            self._revoke_where(
                (t.certificates.c.holder_ref == holder)
                & (t.certificates.c.kind == CertKind.SIGNING.value),
                x509.ReasonFlags.affiliation_changed,
                "基本4情報の変更: " + "・".join(labels[i] for i in sorted(items)), conn)
        if status in ("死亡", "職権消除"):
            self._revoke_where(t.certificates.c.holder_ref == holder,
                               x509.ReasonFlags.cessation_of_operation, status, conn)

    # -- CRL ---------------------------------------------------------------------------

    def crl(self, which: str = ISSUING) -> x509.CertificateRevocationList:
        """A fresh CRL of the current issuing CA, or the root's ARL (``which="root"``).

        Lists every revoked certificate that has not yet expired, with its
        RFC 5280 reason code (omitted for ``unspecified``), a CRL number and
        nextUpdate = now + ``crl_validity``.
        """
        if which not in (ROOT, ISSUING):
            raise ValidationError(f"CRL の種類が不正です: {which}", f"unknown CRL {which!r}")
        ca = self._root() if which == ROOT else self._issuing()
        now = self._now()
        with self.engine.begin() as conn:
            number = int(conn.execute(
                select(func.coalesce(func.max(t.crls.c.crl_number), 0))
                .where(t.crls.c.ca_id == ca.ca_id)
            ).scalar_one()) + 1
            revoked = conn.execute(
                select(t.certificates.c.serial, t.certificates.c.revoked_at,
                       t.certificates.c.revocation_reason)
                .where(t.certificates.c.issuer_ca_id == ca.ca_id,
                       t.certificates.c.status == "revoked",
                       t.certificates.c.not_after >= now)
                .order_by(t.certificates.c.revoked_at)
            ).all()
            builder = (
                x509.CertificateRevocationListBuilder()
                .issuer_name(ca.cert.subject)
                .last_update(now)
                .next_update(now + self.crl_validity)
                .add_extension(x509.CRLNumber(number), critical=False)
                .add_extension(certs.authority_key_identifier(ca.cert), critical=False)
            )
            for row in revoked:
                entry = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(row.serial, 16))
                    .revocation_date(aware(row.revoked_at))
                )
                if row.revocation_reason and row.revocation_reason != "unspecified":
                    entry = entry.add_extension(
                        x509.CRLReason(x509.ReasonFlags(row.revocation_reason)), critical=False
                    )
                builder = builder.add_revoked_certificate(entry.build())
            crl = builder.sign(ca.key, hashes.SHA256())
            conn.execute(insert(t.crls).values(
                ca_id=ca.ca_id, crl_number=number, this_update=now,
                next_update=now + self.crl_validity, entries=len(revoked),
                der=crl.public_bytes(serialization.Encoding.DER),
            ))
        return crl

    # -- relying parties ------------------------------------------------------------------

    def register_relying_party(
        self, party_id: str, name: str, kind: RelyingPartyKind | str, *,
        category: PartyCategory | str = PartyCategory.PUBLIC, approval_ref: str | None = None,
        update_existing: bool = False,
    ) -> RelyingParty:
        """Register a 署名検証者 / 利用者証明検証者 (``update_existing``: change one).

        A private company (総務大臣認定事業者) must give the reference of the
        minister's approval.  An id already registered is refused unless
        ``update_existing`` — a typo must not silently replace another party —
        and an update needs an id that exists.
        """
        _check_ref("検証者ID", "relying party id", party_id)
        try:
            kind = RelyingPartyKind(kind)
            category = PartyCategory(category)
        except ValueError:
            raise ValidationError(
                f"検証者の種別が不正です: {kind} / {category}",
                f"unknown relying party kind or category: {kind} / {category}",
            ) from None
        name = clean_text(name, "検証者の名称", max_length=100, label_en="relying party name")
        approval_ref = clean_text(approval_ref or "", "認定番号", max_length=50,
                                  required=False, label_en="approval reference") or None
        if category is PartyCategory.APPROVED_PRIVATE and not approval_ref:
            raise ValidationError(
                "民間事業者は総務大臣の認定番号が必要です",
                "a private company needs the reference of the minister's approval",
            )
        with self.engine.begin() as conn:
            existing = conn.execute(select(t.relying_parties.c.name, t.relying_parties.c.active)
                                    .where(t.relying_parties.c.party_id == party_id)).first()
            if existing is not None and not update_existing:
                state = "" if existing.active else "、登録取消済み"
                raise Conflict(
                    f"検証者ID {party_id} は既に登録されています（{existing.name}{state}）。"
                    "登録内容を変えるには myna jpki rp update を使ってください",
                    f"relying party {party_id} exists; use 'myna jpki rp update' to change it",
                )
            if existing is None and update_existing:
                raise NotFound(f"検証者 {party_id} は登録されていません",
                               f"no relying party {party_id}")
            conn.execute(t.relying_parties.delete().where(
                t.relying_parties.c.party_id == party_id))
            conn.execute(insert(t.relying_parties).values(
                party_id=party_id, name=name, kind=kind.value, category=category.value,
                approval_ref=approval_ref, active=True, registered_at=self._now(),
            ))
        return RelyingParty(party_id, name, kind, category, approval_ref, True)

    def deregister_relying_party(self, party_id: str) -> None:
        """Withdraw a party's registration (its later queries are refused and logged)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(t.relying_parties).where(
                t.relying_parties.c.party_id == party_id).values(active=False))
        if done.rowcount != 1:
            raise NotFound(
                f"検証者 {party_id} は登録されていません", f"no relying party {party_id}"
            )

    def _party(self, conn: Connection, party_id: str) -> RelyingParty | None:
        row = conn.execute(
            select(t.relying_parties).where(t.relying_parties.c.party_id == party_id)
        ).first()
        if row is None or not row.active:
            return None
        return RelyingParty(row.party_id, row.name, RelyingPartyKind(row.kind),
                            PartyCategory(row.category), row.approval_ref, row.active)

    def _authorise(self, conn: Connection, party_id: str, kind: CertKind | None) -> None:
        party = self._party(conn, party_id)
        if party is None:
            raise PermissionDenied(
                f"{party_id} は署名検証者・利用者証明検証者として登録されていません",
                f"{party_id} is not a registered relying party",
            )
        if kind is not None and not party.kind.may_check(kind):
            raise PermissionDenied(
                f"{party_id}（{party.kind.value}）は{kind.label}を検証できません",
                f"{party_id} ({party.kind.name}) may not check {kind.value} certificates",
            )

    def _log(
        self, conn: Connection, party_id: str, operation: str, serial: str | None,
        purpose: CertKind | None, result: str,
    ) -> None:
        conn.execute(insert(t.query_log).values(
            party_id=party_id[:100], operation=operation, serial=serial,
            purpose=purpose.value if purpose else None, result=result, at=self._now(),
        ))

    def query_log(
        self, party_id: str | None = None, serial: int | str | None = None
    ) -> list[QueryRecord]:
        """The logged questions, oldest first, optionally for one party or one serial."""
        q = select(t.query_log).order_by(t.query_log.c.id)
        if party_id is not None:
            q = q.where(t.query_log.c.party_id == party_id)
        if serial is not None:
            q = q.where(t.query_log.c.serial == _serial(serial))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [QueryRecord(r.party_id, r.operation, r.serial, r.purpose, r.result, aware(r.at))
                for r in rows]

    # -- OCSP --------------------------------------------------------------------------------

    def ocsp_response(self, request_der: bytes, relying_party: str) -> bytes:
        """Answer an RFC 6960 OCSP request (DER) from a registered relying party.

        good / revoked / unknown from the CA's current state, signed by the
        delegated OCSP responder.  nextUpdate is left out on purpose: newer
        status is always available and must not be cached (RFC 6960 §4.2.2.1).
        Unregistered parties get :class:`PermissionDenied` (an HTTP transport
        answers them with :func:`unauthorized_ocsp_response`).
        """
        now = self._now()
        request: ocsp.OCSPRequest | None
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            request = None
        serial = certs.serial_hex(request.serial_number) if request is not None else None
        denied: PermissionDenied | None = None
        with self.engine.begin() as conn:
            try:
                self._authorise(conn, relying_party, None)
            except PermissionDenied as exc:
                denied = exc
            if denied or request is None:
                self._log(conn, relying_party, "ocsp", serial, None,
                          "denied" if denied else "malformed")
        if denied:
            raise denied
        if request is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        issuers = self._matching_issuers(request)
        status, revoked_at, reason, kind = ocsp.OCSPCertStatus.UNKNOWN, None, None, None
        with self.engine.begin() as conn:
            row = None
            if issuers:
                row = conn.execute(select(t.certificates).where(
                    t.certificates.c.serial == serial,
                    t.certificates.c.issuer_ca_id.in_(issuers),
                )).first()
            if row is not None:
                kind = CertKind(row.kind)
                try:
                    self._authorise(conn, relying_party, kind)
                except PermissionDenied as exc:
                    denied = exc
                if row.status == "revoked":
                    status, revoked_at = ocsp.OCSPCertStatus.REVOKED, aware(row.revoked_at)
                    if row.revocation_reason and row.revocation_reason != "unspecified":
                        reason = x509.ReasonFlags(row.revocation_reason)
                else:
                    status = ocsp.OCSPCertStatus.GOOD
            result = "denied" if denied else status.name.lower()
            self._log(conn, relying_party, "ocsp", serial, kind, result)
        if denied:
            raise denied
        responder = self._responder(now)
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number, algorithm=request.hash_algorithm,
                cert_status=status, this_update=now, next_update=None,
                revocation_time=revoked_at, revocation_reason=reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
            .certificates([responder.cert, self._issuing().cert])
        )
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            builder = builder.add_extension(nonce, critical=False)
        except x509.ExtensionNotFound:
            pass
        return builder.sign(responder.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER
        )

    def _matching_issuers(self, request: ocsp.OCSPRequest) -> list[int]:
        """Our issuing CAs whose name and key hashes the request names."""
        found = []
        with self.engine.connect() as conn:
            cas = self._cas(conn, ISSUING)
        for ca in cas:
            name_hash = hashes.Hash(request.hash_algorithm)
            name_hash.update(ca.cert.subject.public_bytes())
            key_hash = hashes.Hash(request.hash_algorithm)
            key_hash.update(ca.cert.public_key().public_bytes(  # type: ignore[union-attr]
                serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
            if (name_hash.finalize() == request.issuer_name_hash
                    and key_hash.finalize() == request.issuer_key_hash):
                found.append(ca.ca_id)
        return found

    # -- verification ----------------------------------------------------------------------------

    def verify(
        self, certificate: x509.Certificate | bytes, *, relying_party: str, purpose: CertKind,
        chain: Sequence[x509.Certificate] = (), now: dt.datetime | None = None,
    ) -> VerifiedCertificate:
        """Check a card certificate for ``purpose``, against the CA's state right now.

        Chain to this CA's root, validity at ``now`` (default: the clock),
        revocation (current state, whatever ``now`` says), the issuance record
        and the purpose.  Raises :class:`CertificateRejected` with the reason.
        """
        return self._verify("verify", certificate, relying_party, purpose, chain, now, None)

    def verify_signature(
        self, document: bytes, signature: bytes, certificate: x509.Certificate | bytes, *,
        relying_party: str, purpose: CertKind = CertKind.SIGNING,
        chain: Sequence[x509.Certificate] = (), now: dt.datetime | None = None,
    ) -> VerifiedCertificate:
        """Verify an RSASSA-PKCS1-v1_5/SHA-256 signature over ``document`` and its certificate.

        Returns the signer's attributes (the four basic items for a signing
        certificate).  ``purpose=CertKind.AUTH`` checks a signed login challenge.
        """
        return self._verify("verify_signature", certificate, relying_party, purpose, chain, now,
                            (document, signature))

    def _verify(
        self, operation: str, certificate: x509.Certificate | bytes, party_id: str,
        purpose: CertKind, chain: Sequence[x509.Certificate], now: dt.datetime | None,
        signed: tuple[bytes, bytes] | None,
    ) -> VerifiedCertificate:
        purpose = CertKind(purpose)
        at = aware(now) if now else self._now()
        error: PermissionDenied | CertificateRejected | None = None
        result: VerifiedCertificate | None = None
        cert: x509.Certificate | None = None
        try:
            cert = _load_certificate(certificate)
        except CertificateRejected as exc:
            error = exc
        serial = certs.serial_hex(cert.serial_number) if cert is not None else None
        with self.engine.begin() as conn:
            try:
                self._authorise(conn, party_id, purpose)
                if error is not None:
                    raise error
                assert cert is not None
                result = self._check(conn, cert, purpose, chain, at)
                if signed is not None:
                    _check_document_signature(cert, *signed)
                outcome = "ok"
            except PermissionDenied as exc:
                error, outcome = exc, "denied"
            except CertificateRejected as exc:
                error, outcome = exc, exc.reason.value
            self._log(conn, party_id, operation, serial, purpose, outcome)
        if error is not None:
            raise error
        assert result is not None
        return result

    def _check(
        self, conn: Connection, cert: x509.Certificate, purpose: CertKind,
        chain: Sequence[x509.Certificate], at: dt.datetime,
    ) -> VerifiedCertificate:
        root = self._cas(conn, ROOT)[0]
        issuing = self._cas(conn, ISSUING)
        ours = {c.cert.fingerprint(hashes.SHA256()) for c in [root, *issuing]}
        for extra in chain:
            if extra.fingerprint(hashes.SHA256()) not in ours:
                raise CertificateRejected(
                    RejectReason.UNKNOWN_CA,
                    f"提示された認証局証明書（{extra.subject.rfc4514_string()}）は"
                    "公的個人認証サービスの認証局のものではありません",
                    f"chain certificate {extra.subject.rfc4514_string()} is not one of this CA's",
                )
        issuer = _find_issuer(cert, issuing)
        _within(issuer.cert, at, "発行用認証局の証明書", "issuing CA certificate")
        _within(root.cert, at, "ルート認証局の証明書", "root CA certificate")
        try:
            issuer.cert.verify_directly_issued_by(root.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected(
                RejectReason.UNKNOWN_CA, "発行用認証局がルート認証局に連鎖しません",
                "the issuing CA does not chain to the root",
            ) from None
        serial = certs.serial_hex(cert.serial_number)
        der = cert.public_bytes(serialization.Encoding.DER)
        row = conn.execute(select(t.certificates).where(t.certificates.c.serial == serial)).first()
        if row is None or row.fingerprint != hashlib.sha256(der).hexdigest():
            raise CertificateRejected(
                RejectReason.NOT_ISSUED,
                f"シリアル番号 {serial} の証明書は発行記録と一致しません",
                f"certificate {serial} does not match the CA's issuance records",
            )
        record = self._record(row)
        if record.status == "revoked":
            assert record.revoked_at is not None
            label = REVOCATION_REASONS.get(
                record.revocation_reason or x509.ReasonFlags.unspecified, "")
            raise CertificateRejected(
                RejectReason.REVOKED,
                f"この証明書は失効しています（{show_time(record.revoked_at, seconds=True)}、"
                f"理由: {label}）",
                f"certificate {serial} was revoked at {record.revoked_at.isoformat()} "
                f"({(record.revocation_reason or x509.ReasonFlags.unspecified).value})",
            )
        _within(cert, at, "この証明書", "the certificate")
        if record.kind is not purpose or certs.kind_of(cert) is not purpose:
            raise CertificateRejected(
                RejectReason.WRONG_PURPOSE,
                f"この証明書は{record.kind.label}です。{purpose.label}としては使えません",
                f"this is a {record.kind.value} certificate, not a {purpose.value} certificate",
            )
        return VerifiedCertificate(
            serial=cert.serial_number, kind=record.kind, not_after=record.not_after,
            subject=certs.signing_subject(cert) if record.kind is CertKind.SIGNING else None,
            subject_id=certs.subject_id_of(cert) if record.kind is CertKind.AUTH else None,
        )


def _load_certificate(certificate: x509.Certificate | bytes) -> x509.Certificate:
    if isinstance(certificate, x509.Certificate):
        return certificate
    try:
        if certificate.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(certificate)
        return x509.load_der_x509_certificate(certificate)
    except ValueError:
        raise CertificateRejected(
            RejectReason.MALFORMED, "証明書として読み取れません", "not a parsable X.509 certificate"
        ) from None


def _find_issuer(cert: x509.Certificate, issuing: list[_Ca]) -> _Ca:
    for ca in issuing:
        if ca.cert.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected(
                RejectReason.UNKNOWN_CA,
                "証明書の署名が認証局の鍵で検証できません（改ざん、または同名の別の認証局による発行）",
                "the certificate's signature does not verify under the CA's key "
                "(tampered, or issued by another CA using the same name)",
            ) from None
        return ca
    raise CertificateRejected(
        RejectReason.UNKNOWN_CA,
        f"この証明書は公的個人認証サービスの認証局が発行したものではありません"
        f"（発行者: {cert.issuer.rfc4514_string()}）",
        f"issued by {cert.issuer.rfc4514_string()}, not by this JPKI CA",
    )


def _within(cert: x509.Certificate, at: dt.datetime, what_ja: str, what_en: str) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateRejected(
            RejectReason.NOT_YET_VALID,
            f"{what_ja}の有効期間はまだ始まっていません"
            f"（{show_time(cert.not_valid_before_utc, seconds=True)} から）",
            f"{what_en} is not valid before {cert.not_valid_before_utc.isoformat()}",
        )
    if at > cert.not_valid_after_utc:
        raise CertificateRejected(
            RejectReason.EXPIRED,
            f"{what_ja}の有効期限（{show_time(cert.not_valid_after_utc, seconds=True)}）"
            "が切れています",
            f"{what_en} expired at {cert.not_valid_after_utc.isoformat()}",
        )


def _check_document_signature(cert: x509.Certificate, document: bytes, signature: bytes) -> None:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateRejected(RejectReason.MALFORMED, "RSA 鍵ではありません", "not an RSA key")
    try:
        key.verify(signature, document, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise CertificateRejected(
            RejectReason.BAD_SIGNATURE,
            "署名が文書と一致しません（文書または署名が改ざんされているか、別の鍵による署名です）",
            "the signature does not match the document (tampered, or made with another key)",
        ) from None


def unauthorized_ocsp_response() -> bytes:
    """The RFC 6960 ``unauthorized`` answer an HTTP transport gives unregistered parties."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    ).public_bytes(serialization.Encoding.DER)
