"""``myna demo --database-url postgresql+psycopg://…`` works end to end, again and again,
and the installation it leaves is the same as on SQLite and usable by every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from conftest import POSTGRES_URL
from myna.cli import app
from myna.db import drop_schemas
from myna.demo.scenario import demo_namespace
from myna.system import MynaSystem

runner = CliRunner()

pytestmark = [
    pytest.mark.postgres, pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL: MYNA_TEST_POSTGRES_URL is not set"),
]


def _towns(data: Path) -> dict[str, dict[str, int]]:
    system = MynaSystem(data)
    try:
        return {code: {k: v for k, v in registry.stats().items()
                       if k in ("residents", "households", "numbered", "removed")}
                for code, registry in system.registries.items()}
    finally:
        system.dispose()


def _schemas(prefix: str) -> set[str]:
    engine = create_engine(str(POSTGRES_URL))
    try:
        with engine.connect() as conn:
            return set(conn.execute(text(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"),
                {"p": prefix}).scalars())
    finally:
        engine.dispose()


def test_the_demo_runs_on_postgresql_twice_like_on_sqlite(
    tmp_path: Path, shared_demo: Path,
) -> None:
    data = tmp_path / "data"
    namespace = demo_namespace(data)
    try:
        summaries = []
        for _ in range(2):  # the second run replaces the first one's schemas
            result = runner.invoke(app, [
                "demo", "--residents", "60", "--seed", "11", "--data-dir", str(data),
                "--database-url", str(POSTGRES_URL), "--json"])
            assert result.exit_code == 0, result.output
            summaries.append(json.loads(result.stdout))
        assert summaries[0]["municipalities"] == summaries[1]["municipalities"]
        schemas = _schemas(f"myna_{namespace}")
        assert {f"myna_{namespace}registry_132152", f"myna_{namespace}hub"} <= schemas
        assert not list(data.glob("*.sqlite3"))  # every node is in PostgreSQL
        # the same seed gives the same town on either backend
        assert _towns(data) == _towns(shared_demo)
        for argv in (["card", "list", "--json"], ["log", "verify"], ["notify", "stats"],
                     ["link", "history", "--json"],
                     ["staff", "list", "--municipality", "132152"]):
            done = runner.invoke(app, [*argv, "--data-dir", str(data)])
            assert done.exit_code == 0, (argv, done.output)
    finally:
        drop_schemas(str(POSTGRES_URL), namespace)
    assert not _schemas(f"myna_{namespace}")


def test_the_demo_across_processes_runs_on_postgresql(tmp_path: Path) -> None:
    """Every node process on its own PostgreSQL schema, the demo against them."""
    data = tmp_path / "nodes"
    namespace = demo_namespace(data)
    try:
        result = runner.invoke(app, [
            "demo", "--residents", "60", "--seed", "11", "--data-dir", str(data),
            "--database-url", str(POSTGRES_URL), "--json", "--processes"])
        assert result.exit_code == 0, result.output[-3000:]
        summary = json.loads(result.stdout)
        assert summary["jlis"]["active_numbers"] > 60
        assert all(e["proof"]["verified"] for e in summary["exchanges"] if "proof" in e)
        assert f"myna_{namespace}registry_132152" in _schemas(f"myna_{namespace}")
        check = runner.invoke(app, ["check", "--data-dir", str(data)])
        assert check.exit_code == 0, check.output
    finally:
        drop_schemas(str(POSTGRES_URL), namespace)
