"""One resident of 国立市 whose data both the town and 日本年金機構 hold, each under its own
符号: the setting of the 支援措置 and exchange-resumption tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from myna.intermediate.service import IntermediateServer
from myna.municipality import Municipality
from myna.registry.domain import PersonDetails
from myna.registry.service import InitialResident
from myna.system import MynaSystem

TOWN, NENKIN = "132152", "nenkin"
TOWN_INST = f"municipality-{TOWN}"
ADDRESS = "東京都国立市北一丁目1番1号"
PENSION_REF = "P-0001"
PENSION = {"年金種別": "老齢基礎年金", "年額": 780_000, "受給開始日": "2020-04-01"}
TAX = {"年度": 2025, "総所得金額": 2_100_000, "市町村民税所得割額": 100_000,
       "市町村民税均等割額": 5_000, "課税区分": "課税"}


@dataclass(frozen=True)
class Held:
    town: Municipality
    pension: IntermediateServer
    rid: int
    number: str


def held_by_town_and_pension(system: MynaSystem, born: dt.date = dt.date(1980, 5, 5)) -> Held:
    """The resident numbered, with 符号 at the town and the pension institution, a tax
    copy at the town's intermediate server and a pension copy at the institution's."""
    system.add_municipality(TOWN)
    pension = system.add_institution(NENKIN, "日本年金機構", "厚生労働大臣・日本年金機構")
    town = system.municipalities[TOWN]
    town.registry.register_initial([InitialResident(
        PersonDetails("鰐淵\u3000花子", "わにぶち\u3000はなこ", born, "女"), "h1", "世帯主",
        "1860001", ADDRESS, dt.date(2010, 4, 1))])
    town.registry.initial_numbering()
    [(rid, _, number)] = town.registry.carried_numbers()
    assert number
    town.acquire_codes()
    town.intermediate.put_item(town.atena_no(rid), "地方税関係情報", TAX)
    [ref] = pension.begin_acquisition([PENSION_REF])
    system.jlis.request_codes(NENKIN, [(number, ref)])
    pension.put_item(PENSION_REF, "年金給付関係情報", PENSION)
    return Held(town, pension, rid, number)
