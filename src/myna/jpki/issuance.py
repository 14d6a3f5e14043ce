"""Issuance of the two card certificates for keys generated on the card.

署名用電子証明書 carries the four basic items and is not issued under 15;
利用者証明用電子証明書 carries a random identifier only.  Both are valid through the
5th birthday after the issue date (:func:`myna.jpki.domain.not_after`).  A card
has one valid certificate of each kind: a new one supersedes the old.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from myna.clock import JST
from myna.jpki import certs
from myna.jpki.authority import Authority
from myna.jpki.domain import (
    CertKind,
    SigningSubject,
    check_ref,
    check_signing_age,
    not_after,
)
from myna.jpki.storage import JpkiStore


class Issuance:
    """Issues card certificates under the current issuing CA."""

    def __init__(self, store: JpkiStore, authority: Authority,
                 now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.authority = authority
        self.now = now

    def issue_date(self) -> dt.date:
        """Today in Japan by the CA's clock: the issue date the age and validity rules use."""
        return self.now().astimezone(JST).date()

    def signing(self, card_id: str, person_key: str, subject: SigningSubject,
                public_key: rsa.RSAPublicKey) -> x509.Certificate:
        """署名用電子証明書 for the key generated on the card; refused under 15."""
        check_signing_age(subject.birth_date, self.issue_date())
        return self._issue(CertKind.SIGNING, card_id, person_key, subject.birth_date,
                           public_key, subject)

    def auth(self, card_id: str, person_key: str, birth_date: dt.date,
             public_key: rsa.RSAPublicKey) -> x509.Certificate:
        """利用者証明用電子証明書: no personal data; the birth date only sets the expiry."""
        return self._issue(CertKind.AUTH, card_id, person_key, birth_date, public_key, None)

    def _issue(
        self, kind: CertKind, card_id: str, person_key: str, birth_date: dt.date,
        public_key: rsa.RSAPublicKey, subject: SigningSubject | None,
    ) -> x509.Certificate:
        check_ref("カードID", "card id", card_id)
        check_ref("本人の参照", "person key", person_key)
        now = self.now()
        until = not_after(birth_date, now.astimezone(JST).date())
        issuing = self.authority.issuing(needed_until=until)
        subject_id = certs.new_auth_subject_id() if kind is CertKind.AUTH else None
        cert = certs.build_end_entity(
            kind, public_key, issuing.key, issuing.cert, x509.random_serial_number(), now, until,
            self.authority.urls, issuing.generation, subject=subject, subject_id=subject_id,
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        with self.store.begin() as repo:
            # One valid certificate of each kind per card: the new one supersedes.
            for old in repo.good_serials(card_id=card_id, kind=kind):
                repo.mark_revoked(old, x509.ReasonFlags.superseded, "新しい証明書の発行", now)
            repo.add_certificate(
                serial=certs.serial_hex(cert.serial_number), kind=kind, card_id=card_id,
                person_key=person_key, issuer_ca_id=issuing.ca_id, subject_id=subject_id,
                fingerprint=hashlib.sha256(der).hexdigest(), der=der,
                not_before=now, not_after=until,
            )
        return cert
