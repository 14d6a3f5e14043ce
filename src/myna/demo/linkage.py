"""The demo's information-linkage scenario.

The household that moved from 国立市 to 国分寺市 applies for 児童手当 at its new
town, which pulls 地方税関係情報 from the old town through the hub.  One
member's copy is flagged 自動応答不可 (e.g. a DV support-measure subject) and
waits for a supervisor at the old town; another member has refused provision
for 児童手当, so the new town is told to continue on paper.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from myna.linkage.messages import Result
from myna.municipality import Municipality

from .world import DemoWorld

ProgressFactory = Callable[[str, int], Callable[[int], None]]
ROW, AFFAIR, ITEM = "T2-0001", "児童手当の支給", "地方税関係情報"
PENSION = ("nenkin", "日本年金機構", "厚生労働大臣・日本年金機構")


def go_live(world: DemoWorld, progress: ProgressFactory, seed: int) -> None:
    """Join the network: 符号 for everyone, copies of tax and household data."""
    rng = random.Random(seed)
    for town in world.towns.values():
        people = town.registry.numbered_residents()
        town.acquire_codes(progress=progress(f"{town.registry.title}: 符号の取得", len(people)))
        rows: list[tuple[str, str, dict[str, Any]]] = []
        households: dict[str, int] = {}
        residents = {r.resident_id: r for r in town.registry.current_residents()}
        for r in residents.values():
            households[r.household_number] = households.get(r.household_number, 0) + 1
        for rid, _number in people:
            atena = town.atena_no(rid)
            member = residents[rid]
            # 世帯情報: 世帯番号 and 続柄 only, never the members' names (seed 003)
            rows.append((atena, "住民票関係情報", {
                "世帯番号": member.household_number, "続柄": member.relationship,
                "世帯員数": households[member.household_number]}))
            income = rng.choice((0, 0, 1_200_000, 2_800_000, 3_900_000, 5_400_000, 8_100_000))
            rows.append((atena, ITEM, {
                "年度": 2025, "総所得金額": income,
                "市町村民税所得割額": income * 6 // 100,
                "市町村民税均等割額": 5_000 if income else 0,
                "課税区分": "課税" if income else "非課税",
            }))
        town.intermediate.put_items_bulk(rows)


def child_allowance(
    world: DemoWorld, old: Municipality, new: Municipality,
    moves: list[tuple[int, int, str]],
) -> list[dict[str, Any]]:
    """The moved household's 児童手当 application at the new town."""
    exchanges: list[dict[str, Any]] = []
    if not moves:
        return exchanges
    for town in (old, new):
        town.acquire_new_codes()  # births and move-ins since go-live
    flagged = moves[1] if len(moves) > 1 else None
    refusing = moves[2] if len(moves) > 2 else None
    if flagged:
        old.intermediate.set_manual_approval(old.atena_no(flagged[0]), ITEM, True)
    if refusing:
        old.intermediate.set_refusal(old.atena_no(refusing[0]), AFFAIR, True)
    world.settle()  # the refusal travels through the hub to the asking town's server
    for _old_id, new_id, name in moves:
        answer = new.intermediate.request(new.atena_no(new_id), ROW, AFFAIR, old.institution,
                                          ITEM)
        entry: dict[str, Any] = {
            "resident": name, "row": ROW, "affair": AFFAIR, "item": ITEM,
            "requester": new.registry.municipality.name, "provider": old.registry.municipality.name,
            "result": answer.result.value, "label": answer.result.label,
            "leaf_index": answer.leaf_index,
        }
        if answer.result is Result.PENDING:
            [waiting] = [p for p in old.intermediate.pending()
                         if p.request_id == answer.request_id]
            old.intermediate.decide(waiting.request_id, "supervisor", approve=True,
                                    reason="支援措置の内容を確認のうえ承認")
            got = new.intermediate.fetch(answer.request_id)
            entry |= {"result": got.result.value,
                      "label": f"承認待ち → 監督者の承認 → {got.result.label}",
                      "leaf_index": got.leaf_index}
            answer_payload = got.payload
        else:
            answer_payload = new.intermediate.open(answer).payload
        if answer_payload:
            entry["received"] = {k: answer_payload[k] for k in ("年度", "課税区分")}
        exchanges.append(entry)
    _prove(world, exchanges)
    return exchanges


def _prove(world: DemoWorld, exchanges: list[dict[str, Any]]) -> None:
    """Cosign a checkpoint and attach each exchange's verified inclusion proof."""
    from myna.transparency import merkle
    from myna.transparency.witness import verify_cosigned

    cosigned = verify_cosigned(world.cosigned_checkpoint(), world.log_key, world.witness_key)
    checkpoint = cosigned.checkpoint
    for entry in exchanges:
        index = entry["leaf_index"]
        if index is None:
            continue
        data, proof = world.leaf(index, checkpoint.size)
        ok = merkle.verify_inclusion(merkle.leaf_hash(data), index, checkpoint.size, proof,
                                     checkpoint.root)
        entry["proof"] = {"checkpoint_size": checkpoint.size, "hashes": len(proof),
                          "verified": ok, "witness": cosigned.witness_name}
