"""``myna link …``: information linkage from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from myna.cli_support import DataDir, fail, opened_system, out
from myna.clock import json_default, show_time
from myna.errors import MynaError
from myna.linkage import table2

app = typer.Typer(help="情報連携（情報提供ネットワークシステム）", no_args_is_help=True)

@app.command("table2")
def show_table2() -> None:
    """別表第二（署名を検証して表示）。"""
    try:
        table = table2.load()
    except MynaError as exc:
        fail(exc)
        return
    view = Table(
        title=f"別表第二（版 {table.version}、署名検証済み、SHA-256 {table.digest[:16]}…）"
    )
    for col in ("項番", "情報照会者", "事務", "情報提供者", "特定個人情報"):
        view.add_column(col)
    for row in table.rows.values():
        items = "、".join(f"{i}（不開示）" if i in row.undisclosed else i for i in row.items)
        view.add_row(row.id, row.requester, row.affair, row.provider, items)
    out.print(view)
    bases = sorted({r.undisclosed_basis for r in table.rows.values() if r.undisclosed})
    if bases:
        out.print("（不開示）: 提供の求め・提供の事実を本人に開示しない項目（番号法第23条第2項）。"
                  "根拠: " + "；".join(bases))


@app.command("acquire")
def acquire(
    municipality: Annotated[str, typer.Option(help="市区町村のコード")],
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """符号の取得: 符号のない住民の分を J-LIS 経由で取得する（中断しても再実行で完了する）。"""
    with opened_system(data_dir) as system:
        town = system.municipality(municipality)
        done = town.acquire_new_codes()
    out.print(f"{town.registry.title}: {done:,}人の符号を取得しました（{done:,} acquired）")


@app.command("request")
def request(
    municipality: Annotated[str, typer.Option(help="照会する市区町村のコード")],
    resident_id: Annotated[int, typer.Option(help="住民ID")],
    staff: Annotated[str, typer.Option(help="職員ID")],
    purpose: Annotated[str, typer.Option(
        help="住民票を閲覧する目的の事務のID（例: child-allowance。一覧: myna affairs list）")],
    row: Annotated[str, typer.Option(help="別表第二の項番")],
    affair: Annotated[str, typer.Option(help="事務")],
    provider: Annotated[str, typer.Option(help="情報提供者の機関ID")],
    item: Annotated[str, typer.Option(help="特定個人情報")],
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """住民について情報照会する。"""

    with opened_system(data_dir) as system:
        town = system.municipality(municipality)
        received = town.request_linkage(town.registry.get_staff(staff), resident_id, purpose,
                                        row, affair, provider, item)
    out.print(f"照会番号 {received.request_id}: [bold]{received.result.label}[/bold]")
    if received.reason:
        out.print(f"理由: {received.reason}")
    if received.payload:
        for key, value in received.payload.items():
            out.print(f"  {key}: {value}")


@app.command("pending")
def pending(
    municipality: Annotated[str, typer.Option(help="提供側の市区町村のコード")],
    staff: Annotated[str, typer.Option(help="職員ID（一覧の住民の閲覧として記録）")],
    purpose: Annotated[str, typer.Option(help="閲覧の目的の事務のID（例: local-tax）")],
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """自動応答不可の承認待ち一覧。"""

    with opened_system(data_dir) as system:
        town = system.municipality(municipality)
        rows = town.pending_for_staff(town.registry.get_staff(staff), purpose)
    view = Table(title="承認待ちの情報提供")
    for col in ("照会番号", "住民ID", "照会機関", "事務", "特定個人情報", "受付"):
        view.add_column(col)
    for waiting, rid in rows:
        view.add_row(waiting.request_id, str(rid or ""), waiting.requester, waiting.affair,
                     waiting.item, show_time(waiting.received_at))
    out.print(view)


@app.command("decide")
def decide(
    municipality: Annotated[str, typer.Option(help="提供側の市区町村のコード")],
    request_id: Annotated[str, typer.Option(help="照会番号")],
    staff: Annotated[str, typer.Option(help="職員ID（監督者）")],
    approve: Annotated[bool, typer.Option("--approve/--refuse", help="提供する/しない")],
    reason: Annotated[str, typer.Option(help="理由（提供しない場合は必須）")] = "",
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """承認待ちの情報提供を承認または拒否する（監督者）。"""
    from myna.errors import PermissionDenied

    with opened_system(data_dir) as system:
        town = system.municipality(municipality)
        member = town.registry.get_staff(staff)
        if not member.may_view_protected:
            raise PermissionDenied("承認は監督者が行ってください", "a supervisor must decide")
        town.intermediate.decide(request_id, member.staff_id, approve, reason)
    out.print("提供しました" if approve else "提供しないことを記録しました")


@app.command("history")
def history(
    data_dir: DataDir = Path("myna-data"),
    request_id: Annotated[str | None, typer.Option(help="照会番号で絞り込む")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
) -> None:
    """情報提供等記録（番号法23条）: 照会機関・提供機関・事務・項目・時刻・結果。"""
    import json
    import sys
    from dataclasses import asdict

    from myna.linkage.messages import Result

    with opened_system(data_dir) as system:
        records = system.hub.records(request_id)
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in records], ensure_ascii=False,
                                    default=json_default, indent=2) + "\n")
        return
    view = Table(title="情報提供等記録")
    for col in ("照会番号", "試行", "照会機関", "提供機関", "項番", "特定個人情報", "照会日時",
                "提供日時", "結果", "本人への開示", "ログ番号"):
        view.add_column(col)
    for r in records:
        view.add_row(r.request_id[:8], str(r.attempt), r.requester, r.provider, r.row_id, r.item,
                     show_time(r.requested_at, seconds=True),
                     show_time(r.provided_at, seconds=True) if r.provided_at else "",
                     Result(r.result).label, "不開示" if r.undisclosed else "開示",
                     "" if r.leaf_index is None else str(r.leaf_index))
    out.print(view)
    if any(r.undisclosed for r in records):
        out.print("不開示: 番号法第23条第2項により、提供の求め・提供の事実が不開示情報に該当する"
                  "記録です（本人への開示の対象外）。")
