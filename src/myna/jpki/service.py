"""The JPKI certificate authority of J-LIS: issuance, revocation, CRL, OCSP, verification.

Its own node ("jpki") with its own database.  :class:`JpkiService` puts the use
cases together — :mod:`~myna.jpki.authority` (the CA hierarchy),
:mod:`~myna.jpki.issuance`, :mod:`~myna.jpki.revocation`, :mod:`~myna.jpki.crl`,
:mod:`~myna.jpki.parties` (relying parties and the query log),
:mod:`~myna.jpki.ocsp_responder` and :mod:`~myna.jpki.verification` — over one
repository (:mod:`~myna.jpki.storage`).  It implements
:class:`myna.contracts.jpki.JpkiApi`, what relying parties call; between
processes they reach it through :class:`myna.transport.jpki_client.JpkiClient`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from myna.clock import JST, as_utc, utcnow
from myna.contracts.jpki import CaCertificates, CertificateStatus
from myna.db import migrate
from myna.events import Inbox
from myna.jpki import certs
from myna.jpki.authority import Authority
from myna.jpki.crl import CrlPublisher
from myna.jpki.domain import (
    ISSUING,
    OCSP,
    ROOT,
    CertificateRecord,
    CertKind,
    PartyCategory,
    QueryRecord,
    RelyingParty,
    RelyingPartyKind,
    SigningSubject,
    VerifiedCertificate,
)
from myna.jpki.issuance import Issuance
from myna.jpki.ocsp_responder import OcspResponder, unauthorized_ocsp_response
from myna.jpki.parties import RelyingParties
from myna.jpki.revocation import Revocation
from myna.jpki.storage import JpkiRepository, JpkiStore
from myna.jpki.verification import Certificate, Verifier
from myna.keys import KeyStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["ISSUING", "OCSP", "ROOT", "CertificateRecord", "JpkiService", "QueryRecord",
           "RelyingParty", "VerifiedCertificate", "unauthorized_ocsp_response"]


class JpkiService:
    """J-LIS's JPKI CA: root + issuing CA, card certificates, CRL, OCSP, verification."""

    PASSPHRASE_KEY = "jpki/ca-passphrase"

    def __init__(
        self, engine: Engine, keys: KeyStore, urls: certs.JpkiUrls | None = None,
        now: Callable[[], dt.datetime] = utcnow,
        crl_validity: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.engine = engine
        self.store = JpkiStore(engine)
        self.urls = urls or certs.JpkiUrls()
        self.now = now
        clock = self._now
        self.authority = Authority(self.store, keys.secret(self.PASSPHRASE_KEY), self.urls,
                                   clock)
        self.parties = RelyingParties(self.store, clock)
        self.issuance = Issuance(self.store, self.authority, clock)
        self.revocation = Revocation(self.store, clock)
        self.crls = CrlPublisher(self.store, self.authority, self.parties, clock, crl_validity)
        self.ocsp = OcspResponder(self.store, self.authority, self.parties, clock)
        self.verifier = Verifier(self.store, self.authority, self.parties, clock)
        self.inbox = Inbox(self.engine, "jpki", {
            "identity.changed": lambda conn, event: self.revocation.apply_identity_event(
                JpkiRepository(conn), event),
        }, clock)

    def _now(self) -> dt.datetime:
        return as_utc(self.now()).replace(microsecond=0)

    @property
    def crl_validity(self) -> dt.timedelta:
        return self.crls.validity

    @crl_validity.setter
    def crl_validity(self, value: dt.timedelta) -> None:
        self.crls.validity = value

    def issue_date(self) -> dt.date:
        """Today in Japan by the CA's clock: the issue date the age and validity rules use."""
        return self._now().astimezone(JST).date()

    def create_schema(self) -> None:
        """Migrate the node's database and create the CA hierarchy when missing."""
        migrate(self.engine, "myna.jpki")
        self.inbox.create_schema()
        self.authority.root()
        self.authority.issuing()

    # -- the CA's own certificates --------------------------------------------------------

    def root_certificate(self) -> x509.Certificate:
        """The trust anchor relying parties install."""
        return self.authority.root().cert

    def issuing_certificate(self) -> x509.Certificate:
        """The current issuing CA certificate."""
        return self.authority.issuing().cert

    def issuing_certificates(self) -> list[x509.Certificate]:
        """Every issuing CA generation, newest first."""
        return [ca.cert for ca in self.authority.issuing_all()]

    def ocsp_responder_certificate(self) -> x509.Certificate:
        return self.authority.responder(self._now()).cert

    def ca_certificates(self) -> CaCertificates:
        """The CA certificates to install, PEM (JpkiApi)."""
        return CaCertificates(certs.to_pem(self.root_certificate()),
                              tuple(certs.to_pem(c) for c in self.issuing_certificates()),
                              certs.to_pem(self.ocsp_responder_certificate()))

    # -- issuance -----------------------------------------------------------------------------

    def issue_signing_certificate(
        self, card_id: str, person_key: str, subject: SigningSubject,
        public_key: rsa.RSAPublicKey,
    ) -> x509.Certificate:
        """署名用電子証明書 for the key generated on the card; refused under 15."""
        return self.issuance.signing(card_id, person_key, subject, public_key)

    def issue_auth_certificate(
        self, card_id: str, person_key: str, birth_date: dt.date, public_key: rsa.RSAPublicKey,
    ) -> x509.Certificate:
        """利用者証明用電子証明書: no personal data; the birth date only sets the expiry."""
        return self.issuance.auth(card_id, person_key, birth_date, public_key)

    # -- records and revocation ---------------------------------------------------------------

    def certificate(self, serial: int | str) -> CertificateRecord:
        """The record of a card certificate by serial."""
        return self.revocation.certificate(serial)

    def certificates_for_card(self, card_id: str) -> list[CertificateRecord]:
        return self.revocation.certificates_for_card(card_id)

    def cards_of_person(self, person_key: str) -> list[str]:
        """Cards that have (had) certificates for this person."""
        return self.revocation.cards_of_person(person_key)

    def revoke(
        self, serial: int | str, reason: x509.ReasonFlags | str, note: str = ""
    ) -> CertificateRecord:
        """Revoke one certificate for an RFC 5280 reason (e.g. ``keyCompromise``)."""
        return self.revocation.revoke(serial, reason, note)

    def revoke_card(
        self, card_id: str, reason: x509.ReasonFlags | str, note: str = ""
    ) -> list[int]:
        """Revoke both certificates of a card (loss, 廃止, death …)."""
        return self.revocation.revoke_card(card_id, reason, note)

    def on_identity_changed(self, person_key: str, changed_fields: Iterable[str]) -> list[int]:
        """Revoke the person's SIGNING certificates when one of the 4 basic items changed;
        the auth certificate survives (公的個人認証法).  Returns the revoked serials."""
        return self.revocation.on_identity_changed(person_key, changed_fields)

    # -- CRL ----------------------------------------------------------------------------------

    def crl(self, which: str = ISSUING) -> x509.CertificateRevocationList:
        """A fresh CRL of the current issuing CA, or the root's ARL (``which="root"``)."""
        return self.crls.publish(which)

    def current_crl(self, *, relying_party: str, which: str = ISSUING) -> bytes:
        """The CRL (DER) listing every revocation up to now, for a registered party."""
        return self.crls.current(which, relying_party)

    # -- relying parties ----------------------------------------------------------------------

    def register_relying_party(
        self, party_id: str, name: str, kind: RelyingPartyKind | str, *,
        category: PartyCategory | str = PartyCategory.PUBLIC, approval_ref: str | None = None,
        update_existing: bool = False,
    ) -> RelyingParty:
        """Register a 署名検証者 / 利用者証明検証者 (``update_existing``: change one)."""
        return self.parties.register(party_id, name, kind, category=category,
                                     approval_ref=approval_ref, update_existing=update_existing)

    def deregister_relying_party(self, party_id: str) -> None:
        """Withdraw a party's registration (its later queries are refused and logged)."""
        self.parties.deregister(party_id)

    def relying_parties(self) -> list[RelyingParty]:
        """Every registered party, active or withdrawn, by id."""
        return self.parties.all()

    def query_log(
        self, party_id: str | None = None, serial: int | str | None = None
    ) -> list[QueryRecord]:
        """The logged questions, oldest first, optionally for one party or one serial."""
        return self.parties.query_log(party_id, serial)

    # -- OCSP and verification ----------------------------------------------------------------

    def ocsp_response(self, request_der: bytes, relying_party: str) -> bytes:
        """Answer an RFC 6960 OCSP request (DER) from a registered relying party."""
        return self.ocsp.respond(request_der, relying_party)

    def certificate_status(self, serial: int | str, *, relying_party: str) -> CertificateStatus:
        """The current status of a card certificate by serial, for a registered party."""
        return self.verifier.status(serial, relying_party)

    def verify(
        self, certificate: Certificate, *, relying_party: str, purpose: CertKind | str,
        chain: Sequence[Certificate] = (), now: dt.datetime | None = None,
    ) -> VerifiedCertificate:
        """Check a card certificate for ``purpose``, against the CA's state right now.

        Chain to this CA's root, validity at ``now`` (default: the clock),
        revocation (current state, whatever ``now`` says), the issuance record
        and the purpose.  Raises :class:`CertificateRejected` with the reason.
        """
        return self.verifier.verify("verify", certificate, relying_party, purpose, chain, now)

    def verify_signature(
        self, document: bytes, signature: bytes, certificate: Certificate, *,
        relying_party: str, purpose: CertKind | str = CertKind.SIGNING,
        chain: Sequence[Certificate] = (), now: dt.datetime | None = None,
    ) -> VerifiedCertificate:
        """Verify an RSASSA-PKCS1-v1_5/SHA-256 signature over ``document`` and its certificate.

        Returns the signer's attributes (the four basic items for a signing
        certificate).  ``purpose=CertKind.AUTH`` checks a signed login challenge.
        """
        return self.verifier.verify("verify_signature", certificate, relying_party, purpose,
                                    chain, now, (document, signature))
