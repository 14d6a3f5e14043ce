"""``myna notify …``: statistics, the follow-up list and printable letters of 番号通知."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from myna.cli_support import output_file, require_installation
from myna.errors import MynaError
from myna.notify.domain import STATS_STATES, DeliveryStats, ReturnReason
from myna.notify.service import NotificationService

app = typer.Typer(help="番号通知（個人番号通知書の送付・返戻・交付の管理）", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="データディレクトリ (data directory)")]
NODE = "notify"


def open_service(data_dir: Path, database_url: str | None = None) -> NotificationService:
    """The notification node of an installation (its ``system.json`` gives the database)."""
    from myna.system import MynaSystem

    require_installation(data_dir)
    config = MynaSystem.read_config(data_dir)
    if database_url:
        config.database_url = database_url
    service = NotificationService(config.engine(data_dir, NODE))
    service.create_schema()
    return service


def _fail(exc: MynaError) -> None:
    err.print(f"[red]エラー:[/red] {exc.message_ja}")
    if exc.message_en != exc.message_ja:
        err.print(f"[dim]{exc.message_en}[/dim]")
    raise typer.Exit(2)


def _stats_tables(stats: DeliveryStats) -> list[Table]:
    title = stats.municipality_name
    if stats.municipality_code:
        title += f"（{stats.municipality_code}）"
    states = Table(title=f"{title}: 通知の状態（発送 {stats.mailed:,}通）")
    states.add_column("状態")
    states.add_column("通数", justify="right")
    states.add_column("発送数に対する割合", justify="right")
    for state in STATS_STATES:
        states.add_row(state.value, f"{stats.by_state.get(state, 0):,}",
                       f"{stats.state_rate(state):.2%}")
    states.add_row("[bold]未達（返戻・保管・廃棄）[/bold]", f"{stats.unreached:,}",
                   f"{stats.unreached_rate:.2%}")
    reasons = Table(title=f"返戻理由（返戻 {stats.returned:,}通・{stats.return_rate:.2%}）")
    reasons.add_column("理由")
    reasons.add_column("通数", justify="right")
    reasons.add_column("返戻に占める割合", justify="right")
    for reason in ReturnReason:
        reasons.add_row(reason.value, f"{stats.by_reason.get(reason, 0):,}",
                        f"{stats.reason_rate(reason):.1%}")
    return [states, reasons]


@app.command()
def stats(
    municipality: Annotated[
        str | None, typer.Option("--municipality", help="市区町村コード（省略時は全体）")
    ] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="グラフをPNGで書き出す",
                                                             callback=output_file)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """送付結果の集計（状態別・返戻理由別の件数と割合）。"""
    try:
        service = open_service(data_dir)
        report = service.stats(municipality)
        if chart is not None:
            chart.write_bytes(service.chart_png(municipality))
    except MynaError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for table in _stats_tables(report.overall):
            out.print(table)
        if municipality is None and len(report.municipalities) > 1:
            per = Table(title="市区町村別")
            for col in ("団体コード", "市区町村", "発送", "返戻", "未達", "未達率"):
                per.add_column(col, justify="right" if col in ("発送", "返戻", "未達", "未達率")
                               else "left")
            for m in report.municipalities:
                per.add_row(m.municipality_code or "", m.municipality_name, f"{m.mailed:,}",
                            f"{m.returned:,}", f"{m.unreached:,}", f"{m.unreached_rate:.2%}")
            out.print(per)
    if chart is not None:
        err.print(f"グラフ: {chart}")


@app.command("follow-up")
def follow_up(
    municipality: Annotated[str, typer.Option("--municipality", help="市区町村コード")],
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """通知が届かなかった世帯の一覧（実態調査・職権消除の検討用）。"""
    try:
        entries = open_service(data_dir).follow_up(municipality)
    except MynaError as exc:
        _fail(exc)
        return
    if as_json:
        rows = [{
            "letter_id": e.letter_id, "kind": e.kind.value, "household_number": e.household_number,
            "postcode": e.postcode, "address": e.address, "names": list(e.names),
            "state": e.state.value, "return_reason": e.return_reason.value if e.return_reason
            else None, "returned_on": str(e.returned_on) if e.returned_on else None,
            "holding_until": str(e.holding_until) if e.holding_until else None,
            "disposed_on": str(e.disposed_on) if e.disposed_on else None,
        } for e in entries]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"未達世帯の一覧（{len(entries)}件）— 実態調査用")
    for col in ("通知番号", "種別", "世帯番号", "住所（住民票）", "氏名", "状態", "返戻理由",
                "返戻日", "保管期限／廃棄日"):
        table.add_column(col)
    for e in entries:
        until = e.disposed_on or e.holding_until
        table.add_row(str(e.letter_id), e.kind.value, e.household_number, e.address,
                      "、".join(e.names), e.state.value,
                      e.return_reason.value if e.return_reason else "",
                      str(e.returned_on or ""), str(until or ""))
    out.print(table)
    if any(e.kind.value == "居所" for e in entries):
        err.print("※ 種別「居所」は登録された居所あての通知です。居所は表示しません。"
                  "住民票の住所での職権消除の根拠にはなりません。")


@app.command()
def letter(
    letter_id: Annotated[int, typer.Option("--id", help="通知番号")],
    out_file: Annotated[Path, typer.Option("--out", help="書き出すPDFファイル",
                                                     callback=output_file)],
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """通知書（交付申請書つき）をPDFで書き出す。"""
    try:
        pdf = open_service(data_dir).letter_pdf(letter_id)
    except MynaError as exc:
        _fail(exc)
        return
    out_file.write_bytes(pdf)
    err.print(f"通知 {letter_id}: {out_file}（{len(pdf):,} バイト）")
