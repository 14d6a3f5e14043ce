"""The provider answers each of the hub's requests once: replays and retries get the
stored answer, another request under an answered id is refused, nothing is provided twice."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from dataclasses import replace

import pytest
from nacl.public import PrivateKey
from sqlalchemy import select

from exchanges import INCOME, NAME, TAX, Exchange, as_routed, make_exchange
from myna.intermediate import storage as it
from myna.intermediate.service import IntermediateServer, RequestReused
from myna.linkage.messages import MAX_SKEW, Result
from myna.system import MynaSystem


@pytest.fixture
def exchange(system: MynaSystem) -> Exchange:
    return make_exchange(system)


def test_a_replayed_request_gets_the_stored_answer_and_nothing_is_provided_twice(
    exchange: Exchange,
) -> None:
    request_id, result = exchange.ask()
    assert result is Result.PROVIDED
    [(captured, first)] = exchange.tap.seen
    # the very same signed message again, inside the freshness window
    again = exchange.provider.provide(captured)
    assert again == first  # the stored answer, signature and time of answering included
    assert exchange.requester.open(as_routed(again)).payload == {
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
