"""``myna card …``: the 個人番号カード from application to hand-over, loss and end.

Every command opens the installation in ``--data-dir`` (like the other
commands) and its card node.  PINs are asked for without echo when they are
not given as options (options end up in shell histories).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from myna.card.lifecycle.domain import CardStatus, Reporter
from myna.card.lifecycle.service import Application, Card, CardService
from myna.card.lifecycle.wiring import opened_cards
from myna.cli_support import DataDir, err, opened_system, out, output_file
from myna.clock import JST, iso_jst, show_time
from myna.errors import ValidationError

app = typer.Typer(
    help="個人番号カード（交付申請・作成・交付・一時停止・解除・再交付・券面）",
    no_args_is_help=True,
)

Documents = Annotated[list[str], typer.Option(
    "--document", "-d",
    help="提示された本人確認書類（写真付き1点、またはそれ以外2点。繰り返し指定）",
)]
Staff = Annotated[str, typer.Option("--staff", help="担当職員ID")]
AsJson = Annotated[bool, typer.Option("--json", help="JSONで出力")]
DEFAULT_DIR = Path("myna-data")
AGAIN = "確認のためもう一度入力してください"


@contextlib.contextmanager
def _cards(data_dir: Path) -> Iterator[CardService]:
    with opened_system(data_dir) as system, opened_cards(system) as service:
        yield service


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"ファイルを読めません: {path}（{exc.strerror}）",
                              f"cannot read {path}: {exc}") from None


def _card_dict(cards: CardService, card: Card) -> dict[str, Any]:
    auth, signing = cards.certificate_states(card)
    return {
        "card_number": card.card_number, "status": card.status.value,
        "end_reason": card.end_reason.value if card.end_reason else None,
        "name": card.name, "birth_date": card.birth_date.isoformat(), "sex": card.sex,
        "address": card.address, "individual_number": card.masked_number,
        "municipality_code": card.municipality_code, "resident_id": card.resident_id,
        "issued_on": card.issued_on.isoformat(), "expires_on": card.expires_on.isoformat(),
        "hold_until": card.hold_until.isoformat(),
        "auth_serial": f"{card.auth_serial:X}" if card.auth_serial else None,
        "auth_certificate": auth.status,
        "auth_certificate_label": auth.label,
        "signing_serial": f"{card.signing_serial:X}" if card.signing_serial else None,
        "signing_certificate": signing.status,
        "signing_certificate_label": signing.label,
        "appointment": iso_jst(card.appointment) if card.appointment
        else None,
        "handed_over_at": card.handed_over_at.astimezone(JST).isoformat(timespec="minutes")
        if card.handed_over_at else None,
        "handed_over_by": card.handed_over_by,
        "identity": None if card.identity is None else {
            "method": card.identity.method.value, "documents": list(card.identity.documents)},
        "notes": [n.text for n in card.notes],
    }


def _app_dict(app_: Application) -> dict[str, Any]:
    return {
        "receipt_no": app_.receipt_no, "channel": app_.channel.value,
        "status": app_.status.value, "municipality_code": app_.municipality_code,
        "resident_id": app_.resident_id, "photo": f"{app_.photo_format} "
        f"{app_.photo_size[0]}x{app_.photo_size[1]}", "signing_requested": app_.signing_requested,
        "reissue_of": app_.reissue_of, "card_number": app_.card_number,
        "received_at": iso_jst(app_.received_at),
    }


def _show_card(cards: CardService, card: Card, as_json: bool) -> None:
    data = _card_dict(cards, card)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"個人番号カード {card.card_number}（{card.status.value}）",
                  show_header=False)
    table.add_column("項目", style="dim")
    table.add_column("内容")
    labels = {"end_reason": "廃止の理由", "name": "氏名", "birth_date": "生年月日", "sex": "性別",
              "address": "住所", "individual_number": "個人番号", "municipality_code": "交付地",
              "issued_on": "発行日", "expires_on": "有効期限", "hold_until": "保管期限",
              "auth_certificate_label": "利用者証明用電子証明書",
              "signing_certificate_label": "署名用電子証明書",
              "appointment": "交付予約", "handed_over_at": "交付日時",
              "handed_over_by": "交付担当"}
    if card.status is not CardStatus.PRODUCED:
        del labels["hold_until"]
    for key, label in labels.items():
        value = data[key]
        if value is not None:
            table.add_row(label, str(value))
    if card.identity:
        table.add_row("本人確認", f"{card.identity.method.value}: "
                      f"{'、'.join(card.identity.documents)}")
    for note in card.notes:
        table.add_row("追記", note.text)
    out.print(table)


def _show_app(app_: Application, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_app_dict(app_), ensure_ascii=False, indent=2))
        return
    out.print(f"受付番号 [bold]{app_.receipt_no}[/bold]（{app_.channel.value}、"
              f"{app_.status.value}）" + (f" カード番号 {app_.card_number}"
                                         if app_.card_number else ""))


@app.command()
def apply(
    photo: Annotated[Path, typer.Option(
        "--photo", help="顔写真（JPEG/PNG、413×531px以上、縦横比4:5）")],
    channel: Annotated[str, typer.Option("--channel", help="mail | online | kiosk | counter")
                       ] = "counter",
    application_id: Annotated[str | None, typer.Option(
        "--application-id", help="通知に同封の申請書ID（窓口以外では必須）")] = None,
    municipality: Annotated[str | None, typer.Option(
        "--municipality", help="市区町村コード（申請書IDがない窓口申請）")] = None,
    resident_id: Annotated[int | None, typer.Option("--resident-id", help="住民ID")] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="担当職員ID（窓口）")] = None,
    no_signing: Annotated[bool, typer.Option(
        "--no-signing", help="署名用電子証明書を希望しない")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """交付申請（任意です。申請しないことによる不利益はありません）。"""
    with _cards(data_dir) as cards:
        result = cards.apply(_read(photo), channel=channel, application_id=application_id,
                             municipality_code=municipality, resident_id=resident_id,
                             staff_id=staff, signing_certificate=not no_signing)
        _show_app(result, as_json)


@app.command()
def withdraw(
    receipt_no: Annotated[int, typer.Argument(help="受付番号")],
    note: Annotated[str, typer.Option("--note", help="理由（任意）")] = "",
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """申請の取下げ（作成前まで）。"""
    with _cards(data_dir) as cards:
        _show_app(cards.withdraw(receipt_no, note), False)


@app.command()
def produce(
    receipt_no: Annotated[int | None, typer.Argument(help="受付番号（省略時は --all）")] = None,
    all_pending: Annotated[bool, typer.Option("--all", help="受付済みの申請をすべて作成")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """カードの作成（J-LIS）: カード番号、チップ上の鍵ペア、電子証明書。"""
    with _cards(data_dir) as cards:
        if receipt_no is None and not all_pending:
            raise ValidationError("受付番号か --all を指定してください",
                                  "give a receipt number or --all")
        made = cards.produce_pending() if receipt_no is None else [cards.produce(receipt_no)]
        if as_json:
            typer.echo(json.dumps([_card_dict(cards, c) for c in made], ensure_ascii=False,
                                  indent=2))
            return
        for card in made:
            out.print(f"カード番号 [bold]{card.card_number}[/bold] {card.name} "
                      f"有効期限 {card.expires_on}"
                      + ("" if card.has_signing_certificate else "（署名用電子証明書なし）"))
        if receipt_no is None:
            err.print(f"作成: {len(made)}枚")


@app.command()
def book(
    card_number: Annotated[str, typer.Argument(help="カード番号")],
    at: Annotated[str, typer.Option("--at", help="予約日時（日本時間） 例: 2026-11-24T10:00")],
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """交付の来庁予約（平日 9:00〜16:30、30分単位）。"""
    try:
        start = dt.datetime.fromisoformat(at)
    except ValueError:
        raise typer.BadParameter(f"日時の形式が不正です（例: 2026-11-24T10:00）: {at} "
                                 f"(not a date and time: {at})") from None
    with _cards(data_dir) as cards:
        slot = cards.book_appointment(card_number, start)
        out.print(f"予約: {show_time(slot)}")


@app.command()
def issue(
    card_number: Annotated[str, typer.Argument(help="カード番号")],
    staff: Staff,
    documents: Documents,
    auth_pin: Annotated[str | None, typer.Option(
        "--auth-pin", help="利用者証明用暗証番号（数字4桁。省略時は入力を求めます）")] = None,
    signing_pin: Annotated[str | None, typer.Option(
        "--signing-pin", help="署名用暗証番号（英大文字と数字6〜16文字。省略時は入力を求めます）")
    ] = None,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """交付（1回の来庁）: 本人確認、暗証番号の設定、受け渡し。"""
    with _cards(data_dir) as cards:
        card = cards.card(card_number)
        if auth_pin is None:
            auth_pin = typer.prompt("利用者証明用暗証番号（数字4桁）", hide_input=True,
                                    confirmation_prompt=AGAIN, err=True)
        if signing_pin is None and card.has_signing_certificate:
            signing_pin = typer.prompt("署名用暗証番号（英大文字と数字6〜16文字）",
                                       hide_input=True, confirmation_prompt=AGAIN, err=True)
        _show_card(cards, cards.issue(card_number, staff_id=staff, documents=documents,
                                      auth_pin=auth_pin, signing_pin=signing_pin), as_json)


@app.command()
def suspend(
    card_number: Annotated[str, typer.Argument(help="カード番号")],
    by: Annotated[str, typer.Option("--by", help="resident | call-centre | municipality")
                  ] = "resident",
    note: Annotated[str, typer.Option("--note", help="状況（任意）")] = "",
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """一時停止（紛失・盗難。24時間いつでも）: 電子証明書はただちに使えなくなります。"""
    with _cards(data_dir) as cards:
        _show_card(cards, cards.suspend(card_number, reported_by=Reporter.parse(by), note=note),
                   as_json)


@app.command()
def resume(
    card_number: Annotated[str, typer.Argument(help="カード番号")],
    staff: Staff,
    documents: Documents,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """一時停止の解除（カードが見つかったとき、窓口で）: 電子証明書を新たに発行します。"""
    with _cards(data_dir) as cards:
        _show_card(cards, cards.resume(card_number, staff_id=staff, documents=documents), as_json)


@app.command()
def reissue(
    card_number: Annotated[str, typer.Argument(help="紛失・破損したカードのカード番号")],
    staff: Staff,
    documents: Documents,
    photo: Annotated[Path | None, typer.Option("--photo", help="新しい顔写真（省略時は従前の写真）")
                     ] = None,
    no_signing: Annotated[bool, typer.Option(
        "--no-signing", help="署名用電子証明書を希望しない")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """再交付の申請: 旧カードは廃止され、新しいカードを作成します。"""
    with _cards(data_dir) as cards:
        result = cards.reissue(card_number, staff_id=staff, documents=documents,
                               photo=_read(photo) if photo else None,
                               signing_certificate=not no_signing)
        _show_app(result, as_json)


@app.command()
def end(
    card_number: Annotated[str, typer.Argument(help="カード番号")],
    reason: Annotated[str, typer.Argument(
        help="death | emigration | expiry | returned | removed"
        "（または 死亡・国外転出・返納 など）")],
    staff: Annotated[str, typer.Option("--staff", help="担当職員ID")] = "J-LIS",
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """カードの廃止（死亡・国外転出・返納など）: 電子証明書の失効、チップの廃止。"""
    with _cards(data_dir) as cards:
        _show_card(cards, cards.end(card_number, reason, actor=staff), False)


@app.command("void-unclaimed")
def void_unclaimed(data_dir: DataDir = DEFAULT_DIR) -> None:
    """保管期限を過ぎた未受領カードを廃止する。"""
    with _cards(data_dir) as cards:
        voided = cards.void_unclaimed()
        out.print(f"廃止: {len(voided)}枚" + (f"（{'、'.join(voided)}）" if voided else ""))


@app.command("end-expired")
def end_expired(data_dir: DataDir = DEFAULT_DIR) -> None:
    """有効期限を過ぎたカードを廃止する。"""
    with _cards(data_dir) as cards:
        ended = cards.end_expired()
        out.print(f"廃止: {len(ended)}枚" + (f"（{'、'.join(ended)}）" if ended else ""))


@app.command("list")
def list_cards(
    municipality: Annotated[str | None, typer.Option("--municipality",
                                                     help="交付地の市区町村コード")] = None,
    state: Annotated[str | None, typer.Option(
        "--status", help="produced（交付前）| active（交付済）| suspended（一時停止）| "
        "ended（廃止）")] = None,
    limit: Annotated[int, typer.Option(help="表示する枚数（新しい順）", min=1, max=10_000)
                     ] = 200,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """作成したカードの一覧: 状態と、電子証明書の現在の状態（J-LISの記録）。"""
    with _cards(data_dir) as cards:
        found = cards.cards(municipality, state, limit=limit)
        if as_json:
            typer.echo(json.dumps([_card_dict(cards, c) for c in found], ensure_ascii=False,
                                  indent=2))
            return
        table = Table(title=f"個人番号カード（{len(found)}枚、新しい順）")
        for col in ("カード番号", "交付地", "住民ID", "状態", "有効期限", "利用者証明用",
                    "署名用"):
            table.add_column(col, no_wrap=col in ("カード番号", "有効期限"))
        for card in found:
            auth, signing = cards.certificate_states(card)
            state_label = card.status.value + (f"（{card.end_reason.value}）"
                                               if card.end_reason else "")
            table.add_row(card.card_number, card.municipality_code, str(card.resident_id),
                          state_label, card.expires_on.isoformat(), auth.short_label,
                          signing.short_label)
        out.print(table)


@app.command()
def status(
    card_number: Annotated[str | None, typer.Argument(help="カード番号")] = None,
    municipality: Annotated[str | None, typer.Option("--municipality", help="市区町村コード")
                            ] = None,
    resident_id: Annotated[int | None, typer.Option("--resident-id", help="住民ID")] = None,
    history: Annotated[bool, typer.Option("--history", help="履歴も表示")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """カードの状態（カード番号、または市区町村コードと住民ID）。"""
    with _cards(data_dir) as cards:
        if card_number is not None:
            found = [cards.card(card_number)]
        elif municipality is not None and resident_id is not None:
            found = cards.cards_of_resident(municipality, resident_id)
        else:
            raise ValidationError(
                "カード番号、または --municipality と --resident-id を指定してください",
                "give a card number, or --municipality and --resident-id")
        if as_json:
            rows = []
            for card in found:
                data = _card_dict(cards, card)
                if history:
                    data["history"] = [
                        {"event": e.event, "actor": e.actor, "detail": e.detail,
                         "at": iso_jst(e.at)} for e in cards.history(card.card_number)]
                rows.append(data)
            typer.echo(json.dumps(rows if card_number is None else rows[0],
                                  ensure_ascii=False, indent=2))
            return
        if not found:
            out.print("カードはありません")
        for card in found:
            _show_card(cards, card, False)
            if history:
                table = Table(title="履歴")
                for col in ("日時（日本時間）", "内容", "担当"):
                    table.add_column(col)
                for e in cards.history(card.card_number):
                    table.add_row(show_time(e.at), e.event, e.actor)
                out.print(table)


@app.command()
def render(
    card_number: Annotated[str, typer.Argument(help="カード番号")],
    out_file: Annotated[Path, typer.Option("--out", help="書き出すPNGファイル",
                                                     callback=output_file)],
    side: Annotated[str, typer.Option("--side", help="front（表面）| back（裏面: 本人のみ）")
                    ] = "front",
    pin: Annotated[str | None, typer.Option(
        "--pin", help="裏面: 利用者証明用暗証番号（省略時は入力を求めます）")] = None,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """券面をPNGで書き出す（裏面の個人番号はカードの暗証番号を入力した本人だけに）。"""
    if side not in ("front", "back"):
        raise typer.BadParameter("--side は front か back です")
    with _cards(data_dir) as cards:
        if side == "front":
            png = cards.render_front(card_number)
        else:
            if pin is None:
                pin = typer.prompt("利用者証明用暗証番号（数字4桁）", hide_input=True, err=True)
            png = cards.render_back(card_number, pin)
        out_file.write_bytes(png)
        err.print(f"{'表面' if side == 'front' else '裏面'}: {out_file}")
