"""The network CA: certificates that let nodes authenticate each other.

Every node of the information-provision network (hub, J-LIS, intermediate
servers, a municipality's systems) holds an Ed25519 key and a certificate
issued by this CA naming its node id.  Requests between nodes are signed with
the node key and carry the certificate; the receiver checks the certificate
against the pinned CA before anything else.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from myna.clock import utcnow
from myna.errors import PermissionDenied
from myna.keys import KeyStore

VALIDITY = dt.timedelta(days=825)


def node_key_name(node_id: str) -> str:
    """Keystore name of a node's transport key (ids like ``intermediate:nenkin``)."""
    return "node/" + node_id.replace(":", ".").lower()


class NetworkCA:
    """Issues and checks node certificates; the CA certificate is the trust anchor."""

    def __init__(self, keys: KeyStore, directory: Path) -> None:
        self.keys = keys
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._key = keys.ed25519("netca/root")
        self.certificate = self._load_or_create_root()

    def _load_or_create_root(self) -> x509.Certificate:
        path = self.directory / "ca.pem"
        if path.exists():
            return x509.load_pem_x509_certificate(path.read_bytes())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Myna"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "Myna 情報連携ネットワーク CA")])
        now = utcnow()
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, None)
        )
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert

    def identity(self, node_id: str) -> tuple[Ed25519PrivateKey, x509.Certificate]:
        """The node's key and certificate (issued on first use)."""
        key = self.keys.ed25519(node_key_name(node_id))
        path = self.directory / (node_key_name(node_id).split("/", 1)[1] + ".pem")
        if path.exists():
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            if cert.public_key() == key.public_key():
                return key, cert
        now = utcnow()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
            .issuer_name(self.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._key, None)
        )
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return key, cert


def check_certificate(ca: x509.Certificate, cert: x509.Certificate,
                      now: dt.datetime) -> tuple[str, Ed25519PublicKey]:
    """The node id and key of a certificate issued by ``ca``, or PermissionDenied."""
    ca_key = ca.public_key()
    if not isinstance(ca_key, Ed25519PublicKey):
        raise PermissionDenied("CA 証明書の鍵の種類が不正です", "unexpected CA key type")
    try:
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature:
        raise PermissionDenied(
            "ノード証明書がネットワークCAによって発行されたものではありません",
            "node certificate not issued by the network CA",
        ) from None
    if cert.issuer != ca.subject:
        raise PermissionDenied("ノード証明書の発行者が違います", "wrong issuer")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise PermissionDenied("ノード証明書の有効期間外です", "node certificate expired")
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise PermissionDenied("ノード証明書の鍵の種類が不正です", "unexpected node key type")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise PermissionDenied("ノード証明書にノードIDがありません", "no node id")
    return str(names[0].value), key
