"""Cross-node work resumes after kill -9: run it again and it completes, nothing twice.

Each test copies a prepared installation, starts the operation a user runs
(``myna number assign-all``) in a subprocess that SIGKILLs itself at a named
step (:mod:`myna.faults`), checks what the crash left, runs the same command
again and checks the invariants with ``myna check``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from myna.check import check_installation
from myna.clock import jst_date, utcnow
from myna.demo.synthetic import SyntheticPopulation
from myna.jlis import storage as jt
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.system import MynaSystem

pytestmark = pytest.mark.slow

TOWN = "132152"
MYNA = [sys.executable, "-m", "myna.cli"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installation whose 300-odd residents are registered but not yet numbered."""
    data = tmp_path_factory.mktemp("prepared") / "data"
    system = MynaSystem(data)
    registry = system.add_municipality(TOWN)
    population = SyntheticPopulation(TOWN, 7, jst_date(utcnow()))
    registry.register_initial([r for h in population.households(300) for r in h])
    registry.create_staff("clerk", "窓口 一郎", Role.CLERK, "窓口のパスワード2026")
    system.dispose()
    return data


def _myna(data: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MYNA_KILL_AT"}
    if kill_at:
        env["MYNA_KILL_AT"] = kill_at
    return subprocess.run([*MYNA, *args, "--data-dir", str(data)],
                          capture_output=True, text=True, env=env, timeout=300)


def _jlis_numbers(system: MynaSystem) -> int:
    with system.jlis.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(jt.numbers)).scalar_one())


@pytest.mark.parametrize("step", ["numbering:after-call", "numbering:before-commit",
                                  "numbering:after-commit"])
def test_initial_numbering_completes_when_run_again_after_kill(
    prepared: Path, tmp_path: Path, step: str,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    killed = _myna(data, "number", "assign-all", "--municipality", TOWN, kill_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    system = MynaSystem(data)
    try:
        carried = system.registry(TOWN).carried_numbers()
        numbered = [n for _, _, n in carried if n]
        report = check_installation(system)
        if step == "numbering:after-commit":
            # the 住民票 carry their numbers; J-LIS's confirmation is owed, and said so
            assert len(numbered) == len(carried)
            assert _jlis_numbers(system) == 0
            assert any(d.what_en == "events not yet delivered" for d in report.disagreements)
        else:
            # J-LIS answered but keeps nothing until a 住民票 carries the number
            assert numbered == []
            assert _jlis_numbers(system) == 0
            assert [d.what_en for d in report.disagreements] == ["residents without a number"]
    finally:
        system.dispose()

    again = _myna(data, "number", "assign-all", "--municipality", TOWN)
    assert again.returncode == 0, again.stderr[-2000:]
    checked = _myna(data, "check")
    assert checked.returncode == 0, checked.stdout[-2000:]
    assert "不一致なし" in checked.stdout

    system = MynaSystem(data)
    try:
        carried = system.registry(TOWN).carried_numbers()
        numbers = [n for _, _, n in carried]
        assert None not in numbers and len(set(numbers)) == len(carried)
        assert _jlis_numbers(system) == len(carried)  # nothing twice, nobody left out
        assert system.jlis.stats()["persons"] == len(carried)
        assert check_installation(system).ok
    finally:
        system.dispose()


def test_a_birth_killed_after_j_lis_answered_leaves_no_number_behind(
    prepared: Path, tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    assert _myna(data, "number", "assign-all", "--municipality", TOWN).returncode == 0
    script = (
        "import datetime as dt, sys\n"
        "from myna.clock import jst_today\n"
        "from myna.system import MynaSystem\n"
        "from myna.registry.domain import HouseholdPlacement, PersonDetails\n"
        f"s = MynaSystem(sys.argv[1]); r = s.registry('{TOWN}')\n"
        "clerk = r.authenticate('clerk', '窓口のパスワード2026')\n"
        "r.register_birth(clerk, PersonDetails('国立 さくら', 'くにたち さくら', "
        "jst_today() - dt.timedelta(days=3), '女'), HouseholdPlacement('世帯主', "
        "postcode='1860001', address='東京都国立市北一丁目1番1号'))\n"
    )
    env = {**os.environ, "MYNA_KILL_AT": "birth:after-number"}
    killed = subprocess.run([sys.executable, "-c", script, str(data)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    system = MynaSystem(data)
    try:
        before = _jlis_numbers(system)
        assert check_installation(system).ok  # J-LIS kept nothing for the lost 届出
        registry = system.registry(TOWN)
        clerk = registry.authenticate("clerk", "窓口のパスワード2026")
        baby = registry.register_birth(
            clerk, PersonDetails("国立 さくら", "くにたち さくら",
                                 jst_date(utcnow()).replace(day=1), "女"),
            HouseholdPlacement("世帯主", postcode="1860001",
                               address="東京都国立市北一丁目1番1号"))
        assert baby.individual_number
        assert _jlis_numbers(system) == before + 1
        assert check_installation(system).ok
    finally:
        system.dispose()


@pytest.mark.parametrize("step", ["codes:before-hub", "codes:before-delivery"])
def test_code_acquisition_completes_when_run_again_after_kill(
    prepared: Path, tmp_path: Path, step: str,
) -> None:
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    assert _myna(data, "number", "assign-all", "--municipality", TOWN).returncode == 0
    killed = _myna(data, "link", "acquire", "--municipality", TOWN, kill_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    system = MynaSystem(data)
    try:
        report = check_installation(system)
        assert [d.what_en for d in report.disagreements] == [
            "符号 acquisitions begun but never delivered (run again to complete)"]
    finally:
        system.dispose()
    again = _myna(data, "link", "acquire", "--municipality", TOWN)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _myna(data, "check").returncode == 0
    system = MynaSystem(data)
    try:
        town = system.municipality(TOWN)
        people = town.registry.numbered_residents()
        codes = {town.intermediate.code_for(town.atena_no(rid)) for rid, _ in people}
        assert len(codes) == len(people)  # everyone, once, each their own 符号
        assert town.acquire_new_codes() == 0
    finally:
        system.dispose()


def test_check_finds_nothing_on_a_fresh_demo(shared_demo: Path) -> None:
    """Every node of the demo agrees with the others, and no event waits."""
    checked = _myna(shared_demo, "check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "不一致なし" in checked.stdout


def test_check_names_a_record_altered_behind_the_log(shared_demo: Path, tmp_path: Path) -> None:
    """A provision record rewritten in the hub's database is a disagreement for myna check."""
    from sqlalchemy import update

    from myna.hub import storage as ht

    data = tmp_path / "data"
    shutil.copytree(shared_demo, data)
    system = MynaSystem(data)
    try:
        with system.hub.engine.begin() as conn:
            first = conn.execute(select(ht.records.c.request_id).limit(1)).scalar()
            assert first is not None
            conn.execute(update(ht.records).where(ht.records.c.request_id == first)
                         .values(affair="生活保護の決定・実施"))
    finally:
        system.dispose()
    checked = _myna(data, "check", "--json")
    assert checked.returncode == 1
    report = json.loads(checked.stdout)
    [found] = [d for d in report["disagreements"] if d["what_ja"].startswith("記録とログ")]
    assert any(first in example for example in found["examples"])
