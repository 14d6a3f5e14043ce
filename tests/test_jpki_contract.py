"""The relying parties' contract (myna.contracts.jpki.JpkiApi), in-process and over HTTP.

One scenario — J-LIS registers a 署名検証者, the party verifies a signature made on a
card's chip, J-LIS revokes the certificate (the card was lost), the next verification is
refused with the reason, OCSP and the CRL say revoked, and a withdrawn party is refused
— runs against :class:`JpkiService` itself and against :class:`JpkiClient` talking to a
real ``myna serve --node jlis`` process.
"""

from __future__ import annotations

import ast
import datetime as dt
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from sqlalchemy import Engine

from myna.card.chip import ChipStore
from myna.card.enrolment import enrol_jpki
from myna.contracts.jpki import (
    CertificateRejected,
    CertKind,
    JpkiApi,
    RejectReason,
    RelyingPartyKind,
    SigningSubject,
)
from myna.db import make_engine, node_url
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.jpki.service import JpkiService
from myna.keys import MemoryKeyStore
from myna.netca import NetworkCA
from myna.system import MynaSystem
from myna.transport.http import NodeIdentity
from myna.transport.jpki_client import JpkiClient
from myna.transport.processes import free_port, running_nodes

ICHIRO = SigningSubject("国立 一郎", dt.date(1990, 6, 15), "男", "東京都国立市北1丁目1番1号")
PARTY = "business:etax"  # a relying party reached over the network is registered by node id
SIGNING_PIN = "K7Q2M9X4"
DOCUMENT = "令和8年分 所得税及び復興特別所得税の確定申告書\n氏名: 国立 一郎\n".encode()


@dataclass
class Setup:
    """Who calls: the relying party, J-LIS's administration, and J-LIS's own CA handle."""

    party: JpkiApi
    admin: JpkiApi
    jlis: JpkiService
    chips: ChipStore
    card_id: str
    signing_serial: int
    auth_serial: int


def _enrol(jpki: JpkiService, chips: ChipStore) -> tuple[int, int]:
    enrolled = enrol_jpki(jpki, chips, "CARD-1", "person-1", ICHIRO)
    chips.set_pins("CARD-1", auth_pin="4821", signing_pin=SIGNING_PIN)
    assert enrolled.signing_serial is not None
    return enrolled.signing_serial, enrolled.auth_serial


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[Setup]:
    keys = MemoryKeyStore()
    engines: list[Engine] = []

    def engine(node: str) -> Engine:
        engines.append(make_engine(node_url(tmp_path, node, None), node))
        return engines[-1]

    jpki = JpkiService(engine("jpki"), keys)
    jpki.create_schema()
    chips = ChipStore(engine("card-chips"), keys)
    chips.create_schema()
    signing, auth = _enrol(jpki, chips)
    yield Setup(jpki, jpki, jpki, chips, "CARD-1", signing, auth)
    for e in engines:
        e.dispose()


@pytest.fixture
def over_http(tmp_path: Path) -> Iterator[Setup]:
    data = tmp_path / "data"
    system = MynaSystem(data)
    signing, auth = _enrol(system.jpki, system.chips)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    system.config.endpoints = {"jlis": url}
    system.save_config()
    netca = NetworkCA(system.keys, data / "netca")
    party = JpkiClient(url, NodeIdentity(PARTY, *netca.identity(PARTY)))
    admin = JpkiClient(url, NodeIdentity("jlis", *netca.identity("jlis")))
    with running_nodes(data, {"jlis": port}):
        # J-LIS's operators act on the CA's own database (as `myna jpki revoke` does)
        yield Setup(party, admin, system.jpki, system.chips, "CARD-1", signing, auth)
    system.dispose()


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    return (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
            .build().public_bytes(serialization.Encoding.DER))


def scenario(s: Setup) -> None:
    """Register, verify a card's signature, revoke, refused with the reason, OCSP revoked."""
    api = s.party
    registered = s.admin.register_relying_party(PARTY, "国税庁 e-Tax",
                                                RelyingPartyKind.SIGNATURE_VERIFIER)
    assert registered.kind is RelyingPartyKind.SIGNATURE_VERIFIER and registered.active
    with pytest.raises(Conflict, match="既に登録されています"):
        s.admin.register_relying_party(PARTY, "別の名称", RelyingPartyKind.BOTH)
    with pytest.raises(ValidationError, match="認定番号"):
        s.admin.register_relying_party("business:shop", "民間", "署名検証者",
                                       category="総務大臣認定事業者")

    cas = api.ca_certificates()
    issuing = x509.load_pem_x509_certificate(cas.issuing[0])
    root = x509.load_pem_x509_certificate(cas.root)
    issuing.verify_directly_issued_by(root)
    cert = s.chips.read_certificate(s.card_id, "signing", SIGNING_PIN)
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    signature = s.chips.sign(s.card_id, "signing", SIGNING_PIN, DOCUMENT)

    verified = api.verify_signature(DOCUMENT, signature, cert_der, relying_party=PARTY,
                                    chain=[issuing.public_bytes(serialization.Encoding.DER)])
    assert verified.subject == ICHIRO and verified.kind is CertKind.SIGNING
    assert verified.serial == s.signing_serial
    with pytest.raises(CertificateRejected, match="署名が文書と一致しません") as bad:
        api.verify_signature(DOCUMENT + b"\n", signature, cert_der, relying_party=PARTY)
    assert bad.value.reason is RejectReason.BAD_SIGNATURE
    # a 署名検証者 may not check the auth certificate
    auth_der = s.chips.read_certificate(s.card_id, "auth").public_bytes(
        serialization.Encoding.DER)
    with pytest.raises(PermissionDenied, match="利用者証明用電子証明書を検証できません"):
        api.verify_signature(DOCUMENT, signature, auth_der, relying_party=PARTY,
                             purpose=CertKind.AUTH)
    assert api.certificate_status(s.signing_serial, relying_party=PARTY).status == "good"
    good = ocsp.load_der_ocsp_response(api.ocsp_response(_ocsp_request(cert, issuing), PARTY))
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD

    # the card is reported lost: J-LIS revokes both certificates
    assert sorted(s.jlis.revoke_card(s.card_id, x509.ReasonFlags.key_compromise, "紛失")) == \
        sorted([s.signing_serial, s.auth_serial])
    with pytest.raises(CertificateRejected, match="この証明書は失効しています") as refused:
        api.verify_signature(DOCUMENT, signature, cert_der, relying_party=PARTY)
    assert refused.value.reason is RejectReason.REVOKED
    assert "keyCompromise" in refused.value.message_en
    status = api.certificate_status(format(s.signing_serial, "x"), relying_party=PARTY)
    assert (status.status, status.kind, status.revocation_reason) == (
        "revoked", CertKind.SIGNING, "keyCompromise")
    answer = ocsp.load_der_ocsp_response(api.ocsp_response(_ocsp_request(cert, issuing), PARTY))
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.key_compromise
    responder = answer.certificates[0]
    responder.verify_directly_issued_by(issuing)
    key = responder.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(answer.signature, answer.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256())
    crl = x509.load_der_x509_crl(api.current_crl(relying_party=PARTY))
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    listed = crl.get_revoked_certificate_by_serial_number(s.signing_serial)
    assert listed is not None
    assert listed.extensions.get_extension_for_class(x509.CRLReason).value.reason \
        is x509.ReasonFlags.key_compromise
    # nothing revoked since: the same CRL again, not a new number
    assert api.current_crl(relying_party=PARTY) == crl.public_bytes(serialization.Encoding.DER)

    # every question is in J-LIS's log, refusals included
    log = [(q.operation, q.result) for q in s.jlis.query_log(PARTY)]
    assert log == [("verify_signature", "ok"), ("verify_signature", "bad_signature"),
                   ("verify_signature", "denied"), ("status", "good"), ("ocsp", "good"),
                   ("verify_signature", "revoked"), ("status", "revoked"), ("ocsp", "revoked"),
                   ("crl", "issuing"), ("crl", "issuing")]

    s.admin.deregister_relying_party(PARTY)
    with pytest.raises(PermissionDenied, match="登録されていません"):
        api.certificate_status(s.signing_serial, relying_party=PARTY)
    with pytest.raises(NotFound):
        s.admin.deregister_relying_party("business:nobody")
    assert s.jlis.query_log(PARTY)[-1].result == "denied"


def test_the_contract_in_process(in_process: Setup) -> None:
    scenario(in_process)


@pytest.mark.slow
def test_the_contract_over_http(over_http: Setup) -> None:
    scenario(over_http)
    party = over_http.party
    assert isinstance(party, JpkiClient)
    # a relying party asks as itself, and registers no one
    over_http.admin.register_relying_party(PARTY, "国税庁 e-Tax", "署名検証者",
                                           update_existing=True)
    with pytest.raises(PermissionDenied, match="他の検証者の名義"):
        party.certificate_status(over_http.signing_serial, relying_party="business:other")
    with pytest.raises(PermissionDenied, match="この操作を行えません"):
        party.register_relying_party("business:other", "他社", "署名検証者")
    # a malformed request is an error of its own kind, not a crash
    with pytest.raises(ValidationError, match="形式が不正"):
        party.post("/node/v1/jpki/certificate-status", {"relying_party": PARTY})


def test_both_implementations_satisfy_the_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mypy accepts JpkiService and JpkiClient as JpkiApi, and refuses a class that is not."""
    from mypy import api as mypy_api

    checked = tmp_path / "check_jpki_api.py"
    checked.write_text(textwrap.dedent("""
        from myna.contracts.jpki import JpkiApi
        from myna.jpki.service import JpkiService
        from myna.transport.jpki_client import JpkiClient


        def both(service: JpkiService, client: JpkiClient) -> list[JpkiApi]:
            x: JpkiApi = service
            y: JpkiApi = client
            return [x, y]


        class NoOcsp(JpkiService):
            ocsp_response = None  # type: ignore[assignment]


        def not_one(service: NoOcsp) -> JpkiApi:
            return service
    """), encoding="utf-8")
    src = Path(__file__).resolve().parent.parent / "src"
    monkeypatch.setenv("MYPYPATH", str(src))  # this tree's myna, whatever is installed
    out, err, status = mypy_api.run([
        "--config-file", str(src.parent / "pyproject.toml"),
        "--cache-dir", str(tmp_path / "mypy-cache"), str(checked),
    ])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    assert len(errors) == 1, out  # the only error: NoOcsp is not a JpkiApi
    assert f"{checked.name}:18: error: Incompatible return value" in errors[0], out
    assert "JpkiApi" in errors[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_storage_touches_the_database_and_the_contract_only_the_kernel() -> None:
    src = Path(__file__).resolve().parent.parent / "src" / "myna"
    # (service.py, which wires the use cases to storage, names the Engine type it is given)
    for module in ("domain", "authority", "issuance", "revocation", "crl", "parties",
                   "ocsp_responder", "verification", "routes"):
        imported = _imports(src / "jpki" / f"{module}.py")
        assert not {m for m in imported if m.split(".")[0] == "sqlalchemy"}, module
    contract = _imports(src / "contracts" / "jpki.py")
    kernel = ("myna.errors", "myna.numbers", "myna.clock", "myna.events", "myna.linkage")
    mine = {m for m in contract if m.startswith("myna")}
    assert mine and all(m.startswith(kernel) for m in mine), mine
    assert not {m for m in contract if m.split(".")[0] in ("sqlalchemy", "cryptography")}
