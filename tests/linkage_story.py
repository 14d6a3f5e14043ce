"""One exchange told through the contracts only, so that the same story can run against
the services in one process and against the HTTP clients of separate node processes.

The old town (国立市) holds a tax copy for its resident and asks about them itself
(Table 2 lets a town ask for its own 地方税の賦課徴収); the new town (国分寺市) asks the
old town about its own resident, of whom the old town holds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from myna.contracts.hub import HubApi
from myna.contracts.intermediate import IntermediateApi
from myna.errors import PermissionDenied
from myna.linkage.messages import Result

ROLE = "市町村長"
TAX = "地方税関係情報"
OWN_TAX = ("T2-0017", "地方税の賦課徴収")
CHILD_ALLOWANCE = ("T2-0001", "児童手当の支給")


def _fresh() -> str:
    return uuid.uuid4().hex


def exchange_story(hub_for: Callable[[str], HubApi], old: IntermediateApi, old_inst: str,
                   old_ref: str, new: IntermediateApi, new_inst: str, new_ref: str) -> None:
    """``hub_for(institution)`` is the hub as that institution reaches it; ``old_ref`` and
    ``new_ref`` are the two towns' residents' 宛名番号, each with a 符号 acquired."""
    hub = hub_for(old_inst)
    # who is on the network, and what Table 2 lets a town ask
    assert hub.institution(old_inst).role == ROLE
    assert {old_inst, new_inst} <= {i.institution_id for i in hub.institutions()}
    rows = hub.table2_rows(requester=ROLE)
    assert {OWN_TAX[0], CHILD_ALLOWANCE[0]} <= {r.id for r in rows}
    assert all(r.requester == ROLE for r in rows)
    assert OWN_TAX[1] in {r.affair for r in hub.table2_rows(provider=ROLE)}
    assert old.has_code(old_ref) and old_ref in old.coded_refs()
    assert not old.has_code("A9999999999")

    # a copy, provided automatically and opened only by the asker
    income = int(uuid.uuid4().int % 9_000_000) + 1_000_000
    copy = {"年度": 2025, "総所得金額": income, "課税区分": "課税"}
    old.put_item(old_ref, TAX, copy)
    first = _fresh()
    answer = old.request(old_ref, *OWN_TAX, old_inst, TAX, first)
    assert answer.result is Result.PROVIDED and answer.sealed
    assert str(income) not in answer.sealed
    assert old.open(answer).payload == copy
    assert old.fetch(first).payload == copy
    [record] = hub.records_of_request(old_inst, first)
    assert (record.requester, record.provider, record.row_id, record.item, record.result) == (
        old_inst, old_inst, OWN_TAX[0], TAX, "provided")
    assert record.leaf_index is not None and record.provided_at is not None
    assert first in {r.request_id for r in hub.records_for_institution(old_inst)}
    assert first not in {r.request_id for r in hub_for(new_inst).records_for_institution(
        new_inst)}
    assert hub_for(new_inst).records_of_request(new_inst, first) == []
    # the same id again: the same answer, not a second provision
    again = old.request(old_ref, *OWN_TAX, old_inst, TAX, first)
    assert again.result is Result.PROVIDED
    assert [r.attempt for r in hub.records_of_request(old_inst, first)] == [1]

    # 自動応答不可: waits for a supervisor, then provided
    old.set_manual_approval(old_ref, TAX, True)
    [held] = old.flags(old_ref)[0]
    assert (held.item, held.manual_approval) == (TAX, True)
    second = _fresh()
    assert old.request(old_ref, *OWN_TAX, old_inst, TAX, second).result is Result.PENDING
    [waiting] = [w for w in old.pending() if w.request_id == second]
    assert (waiting.atena_no, waiting.item, waiting.affair, waiting.requester) == (
        old_ref, TAX, OWN_TAX[1], old_inst)
    old.decide(second, "sup1", True, "内容を確認のうえ承認")
    decided = old.fetch(second)
    assert decided.result is Result.PROVIDED and decided.payload == copy
    assert [r.result for r in hub.records_of_request(old_inst, second)] == [
        "pending", "provided"]
    assert second not in {w.request_id for w in old.pending()}
    old.set_manual_approval(old_ref, TAX, False)

    # the person's refusal for an affair: refused, and the asker is told so
    old.set_refusal(old_ref, CHILD_ALLOWANCE[1], True)
    assert [r.affair for r in old.flags(old_ref)[1]] == [CHILD_ALLOWANCE[1]]
    refused = old.request(old_ref, *CHILD_ALLOWANCE, old_inst, TAX, _fresh())
    assert refused.result is Result.REFUSED
    old.set_refusal(old_ref, CHILD_ALLOWANCE[1], False)

    # the new town asks about its own resident, of whom the old town holds nothing
    asked = new.request(new_ref, *CHILD_ALLOWANCE, old_inst, TAX, _fresh())
    assert asked.result is Result.NO_DATA and new.open(asked).payload is None
    # Table 2 refusals come back with their reason
    with pytest.raises(PermissionDenied, match="別表第二"):
        old.request(old_ref, *OWN_TAX, old_inst, "年金給付関係情報", _fresh())

    # every request was answered (the one Table 2 refused included): nothing to resume
    assert old.unanswered() == [] and new.unanswered() == []
    assert old.resume() == 0
