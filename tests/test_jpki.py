"""JPKI (公的個人認証サービス): the J-LIS CA, its certificates, revocation, OCSP and verification.

Rules tested (design.md §4): signing certificate holds name, birth date, sex and
address, is not issued under 15 and is revoked when one of the 4 items changes;
auth certificate holds no personal data and survives moves; both are valid
through the holder's 5th birthday after the issue date (23:59:59 JST).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from sqlalchemy import Engine, create_engine, inspect, select, text

from myna.card.chip import ChipStore
from myna.card.enrolment import enrol_jpki
from myna.db import make_engine, node_url
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.jpki import certs
from myna.jpki import storage as t
from myna.jpki.domain import (
    ATTR_ADDRESS,
    JST,
    POLICY_AUTH,
    POLICY_SIGNING,
    SUBJECT_DIRECTORY_ATTRIBUTES,
    CertificateRejected,
    CertKind,
    PartyCategory,
    RejectReason,
    RelyingPartyKind,
    SigningSubject,
    parse_subject_directory_attributes,
)
from myna.jpki.service import JpkiService, unauthorized_ocsp_response
from myna.keys import MemoryKeyStore

ISSUE_DAY = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)  # 10:00 JST
ICHIRO = SigningSubject("国立 一郎", dt.date(1990, 6, 15), "男", "東京都国立市北1丁目1番1号")
RP = "rp-tax"  # a registered 署名検証者・利用者証明検証者


class Clock:
    """A settable clock for the CA."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def engines(tmp_path: Path, backend: str | None) -> Iterator[Callable[[str], Engine]]:
    """Engines for fresh nodes, in unique PostgreSQL schemas dropped afterwards."""
    namespace = f"t{uuid.uuid4().hex[:10]}_"
    made: list[Engine] = []

    def make(node: str) -> Engine:
        name = namespace + node
        engine: Engine = make_engine(node_url(tmp_path / "data", name, backend), name)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()
    if backend:
        admin = create_engine(backend, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for schema in conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                {"p": f"myna_{namespace}%"},
            ).scalars().all():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(ISSUE_DAY)


@pytest.fixture
def ca(engines: Callable[[str], Engine], clock: Clock) -> JpkiService:
    service = JpkiService(engines("jpki"), MemoryKeyStore(), now=clock)
    service.create_schema()
    service.register_relying_party(RP, "国税庁 e-Tax", RelyingPartyKind.BOTH)
    return service


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _issue_both(
    ca: JpkiService, subject: SigningSubject = ICHIRO, card: str = "CARD-1",
    person_key: str = "person-1",
) -> tuple[rsa.RSAPrivateKey, x509.Certificate, rsa.RSAPrivateKey, x509.Certificate]:
    sk, ak = _key(), _key()
    signing = ca.issue_signing_certificate(card, person_key, subject, sk.public_key())
    auth = ca.issue_auth_certificate(card, person_key, subject.birth_date, ak.public_key())
    return sk, signing, ak, auth


def _jst(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=JST)


# -- the hierarchy ------------------------------------------------------------------------


def test_chain_root_issuing_end_entity(ca: JpkiService) -> None:
    root, issuing = ca.root_certificate(), ca.issuing_certificate()
    _, signing, _, auth = _issue_both(ca)
    root.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(root)
    signing.verify_directly_issued_by(issuing)
    auth.verify_directly_issued_by(issuing)

    for ca_cert in (root, issuing):
        key = ca_cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
        assert ca_cert.signature_hash_algorithm is not None
        assert ca_cert.signature_hash_algorithm.name == "sha256"
        bc = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        ku = ca_cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    issuing_aki = issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert issuing_aki.key_identifier == root_ski.digest

    issuing_ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    for cert, policy, nonrep in ((signing, POLICY_SIGNING, True), (auth, POLICY_AUTH, False)):
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == "sha256"
        ext = cert.extensions
        assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
        ku = ext.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature
        assert ku.value.content_commitment is nonrep  # nonRepudiation only on signing
        assert not ku.value.key_cert_sign
        aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == issuing_ski.digest
        ext.get_extension_for_class(x509.SubjectKeyIdentifier)
        crl_dp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
        urls = [n.value for dp in crl_dp for n in dp.full_name or []]
        assert urls == ["http://127.0.0.1:8000/jpki/crl/issuing-1.crl"]
        aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [a.access_location.value for a in aia
                     if a.access_method == AuthorityInformationAccessOID.OCSP]
        assert ocsp_urls == ["http://127.0.0.1:8000/jpki/ocsp"]
        policies = ext.get_extension_for_class(x509.CertificatePolicies).value
        assert [p.policy_identifier for p in policies] == [policy]
        assert policy.dotted_string.startswith("2.25.167491082206999376147722605497722320262.1.1.")


def test_urls_are_configurable(engines: Callable[[str], Engine], clock: Clock) -> None:
    service = JpkiService(engines("jpki"), MemoryKeyStore(),
                          urls=certs.JpkiUrls("http://127.0.0.1:9090/pki"), now=clock)
    service.create_schema()
    _, signing, _, _ = _issue_both(service)
    aia = signing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert "http://127.0.0.1:9090/pki/ocsp" in [a.access_location.value for a in aia]
    with pytest.raises(ValidationError):
        certs.JpkiUrls("https://127.0.0.1/pki")


def test_ca_keys_are_stored_encrypted_and_survive_reopening(
    engines: Callable[[str], Engine], clock: Clock
) -> None:
    keys = MemoryKeyStore()
    engine = engines("jpki")
    first = JpkiService(engine, keys, now=clock)
    first.create_schema()
    with engine.connect() as conn:
        stored = conn.execute(select(t.ca_certificates.c.encrypted_key)).scalars().all()
    assert len(stored) == 2
    for pem in stored:
        assert bytes(pem).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(bytes(pem), password=None)
    again = JpkiService(engine, keys, now=clock)
    again.create_schema()
    assert again.root_certificate() == first.root_certificate()
    _, signing, _, _ = _issue_both(again)
    signing.verify_directly_issued_by(first.issuing_certificate())
    stranger = JpkiService(engine, MemoryKeyStore(), now=clock)  # other passphrase
    with pytest.raises(ValueError):
        stranger.create_schema()


def _alembic(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(t.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        step(cfg, revision)


def test_migration_renames_holder_ref_to_person_key_and_keeps_the_values(
    engines: Callable[[str], Engine], clock: Clock
) -> None:
    """0002 renames the column and its index on SQLite (batch) and PostgreSQL alike."""
    engine = engines("jpki")
    _alembic(engine, command.upgrade, "0001")
    at = ISSUE_DAY
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO ca_certificates (ca_id, role, generation, serial, subject, certificate,"
            " encrypted_key, not_before, not_after, created_at) VALUES (1, 'issuing', 1, 'A1',"
            " 'CN=x', :b, :b, :at, :at, :at)"), {"b": b"x", "at": at})
        conn.execute(text(
            "INSERT INTO certificates (serial, kind, card_id, holder_ref, issuer_ca_id,"
            " fingerprint, der, not_before, not_after, issued_at, status) VALUES ('B2', 'auth',"
            " 'CARD-OLD', 'person-7', 1, 'f', :b, :at, :at, :at, 'good')"), {"b": b"x", "at": at})
    _alembic(engine, command.upgrade, "head")
    found = inspect(engine)
    assert "holder_ref" not in {c["name"] for c in found.get_columns("certificates")}
    assert {i["name"]: i["column_names"] for i in found.get_indexes("certificates")} == {
        "ix_certificates_card": ["card_id"], "ix_certificates_person": ["person_key"]}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT person_key FROM certificates")).scalars().all() == [
            "person-7"]
    service = JpkiService(engine, MemoryKeyStore(), now=clock)
    assert service.cards_of_person("person-7") == ["CARD-OLD"]
    _alembic(engine, command.downgrade, "0001")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT holder_ref FROM certificates")).scalars().all() == [
            "person-7"]


# -- what the certificates carry -----------------------------------------------------------


def test_signing_certificate_carries_the_four_items_exactly(ca: JpkiService) -> None:
    subject = SigningSubject(
        "𠮷田　髙子", dt.date(1985, 2, 3), "女", "東京都国分寺市本町３丁目１番地の１　ﾊｲﾂ101"
    )
    cert = ca.issue_signing_certificate("CARD-Y", "person-y", subject, _key().public_key())
    assert certs.signing_subject(cert) == subject  # nothing normalised
    der = cert.public_bytes(serialization.Encoding.DER)
    name = subject.name.encode("utf-8")
    assert bytes([0x0C, len(name)]) + name in der  # commonName as UTF8String
    address = subject.address.encode("utf-8")
    assert bytes([0x0C, len(address)]) + address in der
    ext = cert.extensions.get_extension_for_oid(SUBJECT_DIRECTORY_ATTRIBUTES)
    assert not ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert parse_subject_directory_attributes(ext.value.value) == {
        "birth_date": dt.date(1985, 2, 3), "sex": "女", "address": subject.address,
    }
    assert b"19850203120000Z" in der  # RFC 3739 dateOfBirth, GeneralizedTime
    assert ATTR_ADDRESS.dotted_string.startswith("2.25.")


def test_auth_certificate_carries_no_personal_data(ca: JpkiService) -> None:
    _, signing, _, auth = _issue_both(ca)
    der = auth.public_bytes(serialization.Encoding.DER)
    forbidden = [
        ICHIRO.name, "国立", "一郎", "クニタチ", ICHIRO.address, "東京都", "国立市",
        "19900615", "1990-06-15", "900615",
    ]
    for item in forbidden:
        assert item.encode("utf-8") not in der, item
        assert item.encode("utf-16-be") not in der, item
    assert "男".encode() not in der
    # the subject is a meaningless identifier and nothing else
    assert [a.oid for a in auth.subject] == [NameOID.COMMON_NAME]
    subject_id = certs.subject_id_of(auth)
    assert len(subject_id) == 24 and int(subject_id, 16) >= 0
    for absent in (x509.SubjectAlternativeName,):
        with pytest.raises(x509.ExtensionNotFound):
            auth.extensions.get_extension_for_class(absent)
    with pytest.raises(x509.ExtensionNotFound):
        auth.extensions.get_extension_for_oid(SUBJECT_DIRECTORY_ATTRIBUTES)
    # while the signing certificate does carry them
    sder = signing.public_bytes(serialization.Encoding.DER)
    assert ICHIRO.name.encode() in sder and ICHIRO.address.encode() in sder


# -- issue rules ----------------------------------------------------------------------------


def test_no_signing_certificate_under_15(ca: JpkiService) -> None:
    fourteen = SigningSubject("国立 二郎", dt.date(2011, 11, 23), "男", ICHIRO.address)
    with pytest.raises(ValidationError, match="15歳未満") as info:
        ca.issue_signing_certificate("CARD-2", "person-2", fourteen, _key().public_key())
    assert "aged 14" in info.value.message_en
    assert ca.certificates_for_card("CARD-2") == []
    # the auth certificate has no age limit
    ca.issue_auth_certificate("CARD-2", "person-2", fourteen.birth_date, _key().public_key())
    # 15 on the issue date (the 15th birthday itself) is enough
    fifteen = SigningSubject("国立 三郎", dt.date(2011, 11, 22), "男", ICHIRO.address)
    ca.issue_signing_certificate("CARD-3", "person-3", fifteen, _key().public_key())


@pytest.mark.parametrize(
    ("birth", "last_day"),
    [
        (dt.date(1990, 6, 15), dt.date(2031, 6, 15)),  # the example in the brief
        (dt.date(1990, 11, 22), dt.date(2031, 11, 22)),  # birthday on the issue date: not "after"
        (dt.date(1990, 11, 23), dt.date(2030, 11, 23)),  # the day after issue is the 1st
        (dt.date(2004, 2, 29), dt.date(2031, 2, 28)),  # 29 Feb: 28 Feb in a common year
        (dt.date(2008, 2, 29), dt.date(2031, 2, 28)),
    ],
)
def test_valid_through_the_5th_birthday_after_issue(
    ca: JpkiService, birth: dt.date, last_day: dt.date
) -> None:
    subject = SigningSubject("国立 一郎", birth, "男", ICHIRO.address)
    _, signing, _, auth = _issue_both(ca, subject, card=f"C-{birth.isoformat()}")
    end = dt.datetime.combine(last_day, dt.time(23, 59, 59), JST)
    for cert in (signing, auth):
        assert cert.not_valid_after_utc == end.astimezone(dt.UTC)
        assert cert.not_valid_before_utc == ISSUE_DAY


def test_validity_is_enforced_to_the_second(ca: JpkiService) -> None:
    sk, signing, ak, auth = _issue_both(ca)
    doc = "確定申告書 令和13年分".encode()
    last = _jst(2031, 6, 15, 23, 59, 59)
    ok = ca.verify_signature(doc, _sign(sk, doc), signing, relying_party=RP, now=last)
    assert ok.subject == ICHIRO
    ca.verify(auth, relying_party=RP, purpose=CertKind.AUTH, now=last)
    for cert, purpose in ((signing, CertKind.SIGNING), (auth, CertKind.AUTH)):
        with pytest.raises(CertificateRejected, match="有効期限") as info:
            ca.verify(cert, relying_party=RP, purpose=purpose, now=_jst(2031, 6, 16))
        assert info.value.reason is RejectReason.EXPIRED
        assert "2031-06-15 23:59:59 JST" in info.value.message_ja
    with pytest.raises(CertificateRejected) as early:
        ca.verify(auth, relying_party=RP, purpose=CertKind.AUTH, now=ISSUE_DAY - dt.timedelta(1))
    assert early.value.reason is RejectReason.NOT_YET_VALID


def test_only_rsa_2048_card_keys(ca: JpkiService) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValidationError, match="RSA 2048"):
        ca.issue_auth_certificate("CARD-S", "h", ICHIRO.birth_date, small.public_key())


def test_subject_rules() -> None:
    with pytest.raises(ValidationError, match="性別"):
        SigningSubject("国立 一郎", dt.date(1990, 6, 15), "M", ICHIRO.address)
    with pytest.raises(ValidationError, match="住所"):
        SigningSubject("国立 一郎", dt.date(1990, 6, 15), "男", " ")
    with pytest.raises(ValidationError, match="制御文字"):
        SigningSubject("国立\n一郎", dt.date(1990, 6, 15), "男", ICHIRO.address)


# -- revocation -------------------------------------------------------------------------------


def test_address_change_revokes_only_the_signing_certificate(ca: JpkiService) -> None:
    sk, signing, ak, auth = _issue_both(ca)
    other = _issue_both(ca, card="CARD-OTHER", person_key="person-other")
    assert ca.on_identity_changed("person-1", ["furigana", "世帯"]) == []  # not in the cert
    assert ca.on_identity_changed("person-1", ["住所"]) == [signing.serial_number]
    record = ca.certificate(signing.serial_number)
    assert record.status == "revoked"
    assert record.revocation_reason is x509.ReasonFlags.affiliation_changed
    assert ca.certificate(auth.serial_number).status == "good"  # survives the move
    assert ca.certificate(other[1].serial_number).status == "good"  # someone else's
    with pytest.raises(CertificateRejected, match="失効") as info:
        ca.verify(signing, relying_party=RP, purpose=CertKind.SIGNING)
    assert info.value.reason is RejectReason.REVOKED
    assert "記載事項" in info.value.message_ja
    challenge = b"portal-login-nonce-1"
    assert ca.verify_signature(challenge, _sign(ak, challenge), auth, relying_party=RP,
                               purpose=CertKind.AUTH).subject is None
    # a new signing certificate for the new address works
    moved = SigningSubject(ICHIRO.name, ICHIRO.birth_date, ICHIRO.sex, "東京都国分寺市本町1-1")
    new_key = _key()
    renewed = ca.issue_signing_certificate("CARD-1", "person-1", moved, new_key.public_key())
    doc = b"application"
    assert ca.verify_signature(doc, _sign(new_key, doc), renewed,
                               relying_party=RP).subject == moved


@pytest.mark.parametrize("field", ["name", "birth_date", "sex", "address", "氏名", "性別"])
def test_any_of_the_four_items_revokes(ca: JpkiService, field: str) -> None:
    _, signing, _, auth = _issue_both(ca)
    assert ca.on_identity_changed("person-1", [field]) == [signing.serial_number]
    assert ca.certificate(auth.serial_number).status == "good"


def test_revoke_with_rfc5280_reasons(ca: JpkiService) -> None:
    _, signing, _, auth = _issue_both(ca)
    record = ca.revoke(auth.serial_number, "keyCompromise", "カード紛失")
    assert record.revocation_reason is x509.ReasonFlags.key_compromise
    with pytest.raises(Conflict, match="既に失効"):
        ca.revoke(auth.serial_number, x509.ReasonFlags.superseded)
    with pytest.raises(ValidationError, match="失効理由"):
        ca.revoke(signing.serial_number, "certificateHold")
    with pytest.raises(ValidationError, match="失効理由"):
        ca.revoke(signing.serial_number, "lost")
    with pytest.raises(NotFound):
        ca.revoke(12345, "keyCompromise")
    assert ca.revoke_card("CARD-1", "cessationOfOperation") == [signing.serial_number]


def test_new_certificate_supersedes_the_old_one_on_the_card(ca: JpkiService) -> None:
    _, first, _, _ = _issue_both(ca)
    second = ca.issue_signing_certificate("CARD-1", "person-1", ICHIRO, _key().public_key())
    old = ca.certificate(first.serial_number)
    assert old.status == "revoked"
    assert old.revocation_reason is x509.ReasonFlags.superseded
    assert ca.certificate(second.serial_number).status == "good"


def test_crl_lists_revoked_certificates_with_number_and_next_update(
    ca: JpkiService, clock: Clock
) -> None:
    _, signing, _, auth = _issue_both(ca)
    _, s2, _, _ = _issue_both(ca, card="CARD-2", person_key="person-2")
    first = ca.crl()
    assert len(first) == 0
    ca.on_identity_changed("person-1", ["address"])
    ca.revoke(s2.serial_number, "unspecified")
    clock.at = ISSUE_DAY + dt.timedelta(hours=1)
    crl = ca.crl()
    issuing_key = ca.issuing_certificate().public_key()
    assert isinstance(issuing_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(issuing_key)
    assert crl.issuer == ca.issuing_certificate().subject
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    assert crl.last_update_utc == clock.at
    assert crl.next_update_utc == clock.at + dt.timedelta(hours=24)
    entry = crl.get_revoked_certificate_by_serial_number(signing.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.affiliation_changed
    plain = crl.get_revoked_certificate_by_serial_number(s2.serial_number)
    assert plain is not None and len(plain.extensions) == 0  # unspecified: no reasonCode
    assert crl.get_revoked_certificate_by_serial_number(auth.serial_number) is None
    arl = ca.crl("root")
    assert arl.issuer == ca.root_certificate().subject and len(arl) == 0


# -- verification -----------------------------------------------------------------------------


def test_verify_returns_the_signer_attributes(ca: JpkiService) -> None:
    sk, signing, _, _ = _issue_both(ca)
    doc = "婚姻届".encode()
    result = ca.verify_signature(doc, _sign(sk, doc), signing.public_bytes(
        serialization.Encoding.PEM), relying_party=RP,
        chain=[ca.issuing_certificate(), ca.root_certificate()])
    assert result.kind is CertKind.SIGNING
    assert result.subject == ICHIRO
    assert result.serial == signing.serial_number


def test_tampered_document_or_signature_is_refused(ca: JpkiService) -> None:
    sk, signing, ak, _ = _issue_both(ca)
    doc = b"pay 1000 yen"
    sig = _sign(sk, doc)
    with pytest.raises(CertificateRejected, match="署名が文書と一致しません") as info:
        ca.verify_signature(b"pay 9000 yen", sig, signing, relying_party=RP)
    assert info.value.reason is RejectReason.BAD_SIGNATURE
    with pytest.raises(CertificateRejected) as flipped:
        ca.verify_signature(doc, sig[:-1] + bytes([sig[-1] ^ 1]), signing, relying_party=RP)
    assert flipped.value.reason is RejectReason.BAD_SIGNATURE
    with pytest.raises(CertificateRejected) as wrong_key:  # signed with the auth key
        ca.verify_signature(doc, _sign(ak, doc), signing, relying_party=RP)
    assert wrong_key.value.reason is RejectReason.BAD_SIGNATURE


def test_tampered_certificate_is_refused(ca: JpkiService) -> None:
    _, signing, _, _ = _issue_both(ca)
    der = bytearray(signing.public_bytes(serialization.Encoding.DER))
    name = ICHIRO.name.encode()
    at = bytes(der).index(name)
    der[at : at + len(name)] = "国立 二郎".encode()  # same length: still parses
    with pytest.raises(CertificateRejected, match="改ざん") as info:
        ca.verify(bytes(der), relying_party=RP, purpose=CertKind.SIGNING)
    assert info.value.reason is RejectReason.UNKNOWN_CA
    with pytest.raises(CertificateRejected) as garbage:
        ca.verify(b"not a certificate", relying_party=RP, purpose=CertKind.SIGNING)
    assert garbage.value.reason is RejectReason.MALFORMED


def test_certificates_of_another_ca_are_refused(
    ca: JpkiService, engines: Callable[[str], Engine], clock: Clock
) -> None:
    # another CA with the very same names (a lookalike), and its intermediate
    rogue = JpkiService(engines("jpki-rogue"), MemoryKeyStore(), now=clock)
    rogue.create_schema()
    assert rogue.issuing_certificate().subject == ca.issuing_certificate().subject
    sk, foreign, _, _ = _issue_both(rogue)
    doc = b"doc"
    with pytest.raises(CertificateRejected, match="改ざん、または同名の別の認証局") as info:
        ca.verify_signature(doc, _sign(sk, doc), foreign, relying_party=RP)
    assert info.value.reason is RejectReason.UNKNOWN_CA
    _, mine, _, _ = _issue_both(ca)
    with pytest.raises(CertificateRejected, match="認証局のものではありません") as chain:
        ca.verify(mine, relying_party=RP, purpose=CertKind.SIGNING,
                  chain=[rogue.issuing_certificate()])
    assert chain.value.reason is RejectReason.UNKNOWN_CA
    # a certificate from an unrelated, differently named CA
    other_key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other CA")])
    stranger = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(other_key.public_key()).serial_number(mine.serial_number)
        .not_valid_before(ISSUE_DAY).not_valid_after(ISSUE_DAY + dt.timedelta(days=30))
        .sign(other_key, hashes.SHA256())
    )
    with pytest.raises(CertificateRejected, match="発行したものではありません") as named:
        ca.verify(stranger, relying_party=RP, purpose=CertKind.SIGNING)
    assert named.value.reason is RejectReason.UNKNOWN_CA


def test_certificate_for_the_wrong_purpose_is_refused(ca: JpkiService) -> None:
    _, signing, _, auth = _issue_both(ca)
    with pytest.raises(CertificateRejected, match="利用者証明用電子証明書です") as info:
        ca.verify(auth, relying_party=RP, purpose=CertKind.SIGNING)
    assert info.value.reason is RejectReason.WRONG_PURPOSE
    with pytest.raises(CertificateRejected, match="署名用電子証明書です"):
        ca.verify(signing, relying_party=RP, purpose=CertKind.AUTH)


def test_revocation_is_checked_on_every_use_without_caching(
    ca: JpkiService, engines: Callable[[str], Engine], clock: Clock
) -> None:
    sk, signing, _, _ = _issue_both(ca)
    doc = b"doc"
    sig = _sign(sk, doc)
    assert ca.verify_signature(doc, sig, signing, relying_party=RP).subject == ICHIRO
    # revoked through another handle on the same database (another process, say)
    other = JpkiService(ca.engine, MemoryKeyStore(), now=clock)
    other.revoke(signing.serial_number, "keyCompromise")
    with pytest.raises(CertificateRejected) as info:
        ca.verify_signature(doc, sig, signing, relying_party=RP)
    assert info.value.reason is RejectReason.REVOKED
    assert "鍵の危殆化" in info.value.message_ja
    # a relying party cannot dodge revocation by asking about an earlier moment
    with pytest.raises(CertificateRejected):
        ca.verify(signing, relying_party=RP, purpose=CertKind.SIGNING,
                  now=ISSUE_DAY + dt.timedelta(seconds=1))


# -- relying parties --------------------------------------------------------------------------


def test_unregistered_relying_parties_are_refused_and_logged(
    ca: JpkiService, clock: Clock
) -> None:
    sk, signing, _, auth = _issue_both(ca)
    with pytest.raises(PermissionDenied, match="登録されていません"):
        ca.verify(signing, relying_party="shop-x", purpose=CertKind.SIGNING)
    request = ocsp.OCSPRequestBuilder().add_certificate(
        signing, ca.issuing_certificate(), hashes.SHA1()).build()
    with pytest.raises(PermissionDenied):
        ca.ocsp_response(request.public_bytes(serialization.Encoding.DER), "shop-x")
    log = ca.query_log("shop-x")
    serial = certs.serial_hex(signing.serial_number)
    assert [(q.operation, q.serial, q.result) for q in log] == [
        ("verify", serial, "denied"), ("ocsp", serial, "denied")]
    assert ocsp.load_der_ocsp_response(unauthorized_ocsp_response()).response_status \
        is ocsp.OCSPResponseStatus.UNAUTHORIZED

    # an approved private company (総務大臣認定事業者) for authentication only
    with pytest.raises(ValidationError, match="認定番号"):
        ca.register_relying_party("bank-a", "A銀行", RelyingPartyKind.AUTH_VERIFIER,
                                  category=PartyCategory.APPROVED_PRIVATE)
    ca.register_relying_party("bank-a", "A銀行", RelyingPartyKind.AUTH_VERIFIER,
                              category=PartyCategory.APPROVED_PRIVATE,
                              approval_ref="総務省-2026-001")
    ca.verify(auth, relying_party="bank-a", purpose=CertKind.AUTH)
    with pytest.raises(PermissionDenied, match="署名用電子証明書を検証できません"):
        ca.verify(signing, relying_party="bank-a", purpose=CertKind.SIGNING)
    with pytest.raises(PermissionDenied):  # nor ask OCSP about a signing certificate
        ca.ocsp_response(request.public_bytes(serialization.Encoding.DER), "bank-a")
    ca.deregister_relying_party("bank-a")
    with pytest.raises(PermissionDenied):
        ca.verify(auth, relying_party="bank-a", purpose=CertKind.AUTH)


def test_every_query_is_logged(ca: JpkiService, clock: Clock) -> None:
    sk, signing, _, auth = _issue_both(ca)
    ca.verify(signing, relying_party=RP, purpose=CertKind.SIGNING)
    clock.at = ISSUE_DAY + dt.timedelta(minutes=5)
    with pytest.raises(CertificateRejected):
        ca.verify_signature(b"x", b"bad", signing, relying_party=RP)
    request = ocsp.OCSPRequestBuilder().add_certificate(
        auth, ca.issuing_certificate(), hashes.SHA256()).build()
    ca.ocsp_response(request.public_bytes(serialization.Encoding.DER), RP)
    log = ca.query_log(RP)
    serial = certs.serial_hex(signing.serial_number)
    assert [(q.party_id, q.operation, q.serial, q.purpose, q.result) for q in log] == [
        (RP, "verify", serial, "signing", "ok"),
        (RP, "verify_signature", serial, "signing", "bad_signature"),
        (RP, "ocsp", certs.serial_hex(auth.serial_number), "auth", "good"),
    ]
    assert log[0].at == ISSUE_DAY and log[1].at == clock.at
    assert [q.operation for q in ca.query_log(serial=signing.serial_number)] == [
        "verify", "verify_signature"]


# -- OCSP -------------------------------------------------------------------------------------


def _ocsp(ca: JpkiService, cert: x509.Certificate, issuer: x509.Certificate | None = None,
          algorithm: hashes.HashAlgorithm | None = None) -> ocsp.OCSPResponse:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer or ca.issuing_certificate(), algorithm or hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
    )
    return ocsp.load_der_ocsp_response(
        ca.ocsp_response(request.public_bytes(serialization.Encoding.DER), RP)
    )


def test_ocsp_good_revoked_unknown(ca: JpkiService, clock: Clock) -> None:
    _, signing, _, auth = _issue_both(ca)
    good = _ocsp(ca, signing)
    assert good.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == signing.serial_number
    assert good.next_update_utc is None  # never cache: ask again next time
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce \
        == b"0123456789abcdef"
    # signed by a delegated responder certified by the issuing CA
    responder = good.certificates[0]
    responder.verify_directly_issued_by(ca.issuing_certificate())
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in eku
    key = responder.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(good.signature, good.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256())

    ca.on_identity_changed("person-1", ["name"])
    clock.at = ISSUE_DAY + dt.timedelta(minutes=1)
    revoked = _ocsp(ca, signing, algorithm=hashes.SHA256())
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.affiliation_changed
    assert revoked.revocation_time_utc == ISSUE_DAY
    assert _ocsp(ca, auth).certificate_status is ocsp.OCSPCertStatus.GOOD

    # a serial the CA never issued, and a certificate of an unknown issuer
    ghost = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(good.issuer_name_hash, good.issuer_key_hash, 424242,
                                 hashes.SHA1())
        .build()
    )
    unknown = ocsp.load_der_ocsp_response(
        ca.ocsp_response(ghost.public_bytes(serialization.Encoding.DER), RP))
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert _ocsp(ca, signing, issuer=ca.root_certificate()).certificate_status \
        is ocsp.OCSPCertStatus.UNKNOWN
    malformed = ocsp.load_der_ocsp_response(ca.ocsp_response(b"\x30\x03junk", RP))
    assert malformed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    results = [q.result for q in ca.query_log(RP)]
    assert results == ["good", "revoked", "good", "unknown", "unknown", "malformed"]


def test_ocsp_responder_certificate_is_renewed(ca: JpkiService, clock: Clock) -> None:
    _, signing, _, _ = _issue_both(ca)
    first = _ocsp(ca, signing).certificates[0]
    clock.at = ISSUE_DAY + dt.timedelta(days=365 * 3)
    later = _ocsp(ca, signing)
    renewed = later.certificates[0]
    assert renewed.serial_number != first.serial_number
    assert renewed.not_valid_before_utc <= clock.at <= renewed.not_valid_after_utc
    assert later.certificate_status is ocsp.OCSPCertStatus.GOOD


# -- outside tools agree: the openssl command line --------------------------------------------

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command line is not installed: outside check skipped"
)


def _openssl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def live(engines: Callable[[str], Engine], tmp_path: Path) -> tuple[JpkiService, ChipStore, Path]:
    """CA and chips on the real clock (openssl checks times against the system clock)."""
    keys = MemoryKeyStore()
    service = JpkiService(engines("jpki"), keys)
    service.create_schema()
    service.register_relying_party(RP, "国税庁 e-Tax", RelyingPartyKind.BOTH)
    chips = ChipStore(engines("card-chips"), keys)
    chips.create_schema()
    enrol_jpki(service, chips, "CARD-1", "person-1", ICHIRO)
    chips.set_pins("CARD-1", auth_pin="4821", signing_pin="K7Q2M9X4")
    out = tmp_path / "pki"
    out.mkdir()
    (out / "root.pem").write_bytes(certs.to_pem(service.root_certificate()))
    (out / "issuing.pem").write_bytes(certs.to_pem(service.issuing_certificate()))
    (out / "signing.pem").write_bytes(
        certs.to_pem(chips.read_certificate("CARD-1", "signing", "K7Q2M9X4")))
    (out / "auth.pem").write_bytes(certs.to_pem(chips.read_certificate("CARD-1", "auth")))
    return service, chips, out


@needs_openssl
def test_openssl_verifies_the_chain(
    live: tuple[JpkiService, ChipStore, Path], engines: Callable[[str], Engine]
) -> None:
    service, _, d = live
    ok = _openssl(d, "verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "issuing.pem",
                  "signing.pem", "auth.pem")
    assert ok.returncode == 0, ok.stderr
    assert "signing.pem: OK" in ok.stdout and "auth.pem: OK" in ok.stdout
    alone = _openssl(d, "verify", "-CAfile", "root.pem", "signing.pem")
    assert alone.returncode != 0  # the intermediate is needed
    rogue = JpkiService(engines("jpki-rogue"), MemoryKeyStore())
    rogue.create_schema()
    _, foreign, _, _ = _issue_both(rogue)
    (d / "foreign.pem").write_bytes(certs.to_pem(foreign))
    (d / "rogue-issuing.pem").write_bytes(certs.to_pem(rogue.issuing_certificate()))
    bad = _openssl(d, "verify", "-CAfile", "root.pem", "-untrusted", "rogue-issuing.pem",
                   "foreign.pem")
    assert bad.returncode != 0
    # what openssl reads from the certificates
    subject = _openssl(d, "x509", "-in", "signing.pem", "-noout", "-subject", "-nameopt",
                       "utf8,sep_comma_plus")
    assert "CN=国立 一郎" in subject.stdout
    dump = _openssl(d, "x509", "-in", "auth.pem", "-noout", "-text", "-nameopt", "utf8")
    assert "国立" not in dump.stdout and "東京都" not in dump.stdout
    assert "Digital Signature" in dump.stdout and "Non Repudiation" not in dump.stdout
    assert "OCSP - URI:http://127.0.0.1:8000/jpki/ocsp" in dump.stdout


@needs_openssl
def test_openssl_reads_the_four_items(live: tuple[JpkiService, ChipStore, Path]) -> None:
    _, _, d = live
    cert = x509.load_pem_x509_certificate((d / "signing.pem").read_bytes())
    ext = cert.extensions.get_extension_for_oid(SUBJECT_DIRECTORY_ATTRIBUTES).value
    assert isinstance(ext, x509.UnrecognizedExtension)
    (d / "sda.der").write_bytes(ext.value)
    parsed = _openssl(d, "asn1parse", "-inform", "DER", "-in", "sda.der")
    assert parsed.returncode == 0, parsed.stderr
    out = parsed.stdout
    assert ":id-pda-dateOfBirth" in out and ":19900615120000Z" in out
    assert ":id-pda-gender" in out and "PRINTABLESTRING   :M" in out
    assert ATTR_ADDRESS.dotted_string in out and f"UTF8STRING        :{ICHIRO.address}" in out


@needs_openssl
def test_openssl_checks_the_crl(live: tuple[JpkiService, ChipStore, Path]) -> None:
    service, _, d = live
    service.on_identity_changed("person-1", ["address"])
    pem = serialization.Encoding.PEM
    (d / "crl.pem").write_bytes(service.crl().public_bytes(pem))
    (d / "crls.pem").write_bytes(
        service.crl().public_bytes(pem) + service.crl("root").public_bytes(pem))
    revoked = _openssl(d, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem",
                       "-untrusted", "issuing.pem", "signing.pem")
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    good = _openssl(d, "verify", "-crl_check_all", "-CRLfile", "crls.pem", "-CAfile", "root.pem",
                    "-untrusted", "issuing.pem", "auth.pem")
    assert good.returncode == 0, good.stdout + good.stderr  # survives the move
    text_ = _openssl(d, "crl", "-in", "crl.pem", "-noout", "-text").stdout
    assert "X509v3 CRL Number" in text_ and "Next Update" in text_
    assert "Affiliation Changed" in text_


@needs_openssl
def test_openssl_checks_a_signature_made_on_the_chip(
    live: tuple[JpkiService, ChipStore, Path],
) -> None:
    service, chips, d = live
    document = "令和8年分 確定申告書\n氏名: 国立 一郎\n".encode()
    (d / "doc.txt").write_bytes(document)
    (d / "doc.sig").write_bytes(chips.sign("CARD-1", "signing", "K7Q2M9X4", document))
    pub = _openssl(d, "x509", "-in", "signing.pem", "-pubkey", "-noout")
    (d / "pub.pem").write_text(pub.stdout)
    ok = _openssl(d, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "doc.sig", "doc.txt")
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    (d / "tampered.txt").write_bytes(document.replace("国立".encode(), "国分".encode()))
    bad = _openssl(d, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "doc.sig",
                   "tampered.txt")
    assert bad.returncode != 0 and "Verification failure" in bad.stdout
    # and the J-LIS verifier agrees on the very files openssl checked
    assert service.verify_signature(document, (d / "doc.sig").read_bytes(),
                                    (d / "signing.pem").read_bytes(),
                                    relying_party=RP).subject == ICHIRO


@needs_openssl
def test_openssl_ocsp_client_accepts_our_responder(
    live: tuple[JpkiService, ChipStore, Path],
) -> None:
    service, _, d = live
    made = _openssl(d, "ocsp", "-issuer", "issuing.pem", "-cert", "signing.pem",
                    "-reqout", "req.der")
    assert made.returncode == 0, made.stderr
    (d / "resp.der").write_bytes(service.ocsp_response((d / "req.der").read_bytes(), RP))
    # the nonce openssl put in the request comes back, and the signature chains to the root
    check = _openssl(d, "ocsp", "-reqin", "req.der", "-respin", "resp.der", "-CAfile", "root.pem",
                     "-resp_text")
    assert check.returncode == 0, check.stderr
    assert "Response verify OK" in check.stderr
    assert "Cert Status: good" in check.stdout and "OCSP Nonce" in check.stdout
    status = _openssl(d, "ocsp", "-respin", "resp.der", "-issuer", "issuing.pem",
                      "-cert", "signing.pem", "-no_nonce", "-CAfile", "root.pem")
    assert status.returncode == 0 and "signing.pem: good" in status.stdout

    service.on_identity_changed("person-1", ["name"])
    (d / "resp2.der").write_bytes(service.ocsp_response((d / "req.der").read_bytes(), RP))
    revoked = _openssl(d, "ocsp", "-respin", "resp2.der", "-issuer", "issuing.pem",
                       "-cert", "signing.pem", "-no_nonce", "-CAfile", "root.pem", "-resp_text")
    assert revoked.returncode == 0 and "Response verify OK" in revoked.stderr
    assert "signing.pem: revoked" in revoked.stdout
    assert "Reason: affiliationChanged" in revoked.stdout

    _openssl(d, "ocsp", "-issuer", "issuing.pem", "-serial", "0x1234", "-reqout", "req3.der")
    (d / "resp3.der").write_bytes(service.ocsp_response((d / "req3.der").read_bytes(), RP))
    unknown = _openssl(d, "ocsp", "-respin", "resp3.der", "-issuer", "issuing.pem",
                       "-serial", "0x1234", "-no_nonce", "-CAfile", "root.pem")
    assert unknown.returncode == 0 and "0x1234: unknown" in unknown.stdout
