"""The CA's own hierarchy: root, issuing CA generations and the delegated OCSP responder.

Each is created when first needed and stored with its private key encrypted
(PKCS#8 under the node's CA passphrase).  A new issuing CA generation is made when
the current one would not outlive a certificate about to be issued; the OCSP
responder certificate is renewed a week before it runs out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from myna.errors import Conflict, ValidationError
from myna.jpki import certs
from myna.jpki.domain import ISSUING, OCSP, ROOT
from myna.jpki.storage import JpkiRepository, JpkiStore, StoredCa


@dataclass(frozen=True)
class CaKey:
    """One of the CA's own certificates with its private key."""

    ca_id: int
    role: str
    generation: int
    cert: x509.Certificate
    key: rsa.RSAPrivateKey


class Authority:
    """Finds, creates and renews the CA's own certificates."""

    ROOT_YEARS = 25
    ISSUING_YEARS = 12
    RESPONDER_DAYS = 90
    RESPONDER_MARGIN = dt.timedelta(days=7)

    def __init__(self, store: JpkiStore, passphrase: bytes, urls: certs.JpkiUrls,
                 now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.urls = urls
        self.now = now
        self._passphrase = passphrase
        self._keys: dict[int, rsa.RSAPrivateKey] = {}

    def _encrypt(self, key: rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )

    def _load(self, stored: StoredCa) -> CaKey:
        if stored.ca_id not in self._keys:
            key = serialization.load_pem_private_key(stored.encrypted_key,
                                                     password=self._passphrase)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValidationError("認証局の鍵が RSA ではありません", "CA key is not RSA")
            self._keys[stored.ca_id] = key
        return CaKey(stored.ca_id, stored.role, stored.generation,
                     x509.load_der_x509_certificate(stored.der), self._keys[stored.ca_id])

    def cas(self, repo: JpkiRepository, role: str) -> list[CaKey]:
        """The CA certificates of ``role`` (root | issuing | ocsp), newest first."""
        return [self._load(s) for s in repo.cas(role)]

    def _stored(self, role: str) -> list[CaKey]:
        with self.store.read() as repo:
            return self.cas(repo, role)

    def _create(self, role: str, generation: int, cert: x509.Certificate,
                key: rsa.RSAPrivateKey, issuer: CaKey | None) -> CaKey:
        def write(repo: JpkiRepository) -> CaKey:
            ca_id = repo.add_ca(role, generation, certs.serial_hex(cert.serial_number), cert,
                                cert.public_bytes(serialization.Encoding.DER),
                                self._encrypt(key), issuer.ca_id if issuer else None,
                                self.now())
            self._keys[ca_id] = key
            return CaKey(ca_id, role, generation, cert, key)

        made = self.store.first_writer(write)
        # another process created this generation first: use theirs
        return made if made is not None else self._stored(role)[0]

    def root(self) -> CaKey:
        roots = self._stored(ROOT)
        if roots:
            return roots[0]
        key = certs.new_ca_key()
        return self._create(ROOT, 1, certs.build_root(key, self.now(), self.ROOT_YEARS), key,
                            None)

    def issuing(self, needed_until: dt.datetime | None = None) -> CaKey:
        """The newest issuing CA; a new generation when it would not outlive ``needed_until``."""
        current = self._stored(ISSUING)
        if current and (
            needed_until is None or current[0].cert.not_valid_after_utc >= needed_until
        ):
            return current[0]
        root = self.root()
        generation = current[0].generation + 1 if current else 1
        now = self.now()
        if now + dt.timedelta(days=365 * self.ISSUING_YEARS) > root.cert.not_valid_after_utc:
            raise Conflict(
                "ルート認証局の有効期限が近いため、発行用認証局を更新できません",
                "the root CA expires before a new issuing CA would; roll the root over first",
            )
        key = certs.new_ca_key()
        cert = certs.build_issuing(key.public_key(), root.key, root.cert, now,
                                   self.ISSUING_YEARS, self.urls, generation)
        return self._create(ISSUING, generation, cert, key, root)

    def issuing_all(self) -> list[CaKey]:
        """Every issuing CA generation, newest first."""
        return self._stored(ISSUING)

    def responder(self, now: dt.datetime) -> CaKey:
        """The delegated OCSP signing certificate, renewed before it runs out."""
        current = self._stored(OCSP)
        issuing = self.issuing()
        if current:
            cert = current[0].cert
            if (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
                    - self.RESPONDER_MARGIN and cert.issuer == issuing.cert.subject):
                return current[0]
        generation = current[0].generation + 1 if current else 1
        key = certs.new_end_entity_key()
        cert = certs.build_ocsp_signer(key.public_key(), issuing.key, issuing.cert, now,
                                       self.RESPONDER_DAYS, generation)
        return self._create(OCSP, generation, cert, key, issuing)
