"""The provider answers each of the hub's requests once: replays and retries get the
stored answer, another request under an answered id is refused, nothing is provided twice."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, replace

import pytest
from nacl.public import PrivateKey
from sqlalchemy import func, select

from myna.intermediate import storage as it
from myna.intermediate.service import IntermediateServer, RequestReused
from myna.linkage.messages import MAX_SKEW, LinkAnswer, ProvideAnswer, ProvideRequest, Result
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


def _as_routed(answer: ProvideAnswer) -> LinkAnswer:
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


@pytest.fixture
def exchange(system: MynaSystem) -> Exchange:
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
    certificate = old.move_out(clerk, rid, "東京都国分寺市本町9丁目1番1号", dt.date.today())
    n_clerk = new.create_staff("c-in", "窓口", Role.CLERK, "password-1234")
    arrived = new.move_in(n_clerk, certificate, HouseholdPlacement(
        "世帯主", postcode="1850012", address="東京都国分寺市本町9丁目1番1号"), dt.date.today())
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


def test_a_replayed_request_gets_the_stored_answer_and_nothing_is_provided_twice(
    exchange: Exchange,
) -> None:
    request_id, result = exchange.ask()
    assert result is Result.PROVIDED
    [(captured, first)] = exchange.tap.seen
    # the very same signed message again, inside the freshness window
    again = exchange.provider.provide(captured)
    assert again == first  # the stored answer, signature and time of answering included
    assert exchange.requester.open(_as_routed(again)).payload == {
        "年度": 2025, "総所得金額": INCOME, "市町村民税所得割額": 123_400,
        "市町村民税均等割額": 5_000, "課税区分": "課税"}
    # the hub forwarding the same request again (new time, new signature): the same answer
    resent = exchange.hub_signed(captured, issued_at=dt.datetime.now(dt.UTC).isoformat())
    assert resent.signature != captured.signature
    assert exchange.provider.provide(resent) == first
    assert exchange.provisions(request_id) == 1
    assert len(exchange.system.hub.records(request_id)) == 1


def test_another_request_under_an_answered_id_is_refused_and_logged_without_data(
    exchange: Exchange, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="myna")
    # an id without long runs of digits, which the log would blank out
    request_id, _ = exchange.ask(uuid.uuid4().hex.translate(str.maketrans("0123456789",
                                                                          "ghijklmnop")))
    [(captured, _)] = exchange.tap.seen
    thief = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    # the same id, the answer to be sealed for someone else's key
    redirected = exchange.hub_signed(captured, requester_box_key=thief)
    with pytest.raises(RequestReused, match="同じ照会番号") as refused:
        exchange.provider.provide(redirected)
    assert "nothing provided" in refused.value.message_en
    # another item under the same id
    with pytest.raises(RequestReused):
        exchange.provider.provide(exchange.hub_signed(captured, row_id="T2-0005",
                                                      affair="保育の実施"))
    assert exchange.provisions(request_id) == 1
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("myna.intermediate")]
    refusals = [line for line in lines if "refused (request_reused)" in line]
    assert len(refusals) == 2 and request_id in refusals[0]
    for secret in (NAME, "鰐淵", exchange.number, exchange.code, str(INCOME),
                   exchange.provider_ref, exchange.ref):
        assert not any(secret in line for line in lines), secret


def test_stale_and_forged_requests_are_refused_and_logged(
    exchange: Exchange, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="myna")
    exchange.ask()
    [(captured, _)] = exchange.tap.seen
    old = (dt.datetime.now(dt.UTC) - MAX_SKEW - dt.timedelta(minutes=1)).isoformat()
    with pytest.raises(Exception, match="再送攻撃"):
        exchange.provider.provide(exchange.hub_signed(captured, issued_at=old,
                                                      request_id=uuid.uuid4().hex))
    with pytest.raises(Exception, match="署名"):
        exchange.provider.provide(replace(captured, item="年金給付関係情報"))
    kinds = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(kinds) == 2 and "(forbidden)" in kinds[0] and "(bad_signature)" in kinds[1]


def test_a_lost_answer_retried_by_the_hub_is_answered_again_not_provided_again(
    exchange: Exchange,
) -> None:
    exchange.tap.lose = True
    request_id, result = exchange.ask()
    assert result is Result.FAILED  # the provider answered, but the answer never arrived
    again_id, retried = exchange.ask(request_id)
    assert again_id == request_id and retried is Result.PROVIDED
    (first_request, first), (second_request, second) = exchange.tap.seen
    assert second_request.issued_at != first_request.issued_at  # a new message from the hub
    assert second == first                                     # the same answer
    assert exchange.provisions(request_id) == 1
    assert [(r.attempt, r.result) for r in exchange.system.hub.records(request_id)] == [
        (1, "failed"), (2, "provided")]
    received = exchange.requester.fetch(request_id)
    assert received.payload is not None and received.payload["総所得金額"] == INCOME


def test_a_pending_request_replayed_stays_one_item_in_the_queue(exchange: Exchange) -> None:
    exchange.provider.set_manual_approval(exchange.provider_ref, TAX, True)
    request_id, result = exchange.ask()
    assert result is Result.PENDING
    [(captured, first)] = exchange.tap.seen
    assert exchange.provider.provide(captured) == first
    assert [w.request_id for w in exchange.provider.pending()] == [request_id]
    assert exchange.provisions(request_id) == 1


def _remembered(server: IntermediateServer, request_id: str) -> bool:
    with server.engine.connect() as conn:
        return conn.execute(select(it.answered.c.request_id).where(
            it.answered.c.request_id == request_id)).first() is not None


def test_answered_requests_are_remembered_while_a_copy_could_pass_and_then_forgotten(
    exchange: Exchange,
) -> None:
    request_id, _ = exchange.ask()
    [(captured, first)] = exchange.tap.seen
    fresh_until = dt.datetime.fromisoformat(captured.issued_at) + MAX_SKEW

    class Clock:
        at = fresh_until

        def __call__(self) -> dt.datetime:
            return self.at

    clock = Clock()
    later = IntermediateServer(exchange.provider.engine, exchange.system.keys,
                               exchange.provider.institution, exchange.system.network,
                               exchange.system.hub.public_key, now=clock)
    # at the last moment a replay would pass: still remembered, still the stored answer
    assert later.expire_records(fresh_until) == 0
    assert _remembered(later, request_id)
    assert later.provide(captured) == first
    # a moment later the replay is stale anyway, and the memory of it may go
    clock.at = fresh_until + dt.timedelta(microseconds=1)
    with pytest.raises(Exception, match="再送攻撃"):
        later.provide(captured)
    later.expire_records(clock.at)
    assert not _remembered(later, request_id)
    assert exchange.provisions(request_id) == 1


def test_a_number_hidden_in_a_request_id_never_reaches_the_log(
    exchange: Exchange, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="myna")
    # a careless business system that puts the person's number into its request ids
    request_id, _ = exchange.ask(f"req-{exchange.number}")
    [(captured, _)] = exchange.tap.seen
    exchange.provider.provide(captured)
    with pytest.raises(RequestReused):
        exchange.provider.provide(exchange.hub_signed(captured, row_id="T2-0005",
                                                      affair="保育の実施"))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("myna.intermediate")]
    assert any("stored answer" in line for line in lines)
    assert any("refused (request_reused)" in line and "req-…" in line for line in lines)
    assert not any(exchange.number in line for line in lines)
