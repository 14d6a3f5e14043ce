"""支援措置 travels with the person: one registration at the town, acted on everywhere.

Set at the municipality, as events: the intermediate servers holding the person's
data (found through the hub by 符号) stop answering automatically for every
requester; J-LIS withholds the address from callers not approved for the case
and logs each attempt; the notification goes to the registered 居所.  Lifting it
reverses each of these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from myna.check import check_installation
from myna.clock import jst_today
from myna.contracts.jlis import WITHHELD
from myna.intermediate.service import IntermediateServer
from myna.jlis import storage as jt
from myna.linkage.messages import Result
from myna.municipality import Municipality
from myna.notify.domain import AlternativeReason
from myna.registry.domain import Role, Staff
from myna.system import MynaSystem
from pension import NENKIN, TOWN, held_by_town_and_pension

RESIDENCE = ("1850012", "東京都国分寺市本町二丁目3番4号")


@dataclass
class Case:
    system: MynaSystem
    town: Municipality
    pension: IntermediateServer
    supervisor: Staff
    rid: int
    number: str


@pytest.fixture
def case(system: MynaSystem) -> Case:
    held = held_by_town_and_pension(system, born=dt.date(1960, 2, 29))
    town, pension, rid, number = held.town, held.pension, held.rid, held.number
    supervisor = town.registry.create_staff("sup", "係長", Role.SUPERVISOR, "password-1234")
    system.jlis.register_caller("kenkei", "警視庁", ["支援措置の確認"])
    system.jlis.register_caller("shakyo", "社会保険事務", ["資格確認"])
    return Case(system, town, pension, supervisor, rid, number)


def _ask_pension(case: Case) -> Result:
    answer = case.town.intermediate.request(case.town.atena_no(case.rid), "T2-0002",
                                            "児童手当の支給", NENKIN, "年金給付関係情報")
    return case.town.intermediate.open(answer).result


def _ask_town(case: Case) -> tuple[Result, str]:
    answer = case.pension.request("P-0001", "T2-0018", "国民年金の給付の支給",
                                  case.town.institution, "地方税関係情報")
    received = case.pension.open(answer)
    return received.result, received.reason


def _lookup_results(case: Case) -> list[str]:
    with case.system.jlis.engine.connect() as conn:
        return list(conn.execute(select(jt.lookup_log.c.result).where(
            jt.lookup_log.c.purpose != "符号の取得").order_by(jt.lookup_log.c.id)).scalars())


def test_support_measure_reaches_every_holder_j_lis_and_the_notification(case: Case) -> None:
    assert _ask_pension(case) is Result.PROVIDED
    assert _ask_town(case)[0] is Result.PROVIDED

    case.town.registry.set_support_measure(case.supervisor, case.rid, True, "DV支援措置の申出",
                                           residence=RESIDENCE, approved_callers=["kenkei"])

    # every intermediate server holding the person's data holds each request for staff
    assert case.pension.is_protected("P-0001")
    assert case.town.intermediate.is_protected(case.town.atena_no(case.rid))
    assert _ask_pension(case) is Result.PENDING
    result, reason = _ask_town(case)
    # the requester sees the ordinary 自動応答不可, not that the person is protected
    assert result is Result.PENDING and "支援措置" not in reason
    # J-LIS: the address only for the caller approved for the case; each attempt logged
    assert case.system.jlis.lookup_by_number("shakyo", "資格確認", case.number).address == \
        WITHHELD
    approved = case.system.jlis.lookup_by_number("kenkei", "支援措置の確認", case.number)
    assert approved.address == "東京都国立市北一丁目1番1号"
    assert _lookup_results(case) == ["withheld", "found"]
    # the notification goes to the 居所 registered with the measure
    [alt] = case.system.notify.alternatives(TOWN)
    assert (alt.resident_id, alt.reason, alt.destination.address) == (
        case.rid, AlternativeReason.DV, RESIDENCE[1])
    assert check_installation(case.system).ok

    case.town.registry.set_support_measure(case.supervisor, case.rid, False, "支援措置の終了")
    assert not case.pension.is_protected("P-0001")
    assert _ask_pension(case) is Result.PROVIDED
    assert _ask_town(case)[0] is Result.PROVIDED
    assert case.system.jlis.lookup_by_number("shakyo", "資格確認", case.number).address == \
        "東京都国立市北一丁目1番1号"
    assert case.system.notify.alternatives(TOWN) == []
    assert check_installation(case.system).ok


def test_only_the_town_and_the_hub_may_set_protection(case: Case) -> None:
    from myna.clock import utcnow
    from myna.events import Event

    code = case.pension.code_for("P-0001")
    forged = Event("f" * 32, "intermediate:municipality-132144", case.pension.node_id,
                   "protection.changed", code, 1, utcnow(), {"code": code, "on": True})
    receipt = case.pension.inbox.receive([forged])
    assert receipt.applied == [] and receipt.error_ja
    stranger = Event("e" * 32, "atena:132144", case.town.intermediate.node_id,
                     "protection.requested", "x", 1, utcnow(), {"atena_no": "x", "on": True})
    assert case.town.intermediate.inbox.receive([stranger]).applied == []
    assert not case.pension.is_protected("P-0001")


def test_a_refusal_of_provision_holds_at_every_provider(case: Case) -> None:
    """番号法: the person's refusal for an affair, registered at the town, stops the pension
    institution from providing for that affair too (told through the hub by 符号)."""
    ref = case.town.atena_no(case.rid)
    case.town.intermediate.set_refusal(ref, "児童手当の支給", True)
    assert [r.affair for r in case.pension.flags("P-0001")[1]] == ["児童手当の支給"]
    assert _ask_pension(case) is Result.REFUSED
    # other affairs are untouched
    answer = case.town.intermediate.request(ref, "T2-0010",
                                            "国民健康保険の保険給付の支給・保険料の徴収", NENKIN,
                                            "年金給付関係情報")
    assert case.town.intermediate.open(answer).result is Result.PROVIDED
    case.town.intermediate.set_refusal(ref, "児童手当の支給", False)
    assert case.pension.flags("P-0001")[1] == ()
    assert _ask_pension(case) is Result.PROVIDED
    assert check_installation(case.system).ok


def test_a_support_measure_on_a_removed_record_stays_in_the_town(case: Case) -> None:
    """A 除票's protection is the old town's own: nothing is sent that J-LIS, which knows
    the person lives elsewhere, would have to refuse (and so block every later event)."""
    clerk = case.town.registry.create_staff("clerk", "窓口", Role.CLERK, "password-1234")
    case.town.registry.move_out(clerk, case.rid, "東京都国分寺市本町九丁目1番1号",
                                jst_today())
    before = case.town.registry.outbox.delivered_count()
    case.town.registry.set_support_measure(case.supervisor, case.rid, True, "DV支援措置の申出")
    assert case.town.registry.outbox.delivered_count() == before
    assert not case.pension.is_protected("P-0001")
    assert check_installation(case.system).ok
