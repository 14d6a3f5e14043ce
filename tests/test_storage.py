"""Storage: migrations match the models; bulk writes work on every backend."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from myna.db import bulk_insert, schema_name
from myna.jlis import storage as jlis_tables
from myna.registry import storage as registry_tables
from myna.system import MynaSystem


def test_migrations_match_the_models(system: MynaSystem) -> None:
    """Every node's migrated schema is exactly what its tables declare."""
    from myna.atena import storage as atena_tables
    from myna.card import storage as card_tables
    from myna.events.storage import with_event_tables
    from myna.hub import storage as hub_tables
    from myna.intermediate import storage as intermediate_tables
    from myna.jpki import storage as jpki_tables
    from myna.notify import storage as notify_tables
    from myna.transparency import storage as log_tables

    town = system.add_municipality("132152")
    nodes = [
        (system.jlis.engine, with_event_tables(jlis_tables.metadata)),
        (town.engine, with_event_tables(registry_tables.metadata)),
        (system.municipalities["132152"].atena.engine, with_event_tables(atena_tables.metadata)),
        (system.hub.engine, with_event_tables(hub_tables.metadata)),
        (system.municipalities["132152"].intermediate.engine,
         with_event_tables(intermediate_tables.metadata)),
        (system.provision_log.engine, log_tables.metadata),
        (system.witness.engine, log_tables.witness_metadata),
        (system.jpki.engine, with_event_tables(jpki_tables.metadata)),
        (system.chips.engine, card_tables.metadata),
        (system.notify.engine, with_event_tables(notify_tables.metadata)),
    ]
    for engine, metadata in nodes:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], (engine.url, diff)


def test_bulk_insert_round_trips_types(system: MynaSystem) -> None:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with system.jlis.engine.begin() as conn:
        conn.execute(jlis_tables.code_batches.insert().values(
            batch_id=1, municipality_code="132152", first_counter=0, count=2, issued_at=now))
        n = bulk_insert(conn, jlis_tables.resident_codes,
                        [("00000000011", "132152", 1, now), ("00000000021", "132152", 1, now)],
                        ["code", "municipality_code", "batch_id", "issued_at"])
        assert n == 2
        assert bulk_insert(conn, jlis_tables.resident_codes, []) == 0
    with system.jlis.engine.connect() as conn:
        rows = conn.execute(select(jlis_tables.resident_codes)).all()
    assert [r.code for r in rows] == ["00000000011", "00000000021"]
    assert rows[0].issued_at.replace(tzinfo=None) == now.replace(tzinfo=None)


def test_nodes_never_share_tables(system: MynaSystem) -> None:
    a = system.add_municipality("132152")
    b = system.add_municipality("132144")
    assert str(a.engine.url) != str(b.engine.url) or system.config.database_url
    assert schema_name("registry-132152") != schema_name("registry-132144")
    with pytest.raises(ValueError):
        schema_name("a" * 80)
