"""Certificate revocation lists (RFC 5280 §5) of the issuing CA, and the root's ARL.

A CRL lists every revoked certificate that has not yet expired, with its reason
code (left out for ``unspecified``), a CRL number and nextUpdate = now + the
validity.  :meth:`CrlPublisher.publish` signs a new one; :meth:`CrlPublisher.current`
hands a registered relying party the last one while it is still valid and no
revocation came after it (the question is logged, like every other).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from myna.errors import PermissionDenied, ValidationError
from myna.jpki import certs
from myna.jpki.authority import Authority, CaKey
from myna.jpki.domain import ISSUING, ROOT
from myna.jpki.parties import RelyingParties
from myna.jpki.storage import JpkiStore


class CrlPublisher:
    """Signs and stores CRLs."""

    def __init__(self, store: JpkiStore, authority: Authority, parties: RelyingParties,
                 now: Callable[[], dt.datetime], validity: dt.timedelta) -> None:
        self.store = store
        self.authority = authority
        self.parties = parties
        self.now = now
        self.validity = validity

    def _ca(self, which: str) -> CaKey:
        if which not in (ROOT, ISSUING):
            raise ValidationError(f"CRL の種類が不正です: {which}", f"unknown CRL {which!r}")
        return self.authority.root() if which == ROOT else self.authority.issuing()

    def publish(self, which: str = ISSUING) -> x509.CertificateRevocationList:
        """A fresh CRL of the current issuing CA, or the root's ARL (``which="root"``)."""
        ca = self._ca(which)
        now = self.now()
        with self.store.begin() as repo:
            last = repo.last_crl(ca.ca_id)
            number = (last.crl_number if last else 0) + 1
            revoked = repo.revoked_unexpired(ca.ca_id, now)
            builder = (
                x509.CertificateRevocationListBuilder()
                .issuer_name(ca.cert.subject)
                .last_update(now)
                .next_update(now + self.validity)
                .add_extension(x509.CRLNumber(number), critical=False)
                .add_extension(certs.authority_key_identifier(ca.cert), critical=False)
            )
            for entry in revoked:
                item = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(entry.serial, 16))
                    .revocation_date(entry.revoked_at)
                )
                if entry.reason and entry.reason != "unspecified":
                    item = item.add_extension(
                        x509.CRLReason(x509.ReasonFlags(entry.reason)), critical=False
                    )
                builder = builder.add_revoked_certificate(item.build())
            crl = builder.sign(ca.key, hashes.SHA256())
            repo.add_crl(ca.ca_id, number, now, now + self.validity, len(revoked),
                         crl.public_bytes(serialization.Encoding.DER))
        return crl

    def current(self, which: str, relying_party: str) -> bytes:
        """The CRL (DER) that lists every revocation up to now: the last one published,
        unless it ran out or a certificate was revoked since (then a new one)."""
        ca = self._ca(which)
        now = self.now()
        denied: PermissionDenied | None = None
        with self.store.begin() as repo:  # the refusal is logged too: raise after commit
            try:
                self.parties.authorise(repo, relying_party, None)
            except PermissionDenied as exc:
                denied = exc
            self.parties.log(repo, relying_party, "crl", None, None,
                             "denied" if denied else which)
            last = repo.last_crl(ca.ca_id)
            revoked = {int(e.serial, 16) for e in repo.revoked_unexpired(ca.ca_id, now)}
        if denied is not None:
            raise denied
        if last is not None and now < last.next_update:
            listed = {r.serial_number for r in x509.load_der_x509_crl(last.der)}
            if revoked <= listed:  # revocation only ever adds: nothing new since
                return last.der
        return self.publish(which).public_bytes(serialization.Encoding.DER)
