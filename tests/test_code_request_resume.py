"""住民票コード are asked of J-LIS outside the town's transaction, and a request killed at
any step gets the same batch when run again: no code J-LIS issued to the town is lost,
none is issued twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from myna.check import check_installation
from myna.errors import Conflict
from myna.jlis import storage as jt
from myna.registry import storage as rt
from myna.system import MynaSystem
from pension import TOWN, held_by_town_and_pension

_ENSURE = """
import sys
from myna.system import MynaSystem
system = MynaSystem(sys.argv[1])
system.registry(sys.argv[2]).ensure_codes(int(sys.argv[3]))
"""


def _pool(system: MynaSystem) -> list[str]:
    with system.registry(TOWN).engine.connect() as conn:
        return list(conn.execute(select(rt.code_pool.c.code)).scalars())


def _issued(system: MynaSystem) -> tuple[int, list[str]]:
    with system.jlis.engine.connect() as conn:
        batches = conn.execute(select(func.count()).select_from(jt.code_batches).where(
            jt.code_batches.c.municipality_code == TOWN)).scalar_one()
        codes = conn.execute(select(jt.resident_codes.c.code).where(
            jt.resident_codes.c.municipality_code == TOWN)).scalars().all()
    return int(batches), list(codes)


@pytest.mark.parametrize("step", ["registry:codes-requested", "registry:codes-issued"])
def test_codes_asked_again_after_kill_are_the_same_batch(tmp_path: Path, step: str) -> None:
    data = tmp_path / "data"
    system = MynaSystem(data)
    held_by_town_and_pension(system)
    batches, _ = _issued(system)
    wanted = len(_pool(system)) + 1  # more than the pool holds
    system.dispose()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), MYNA_KILL_AT=step)
    done = subprocess.run([sys.executable, "-c", _ENSURE, str(data), TOWN, str(wanted)],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    system = MynaSystem(data)
    try:
        registry = system.registry(TOWN)
        assert registry.open_code_requests() == 1
        found = [d.what_en for d in check_installation(system).disagreements]
        assert ("resident codes asked of J-LIS not received yet (run again to receive them)"
                in found)
        after_kill, _ = _issued(system)
        assert after_kill == batches + (1 if step == "registry:codes-issued" else 0)
        registry.ensure_codes(wanted)  # run again
        after, at_jlis = _issued(system)
        assert after == batches + 1  # one batch for the request, however often it was asked
        pool = _pool(system)
        assert sorted(pool) == sorted(at_jlis) and len(set(pool)) == len(pool)
        assert registry.open_code_requests() == 0
        assert check_installation(system).ok, check_installation(system).disagreements
    finally:
        system.dispose()


def test_a_request_id_names_one_batch_at_j_lis(tmp_path: Path) -> None:
    system = MynaSystem(tmp_path / "data")
    try:
        system.add_municipality(TOWN)
        first = system.jlis.issue_resident_codes(TOWN, 3, request_id="r-1")
        assert system.jlis.issue_resident_codes(TOWN, 3, request_id="r-1") == first
        assert set(system.jlis.issue_resident_codes(TOWN, 3, request_id="r-2")).isdisjoint(
            first)
        with pytest.raises(Conflict, match="別の件数"):
            system.jlis.issue_resident_codes(TOWN, 4, request_id="r-1")
    finally:
        system.dispose()
