"""支援措置 set before the person is known to the network still reaches every holder.

The registry tells the 統合宛名 of a measure at once, but the intermediate server
knows people only by 宛名番号, and the hub only by 符号: a measure set before the
宛名番号 (or before the 符号) is remembered and passed on when they come, and the
hub's fan-out then protects the person at every institution holding their data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from myna.check import check_installation
from myna.intermediate.service import IntermediateServer
from myna.linkage.messages import Result
from myna.municipality import Municipality
from myna.registry.domain import PersonDetails, Role, Staff
from myna.registry.service import InitialResident
from myna.system import MynaSystem
from pension import ADDRESS, NENKIN, PENSION, PENSION_REF, TAX, TOWN


@dataclass
class Early:
    system: MynaSystem
    town: Municipality
    pension: IntermediateServer
    supervisor: Staff
    rid: int


@pytest.fixture
def early(system: MynaSystem) -> Early:
    """A numbered resident with no 宛名番号 yet, whose data 日本年金機構 already holds."""
    system.add_municipality(TOWN)
    pension = system.add_institution(NENKIN, "日本年金機構", "厚生労働大臣・日本年金機構")
    town = system.municipalities[TOWN]
    town.registry.register_initial([InitialResident(
        PersonDetails("鰐淵\u3000花子", "わにぶち\u3000はなこ", dt.date(1980, 5, 5), "女"),
        "h1", "世帯主", "1860001", ADDRESS, dt.date(2010, 4, 1))])
    town.registry.initial_numbering()
    [(rid, _, number)] = town.registry.carried_numbers()
    [ref] = pension.begin_acquisition([PENSION_REF])
    system.jlis.request_codes(NENKIN, [(number or "", ref)])
    pension.put_item(PENSION_REF, "年金給付関係情報", PENSION)
    supervisor = town.registry.create_staff("sup", "係長", Role.SUPERVISOR, "password-1234")
    return Early(system, town, pension, supervisor, rid)


def _ask_pension(early: Early) -> Result:
    answer = early.town.intermediate.request(early.town.atena_no(early.rid), "T2-0002",
                                             "児童手当の支給", NENKIN, "年金給付関係情報")
    return early.town.intermediate.open(answer).result


def _ask_town(early: Early) -> Result:
    answer = early.pension.request(PENSION_REF, "T2-0018", "国民年金の給付の支給",
                                   early.town.institution, "地方税関係情報")
    return early.pension.open(answer).result


def _joins_the_network(early: Early) -> None:
    early.town.acquire_codes([early.rid])
    early.town.intermediate.put_item(early.town.atena_no(early.rid), "地方税関係情報", TAX)


def _protected_everywhere(early: Early) -> None:
    assert early.town.intermediate.is_protected(early.town.atena_no(early.rid))
    assert early.pension.is_protected(PENSION_REF)
    assert _ask_pension(early) is Result.PENDING
    assert _ask_town(early) is Result.PENDING
    assert check_installation(early.system).ok


def test_a_measure_set_before_the_atena_number_reaches_every_holder(early: Early) -> None:
    early.town.registry.set_support_measure(early.supervisor, early.rid, True, "DV支援措置の申出")
    assert early.town.atena.numbers_by_resident() == {}  # nothing to tell anyone yet
    assert not early.pension.is_protected(PENSION_REF)
    _joins_the_network(early)
    _protected_everywhere(early)
    # lifted later, it is lifted everywhere as for any measure
    early.town.registry.set_support_measure(early.supervisor, early.rid, False, "支援措置の終了")
    assert not early.pension.is_protected(PENSION_REF)
    assert _ask_pension(early) is Result.PROVIDED
    assert _ask_town(early) is Result.PROVIDED


def test_a_measure_set_between_the_atena_number_and_the_code_reaches_every_holder(
        early: Early) -> None:
    [(rid, number)] = early.town.registry.numbered_residents([early.rid])
    early.town.atena.assign([(rid, number)])
    early.town.registry.set_support_measure(early.supervisor, early.rid, True, "DV支援措置の申出")
    assert early.town.intermediate.is_protected(early.town.atena_no(early.rid))
    assert not early.pension.is_protected(PENSION_REF)
    _joins_the_network(early)
    _protected_everywhere(early)


def test_a_measure_lifted_before_the_atena_number_leaves_nothing_behind(early: Early) -> None:
    early.town.registry.set_support_measure(early.supervisor, early.rid, True, "DV支援措置の申出")
    early.town.registry.set_support_measure(early.supervisor, early.rid, False, "申出の取下げ")
    _joins_the_network(early)
    assert not early.town.intermediate.is_protected(early.town.atena_no(early.rid))
    assert not early.pension.is_protected(PENSION_REF)
    assert _ask_pension(early) is Result.PROVIDED
    assert _ask_town(early) is Result.PROVIDED


def test_an_institution_that_gets_its_code_after_the_measure_protects_from_the_start(
        system: MynaSystem) -> None:
    """The measure reached everyone who held the person's data then; a third institution
    that acquires a 符号 for them later is told by the hub when the 符号 is issued."""
    system.add_municipality(TOWN)
    town = system.municipalities[TOWN]
    town.registry.register_initial([InitialResident(
        PersonDetails("鰐淵\u3000花子", "わにぶち\u3000はなこ", dt.date(1980, 5, 5), "女"),
        "h1", "世帯主", "1860001", ADDRESS, dt.date(2010, 4, 1))])
    town.registry.initial_numbering()
    [(rid, _, number)] = town.registry.carried_numbers()
    town.acquire_codes()
    supervisor = town.registry.create_staff("sup", "係長", Role.SUPERVISOR, "password-1234")
    town.registry.set_support_measure(supervisor, rid, True, "DV支援措置の申出")
    assert town.intermediate.is_protected(town.atena_no(rid))
    late = system.add_institution(NENKIN, "日本年金機構", "厚生労働大臣・日本年金機構")
    [ref] = late.begin_acquisition([PENSION_REF])
    system.jlis.request_codes(NENKIN, [(number or "", ref)])
    system.deliver_events()
    assert late.is_protected(PENSION_REF)
    late.put_item(PENSION_REF, "年金給付関係情報", PENSION)
    answer = town.intermediate.request(town.atena_no(rid), "T2-0002", "児童手当の支給", NENKIN,
                                       "年金給付関係情報")
    assert town.intermediate.open(answer).result is Result.PENDING  # a staff member decides
    # lifted, it is lifted at the late holder too, and the hub forgets the person
    town.registry.set_support_measure(supervisor, rid, False, "支援措置の終了")
    assert not late.is_protected(PENSION_REF)
    other = system.add_institution("kyosai", "地方職員共済組合", "共済組合等")
    [ref2] = other.begin_acquisition(["K-0001"])
    system.jlis.request_codes("kyosai", [(number or "", ref2)])
    system.deliver_events()
    assert not other.is_protected("K-0001")
    assert check_installation(system).ok
