"""No log holds an individual number, a 住民票コード or a name — even when the database fails.

A trigger makes the registry's database refuse a write, so that the driver's
error (which quotes the statement and, unless hidden, its parameters) travels
through the service, the API and the server.  The log says which error and
which request, and nothing about the person.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from myna.cli import app as cli
from myna.db import is_postgres
from myna.system import MynaSystem
from myna.transport.processes import free_port, running_staff_app
from myna.web import create_app
from seeded import KUNITACHI, PASSWORD, SECRET, Town, seed_town

NEWBORN = {"name": "秘密 花子", "furigana": "ひみつ はなこ", "birth_date": "2026-11-01",
           "sex": "女"}
#: What may never appear: a run of 11 or 12 digits (a 住民票コード or an individual number).
IDENTIFIER = re.compile(r"(?<!\d)\d{11,12}(?!\d)")


def refuse_writes(engine: Engine, table: str) -> None:
    """Make the database itself refuse every INSERT into ``table``."""
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.execute(text(
                "CREATE OR REPLACE FUNCTION myna_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql"))
            conn.execute(text(f'CREATE TRIGGER refuse BEFORE INSERT ON "{table}" '
                              "FOR EACH ROW EXECUTE FUNCTION myna_refuse()"))
        else:
            conn.execute(text(f'CREATE TRIGGER refuse BEFORE INSERT ON "{table}" '
                              "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"))


def assert_clean(log: str, town: Town) -> None:
    people = [town.head, town.wife, town.child, town.protected]
    secrets = [NEWBORN["name"], NEWBORN["furigana"], "秘密", "ひみつ"]
    for person in people:
        secrets += [person.name, person.furigana, person.resident_code,
                    person.individual_number or "-"]
    leaked = [s for s in secrets if s in log] + IDENTIFIER.findall(log)
    assert not leaked, f"the log holds {leaked}:\n{log}"


@pytest.fixture
def town(system: MynaSystem) -> Iterator[Town]:
    yield seed_town(system)


@pytest.mark.parametrize("table", ["residents", "resident_versions", "access_log"])
def test_a_failed_write_logs_its_class_and_request_never_the_data(
    town: Town, table: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(town.system, SECRET)) as client:
        token = client.post("/api/v1/token", data={"username": f"{KUNITACHI}:clerk1",
                                                   "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        refuse_writes(town.registry.engine, table)
        answer = client.post(
            f"/api/v1/municipalities/{KUNITACHI}/residents/births", headers=bearer,
            json={"person": NEWBORN, "placement": {
                "relationship": "子", "household_number": town.head.household_number}})
        view = client.get(
            f"/api/v1/municipalities/{KUNITACHI}/residents/{town.head.resident_id}",
            params={"purpose": "resident-registry"}, headers=bearer)
    failed = [a for a in (answer, view) if a.status_code == 500]
    assert failed, (answer.status_code, view.status_code)
    for response in failed:
        body = response.json()
        assert body["request_id"] == response.headers["X-Request-ID"]
        assert body["request_id"] in caplog.text and "受付番号" in body["message"]
        assert "disk on fire" not in json.dumps(body)
    assert "unexpected error" in caplog.text
    assert "IntegrityError" in caplog.text or "InternalError" in caplog.text \
        or "RaiseException" in caplog.text
    assert_clean(caplog.text, town)


def test_a_failed_write_in_a_command_says_so_without_the_data(tmp_path: Path) -> None:
    system = MynaSystem(tmp_path / "data")  # keys on disk, as the command will find them
    try:
        refuse_writes(system.add_municipality(KUNITACHI).engine, "staff")
    finally:
        system.dispose()
    result = CliRunner().invoke(cli, [
        "staff", "add", "--municipality", KUNITACHI, "--id", "new1", "--name", "秘密 花子",
        "--data-dir", str(tmp_path / "data"), "--password", "long-enough-1"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "データベースの操作に失敗しました" in said and "Traceback" not in said
    assert "秘密" not in said and "disk on fire" not in said


@pytest.mark.slow
def test_the_server_process_logs_no_identifier(tmp_path: Path) -> None:
    """``myna serve`` as its own process, with the database refusing the write."""
    data = tmp_path / "data"
    built = CliRunner().invoke(cli, ["demo", "--residents", "50", "--data-dir", str(data),
                                     "--json"])
    assert built.exit_code == 0, built.output
    staff = json.loads((data / "demo-staff.json").read_text(encoding="utf-8"))
    password = next(s["password"] for s in staff
                    if s["municipality"] == KUNITACHI and s["staff_id"] == "clerk")
    system = MynaSystem(data)
    try:
        registry = system.registry(KUNITACHI)
        people = registry.current_residents()
        head = next(p for p in people if p.relationship == "世帯主")
        refuse_writes(registry.engine, "residents")
    finally:
        system.dispose()
    port, log = free_port(), tmp_path / "serve.log"
    with running_staff_app(data, port, log):
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/api/v1/token",
                           data={"username": f"{KUNITACHI}:clerk", "password": password})
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = httpx.post(
            f"{base}/api/v1/municipalities/{KUNITACHI}/residents/births", headers=bearer,
            json={"person": NEWBORN, "placement": {
                "relationship": "子", "household_number": head.household_number}})
        assert answer.status_code == 500
        search = httpx.get(f"{base}/api/v1/municipalities/{KUNITACHI}/residents",
                           headers=bearer, params={"purpose": "resident-registry",
                                                   "name": head.name})
        assert search.status_code == 200
    written = log.read_text(encoding="utf-8", errors="replace")
    assert answer.json()["request_id"] in written
    leaked = [s for s in (NEWBORN["name"], NEWBORN["furigana"], head.name, head.furigana,
                          head.resident_code, head.individual_number or "-") if s in written]
    assert not leaked and not IDENTIFIER.findall(written), written
