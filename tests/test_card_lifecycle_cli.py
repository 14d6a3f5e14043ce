"""``myna card …`` and ``myna jpki …`` on an installation in a data directory (SQLite)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from PIL import Image, ImageDraw
from sqlalchemy import select
from typer.testing import CliRunner

from myna.card.cli import app as card_app
from myna.card.lifecycle import storage as t
from myna.card.lifecycle.domain import CardStatus
from myna.card.lifecycle.issuance import FAULT_POINTS as ISSUANCE_POINTS
from myna.card.lifecycle.production import FAULT_POINTS as PRODUCTION_POINTS
from myna.card.lifecycle.wiring import card_service
from myna.card.pins import PinIncorrect
from myna.check import check_installation
from myna.jpki.cli import app as jpki_app
from myna.jpki.domain import CertKind
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.system import MynaSystem

runner = CliRunner()
KUNITACHI = "132152"


def photo_file(path: Path) -> Path:
    img = Image.new("RGB", (480, 600), (196, 214, 232))
    ImageDraw.Draw(img).ellipse((130, 110, 350, 400), fill=(240, 206, 180))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def installation(tmp_path: Path) -> tuple[Path, int]:
    """A data directory with 国立市 and one adult resident (id returned)."""
    data = tmp_path / "data"
    system = MynaSystem(data)
    try:
        town = system.add_municipality(KUNITACHI)
        clerk = town.create_staff("clerk", "窓口", Role.CLERK, "password-1234")
        person = town.register_birth(clerk, PersonDetails(
            "国立　一郎", "くにたち　いちろう", dt.date(1985, 4, 1), "男"),
            HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1丁目1番1号"))
    finally:
        system.dispose()
    return data, person.resident_id


def ok(app: typer.Typer, args: list[str], data: Path, input: str | None = None) -> str:
    """Run a command that must succeed; its standard output."""
    result = runner.invoke(app, [*args, "--data-dir", str(data)], input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_card_and_jpki_commands(installation: tuple[Path, int], tmp_path: Path) -> None:
    data, rid = installation
    photo = photo_file(tmp_path / "me.png")
    applied = json.loads(ok(card_app, ["apply", "--photo", str(photo), "--municipality",
                                       KUNITACHI, "--resident-id", str(rid), "--staff", "clerk",
                                       "--json"], data))
    assert applied["channel"] == "窓口" and applied["photo"] == "PNG 480x600"
    [made] = json.loads(ok(card_app, ["produce", str(applied["receipt_no"]), "--json"], data))
    number = made["card_number"]
    assert made["status"] == "交付前" and made["signing_serial"]
    # PINs typed without echo (each asked twice)
    issued = json.loads(ok(card_app, ["issue", number, "--staff", "clerk", "-d", "パスポート",
                                      "--json"], data, input="4821\n4821\nK7Q2M9X4\nK7Q2M9X4\n"))
    assert issued["status"] == "交付済"
    assert issued["identity"] == {"method": "1点確認", "documents": ["旅券"]}
    ok(card_app, ["render", number, "--out", str(tmp_path / "front.png")], data)
    ok(card_app, ["render", number, "--side", "back", "--out", str(tmp_path / "back.png")], data,
       input="4821\n")
    assert Image.open(tmp_path / "back.png").size == (1011, 638)

    ok(jpki_app, ["rp", "add", "portal", "マイナポータル", "--kind", "both"], data)
    parties = json.loads(ok(jpki_app, ["rp", "list", "--json"], data))
    assert [p["party_id"] for p in parties] == ["portal"]

    # a signature made with the card, checked from files by the CLI
    system = MynaSystem(data)
    try:
        cards = card_service(system)
        document = "申請書".encode()
        (tmp_path / "doc.txt").write_bytes(document)
        (tmp_path / "doc.sig").write_bytes(cards.sign(number, "K7Q2M9X4", document))
        cert = cards.certificate(number, CertKind.SIGNING, "K7Q2M9X4")
        (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cards.engine.dispose()
    finally:
        system.dispose()
    verify = ["verify", "--cert", str(tmp_path / "cert.pem"), "--signature",
              str(tmp_path / "doc.sig"), "--document", str(tmp_path / "doc.txt"),
              "--relying-party", "portal"]
    assert "国立　一郎" in ok(jpki_app, verify, data)

    suspended = json.loads(ok(card_app, ["suspend", number, "--by", "call-centre", "--json"],
                              data))
    assert suspended["status"] == "一時停止"
    refused = runner.invoke(jpki_app, [*verify, "--data-dir", str(data)])
    assert refused.exit_code == 1 and "revoked" in refused.output
    ok(jpki_app, ["crl", "--out", str(tmp_path / "jpki.crl")], data)
    crl = x509.load_der_x509_crl((tmp_path / "jpki.crl").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    resumed = json.loads(ok(card_app, ["resume", number, "--staff", "clerk", "-d", "学生証",
                                       "-d", "保険証", "--json"], data))
    assert resumed["status"] == "交付済" and resumed["signing_serial"] != made["signing_serial"]
    status = json.loads(ok(card_app, ["status", number, "--history", "--json"], data))
    assert [e["event"] for e in status["history"]][-2:] == ["一時停止", "一時停止の解除"]
    ok(jpki_app, ["revoke", resumed["auth_serial"], "keyCompromise", "--note", "test"], data)

    ok(jpki_app, ["ca-export", str(tmp_path / "ca")], data)
    root = x509.load_pem_x509_certificate((tmp_path / "ca" / "root.pem").read_bytes())
    assert root.subject == root.issuer and (tmp_path / "ca" / "issuing-1.pem").exists()

    again = json.loads(ok(card_app, ["reissue", number, "--staff", "clerk", "-d", "運転免許証",
                                     "--json"], data))
    assert again["reissue_of"] == number and again["status"] == "受付"
    mine = json.loads(ok(card_app, ["status", "--municipality", KUNITACHI, "--resident-id",
                                    str(rid), "--json"], data))
    assert [c["status"] for c in mine] == ["廃止"]


def test_refusals_exit_with_code_2(installation: tuple[Path, int], tmp_path: Path) -> None:
    data, rid = installation
    junk = tmp_path / "photo.jpg"
    junk.write_text("not a photo")
    result = runner.invoke(card_app, ["apply", "--photo", str(junk), "--municipality", KUNITACHI,
                                      "--resident-id", str(rid), "--staff", "clerk",
                                      "--data-dir", str(data)])
    assert result.exit_code == 2 and "画像ファイルではない" in result.output
    result = runner.invoke(card_app, ["apply", "--photo", str(photo_file(tmp_path / "p.png")),
                                      "--channel", "mail", "--municipality", KUNITACHI,
                                      "--resident-id", str(rid), "--data-dir", str(data)])
    assert result.exit_code == 2 and "申請書ID" in result.output
    result = runner.invoke(jpki_app, ["revoke", "ABCDEF", "certificateHold",
                                      "--data-dir", str(data)])
    assert result.exit_code != 0


@pytest.mark.slow
def test_a_suspension_killed_after_revocation_completes_when_reported_again(
    installation: tuple[Path, int], tmp_path: Path,
) -> None:
    data, rid = installation
    photo = photo_file(tmp_path / "me.png")
    applied = json.loads(ok(card_app, ["apply", "--photo", str(photo), "--municipality",
                                       KUNITACHI, "--resident-id", str(rid), "--staff", "clerk",
                                       "--json"], data))
    [made] = json.loads(ok(card_app, ["produce", str(applied["receipt_no"]), "--json"], data))
    number = made["card_number"]
    ok(card_app, ["issue", number, "--staff", "clerk", "-d", "パスポート", "--json"], data,
       input="4821\n4821\nK7Q2M9X4\nK7Q2M9X4\n")
    suspend = [sys.executable, "-m", "myna.cli", "card", "suspend", number, "--by",
               "call-centre", "--data-dir", str(data)]
    killed = subprocess.run(suspend, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MYNA_KILL_AT": "card:suspend-after-revoke"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # the certificates are refused already; the card is not yet recorded as suspended
    system = MynaSystem(data)
    try:
        assert {r.status for r in system.jpki.certificates_for_card(number)} == {"revoked"}
        assert system.cards.card(number).status is not CardStatus.SUSPENDED
    finally:
        system.dispose()
    again = subprocess.run(suspend, capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if k != "MYNA_KILL_AT"})
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads(ok(card_app, ["resume", number, "--staff", "clerk", "-d", "学生証",
                                       "-d", "保険証", "--json"], data))
    # both certificates the suspension revoked were issued anew
    assert resumed["status"] == "交付済"
    assert resumed["signing_serial"] != made["signing_serial"]
    assert resumed["auth_serial"] != made["auth_serial"]


# -- production and hand-over resume after kill -9 at every step --------------------------------

MYNA = [sys.executable, "-m", "myna.cli"]


def _myna(data: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MYNA_KILL_AT"}
    if kill_at:
        env["MYNA_KILL_AT"] = kill_at
    return subprocess.run([*MYNA, *args, "--data-dir", str(data)], capture_output=True,
                          text=True, env=env, timeout=300)


def _applied(data: Path, rid: int, photo: Path) -> int:
    applied = json.loads(ok(card_app, ["apply", "--photo", str(photo), "--municipality",
                                       KUNITACHI, "--resident-id", str(rid), "--staff", "clerk",
                                       "--json"], data))
    return int(applied["receipt_no"])


def _problems(system: MynaSystem) -> set[str]:
    return {d.what_en for d in check_installation(system).disagreements}


def _invariants(system: MynaSystem, receipt: int) -> None:
    """One card for the application; exactly its certificates valid, each issued once;
    one chip with one key per slot; nothing left for ``myna check``."""
    cards = system.cards
    with cards.engine.connect() as conn:
        made = conn.execute(select(t.cards.c.card_number).where(
            t.cards.c.receipt_no == receipt)).scalars().all()
    assert len(made) == 1
    card = cards.card(made[0])
    records = system.jpki.certificates_for_card(card.card_number)
    assert sorted(r.serial for r in records) == sorted([card.auth_serial, card.signing_serial])
    assert all(r.status == "good" for r in records)
    assert system.chips.card_ids() == [card.card_number]
    keys = [e for _, e, _ in system.chips.events(card.card_number) if e == "key_generated"]
    assert len(keys) == 2
    assert check_installation(system).ok, check_installation(system).disagreements


@pytest.mark.slow
@pytest.mark.parametrize("point", PRODUCTION_POINTS)
def test_production_killed_at_any_step_completes_when_run_again(
    installation: tuple[Path, int], tmp_path: Path, point: str,
) -> None:
    data, rid = installation
    receipt = _applied(data, rid, photo_file(tmp_path / "me.png"))
    killed = _myna(data, "card", "produce", str(receipt), "--json", kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    system = MynaSystem(data)
    try:  # no card yet; myna check names the unfinished production
        assert system.cards.cards() == []
        assert "card productions begun and not finished (run again to complete)" in \
            _problems(system)
    finally:
        system.dispose()
    # the same command again (or the batch of all waiting applications)
    again = _myna(data, "card", "produce", *(["--all"] if PRODUCTION_POINTS.index(point) % 2
                                            else [str(receipt)]), "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    [made] = json.loads(again.stdout)
    assert made["status"] == "交付前" and made["signing_certificate"] == "valid"
    system = MynaSystem(data)
    try:
        _invariants(system, receipt)
    finally:
        system.dispose()
    # and once more: nothing changes, the same card answers
    [same] = json.loads(ok(card_app, ["produce", str(receipt), "--json"], data))
    assert same["card_number"] == made["card_number"]


@pytest.mark.slow
@pytest.mark.parametrize("point", ISSUANCE_POINTS)
def test_hand_over_killed_at_any_step_completes_when_run_again(
    installation: tuple[Path, int], tmp_path: Path, point: str,
) -> None:
    data, rid = installation
    receipt = _applied(data, rid, photo_file(tmp_path / "me.png"))
    [made] = json.loads(ok(card_app, ["produce", str(receipt), "--json"], data))
    number = made["card_number"]
    issue = ["card", "issue", number, "--staff", "clerk", "-d", "パスポート", "--json"]
    killed = _myna(data, *issue, "--auth-pin", "4821", "--signing-pin", "K7Q2M9X4",
                   kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    system = MynaSystem(data)
    try:
        assert system.cards.card(number).status is CardStatus.PRODUCED
        assert "hand-overs begun and not finished (run again to complete)" in _problems(system)
    finally:
        system.dispose()
    # the resident types PINs again (other ones, this time): those are the card's
    again = _myna(data, *issue, "--auth-pin", "1357", "--signing-pin", "NEWPIN88")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["status"] == "交付済"
    system = MynaSystem(data)
    try:
        _invariants(system, receipt)
        assert system.cards.sign(number, "NEWPIN88", b"doc")
        with pytest.raises(PinIncorrect):
            system.cards.sign(number, "K7Q2M9X4", b"doc")
        assert [e.event for e in system.cards.history(number)].count("交付") == 1
    finally:
        system.dispose()
    refused = _myna(data, *issue, "--auth-pin", "1357", "--signing-pin", "NEWPIN88")
    assert refused.returncode == 2 and "交付済" in refused.stderr


def _issued(data: Path, rid: int, photo: Path) -> tuple[int, str]:
    receipt = _applied(data, rid, photo)
    [made] = json.loads(ok(card_app, ["produce", str(receipt), "--json"], data))
    ok(card_app, ["issue", made["card_number"], "--staff", "clerk", "-d", "パスポート",
                  "--json"], data, input="4821\n4821\nK7Q2M9X4\nK7Q2M9X4\n")
    return receipt, str(made["card_number"])


@pytest.mark.slow
def test_a_resumption_killed_after_the_new_certificates_completes_when_run_again(
    installation: tuple[Path, int], tmp_path: Path,
) -> None:
    """The found card's new keys and certificates come before its record: killed in
    between, the card is still suspended, myna check names it, and the same command
    completes it with exactly the newest certificates valid."""
    data, rid = installation
    receipt, number = _issued(data, rid, photo_file(tmp_path / "me.png"))
    ok(card_app, ["suspend", number, "--by", "call-centre"], data)
    resume = ["card", "resume", number, "--staff", "clerk", "-d", "学生証", "-d", "保険証",
              "--json"]
    killed = _myna(data, *resume, kill_at="card:resume-after-certify")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    system = MynaSystem(data)
    try:
        assert system.cards.card(number).status is CardStatus.SUSPENDED
        assert not check_installation(system).ok
    finally:
        system.dispose()
    again = _myna(data, *resume)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["status"] == "交付済"
    system = MynaSystem(data)
    try:
        card = system.cards.card(number)
        good = {r.serial for r in system.jpki.certificates_for_card(number)
                if r.status == "good"}
        assert good == {card.auth_serial, card.signing_serial}
        assert check_installation(system).ok, check_installation(system).disagreements
        assert system.cards.sign(number, "K7Q2M9X4", b"doc")  # the PINs are the card's own
    finally:
        system.dispose()


@pytest.mark.slow
def test_a_renewal_killed_after_the_new_certificates_completes_when_run_again(
    installation: tuple[Path, int], tmp_path: Path,
) -> None:
    data, rid = installation
    receipt, number = _issued(data, rid, photo_file(tmp_path / "me.png"))
    script = ("import sys\nfrom myna.system import MynaSystem\n"
              "s = MynaSystem(sys.argv[1])\n"
              f"s.cards.renew_certificates('{number}', staff_id='clerk', documents=['旅券'])\n")
    env = {k: v for k, v in os.environ.items() if k != "MYNA_KILL_AT"}
    killed = subprocess.run([sys.executable, "-c", script, str(data)], capture_output=True,
                            text=True, timeout=300,
                            env={**env, "MYNA_KILL_AT": "card:renew-after-certify"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    system = MynaSystem(data)
    try:
        assert not check_installation(system).ok  # the card names superseded certificates
    finally:
        system.dispose()
    again = subprocess.run([sys.executable, "-c", script, str(data)], capture_output=True,
                           text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    system = MynaSystem(data)
    try:
        card = system.cards.card(number)
        good = {r.serial for r in system.jpki.certificates_for_card(number)
                if r.status == "good"}
        assert good == {card.auth_serial, card.signing_serial}
        assert check_installation(system).ok, check_installation(system).disagreements
        assert [e.event for e in system.cards.history(number)].count("電子証明書の更新") == 1
    finally:
        system.dispose()
