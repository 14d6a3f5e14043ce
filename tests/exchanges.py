"""One exchange between two towns for tests of the provider and of retention: a person
who moved from 国立市 to 国分寺市, whose tax record the old town provides to the new,
with a tap in the network in front of the provider."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import func, select

from myna.clock import jst_today
from myna.intermediate import storage as it
from myna.intermediate.service import IntermediateServer
from myna.linkage.messages import LinkAnswer, ProvideAnswer, ProvideRequest, Result
from myna.linkage.network import IntermediateApi, NodeUnavailable
from myna.municipality import Municipality
from myna.netca import node_key_name
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.registry.service import InitialResident
from myna.system import MynaSystem

KUNITACHI, KOKUBUNJI = "132152", "132144"
CHILD_ALLOWANCE, TAX = "児童手当の支給", "地方税関係情報"
NAME = "鰐淵\u3000太郎"
INCOME = 3_456_789


class Tap:
    """Sits in the network in front of a provider and keeps what passes (a wiretap).

    With ``lose`` set, the next answer is dropped after the provider gave it, as a
    broken connection would."""

    def __init__(self, node: IntermediateApi) -> None:
        self.node = node
        self.seen: list[tuple[ProvideRequest, ProvideAnswer]] = []
        self.lose = False

    def deliver_codes(self, deliveries: list[tuple[str, str]], hub_signature: str) -> None:
        self.node.deliver_codes(deliveries, hub_signature)

    def provide(self, request: ProvideRequest) -> ProvideAnswer:
        answer = self.node.provide(request)
        self.seen.append((request, answer))
        if self.lose:
            self.lose = False
            raise NodeUnavailable("応答が届きませんでした", "the answer was lost")
        return answer


def as_routed(answer: ProvideAnswer) -> LinkAnswer:
    """The provider's answer as the requester receives it through the hub."""
    return LinkAnswer(answer.request_id, Result(answer.result), answer.sealed, answer.reason)


@dataclass
class Exchange:
    system: MynaSystem
    provider: IntermediateServer
    requester: IntermediateServer
    tap: Tap
    ref: str           # the requester's reference of the person
    provider_ref: str  # the provider's
    number: str
    code: str          # the person's 符号 at the provider

    def ask(self, request_id: str | None = None) -> tuple[str, Result]:
        request_id = request_id or uuid.uuid4().hex
        answer = self.requester.request(self.ref, "T2-0001", CHILD_ALLOWANCE,
                                        self.provider.institution, TAX, request_id=request_id)
        return request_id, answer.result

    def provisions(self, request_id: str) -> int:
        with self.provider.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(it.journal).where(
                it.journal.c.request_id == request_id, it.journal.c.direction == "in"))
                .scalar_one())

    def hub_signed(self, request: ProvideRequest, **changes: str) -> ProvideRequest:
        key = self.system.keys.ed25519(node_key_name("hub"))
        return replace(request, **changes).signed(key)


def make_exchange(system: MynaSystem) -> Exchange:
    old = system.add_municipality(KUNITACHI)
    new = system.add_municipality(KOKUBUNJI)
    old.register_initial([InitialResident(
        PersonDetails(NAME, "わにぶち\u3000たろう", dt.date(1985, 5, 1), "男"), "h1", "世帯主",
        "1860001", "東京都国立市本町1丁目1番1号", dt.date(2010, 4, 1))])
    old.initial_numbering()
    [(rid, number)] = old.numbered_residents()
    towns: dict[str, Municipality] = system.municipalities
    towns[KUNITACHI].acquire_codes()
    clerk = old.create_staff("c-move", "窓口", Role.CLERK, "password-1234")
    certificate = old.move_out(clerk, rid, "東京都国分寺市本町9丁目1番1号", jst_today())
    n_clerk = new.create_staff("c-in", "窓口", Role.CLERK, "password-1234")
    arrived = new.move_in(n_clerk, certificate, HouseholdPlacement(
        "世帯主", postcode="1850012", address="東京都国分寺市本町9丁目1番1号"), jst_today())
    towns[KOKUBUNJI].acquire_codes([arrived.resident_id])
    provider, requester = towns[KUNITACHI].intermediate, towns[KOKUBUNJI].intermediate
    provider_ref = towns[KUNITACHI].atena_no(rid)
    provider.put_item(provider_ref, TAX, {
        "年度": 2025, "総所得金額": INCOME, "市町村民税所得割額": 123_400,
        "市町村民税均等割額": 5_000, "課税区分": "課税"})
    tap = Tap(provider)
    system.network.add_intermediate(provider.institution, tap)
    return Exchange(system, provider, requester, tap, towns[KOKUBUNJI].atena_no(
        arrived.resident_id), provider_ref, number, provider.code_for(provider_ref))
