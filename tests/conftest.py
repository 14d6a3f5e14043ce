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
