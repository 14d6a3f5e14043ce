"""Autogenerate the next Alembic revision of a node from its tables.

``python tools/new_migration.py myna.hub "initial schema" 0001``: builds a
scratch SQLite database at the node's current head, compares it with the
node's ``storage.metadata`` and writes the new revision file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

SRC = Path(__file__).resolve().parent.parent / "src"


def main() -> None:
    package, message, rev_id = sys.argv[1:4]
    location = SRC / package.replace(".", "/") / "migrations"
    (location / "versions").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.sqlite3"
        cfg = Config()
        cfg.set_main_option("script_location", str(location))
        cfg.set_main_option("sqlalchemy.url", url)
        engine = create_engine(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    main()
