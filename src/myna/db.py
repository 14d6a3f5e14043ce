"""Storage plumbing shared by every node: engines, migrations, bulk writes.

Each node owns its own database: by default one SQLite file per node under the
data directory, or any SQLAlchemy URL (PostgreSQL for national scale).  On
PostgreSQL several nodes may share one database, each in its own schema.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    CursorResult,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.types import TypeDecorator

_SAFE_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """The one timestamp type of every node: stored with its time zone, always read back
    as an aware UTC datetime (SQLite keeps none; PostgreSQL answers in the session's
    zone), so no reader has to repair it.  A naive value is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else _utc(value)

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Any) -> dt.datetime | None:
        return None if value is None else _utc(value)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def node_url(data_dir: Path | str, node: str, url: str | None = None) -> str:
    """The database URL for ``node``: ``url`` when given, else a SQLite file."""
    if url:
        return url
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / (node + '.sqlite3')}"


def schema_name(node: str) -> str:
    """A PostgreSQL schema name for a node id such as ``registry-132152``."""
    name = "myna_" + re.sub(r"[^a-z0-9]+", "_", node.lower()).strip("_")
    if not _SAFE_SCHEMA.match(name):
        raise ValueError(f"cannot derive a schema name from {node!r}")
    return name


def make_engine(url: str, node: str) -> Engine:
    """Create the engine for one node.

    SQLite gets WAL and foreign keys; PostgreSQL gets the node's own schema on
    the search path (created when missing), so nodes never share tables.  No
    engine ever puts a statement's parameters into an error message
    (``hide_parameters``): they are individual numbers, 住民票コード and names.
    """
    if url.startswith("sqlite"):
        # JSON columns as UTF-8 text: Japanese is stored as itself (3 bytes a character),
        # not as \uXXXX escapes (6), so rows are smaller to write, read and decode
        engine = create_engine(url, hide_parameters=True, json_serializer=_json_text)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: bulk loads touch many pages
            cur.close()

        return engine
    if url.startswith("postgresql"):
        schema = schema_name(node)
        bootstrap = create_engine(url, isolation_level="AUTOCOMMIT", hide_parameters=True)
        with bootstrap.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        bootstrap.dispose()
        return create_engine(
            url, connect_args={"options": f"-csearch_path={schema}"}, pool_pre_ping=True,
            hide_parameters=True,
        )
    return create_engine(url, hide_parameters=True)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_durable: weakref.WeakSet[Engine] = weakref.WeakSet()


def durable_sqlite(engine: Engine) -> None:
    """Make every connection of a SQLite engine commit with ``synchronous=FULL``.

    :func:`make_engine` sets ``NORMAL``, which in WAL mode survives a crashed process
    but may lose the last commits to a power cut.  Nodes whose commits others rely on
    at once (the provision log once a witness cosigned it; the hub's records, which
    must be on disk before their leaves) ask for ``FULL``.  Other backends: no-op.
    """
    if engine.dialect.name != "sqlite" or engine in _durable:
        return

    @event.listens_for(engine, "connect")
    def _full_sync(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=FULL")  # runs after make_engine's NORMAL
        cur.close()

    _durable.add(engine)
    engine.dispose()  # connections pooled before this get replaced by FULL ones


@contextlib.contextmanager
def relaxed_commit(conn: Connection) -> Iterator[Connection]:
    """One transaction on ``conn`` whose commit does not wait for the disk.

    For writes that can be redone after a power cut (a crashed process loses
    nothing either way): SQLite commits it with ``synchronous=NORMAL`` (then
    restores ``FULL`` on a durable engine), PostgreSQL with ``synchronous_commit``
    off for this transaction only.
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")  # not allowed inside a transaction
        conn.commit()
    try:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield conn
    finally:
        if sqlite and conn.engine in _durable:
            conn.exec_driver_sql("PRAGMA synchronous=FULL")
            conn.commit()


def drop_schemas(url: str, namespace: str) -> list[str]:
    """Drop every node schema of ``namespace`` (``myna_<namespace>…``) in a PostgreSQL
    database; returns their names.  Nothing else in the database is touched."""
    if not url.startswith("postgresql") or not namespace:
        return []
    prefix = schema_name(namespace + "x")[:-1]  # the namespace as schema_name spells it
    engine = create_engine(url, isolation_level="AUTOCOMMIT", hide_parameters=True)
    try:
        with engine.connect() as conn:
            names = [str(n) for n in conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"),
                {"p": prefix},
            ).scalars()]
            for name in names:
                if _SAFE_SCHEMA.match(name):
                    conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        engine.dispose()
    return names


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def migrate(engine: Engine, package: str) -> None:
    """Bring the node's database to the newest Alembic revision.

    ``package`` is the dotted name of the node package whose ``migrations``
    folder holds the revisions, e.g. ``"myna.registry"``; a kernel package
    whose tables live in every node (``"myna.events"``) keeps its own version
    table, named in its ``env.py``.
    """
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"unknown package {package}")
    location = Path(next(iter(spec.submodule_search_locations))) / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def run_migrations_env(target_metadata: MetaData,
                       version_table: str = "alembic_version") -> None:
    """Body of every node's ``migrations/env.py`` (online mode only)."""
    from alembic import context

    conn = context.config.attributes.get("connection")
    if conn is None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "",
                               hide_parameters=True)
        with engine.begin() as new_conn:
            _configure_and_run(context, new_conn, target_metadata, version_table)
        return
    _configure_and_run(context, conn, target_metadata, version_table)


def _configure_and_run(context: Any, conn: Connection, target_metadata: MetaData,
                       version_table: str) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        version_table=version_table,
    )
    with context.begin_transaction():
        context.run_migrations()


def bulk_insert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]] | Iterable[Sequence[Any]],
    columns: Sequence[str] | None = None,
) -> int:
    """Insert many rows in the caller's transaction, as fast as the backend allows.

    PostgreSQL: ``COPY ... FROM STDIN`` through psycopg 3.  Others: one
    ``executemany``.  ``rows`` are mappings, or tuples in ``columns`` order.
    """
    cols = list(columns) if columns is not None else [c.name for c in table.columns]
    tuples: list[Sequence[Any]] = [
        tuple(r[c] for c in cols) if isinstance(r, Mapping) else r for r in rows
    ]
    if not tuples:
        return 0
    if is_postgres(conn):
        json_columns = [i for i, c in enumerate(cols) if isinstance(table.c[c].type, JSON)]
        if json_columns:  # COPY takes JSON as its text
            tuples = [_json_cells(row, json_columns) for row in tuples]
        raw = conn.connection.driver_connection
        col_sql = ", ".join(f'"{c}"' for c in cols)
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
            f'COPY "{table.name}" ({col_sql}) FROM STDIN'
        ) as copy:
            for row in tuples:
                copy.write_row(row)
        return len(tuples)
    # SQLite and others: the driver's executemany, with SQLAlchemy's own value
    # conversion per column, skipping the per-row overhead of the ORM layer.
    dialect = conn.dialect
    processors = [table.c[c].type.bind_processor(dialect) for c in cols]
    if any(processors):
        tuples = [
            tuple(p(v) if p is not None and v is not None else v
                  for p, v in zip(processors, row, strict=True))
            for row in tuples
        ]
    if dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in cols)
        col_sql = ", ".join(f'"{c}"' for c in cols)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                f'INSERT INTO "{table.name}" ({col_sql}) VALUES ({placeholders})', tuples
            )
        finally:
            cursor.close()
        return len(tuples)
    conn.execute(table.insert(), [dict(zip(cols, r, strict=True)) for r in tuples])
    return len(tuples)


class OneRowInsert:
    """A one-row INSERT for a hot path, compiled once and run through the driver.

    SQLAlchemy's execution of a compiled statement (its cache key, the set-up of
    parameters and result) costs more than SQLite's own work for one small row, and
    a transaction that writes a change together with its event pays it for each
    row.  On SQLite this runs the table's INSERT, compiled by SQLAlchemy, on the
    driver's cursor of the caller's connection (in its transaction, as
    :func:`bulk_insert` does), each value converted by its column's own type exactly
    as SQLAlchemy would; SQLite's errors name no values.  Other backends execute
    the statement the ordinary way.  Every column in ``columns`` is given on each
    call; the others get their server defaults only.
    """

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.statement = table.insert()
        self._prepared: weakref.WeakKeyDictionary[Any, tuple[str, list[Any]]] = (
            weakref.WeakKeyDictionary())

    def _prepare(self, dialect: Any) -> tuple[str, list[Any]]:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(self.columns))
        if list(compiled.positiontup or []) != list(self.columns):
            raise ValueError(f"{self.table.name}: a one-row insert names every column it "
                             "writes (a column default would be left out)")
        processors = [self.table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                      for c in self.columns]
        prepared = (compiled.string, processors)
        self._prepared[dialect] = prepared
        return prepared

    def __call__(self, conn: Connection, values: Mapping[str, Any]) -> None:
        dialect = conn.dialect
        if dialect.name != "sqlite":
            conn.execute(self.statement, dict(values))
            return
        sql, processors = self._prepared.get(dialect) or self._prepare(dialect)
        if not conn.in_transaction():
            conn.begin()  # as SQLAlchemy's own execute would: the caller's commit() ends it
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            sql, [v if p is None or v is None else p(v)
                  for p, v in zip(processors, [values[c] for c in self.columns], strict=True)])


def _json_cells(row: Sequence[Any], columns: Sequence[int]) -> tuple[Any, ...]:
    cells = list(row)
    for i in columns:
        if cells[i] is not None:
            cells[i] = json.dumps(cells[i], ensure_ascii=False, separators=(",", ":"))
    return tuple(cells)


def counters_table(metadata: MetaData) -> Table:
    """A node's named counters (serials it hands out itself)."""
    return Table(
        "counters", metadata,
        Column("name", String(50), primary_key=True),
        Column("value", Integer, nullable=False),
    )


def reserve(conn: Connection, counters: Table, name: str, count: int = 1) -> int:
    """Reserve ``count`` values of a counter in the caller's transaction.

    Returns the counter's previous value: the reserved values are
    ``previous + 1 … previous + count``.  The row is locked on PostgreSQL;
    SQLite serialises writers anyway.
    """
    row = conn.execute(
        select(counters.c.value).where(counters.c.name == name).with_for_update()
    ).scalar()
    if row is None:
        conn.execute(insert(counters).values(name=name, value=count))
        return 0
    conn.execute(update(counters).where(counters.c.name == name).values(value=row + count))
    return int(row)


def sync_sequence(conn: Connection, table: Table, column: str) -> None:
    """After a bulk load with explicit ids, move PostgreSQL's sequence past them."""
    if is_postgres(conn):
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
            f'COALESCE((SELECT MAX("{column}") FROM "{table.name}"), 0) + 1, false)'
        ))


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key of the row an INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise RuntimeError("the INSERT returned no primary key")
    return int(key[0])


def rows_to_csv(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text (used by exports)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerows(rows)
    return buf.getvalue()
