"""A person's events reach J-LIS in the order they happened, even through a change of
住民票コード and a receiver that refuses one of them for a while."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from myna.clock import jst_today
from myna.errors import Unavailable
from myna.jlis import storage as jt
from myna.registry.domain import HouseholdPlacement, Role
from myna.system import MynaSystem
from test_registry import HOME, KUNITACHI, born

NEW_HOME = "東京都国立市東2丁目1番1号"


def _at_jlis(system: MynaSystem, code: str) -> tuple[str, str] | None:
    with system.jlis.engine.connect() as conn:
        row = conn.execute(select(jt.persons.c.resident_code, jt.persons.c.address).where(
            jt.persons.c.resident_code == code)).first()
    return None if row is None else (str(row[0]), str(row[1]))


def test_a_move_after_a_code_change_waits_for_it(system: MynaSystem,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    town = system.add_municipality(KUNITACHI)
    clerk = town.create_staff("clerk", "窓口 花子", Role.CLERK, "clerk-password")
    person = town.register_birth(clerk, born(days_ago=9000), HOME)
    system.deliver_events()
    assert _at_jlis(system, person.resident_code) == (person.resident_code, HOME.address)

    real = system.jlis.inbox.handlers["resident_code.changed"]

    def refuse(conn: Any, event: Any) -> None:
        raise Unavailable("一時的に処理できません", "temporarily refused")

    monkeypatch.setitem(system.jlis.inbox.handlers, "resident_code.changed", refuse)
    recoded = town.change_resident_code(clerk, person.resident_id)
    town.move_within(clerk, person.resident_id,
                     HouseholdPlacement("世帯主", postcode="1860002", address=NEW_HOME),
                     jst_today())
    system.deliver_events()
    # J-LIS refused the code change: the move, which came after it, waits too
    assert _at_jlis(system, person.resident_code) == (person.resident_code, HOME.address)
    assert _at_jlis(system, recoded.resident_code) is None
    assert sum(b.pending for b in town.outbox.backlog()) == 2

    monkeypatch.setitem(system.jlis.inbox.handlers, "resident_code.changed", real)
    system.deliver_events()
    assert _at_jlis(system, person.resident_code) is None
    assert _at_jlis(system, recoded.resident_code) == (recoded.resident_code, NEW_HOME)
    assert sum(b.pending for b in town.outbox.backlog()) == 0
