"""Shared fixtures: every storage test runs on SQLite and, when available, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from myna.keys import MemoryKeyStore
from myna.system import MynaSystem

POSTGRES_URL = os.environ.get("MYNA_TEST_POSTGRES_URL")

#: A parametrised test's id is read by people in reports: give it ``ids=`` or ``id=``
#: when the values themselves (bytes, long text) would make it unreadable.
MAX_ID = 100


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    long = [item.nodeid[:120] for item in items
            if "[" in item.nodeid and len(item.nodeid.split("[", 1)[1]) > MAX_ID]
    if long:
        raise pytest.UsageError(
            f"{len(long)} test ids are longer than {MAX_ID} characters; give them readable "
            f"ids= (e.g. {long[0]}…)")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The database URL to use (None = SQLite files in the data directory)."""
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("PostgreSQL: MYNA_TEST_POSTGRES_URL is not set")
        return POSTGRES_URL
    return None


@pytest.fixture
def system(tmp_path: Path, backend: str | None) -> Iterator[MynaSystem]:
    """A fresh installation (J-LIS + municipalities added by the test)."""
    namespace = f"t{uuid.uuid4().hex[:10]}_"
    sys_ = MynaSystem(tmp_path / "data", backend, keys=MemoryKeyStore(), namespace=namespace)
    try:
        yield sys_
    finally:
        sys_.dispose()
        if backend:
            engine = create_engine(backend, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                schemas = conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                    {"p": f"myna_{namespace}%"},
                ).scalars().all()
                for schema in schemas:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small demo installation (SQLite) for tests that read it or add to it only in
    ways the others do not look at; built once per run."""
    from typer.testing import CliRunner

    from myna.cli import app

    data = tmp_path_factory.mktemp("shared-demo") / "data"
    result = CliRunner().invoke(app, ["demo", "--residents", "60", "--data-dir", str(data),
                                      "--json", "--seed", "11"])
    assert result.exit_code == 0, result.output
    return data
