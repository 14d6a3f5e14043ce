"""X.509 certificates of the JPKI hierarchy, built with ``cryptography.x509``.

Root CA (RSA 3072, self-signed) → issuing CA (RSA 3072, pathLen 0) → end
entities (RSA 2048): the two card certificates and the delegated OCSP
responder.  All signatures are sha256WithRSAEncryption (PKCS#1 v1.5).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from myna.errors import ValidationError
from myna.jpki.domain import (
    POLICY_AUTH,
    POLICY_SIGNING,
    SUBJECT_DIRECTORY_ATTRIBUTES,
    CertKind,
    SigningSubject,
    parse_subject_directory_attributes,
    policy_of,
    subject_directory_attributes,
)

CA_KEY_BITS = 3072
END_ENTITY_KEY_BITS = 2048
ORGANISATION = "Myna JPKI"


@dataclass(frozen=True)
class JpkiUrls:
    """Where relying parties fetch CRLs, CA certificates and OCSP answers.

    >>> JpkiUrls().ocsp
    'http://127.0.0.1:8000/jpki/ocsp'
    """

    base: str = "http://127.0.0.1:8000/jpki"

    def __post_init__(self) -> None:
        if not self.base.startswith("http://") or self.base.endswith("/"):
            raise ValidationError(
                f"JPKI の公開 URL が不正です: {self.base}",
                "JPKI URLs must be plain http:// (RFC 5280 §4.2.1.13) without a trailing slash",
            )

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"

    def issuing_crl(self, generation: int) -> str:
        return f"{self.base}/crl/issuing-{generation}.crl"

    @property
    def root_crl(self) -> str:
        return f"{self.base}/crl/root.crl"

    def issuing_cert(self, generation: int) -> str:
        return f"{self.base}/ca/issuing-{generation}.cer"

    @property
    def root_cert(self) -> str:
        return f"{self.base}/ca/root.cer"

    @property
    def cps(self) -> str:
        return f"{self.base}/cps"


def new_ca_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=CA_KEY_BITS)


def new_end_entity_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=END_ENTITY_KEY_BITS)


def ca_name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ski(key: rsa.RSAPublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI pointing at ``issuer``'s subject key identifier."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def _ee_key_usage(non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=non_repudiation, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )


def _policies(*oids: x509.ObjectIdentifier, cps: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(oid, [cps]) for oid in oids])


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([
        x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    ])


def build_root(key: rsa.RSAPrivateKey, now: dt.datetime, years: int) -> x509.Certificate:
    """The self-signed root CA certificate."""
    name = ca_name("Myna JPKI Root CA")
    public = key.public_key()
    ski = _ski(public)
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def build_issuing(
    key: rsa.RSAPublicKey, root_key: rsa.RSAPrivateKey, root: x509.Certificate,
    now: dt.datetime, years: int, urls: JpkiUrls, generation: int,
) -> x509.Certificate:
    """The issuing CA certificate, signed by the root."""
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name(f"Myna JPKI Issuing CA {generation}"))
        .issuer_name(root.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(key), critical=False)
        .add_extension(authority_key_identifier(root), critical=False)
        .add_extension(_crl_dp(urls.root_crl), critical=False)
        .add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(urls.root_cert)),
        ]), critical=False)
        .add_extension(_policies(POLICY_SIGNING, POLICY_AUTH, cps=urls.cps), critical=False)
        .sign(root_key, hashes.SHA256())
    )


def build_ocsp_signer(
    key: rsa.RSAPublicKey, issuing_key: rsa.RSAPrivateKey, issuing: x509.Certificate,
    now: dt.datetime, days: int, generation: int,
) -> x509.Certificate:
    """A delegated OCSP responder certificate (RFC 6960 §4.2.2.2, with ocsp-nocheck)."""
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name(f"Myna JPKI OCSP Responder {generation}"))
        .issuer_name(issuing.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_ee_key_usage(non_repudiation=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(authority_key_identifier(issuing), critical=False)
        .sign(issuing_key, hashes.SHA256())
    )


def new_auth_subject_id() -> str:
    """A random, meaningless identifier: the whole subject of an auth certificate."""
    return secrets.token_hex(12).upper()


def build_end_entity(
    kind: CertKind, public_key: rsa.RSAPublicKey, issuing_key: rsa.RSAPrivateKey,
    issuing: x509.Certificate, serial: int, not_before: dt.datetime, not_after: dt.datetime,
    urls: JpkiUrls, generation: int, subject: SigningSubject | None = None,
    subject_id: str | None = None,
) -> x509.Certificate:
    """A card certificate: signing (with ``subject``) or auth (with ``subject_id`` only)."""
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != END_ENTITY_KEY_BITS:
        raise ValidationError(
            "カードの鍵は RSA 2048 ビットでなければなりません",
            "card keys must be RSA 2048-bit",
        )
    builder = x509.CertificateBuilder()
    if kind is CertKind.SIGNING:
        if subject is None:
            raise ValidationError("署名用電子証明書には基本4情報が必要です",
                                  "a signing certificate needs the four basic items")
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                          x509.NameAttribute(NameOID.COMMON_NAME, subject.name)])
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                SUBJECT_DIRECTORY_ATTRIBUTES, subject_directory_attributes(subject)
            ),
            critical=False,
        )
    else:
        if subject is not None or not subject_id:
            raise ValidationError("利用者証明用電子証明書に個人情報は記録しません",
                                  "an auth certificate carries an identifier and nothing else")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_id)])
    return (
        builder
        .subject_name(name)
        .issuer_name(issuing.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_ee_key_usage(non_repudiation=kind is CertKind.SIGNING), critical=True)
        .add_extension(_ski(public_key), critical=False)
        .add_extension(authority_key_identifier(issuing), critical=False)
        .add_extension(_crl_dp(urls.issuing_crl(generation)), critical=False)
        .add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(urls.ocsp)),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(urls.issuing_cert(generation))),
        ]), critical=False)
        .add_extension(_policies(policy_of(kind), cps=urls.cps), critical=False)
        .sign(issuing_key, hashes.SHA256())
    )


def kind_of(cert: x509.Certificate) -> CertKind | None:
    """Which card certificate this is, by its certificate policy."""
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return None
    oids = {p.policy_identifier for p in policies}
    if oids == {POLICY_SIGNING}:
        return CertKind.SIGNING
    if oids == {POLICY_AUTH}:
        return CertKind.AUTH
    return None


def signing_subject(cert: x509.Certificate) -> SigningSubject:
    """The four basic items read from a signing certificate."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        ext = cert.extensions.get_extension_for_oid(SUBJECT_DIRECTORY_ATTRIBUTES).value
    except x509.ExtensionNotFound:
        ext = None
    if len(names) != 1 or not isinstance(ext, x509.UnrecognizedExtension):
        raise ValidationError("署名用電子証明書に基本4情報がありません",
                              "the certificate does not carry the four basic items")
    attrs = parse_subject_directory_attributes(ext.value)
    birth, sex, address = attrs.get("birth_date"), attrs.get("sex"), attrs.get("address")
    if not isinstance(birth, dt.date) or not isinstance(sex, str) or not isinstance(address, str):
        raise ValidationError("署名用電子証明書の属性が欠けています",
                              "the certificate lacks birth date, sex or address")
    name = names[0].value
    return SigningSubject(name if isinstance(name, str) else name.decode(), birth, sex, address)


def subject_id_of(cert: x509.Certificate) -> str:
    """The identifier in an auth certificate's subject."""
    value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return value if isinstance(value, str) else value.decode()


def to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def serial_hex(serial: int) -> str:
    """A serial number as the upper-case hex OpenSSL prints.

    >>> serial_hex(255)
    'FF'
    """
    return format(serial, "X")
