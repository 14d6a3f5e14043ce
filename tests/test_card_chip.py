"""The card's IC chip: keys that never leave it, PIN rules, lockout, municipality reset.

design.md §4 (JPKI): auth PIN 4 digits, locks after 3 wrong tries; signing PIN
6–16 of A–Z/0–9 with both letters and digits, locks after 5; a correct PIN
resets the counter.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Engine, create_engine, select, text

from myna.card import storage as t
from myna.card.authorisation import MunicipalityCardDesk
from myna.card.chip import ChipStore
from myna.card.enrolment import enrol_jpki
from myna.card.pins import PinIncorrect, PinLocked, Slot, validate_pin
from myna.db import make_engine, node_url
from myna.errors import (
    Conflict,
    InvalidFormat,
    InvalidLength,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from myna.jpki.domain import CertKind, RelyingPartyKind, SigningSubject
from myna.jpki.service import JpkiService
from myna.keys import FileKeyStore, KeyStore, MemoryKeyStore

NOW = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)
KUNITACHI = "132152"
KOKUBUNJI = "132144"
ICHIRO = SigningSubject("国立 一郎", dt.date(1990, 6, 15), "男", "東京都国立市北1丁目1番1号")
AUTH_PIN = "4821"
SIGN_PIN = "K7Q2M9X4"


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


class Nodes:
    """Engines for fresh nodes; PostgreSQL schemas get a unique prefix and are dropped."""

    def __init__(self, data_dir: Path, url: str | None) -> None:
        self.data_dir = data_dir
        self.url = url
        self.namespace = f"t{uuid.uuid4().hex[:10]}_"
        self.made: list[Engine] = []

    def name(self, node: str) -> str:
        return self.namespace + node

    def __call__(self, node: str) -> Engine:
        name = self.name(node)
        engine: Engine = make_engine(node_url(self.data_dir, name, self.url), name)
        self.made.append(engine)
        return engine


@pytest.fixture
def engines(tmp_path: Path, backend: str | None) -> Iterator[Nodes]:
    nodes = Nodes(tmp_path / "data", backend)
    yield nodes
    for engine in nodes.made:
        engine.dispose()
    if backend:
        admin = create_engine(backend, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for schema in conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                {"p": f"myna_{nodes.namespace}%"},
            ).scalars().all():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def keys() -> KeyStore:
    return MemoryKeyStore()


@pytest.fixture
def ca(engines: Nodes, keys: KeyStore, clock: Clock) -> JpkiService:
    service = JpkiService(engines("jpki"), keys, now=clock)
    service.create_schema()
    service.register_relying_party("portal", "マイナポータル", RelyingPartyKind.BOTH)
    return service


@pytest.fixture
def chips(engines: Nodes, keys: KeyStore, clock: Clock) -> ChipStore:
    store = ChipStore(engines("card-chips"), keys, now=clock)
    store.create_schema()
    return store


@pytest.fixture
def card(ca: JpkiService, chips: ChipStore) -> str:
    """A personalised card with PINs set, as handed over at the counter."""
    enrol_jpki(ca, chips, "CARD-1", "holder-1", ICHIRO)
    chips.set_pins("CARD-1", auth_pin=AUTH_PIN, signing_pin=SIGN_PIN)
    return "CARD-1"


# -- keys stay on the chip --------------------------------------------------------------------


def test_signatures_verify_under_the_certified_key(
    ca: JpkiService, chips: ChipStore, card: str
) -> None:
    doc = "転出届".encode()
    sig = chips.sign(card, Slot.SIGNING, SIGN_PIN, doc)
    cert = chips.read_certificate(card, Slot.SIGNING, SIGN_PIN)
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(sig, doc, padding.PKCS1v15(), hashes.SHA256())
    assert ca.verify_signature(doc, sig, cert, relying_party="portal").subject == ICHIRO
    # portal login: a challenge signed with the auth key, checked for the auth purpose
    challenge = b"login-challenge-7f3a"
    auth_sig = chips.sign(card, "auth", AUTH_PIN, challenge)
    auth_cert = chips.read_certificate(card, Slot.AUTH)  # no PIN needed: no personal data
    verified = ca.verify_signature(challenge, auth_sig, auth_cert, relying_party="portal",
                                   purpose=CertKind.AUTH)
    assert verified.subject is None and verified.subject_id


def test_private_keys_never_leave_the_chip(
    chips: ChipStore, card: str, engines: Nodes, clock: Clock
) -> None:
    public_api = [name for name in dir(chips) if not name.startswith("_")]
    assert not [name for name in public_api if "private" in name or "export" in name]
    with chips.engine.connect() as conn:
        rows = conn.execute(select(t.chip_slots)).all()
    assert len(rows) == 2
    for row in rows:
        wrapped = bytes(row.wrapped_key)
        assert b"PRIVATE KEY" not in wrapped
        with pytest.raises(ValueError):
            serialization.load_der_private_key(wrapped, password=None)
        with pytest.raises(ValueError):
            serialization.load_der_private_key(wrapped[12:], password=None)
    # a copy of the rows without the storage key: keys cannot be unwrapped, and even
    # the right PIN does not match (the PIN hash is peppered with the same key)
    thief = ChipStore(chips.engine, MemoryKeyStore(), now=clock)
    with pytest.raises(InvalidTag):
        thief._unwrap_key(rows[0], rows[0].card_id, Slot(rows[0].slot))
    chips._unwrap_key(rows[0], rows[0].card_id, Slot(rows[0].slot))  # the chip itself can
    with pytest.raises(PinIncorrect):
        thief.sign(card, Slot.AUTH, AUTH_PIN, b"x")


def test_pins_are_never_stored_in_the_clear(chips: ChipStore, card: str) -> None:
    with chips.engine.connect() as conn:
        dump = b"".join(
            repr(tuple(row)).encode()
            for table in t.metadata.sorted_tables
            for row in conn.execute(select(table)).all()
        )
        hashes_ = conn.execute(select(t.chip_slots.c.pin_hash)).scalars().all()
    for pin in (AUTH_PIN, SIGN_PIN):
        assert pin.encode() not in dump
    assert all(h is not None and len(bytes(h)) == 32 for h in hashes_)
    assert not any(AUTH_PIN in e or SIGN_PIN in e for _, e, _ in chips.events(card))


def test_certificate_must_match_the_chip_key(
    ca: JpkiService, chips: ChipStore, card: str
) -> None:
    other = ca.issue_auth_certificate("CARD-9", "holder-9", ICHIRO.birth_date,
                                      chips.public_key(card, Slot.SIGNING))
    with pytest.raises(ValidationError, match="一致しません"):
        chips.write_certificate(card, Slot.AUTH, other)


def test_reading_the_signing_certificate_needs_the_signing_pin(
    chips: ChipStore, card: str
) -> None:
    with pytest.raises(PermissionDenied, match="署名用の暗証番号が必要"):
        chips.read_certificate(card, Slot.SIGNING)
    with pytest.raises(PinIncorrect):
        chips.read_certificate(card, Slot.SIGNING, "WRONG1")
    assert chips.pin_status(card, Slot.SIGNING).failures == 1
    chips.read_certificate(card, Slot.SIGNING, SIGN_PIN)
    assert chips.pin_status(card, Slot.SIGNING).failures == 0


# -- PIN formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pin", "error", "reason"),
    [
        ("123456", InvalidFormat, "英字と数字の両方"),  # digits only
        ("ABCDEF", InvalidFormat, "英字と数字の両方"),  # letters only
        ("AB12", InvalidLength, "6文字以上16文字以下"),  # too short
        ("ABCDEFGH123456789", InvalidLength, "6文字以上16文字以下"),  # 17: too long
        ("abc123", InvalidFormat, "英大文字"),  # lower case
        ("Abc123", InvalidFormat, "英大文字"),
        ("ＡＢＣ１２３", InvalidFormat, "英大文字"),  # full-width
        ("ABC 123", InvalidFormat, "英大文字"),
        ("ABC-123", InvalidFormat, "英大文字"),
        ("", InvalidLength, "6文字以上"),
    ],
    ids=["digits-only", "letters-only", "too-short", "too-long", "lower-case", "mixed-case",
         "full-width", "space", "hyphen", "empty"],
)
def test_bad_signing_pins_are_refused(
    pin: str, error: type[ValidationError], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        validate_pin(Slot.SIGNING, pin)


@pytest.mark.parametrize("pin", ["ABC123", "A1B2C3D4E5F6G7H8", "000A00", "Z9Z9Z9"])
def test_good_signing_pins(pin: str) -> None:
    assert validate_pin(Slot.SIGNING, pin) == pin


@pytest.mark.parametrize(
    ("pin", "error"),
    [("123", InvalidLength), ("12345", InvalidLength), ("12a4", InvalidFormat),
     ("１２３４", InvalidFormat), ("", InvalidFormat), (" 1234", InvalidFormat)],
    ids=["three-digits", "five-digits", "a-letter", "full-width", "empty", "leading-space"],
)
def test_bad_auth_pins_are_refused(pin: str, error: type[ValidationError]) -> None:
    with pytest.raises(error, match="4"):
        validate_pin(Slot.AUTH, pin)


def test_set_pins_checks_formats_and_only_once(
    ca: JpkiService, chips: ChipStore
) -> None:
    enrol_jpki(ca, chips, "CARD-2", "holder-2", ICHIRO)
    with pytest.raises(Conflict, match="まだ設定されていません"):
        chips.sign("CARD-2", Slot.AUTH, AUTH_PIN, b"x")
    with pytest.raises(InvalidFormat):
        chips.set_pins("CARD-2", auth_pin=AUTH_PIN, signing_pin="abc123")
    assert not chips.pin_status("CARD-2", Slot.AUTH).is_set  # nothing half-done
    chips.set_pins("CARD-2", auth_pin=AUTH_PIN, signing_pin=SIGN_PIN)
    with pytest.raises(Conflict, match="既に設定"):
        chips.set_pins("CARD-2", auth_pin="0000")


def test_under_15_card_has_no_signing_slot(ca: JpkiService, chips: ChipStore) -> None:
    child = SigningSubject("国立 花子", dt.date(2015, 4, 1), "女", ICHIRO.address)
    with pytest.raises(ValidationError, match="15歳未満"):
        enrol_jpki(ca, chips, "CARD-C", "holder-c", child)
    with pytest.raises(NotFound):  # refused before anything was made
        chips.pin_status("CARD-C", Slot.AUTH)
    enrolled = enrol_jpki(ca, chips, "CARD-C", "holder-c", child, signing=False)
    assert enrolled.signing_serial is None
    chips.set_pins("CARD-C", auth_pin="1357")
    with pytest.raises(NotFound, match="署名用電子証明書の鍵がありません"):
        chips.sign("CARD-C", Slot.SIGNING, SIGN_PIN, b"x")


# -- counting, locking, resetting -------------------------------------------------------------


def test_auth_pin_locks_after_3_wrong_tries_and_a_correct_pin_resets(
    chips: ChipStore, card: str
) -> None:
    with pytest.raises(PinIncorrect, match="あと2回") as first:
        chips.sign(card, Slot.AUTH, "0000", b"x")
    assert first.value.remaining == 2
    with pytest.raises(PinIncorrect, match="あと1回"):
        chips.sign(card, Slot.AUTH, "1111", b"x")
    chips.sign(card, Slot.AUTH, AUTH_PIN, b"x")  # correct: the count starts again
    assert chips.pin_status(card, Slot.AUTH).failures == 0
    for remaining in (2, 1):
        with pytest.raises(PinIncorrect) as info:
            chips.sign(card, Slot.AUTH, "9999", b"x")
        assert info.value.remaining == remaining
    with pytest.raises(PinLocked, match="ロックされています"):
        chips.sign(card, Slot.AUTH, "9999", b"x")  # the 3rd wrong try locks
    with pytest.raises(PinLocked):
        chips.sign(card, Slot.AUTH, AUTH_PIN, b"x")  # even the correct PIN now
    status = chips.pin_status(card, Slot.AUTH)
    assert status.locked and status.remaining == 0
    # the signing PIN is independent
    chips.sign(card, Slot.SIGNING, SIGN_PIN, b"x")


def test_signing_pin_locks_after_5_wrong_tries(chips: ChipStore, card: str) -> None:
    for remaining in (4, 3, 2, 1):
        with pytest.raises(PinIncorrect) as info:
            chips.sign(card, Slot.SIGNING, "WRONG1", b"x")
        assert info.value.remaining == remaining
    with pytest.raises(PinLocked):
        chips.sign(card, Slot.SIGNING, "1234", b"x")  # any wrong PIN counts, any format
    with pytest.raises(PinLocked):
        chips.sign(card, Slot.SIGNING, SIGN_PIN, b"x")
    events = [e for s, e, _ in chips.events(card) if s == "signing"]
    assert events.count("pin_failed") == 4 and events[-2:] == ["pin_locked", "pin_refused_locked"]
    chips.sign(card, Slot.AUTH, AUTH_PIN, b"x")


def test_counts_persist_across_reopening(
    chips: ChipStore, card: str, keys: KeyStore, clock: Clock, engines: Nodes
) -> None:
    with pytest.raises(PinIncorrect):
        chips.sign(card, Slot.AUTH, "0000", b"x")
    with pytest.raises(PinIncorrect):
        chips.sign(card, Slot.AUTH, "0001", b"x")
    chips.engine.dispose()
    reopened = ChipStore(engines("card-chips"), keys, now=clock)  # same node, new engine
    assert reopened.pin_status(card, Slot.AUTH).failures == 2
    with pytest.raises(PinLocked):
        reopened.sign(card, Slot.AUTH, "0002", b"x")
    with pytest.raises(PinLocked):
        chips.sign(card, Slot.AUTH, AUTH_PIN, b"x")


_OTHER_PROCESS = """
import sys
from myna.card.chip import ChipStore
from myna.card.pins import PinIncorrect, PinLocked
from myna.db import make_engine, node_url
from myna.keys import FileKeyStore
data, node, url, keydir, pin = sys.argv[1:6]
store = ChipStore(make_engine(node_url(data, node, url or None), node), FileKeyStore(keydir))
try:
    store.sign("CARD-P", "auth", pin, b"from another process")
    print("signed")
except PinIncorrect as exc:
    print("incorrect", exc.remaining)
except PinLocked:
    print("locked")
"""


def test_another_process_sees_the_same_counter(
    tmp_path: Path, backend: str | None, engines: Nodes
) -> None:
    keys = FileKeyStore(tmp_path / "keys")
    store = ChipStore(engines("card-chips"), keys)
    store.create_schema()
    store.manufacture("CARD-P")
    store.generate_key_pair("CARD-P", Slot.AUTH)
    store.set_pins("CARD-P", auth_pin=AUTH_PIN)
    with pytest.raises(PinIncorrect):
        store.sign("CARD-P", Slot.AUTH, "0000", b"x")

    def other(pin: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", _OTHER_PROCESS, str(engines.data_dir),
             engines.name("card-chips"), backend or "", str(tmp_path / "keys"), pin],
            capture_output=True, text=True, check=True,
        )
        return out.stdout.strip()

    assert other("1111") == "incorrect 1"  # it saw our failure
    assert store.pin_status("CARD-P", Slot.AUTH).failures == 2  # we see its failure
    assert other(AUTH_PIN) == "signed"
    assert store.pin_status("CARD-P", Slot.AUTH).failures == 0
    for _ in range(2):
        other("2222")
    with pytest.raises(PinLocked):
        store.sign("CARD-P", Slot.AUTH, "3333", b"x")
    assert other(AUTH_PIN) == "locked"


def test_change_pin(chips: ChipStore, card: str) -> None:
    with pytest.raises(PinIncorrect):
        chips.change_pin(card, Slot.SIGNING, "NOTIT1", "NEW2PIN")
    with pytest.raises(InvalidFormat):
        chips.change_pin(card, Slot.SIGNING, SIGN_PIN, "newpin1")
    chips.change_pin(card, Slot.SIGNING, SIGN_PIN, "NEW2PIN")
    chips.sign(card, Slot.SIGNING, "NEW2PIN", b"x")
    with pytest.raises(PinIncorrect):
        chips.sign(card, Slot.SIGNING, SIGN_PIN, b"x")


# -- reset by the municipality ----------------------------------------------------------------


def _lock_auth(chips: ChipStore, card: str) -> None:
    for pin in ("0000", "0001", "0002"):
        with pytest.raises((PinIncorrect, PinLocked)):
            chips.sign(card, Slot.AUTH, pin, b"x")
    assert chips.pin_status(card, Slot.AUTH).locked


def test_municipality_token_unlocks_once(
    chips: ChipStore, card: str, keys: KeyStore, clock: Clock
) -> None:
    desk = MunicipalityCardDesk(KUNITACHI, keys, now=clock)
    chips.trust_municipality(KUNITACHI, desk.public_key())
    _lock_auth(chips, card)
    token = desk.authorise_pin_reset(card, Slot.AUTH, staff_id="staff-07")
    with pytest.raises(InvalidLength):
        chips.unlock(card, Slot.AUTH, "12345", token)
    chips.unlock(card, Slot.AUTH, "7364", token)
    status = chips.pin_status(card, Slot.AUTH)
    assert not status.locked and status.failures == 0
    chips.sign(card, Slot.AUTH, "7364", b"x")
    with pytest.raises(PinIncorrect):
        chips.sign(card, Slot.AUTH, AUTH_PIN, b"x")  # the old PIN is gone
    with pytest.raises(Conflict, match="既に使われています"):
        chips.unlock(card, Slot.AUTH, "1111", token)
    assert "pin_reset" in [e for _, e, _ in chips.events(card)]


def test_unlock_refuses_tokens_that_are_not_right(
    chips: ChipStore, card: str, keys: KeyStore, clock: Clock
) -> None:
    desk = MunicipalityCardDesk(KUNITACHI, keys, now=clock)
    chips.trust_municipality(KUNITACHI, desk.public_key())
    _lock_auth(chips, card)
    untrusted = MunicipalityCardDesk(KOKUBUNJI, keys, now=clock)
    cases = {
        "信頼されていません": untrusted.authorise_pin_reset(card, Slot.AUTH, "s1"),
        "別のカード": desk.authorise_pin_reset("CARD-OTHER", Slot.AUTH, "s1"),
        "別のカードまたは別の暗証番号": desk.authorise_pin_reset(card, Slot.SIGNING, "s1"),
        "形式が不正": "not-a-token",
    }
    good = desk.authorise_pin_reset(card, Slot.AUTH, "s1")
    head, _, sig = good.rpartition(".")
    cases["署名が検証できません"] = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    # a self-made token signed with a key the chip does not trust, under Kunitachi's code
    forger = MunicipalityCardDesk(KUNITACHI, MemoryKeyStore(), now=clock)
    cases["改ざんまたは偽造"] = forger.authorise_pin_reset(card, Slot.AUTH, "s1")
    for reason, token in cases.items():
        with pytest.raises(PermissionDenied, match=reason):
            chips.unlock(card, Slot.AUTH, "5555", token)
    clock.at = NOW + dt.timedelta(minutes=11)  # tokens live 10 minutes by default
    with pytest.raises(PermissionDenied, match="有効期限"):
        chips.unlock(card, Slot.AUTH, "5555", good)
    assert chips.pin_status(card, Slot.AUTH).locked
    with pytest.raises(ValidationError):
        desk.authorise_pin_reset(card, Slot.AUTH, "s1", lifetime=dt.timedelta(hours=2))


def test_retired_card_cannot_sign(chips: ChipStore, card: str) -> None:
    chips.retire(card)
    with pytest.raises(PermissionDenied, match="廃止"):
        chips.sign(card, Slot.AUTH, AUTH_PIN, b"x")
    with chips.engine.connect() as conn:
        assert set(conn.execute(select(t.chip_slots.c.wrapped_key)).scalars()) == {b""}


def test_signature_is_pkcs1_v15_sha256(chips: ChipStore, card: str) -> None:
    key = chips.public_key(card, Slot.AUTH)
    sig = chips.sign(card, Slot.AUTH, AUTH_PIN, b"data")
    key.verify(sig, b"data", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.verify(sig, b"data", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
