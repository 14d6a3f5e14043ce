"""The ``myna`` command line."""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from myna.card.cli import app as card_app
from myna.cli_support import (
    DataDir,
    GuardedGroup,
    ensure_port_free,
    err,
    fail,
    opened_system,
    out,
    output_file,
    output_folder,
    progress_bars,
    require_installation,
)
from myna.errors import MynaError
from myna.jpki.cli import app as jpki_app
from myna.link_cli import app as link_app
from myna.notify.cli import app as notify_app
from myna.numbers import individual, municipality_code
from myna.registry.cli import app as affairs_app

if TYPE_CHECKING:
    from myna.expiry import Expiry
    from myna.system import MynaSystem

app = typer.Typer(
    help="Myna: マイナンバー制度のオープンな実装 "
    "(an open implementation of Japan's My Number system)",
    no_args_is_help=True,
    add_completion=False,
    cls=GuardedGroup,
    pretty_exceptions_enable=False,
)
number_app = typer.Typer(help="個人番号の検査・整形・マスク・生成 (Individual Number tools)",
                         no_args_is_help=True)
bench_app = typer.Typer(help="ベンチマーク (benchmarks; figures and ratios)", no_args_is_help=True)
app.add_typer(number_app, name="number")
app.add_typer(link_app, name="link")
app.add_typer(notify_app, name="notify")
app.add_typer(card_app, name="card")
app.add_typer(jpki_app, name="jpki")
app.add_typer(bench_app, name="bench")
app.add_typer(affairs_app, name="affairs")

WitnessDir = Annotated[Path | None, typer.Option(
    help="個人情報保護委員会（監視者）の状態を置くディレクトリ（データディレクトリの外に）")]


@app.command()
def demo(
    residents: Annotated[int, typer.Option(help="国立市の合成住民数 (synthetic residents)",
                                           min=50, max=1_000_000)] = 2000,
    data_dir: DataDir = Path("myna-data"),
    seed: Annotated[int, typer.Option(help="乱数の種 (reproducible data)")] = 2015,
    as_json: Annotated[bool, typer.Option("--json", help="要約をJSONで出力")] = False,
    export: Annotated[
        Path | None, typer.Option(help="合成住民をCSVに書き出す (test data set)",
                                  callback=output_file)
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL (既定はSQLite)")
    ] = None,
    processes: Annotated[bool, typer.Option(
        "--processes", help="各機関を別プロセス（myna serve --node）で動かして実行する")] = False,
) -> None:
    """デモ環境を構築する: 2市の合成住民、付番、届出、写しの交付。"""
    from myna.demo.scenario import run_demo

    try:
        with progress_bars(enabled=not as_json or sys.stderr.isatty()) as bars:
            result = run_demo(data_dir, residents, seed, bars, database_url, processes)
        if export:
            _export(data_dir, export, database_url)
    except MynaError as exc:
        fail(exc)
        return
    summary = result.as_dict()
    if export:
        summary["export"] = str(export)
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return
    _print_summary(summary)


def _export(data_dir: Path, path: Path, database_url: str | None) -> None:
    with opened_system(data_dir, database_url) as system, \
            path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["municipality_code", "name", "furigana", "birth_date", "sex",
                         "postcode", "address", "resident_code", "individual_number"])
        for registry in system.registries.values():
            writer.writerows(registry.export_rows())


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="市区町村（住民基本台帳）")
    columns = ("コード", "名称", "住民", "世帯", "付番済み", "除票", "記録された事象",
               "アクセス記録")
    for col in columns:
        table.add_column(col)
    for m in summary["municipalities"]:
        table.add_row(m["code"], m["name"], str(m["residents"]), str(m["households"]),
                      str(m["numbered"]), str(m["removed"]), str(m["events"]),
                      str(m["access_log"]))
    out.print(table)
    jlis = summary["jlis"]
    jt = Table(title="J-LIS（地方公共団体情報システム機構）")
    jt.add_column("項目")
    jt.add_column("件数", justify="right")
    labels = {"issued_resident_codes": "発行済み住民票コード", "active_numbers": "有効な個人番号",
              "retired_numbers": "廃止された個人番号（再利用しない）", "persons": "本人確認情報",
              "lookups": "番号による照会"}
    for k, v in jlis.items():
        jt.add_row(labels.get(k, k), str(v))
    out.print(jt)
    et = Table(title="実行した届出・事象")
    for col in ("事象", "住民", "内容"):
        et.add_column(col)
    for e in summary["events"]:
        et.add_row(e["event"], e["resident"], e["detail"])
    out.print(et)
    notification = summary.get("notification") or {}
    if notification:
        overall = notification["overall"]
        nt = Table(title="番号通知（世帯ごとの簡易書留・転送不要、配達結果は合成データ）")
        nt.add_column("項目")
        nt.add_column("件数", justify="right")
        nt.add_column("割合", justify="right")
        nt.add_row("送付した通知", str(overall["mailed"]), "")
        for state, v in overall["by_state"].items():
            nt.add_row(f"  {state}", str(v["count"]), f"{v['rate']:.1%}")
        nt.add_row("返戻", str(overall["returned"]), f"{overall['return_rate']:.1%}")
        for reason, v in overall["by_reason"].items():
            nt.add_row(f"  {reason}", str(v["count"]), f"{v['share']:.1%}")
        nt.add_row("届かなかった世帯（実態調査の対象）", str(overall["unreached"]),
                   f"{overall['unreached_rate']:.1%}")
        out.print(nt)
    cards = summary.get("cards") or {}
    if cards:
        ct = Table(title="個人番号カード（任意の申請）と公的個人認証")
        ct.add_column("項目")
        ct.add_column("内容")
        for key, label in (("applied", "申請"), ("produced", "J-LISで作製"),
                           ("issued", "窓口で交付（本人確認・暗証番号の設定）"),
                           ("with_signing_certificate", "うち署名用電子証明書あり"),
                           ("waiting_at_counter", "未受領（窓口で保管中）")):
            ct.add_row(label, str(cards.get(key, 0)))
        story = cards.get("story") or {}
        if story:
            ct.add_row("署名と検証", f"{story['holder']} のカードで署名し、署名検証者が検証: 成功")
            ct.add_row("紛失→一時停止", f"同じ署名の検証: {story['after_suspension']}")
            ct.add_row("電子証明書", f"署名用 {story['signing_certificate']}・"
                                     f"利用者証明用 {story['auth_certificate']}")
        out.print(ct)
    xt = Table(title="情報連携（情報提供ネットワークシステム経由）")
    for col in ("対象者", "照会機関 → 提供機関", "根拠（別表第二）", "特定個人情報", "結果",
                "ログの証明"):
        xt.add_column(col)
    for x in summary.get("exchanges", []):
        proof = x.get("proof")
        proved = "" if not proof else (
            f"#{x['leaf_index']} / {proof['checkpoint_size']}件 "
            f"{'✓ 検証済み（証人副署）' if proof['verified'] else '✗ 不一致'}")
        xt.add_row(x["resident"], f"{x['requester']} → {x['provider']}",
                   f"{x['row']} {x['affair']}", x["item"], x["label"], proved)
    out.print(xt)
    audit = summary.get("audit") or {}
    if audit:
        verdict = "異常なし" if audit["ok"] else f"問題あり（{len(audit['problems'])} 件）"
        out.print(f"個人情報保護委員会の監査（ハブの監査用インターフェース経由）: {verdict} — "
                  f"情報提供等記録 {audit['records']:,} 件・記録ログ {audit['leaves']:,} 件・"
                  f"チェックポイント {audit['checkpoints']} 件を再計算して照合", highlight=False)
        for problem in audit["problems"]:
            out.print(f"  - {problem}", markup=False, highlight=False)
    st = Table(title="職員アカウント（myna serve でサインイン）")
    for col in ("市区町村", "職員ID", "役割", "パスワード"):
        st.add_column(col)
    for s in summary["staff"]:
        st.add_row(s["municipality_name"], s["staff_id"], s["role"], s["password"])
    out.print(st)
    out.print(
        f"データ: {summary['data_dir']}  —  画面を開くには: "
        f"[bold]myna serve --data-dir {summary['data_dir']}[/bold] → http://127.0.0.1:8000/"
    )


@app.command()
def serve(
    data_dir: DataDir = Path("myna-data"),
    host: Annotated[str, typer.Option(help="待ち受けアドレス")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="ポート", min=1, max=65535)] = 8000,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL URL")] = None,
    node: Annotated[
        str | None,
        typer.Option(help="このプロセスで動かすノード: hub / jlis / intermediate:<機関ID> / "
                          "municipality:<市区町村コード>（職員用画面とAPI） / witness"),
    ] = None,
    expire_every: Annotated[
        float,
        typer.Option(help="保存期間を過ぎた情報提供等記録を消去する間隔（時間）。起動時にも消去する",
                     min=0.01, max=24 * 366),
    ] = 24.0,
    witness_dir: WitnessDir = None,
) -> None:
    """職員用の画面とAPIを起動する。--node で情報連携の1ノードだけを起動する。"""
    import datetime as dt

    import uvicorn

    from myna.expiry import Expiry
    from myna.system import MynaSystem
    from myna.web.app import create_app

    if node == "witness":
        from myna.nodes import witness_node_app

        if witness_dir is None:
            fail(MynaError("監視者は --witness-dir に状態を置きます（データディレクトリとは別に）",
                           "the witness node needs --witness-dir"))
            return
        try:
            witness_node = witness_node_app(witness_dir)
        except MynaError as exc:
            fail(exc)
            return
        ensure_port_free(host, port)
        err.print(f"監視者を http://{host}:{port}/ で起動します")
        uvicorn.run(witness_node, host=host, port=port, log_level="warning")
        return
    interval = dt.timedelta(hours=expire_every)
    if node:
        from myna.nodes import NodeHost

        require_installation(data_dir)
        try:
            nodes = NodeHost(data_dir, expiry_interval=interval)
            node_app = nodes.app(node)
        except MynaError as exc:
            fail(exc)
            return
        ensure_port_free(host, port)
        err.print(f"{node} を http://{host}:{port}/ で起動します")
        _serve_logging(nodes.expiry)
        uvicorn.run(node_app, host=host, port=port, log_level="warning")
        return

    require_installation(data_dir)
    try:
        system = MynaSystem(data_dir, database_url)
    except MynaError as exc:
        fail(exc)
        return
    if not system.registries:
        err.print(
            "[yellow]市区町村が登録されていません。先に myna demo を実行してください。[/yellow]"
        )
    expiry = Expiry(system.retention_tasks(), interval)
    application = create_app(system, system.keys.secret("web/session-secret", 32), expiry)
    ensure_port_free(host, port)
    err.print(f"http://{host}:{port}/ で待ち受けます（Ctrl+C で終了）")
    _serve_logging(expiry)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def cluster(
    data_dir: DataDir = Path("myna-data"),
    base_port: Annotated[int, typer.Option(help="最初のノードのポート（以降は連番）",
                                           min=1024, max=65000)] = 8100,
) -> None:
    """各機関を別プロセスで起動する（市区町村の職員用画面を含む）。Ctrl-C で停止。"""
    from myna.cluster import serve_until_stopped

    require_installation(data_dir)

    def ready(started: list[tuple[str, str]]) -> None:
        table = Table(title="起動したノード（Ctrl-C で停止し、system.json を元に戻します）")
        table.add_column("ノード")
        table.add_column("アドレス")
        for node, url in started:
            label = f"{node}（職員用画面）" if node.startswith("municipality:") else node
            table.add_row(label, url)
        out.print(table)

    try:
        serve_until_stopped(data_dir, base_port, ready)
    except MynaError as exc:
        fail(exc)


def _serve_logging(expiry: Expiry | None) -> None:
    """A server's own log lines (errors, counts of expired records) go to stderr with
    their time; what the start-up expiry did is said at once."""
    if expiry is not None and expiry.last is not None:
        hours = expiry.interval.total_seconds() / 3600
        err.print(f"保存期間を過ぎた情報提供等記録の消去（起動時）: {expiry.last.line()}"
                  f"（以後 {hours:g} 時間ごと）", highlight=False, soft_wrap=True)
    logger = logging.getLogger("myna")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


staff_app = typer.Typer(help="職員アカウントの管理 (staff accounts)", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@staff_app.command("add")
def staff_add(
    municipality: Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")],
    staff_id: Annotated[str, typer.Option("--id", help="職員ID（半角英数字）")],
    name: Annotated[str, typer.Option(help="氏名")],
    role: Annotated[str, typer.Option(help="clerk / supervisor / administrator")] = "clerk",
    data_dir: DataDir = Path("myna-data"),
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                          help="パスワード（8文字以上）")
    ] = "",
) -> None:
    """職員アカウントを作成する (password stored with scrypt)."""
    with opened_system(data_dir) as system:
        created = system.registry(municipality).accounts.create(staff_id, name, role, password)
    out.print(f"作成しました: {created.staff_id}（{created.name}、{created.role.label}）")


@staff_app.command("list")
def staff_list(
    municipality: Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")],
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """職員アカウントの一覧（利用停止・ロック中のものも、状態とともに）。"""
    from myna.clock import show_time, utcnow

    with opened_system(data_dir) as system:
        accounts = system.registry(municipality).accounts
        rows = [(a, accounts.live_sessions(a.staff.staff_id)) for a in accounts.accounts()]
    now = utcnow()
    table = Table(title="職員")
    for col in ("職員ID", "氏名", "役割", "状態", "連続失敗", "ロック解除", "セッション"):
        table.add_column(col)
    for account, sessions in rows:
        table.add_row(
            account.staff.staff_id, account.staff.name, account.staff.role.label,
            account.state(now), str(account.failed_attempts),
            show_time(account.locked_until) if account.is_locked(now) else "",
            str(sessions),
        )
    out.print(table)


Municipality = Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")]
StaffId = Annotated[str, typer.Option("--id", help="職員ID")]
By = Annotated[str, typer.Option("--by", help="操作する管理者の職員ID（記録に残ります）")]


def _administrator(system: MynaSystem, municipality: str, by: str) -> None:
    from myna.errors import PermissionDenied
    from myna.registry.domain import Role

    if system.registry(municipality).get_staff(by).role is not Role.ADMINISTRATOR:
        raise PermissionDenied("職員アカウントの管理は管理者が行います",
                               "only an administrator manages staff accounts")


@staff_app.command("role")
def staff_role(
    municipality: Municipality, staff_id: StaffId,
    role: Annotated[str, typer.Option(help="clerk / supervisor / administrator")], by: By,
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """役割を変える。その職員のサインイン中のセッションはすべて終了する。"""
    with opened_system(data_dir) as system:
        _administrator(system, municipality, by)
        changed = system.registry(municipality).accounts.set_role(staff_id, role, by)
    out.print(f"{changed.staff_id} の役割を{changed.role.label}にしました"
              "（サインイン中のセッションは終了しました）")


@staff_app.command("lock")
def staff_lock(
    municipality: Municipality, staff_id: StaffId, by: By,
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """アカウントを利用停止にする。セッションはただちに終了する。"""
    _account_action(data_dir, municipality, staff_id, by, lock=True)
    out.print(f"{staff_id} を利用停止にしました（サインイン中のセッションは終了しました）")


@staff_app.command("unlock")
def staff_unlock(
    municipality: Municipality, staff_id: StaffId, by: By,
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """利用停止・連続失敗によるロックを解除する。"""
    _account_action(data_dir, municipality, staff_id, by, lock=False)
    out.print(f"{staff_id} を利用できるようにしました")


def _account_action(data_dir: Path, municipality: str, staff_id: str, by: str, *,
                    lock: bool) -> None:
    with opened_system(data_dir) as system:
        _administrator(system, municipality, by)
        accounts = system.registry(municipality).accounts
        (accounts.suspend if lock else accounts.reinstate)(staff_id, by)


@number_app.command("check")
def number_check(value: str) -> None:
    """個人番号を検査する (exit 0 when valid, 1 when not)."""
    try:
        compact = individual.validate(value)
    except MynaError as exc:
        out.print(f"[red]無効[/red]: {exc.message_ja}")
        out.print(f"[dim]{exc.message_en}[/dim]")
        raise typer.Exit(1) from None
    out.print(f"[green]有効[/green]: {individual.format(compact)}")
    out.print("[dim]検査用数字が合っても、番号が実在するとは限りません。"
              "また、誤りのすべてを検出できるわけではありません。[/dim]")


def _print_number(value: str, render: Callable[[str], str]) -> None:
    try:
        out.print(render(individual.validate(value)))
    except MynaError as exc:
        fail(exc)


@number_app.command("format")
def number_format(value: str) -> None:
    """個人番号を4桁区切りで表示する。"""
    _print_number(value, individual.format)


@number_app.command("mask")
def number_mask(value: str) -> None:
    """個人番号の下4桁以外を伏せる。"""
    _print_number(value, individual.mask)


@number_app.command("generate")
def number_generate(
    count: Annotated[int, typer.Option(help="生成する件数")] = 10,
    seed: Annotated[int | None, typer.Option(help="乱数の種")] = None,
) -> None:
    """検査用数字の正しい合成番号を生成する（試験データ用。実在の番号ではない）。"""
    if count < 1 or count > 10_000_000:
        err.print("[red]エラー:[/red] 件数は1〜10,000,000です (count must be 1..10,000,000)")
        raise typer.Exit(2)
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        base = f"{rng.randrange(10**11):011d}"
        lines.append(base + individual.calc_check_digit(base))
    sys.stdout.write("\n".join(lines) + "\n")


@number_app.command("assign-all")
def number_assign_all(
    municipality: Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")],
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """初期一斉指定: 番号のない住民全員に個人番号を指定する（中断しても再実行で完了する）。"""
    with opened_system(data_dir) as system:
        registry = system.registry(municipality_code.lookup(municipality).code)
        waiting = sum(1 for _, _, n in registry.carried_numbers() if n is None)
        with progress_bars() as bars:
            done = registry.initial_numbering(bars(f"{registry.title}: 初期一斉指定", waiting))
        out.print(f"{registry.title}: {done:,}人に個人番号を指定しました"
                  f"（{done:,} residents numbered）")


@app.command("check")
def check(
    data_dir: DataDir = Path("myna-data"),
    as_json: Annotated[bool, typer.Option("--json", help="結果をJSONで出力")] = False,
    nodes: Annotated[bool | None, typer.Option(
        "--nodes/--in-process",
        help="動いている各ノードに HTTP で問い合わせる（個人情報保護委員会のノード ppc として）。"
             "既定: system.json に endpoints があれば（myna cluster の実行中など）そうする")
    ] = None,
) -> None:
    """ノード間の整合性を検査する（住基 ↔ J-LIS・統合宛名、記録 ↔ ログ、未完了の処理、未配送）。"""
    from myna.check import check_installation, check_nodes
    from myna.config import read_config

    require_installation(data_dir)
    config = read_config(data_dir)
    if nodes is None:  # the organisations run as nodes (the witness alone does not count)
        nodes = any(node != "witness" for node in config.endpoints)
    if nodes:
        from myna.contracts.audit import COMMISSION
        from myna.keys import FileKeyStore
        from myna.netca import NetworkCA
        from myna.transport.http import NodeIdentity

        if not any(node != "witness" for node in config.endpoints):
            fail(MynaError("system.json にノードの接続先（endpoints）がありません",
                           "system.json names no node endpoints"))
        try:
            ca = NetworkCA(FileKeyStore(data_dir / "keys"), data_dir / "netca")
            report = check_nodes(config.endpoints, NodeIdentity.of(ca, COMMISSION))
        except MynaError as exc:
            fail(exc)
    else:
        with opened_system(data_dir) as system:
            report = check_installation(system)
    if as_json:
        sys.stdout.write(json.dumps({
            "ok": report.ok, "compared": report.compared,
            "disagreements": [d.to_json() for d in report.disagreements]},
            ensure_ascii=False, indent=2) + "\n")
        raise typer.Exit(0 if report.ok else 1)
    compared = "、".join(f"{k} {v:,}件" for k, v in report.compared.items())
    if report.ok:
        out.print(f"[green]不一致なし[/green]（no disagreements; {compared}）")
        return
    table = Table("ノード", "不一致", "件数", "例")
    for d in report.disagreements:
        table.add_row(d.nodes, f"{d.what_ja}\n[dim]{d.what_en}[/dim]", f"{d.count:,}",
                      "\n".join(d.examples))
    out.print(table)
    out.print(f"[red]{len(report.disagreements)}種類の不一致があります[/red]"
              f"（{len(report.disagreements)} kinds of disagreement）")
    raise typer.Exit(1)


@bench_app.command("linkage")
def bench_linkage(
    exchanges: Annotated[int, typer.Option(help="情報照会の件数", min=1, max=1_000_000)] = 1000,
    http: Annotated[bool, typer.Option("--http/--no-http", help="別プロセスのHTTPでも測る")] = True,
    proof_size: Annotated[
        list[int] | None, typer.Option("--proof-size", help="Merkle 証明を測るログの大きさ",
                                       min=2, max=10**9)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="作業ディレクトリ")] = None,
) -> None:
    """情報連携の end-to-end 速度を、避けられない処理だけの速度と比べる。"""
    from myna.bench.linkage import print_report, run

    sizes = tuple(proof_size) if proof_size else (10**6,)
    with progress_bars(enabled=not as_json) as bars:
        report = run(exchanges, http=http, proof_sizes=sizes, progress=bars, data_dir=data_dir)
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        print_report(report, out)


@bench_app.command("merkle")
def bench_merkle(
    size: Annotated[list[int] | None, typer.Option("--size", help="ログの大きさ（2以上）",
                                                   min=2, max=10**9)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="作業ディレクトリ")] = None,
) -> None:
    """Merkle ログの追記速度と証明の時間。"""
    from myna.bench.merkle import print_report, run

    sizes = tuple(size) if size else (10**6, 10**7)
    with progress_bars(enabled=not as_json) as bars:
        report = run(sizes=sizes, progress=bars, data_dir=data_dir)
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        print_report(report, out)


log_app = typer.Typer(help="情報提供等記録ログ（追記専用 Merkle ログ）", no_args_is_help=True)
app.add_typer(log_app, name="log")


@log_app.command("verify")
def log_verify(
    data_dir: DataDir = Path("myna-data"),
    hub_url: Annotated[str | None, typer.Option(
        help="情報提供ネットワークシステム（ハブ）の接続先。指定すると個人情報保護委員会の"
             "ノード（ppc）としてハブのインターフェースから監査する（ハブの表は読まない）。"
             "省略時はこのデータディレクトリのハブを直接監査する")] = None,
    witness_url: Annotated[str | None, typer.Option(
        help="監視者の接続先（省略時は system.json の endpoints.witness）")] = None,
    witness_dir: WitnessDir = None,
    witness_key: Annotated[str | None, typer.Option(
        help="監視者の検証鍵（name+id+key）。省略時は system.json の witness_key")] = None,
) -> None:
    """ログを最初から再計算し、改ざん・削除・並べ替え・分岐を特定し、記録と照合する。

    情報提供等記録のそれぞれについて記録ログの記録を再計算して照合し、監視者
    （個人情報保護委員会）が最後に連署したチェックポイントを監視者から取得して、
    このログがそれと同じ履歴であることを確かめる。
    """
    from myna.commission.audit import audit_hub
    from myna.config import read_config
    from myna.system import witness_inside
    from myna.transparency.witness import WitnessApi, open_witness_dir
    from myna.transport.witness import WitnessClient

    def witness_from(default: Callable[[], WitnessApi], pinned: str | None) -> WitnessApi:
        if witness_dir is not None:
            return open_witness_dir(witness_dir)
        if witness_url:
            return WitnessClient(witness_url, witness_key or pinned)
        return default()

    if hub_url:
        report = _audit_remote(data_dir, hub_url, witness_from, witness_key)
    else:
        with opened_system(data_dir, repair=False) as system:
            from myna.hub.audit import HubAudit

            witness = witness_from(lambda: system.witness, system.config.witness_key)
            with progress_bars(enabled=True) as bars:
                report = audit_hub(HubAudit(system.hub, system.provision_log), witness,
                                   pinned_key=witness_key, bars=bars)
    config = read_config(data_dir)
    if witness_dir is None and not witness_url and witness_inside(config, data_dir):
        report.notes.append(
            "注意: 監視者（個人情報保護委員会）の状態がこのデータディレクトリの中にあります。"
            "ディレクトリごと差し替えられると分岐は検出できません（myna witness init "
            "--witness-dir で別の場所に置いてください） (warning: the witness keeps its state "
            "inside this data directory; a replaced directory cannot be told apart)")
    for line in report.lines():
        out.print(line, markup=False, soft_wrap=True)  # one finding a line, for grep
    raise typer.Exit(0 if report.ok else 1)


def _audit_remote(data_dir: Path, hub_url: str, witness_from: Any,
                  witness_key: str | None) -> Any:
    """The commission's audit over the network, as node ``ppc``."""
    from myna.commission.audit import audit_hub
    from myna.config import read_config
    from myna.contracts.audit import COMMISSION
    from myna.keys import FileKeyStore
    from myna.netca import NetworkCA
    from myna.system import open_witness
    from myna.transport.audit_client import HubAuditClient
    from myna.transport.http import NodeIdentity

    try:
        require_installation(data_dir)
        config = read_config(data_dir)
        keys = FileKeyStore(data_dir / "keys")
        ca = NetworkCA(keys, data_dir / "netca")
        hub = HubAuditClient(hub_url, NodeIdentity.of(ca, COMMISSION), timeout=60.0)
        witness = witness_from(lambda: open_witness(config, data_dir, keys), config.witness_key)
        with progress_bars(enabled=True) as bars:
            return audit_hub(hub, witness, pinned_key=witness_key, chunk=hub.chunk, bars=bars)
    except MynaError as exc:
        fail(exc)


@log_app.command("expire")
def log_expire(
    data_dir: DataDir = Path("myna-data"),
    as_json: Annotated[bool, typer.Option("--json", help="件数をJSONで出力")] = False,
) -> None:
    """保存期間（7年、番号法23条・施行令30条）を過ぎた情報提供等記録を消去し、件数を示す。

    ``myna serve`` も起動時と定期的（既定は1日ごと）に同じ消去を行う。
    """
    from myna.expiry import Expiry

    with opened_system(data_dir) as system:
        tasks = system.retention_tasks()
        report = Expiry(tasks).tick()
    if as_json:
        sys.stdout.write(json.dumps({"counts": report.counts, "failed": report.failed},
                                    ensure_ascii=False, indent=2) + "\n")
    else:
        table = Table(title="保存期間を過ぎた情報提供等記録の消去")
        table.add_column("記録")
        table.add_column("消去した件数", justify="right")
        for task in tasks:
            count = report.counts.get(task.name)
            table.add_row(task.label, "失敗" if count is None else str(count))
        out.print(table)
    if report.failed:
        err.print(f"[red]エラー:[/red] 消去できなかった記録があります: {', '.join(report.failed)}"
                  "（もう一度実行してください）", highlight=False)
        err.print(f"[dim]expiry failed for {', '.join(report.failed)}[/dim]", highlight=False)
        raise typer.Exit(1)


@log_app.command("checkpoint")
def log_checkpoint(data_dir: DataDir = Path("myna-data")) -> None:
    """署名付きチェックポイントを作り、個人情報保護委員会（監視者）の連署を得る。"""

    with opened_system(data_dir) as system:
        sys.stdout.write(system.publish_checkpoint())


@log_app.command("key")
def log_key(data_dir: DataDir = Path("myna-data")) -> None:
    """記録ログの検証鍵（監視者に登録する公開鍵）を表示する。"""

    with opened_system(data_dir, repair=False) as system:
        sys.stdout.write(system.provision_log.verifier_key() + "\n")


witness_app = typer.Typer(help="個人情報保護委員会の監視者（記録ログへの連署）",
                          no_args_is_help=True)
app.add_typer(witness_app, name="witness")


@witness_app.command("init")
def witness_init(
    witness_dir: Annotated[Path, typer.Option(help="監視者の状態を置くディレクトリ",
                                              callback=output_folder)],
    data_dir: Annotated[Path | None, typer.Option(
        help="このインストールの記録ログを登録し、system.json に監視者を設定する")] = None,
    url: Annotated[str | None, typer.Option(
        help="監視者を別プロセス（myna serve --node witness）で動かすときの接続先")] = None,
    name: Annotated[str | None, typer.Option(help="監視者の鍵の名前")] = None,
) -> None:
    """監視者を用意する（鍵と連署の履歴は --witness-dir に置かれる）。"""
    from myna.system import MynaSystem, open_provision_log
    from myna.transparency.witness import open_witness_dir

    try:
        witness = open_witness_dir(witness_dir, name, create=True)
        if data_dir is not None:
            require_installation(data_dir)
            config = MynaSystem.read_config(data_dir)
            from myna.keys import FileKeyStore

            log = open_provision_log(config.engine(data_dir, "transparency"),
                                     FileKeyStore(data_dir / "keys"))
            witness.add_log(log.origin, log.public_key)
            log.engine.dispose()
            if url:
                config.endpoints["witness"] = url
                config.witness_dir = None
            else:
                config.endpoints.pop("witness", None)
                config.witness_dir = str(witness_dir.resolve())
            config.witness_key = witness.verifier_key()
            (data_dir / "system.json").write_text(config.to_json(), encoding="utf-8")
        witness.engine.dispose()
    except MynaError as exc:
        fail(exc)
    out.print(witness.verifier_key(), markup=False)


@witness_app.command("add-log")
def witness_add_log(
    witness_dir: Annotated[Path, typer.Option(help="監視者のディレクトリ")],
    log_key: Annotated[str, typer.Option(help="記録ログの検証鍵（myna log key の出力）")],
) -> None:
    """連署する記録ログを登録する（以後その鍵の署名がないチェックポイントは拒否）。"""
    from myna.transparency.note import SIG_ED25519, parse_verifier_key
    from myna.transparency.witness import open_witness_dir

    try:
        name, sig_type, key = parse_verifier_key(log_key.strip())
        if sig_type != SIG_ED25519:
            raise MynaError("記録ログの検証鍵ではありません", "not a log verifier key")
        witness = open_witness_dir(witness_dir)
        witness.add_log(name, key)
        witness.engine.dispose()
    except MynaError as exc:
        fail(exc)
    out.print(f"記録ログ {name} を登録しました", markup=False)


@bench_app.command("numbering")
def bench_numbering(
    residents: Annotated[int, typer.Option(help="件数", min=1, max=200_000_000)] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    postgres_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL（省略時は MYNA_TEST_POSTGRES_URL）")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="SQLite を置く場所")] = None,
) -> None:
    """付番・検査・初期一斉指定の速度を測る。"""
    from myna.bench.numbering import print_report, run

    url = postgres_url or os.environ.get("MYNA_TEST_POSTGRES_URL")
    with progress_bars(enabled=not as_json) as bars:
        report = run(residents, postgres_url=url, data_dir=data_dir, progress=bars)
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        print_report(report, out)


@bench_app.command("demo")
def bench_demo(
    residents: Annotated[int, typer.Option(help="国立市の合成住民数", min=50,
                                           max=1_000_000)] = 2000,
    repeats: Annotated[int, typer.Option(help="繰り返し回数", min=1, max=20)] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="グラフをPNGで書き出す",
                                               callback=output_file)] = None,
) -> None:
    """デモ全体を1プロセスと機関ごとのプロセスで実行し、所要時間を比べる。"""
    from myna.bench import demo as bench

    with progress_bars(enabled=not as_json) as bars:
        report = bench.run(residents, repeats, progress=bars)
    _bench_report(report, as_json, chart, bench.print_report, bench.render_chart)


@bench_app.command("events")
def bench_events(
    events: Annotated[int, typer.Option(help="イベント数", min=100, max=1_000_000)] = 5000,
    repeats: Annotated[int, typer.Option(help="繰り返し回数", min=1, max=20)] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="グラフをPNGで書き出す",
                                               callback=output_file)] = None,
    serve_receiver: Annotated[Path | None, typer.Option(hidden=True)] = None,
    port: Annotated[int, typer.Option(hidden=True, min=1, max=65535)] = 8765,
) -> None:
    """ノード間のイベント配送（HTTP、永続）の速度と遅延を、素の sqlite3 の書き込みと比べて測る。"""
    from myna.bench import events as bench

    if serve_receiver is not None:  # the receiving process the benchmark starts itself
        import uvicorn

        uvicorn.run(bench.receiver_app(serve_receiver), host="127.0.0.1", port=port,
                    log_level="warning")
        return
    with progress_bars(enabled=not as_json) as bars:
        report = bench.run(events, repeats, bars)
    _bench_report(report, as_json, chart, bench.print_report, bench.render_chart)


def _bench_report(report: dict[str, Any], as_json: bool, chart: Path | None,
                  show: Callable[[dict[str, Any], Console], None],
                  draw: Callable[[dict[str, Any]], bytes]) -> None:
    """A benchmark's report as a table (or JSON), and its chart when asked for."""
    if chart is not None:
        chart.write_bytes(draw(report))
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        return
    show(report, out)
    if chart is not None:
        err.print(f"グラフ: {chart}")


if __name__ == "__main__":  # pragma: no cover
    app()
