"""A provider's staff decision reaches the hub after the decision's commit, never inside
it, and completes when run again after kill -9 at each step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from myna.check import check_installation
from myna.errors import Conflict
from myna.linkage.messages import Result
from myna.system import MynaSystem
from pension import NENKIN, PENSION_REF, TOWN, held_by_town_and_pension

ITEM, ROW, AFFAIR = "年金給付関係情報", "T2-0002", "児童手当の支給"

_DECIDE = """
import sys
from myna.system import MynaSystem
system = MynaSystem(sys.argv[1])
system.intermediates["nenkin"].decide(sys.argv[2], "sup1", True)
"""


def _pending(data: Path) -> str:
    """The town asks for the pension copy, which the institution's staff must approve."""
    system = MynaSystem(data)
    try:
        held = held_by_town_and_pension(system)
        held.pension.set_manual_approval(PENSION_REF, ITEM, True)
        answer = held.town.intermediate.request(held.town.atena_no(held.rid), ROW, AFFAIR,
                                                NENKIN, ITEM)
        assert answer.result is Result.PENDING
        return answer.request_id
    finally:
        system.dispose()


@pytest.mark.parametrize("step", ["exchange:decided", "exchange:completed-at-hub"])
@pytest.mark.parametrize("again", ["decide", "resume"])
def test_a_decision_killed_on_its_way_to_the_hub_completes_once(
    tmp_path: Path, step: str, again: str,
) -> None:
    data = tmp_path / "data"
    request_id = _pending(data)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), MYNA_KILL_AT=step)
    done = subprocess.run([sys.executable, "-c", _DECIDE, str(data), request_id], env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    system = MynaSystem(data)
    try:
        pension = system.intermediates[NENKIN]
        assert pension.pending() == []  # the decision stands
        assert pension.undelivered_decisions() == [request_id]
        found = [d.what_en for d in check_installation(system).disagreements]
        assert "staff decisions the hub has not confirmed (run again to send them)" in found
        hub_results = [r.result for r in system.hub.records(request_id)]
        assert hub_results == (["pending"] if step == "exchange:decided"
                               else ["pending", "provided"])
        if again == "decide":
            pension.decide(request_id, "sup1", True)
        else:
            assert pension.resume() == 1
        assert [r.result for r in system.hub.records(request_id)] == ["pending", "provided"]
        got = system.municipalities[TOWN].intermediate.fetch(request_id)
        assert got.result is Result.PROVIDED and got.payload and got.payload["年額"] == 780_000
        assert pension.undelivered_decisions() == []
        assert check_installation(system).ok, check_installation(system).disagreements
        with pytest.raises(Conflict, match="処理済み"):
            pension.decide(request_id, "sup1", True)  # done: not sent a third time
        with pytest.raises(Conflict, match="処理済み"):
            pension.decide(request_id, "sup1", False, "別の判断")
    finally:
        system.dispose()


def test_a_decision_taken_while_the_hub_is_down_stands_and_is_sent_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from myna.linkage.network import NodeUnavailable

    data = tmp_path / "data"
    request_id = _pending(data)
    system = MynaSystem(data)
    try:
        pension = system.intermediates[NENKIN]
        hub = system.hub

        def down(*_args: object) -> None:
            raise NodeUnavailable("情報提供ネットワークシステムに接続できません", "hub down")

        monkeypatch.setattr(hub, "complete", down)
        with pytest.raises(NodeUnavailable):
            pension.decide(request_id, "sup1", False, "本人確認が取れないため")
        monkeypatch.undo()
        assert pension.pending() == [] and pension.undelivered_decisions() == [request_id]
        assert pension.resume() == 1
        assert [r.result for r in hub.records(request_id)] == ["pending", "refused"]
        got = system.municipalities[TOWN].intermediate.fetch(request_id)
        assert got.result is Result.REFUSED and got.reason == "本人確認が取れないため"
    finally:
        system.dispose()
