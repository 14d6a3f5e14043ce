"""``myna jpki …``: J-LIS's JPKI certificate authority from the command line.

Export the CA certificates relying parties install, publish CRLs, revoke a
certificate, register relying parties (署名検証者・利用者証明検証者) and verify a
document signature the way a relying party does (``openssl dgst -sha256
-verify`` checks the same signature, without the revocation check).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from rich.table import Table

from myna.cli_support import DataDir, err, opened_system, out, output_file, output_folder
from myna.clock import JST, show_time
from myna.errors import ValidationError
from myna.jpki import certs
from myna.jpki.domain import (
    CertificateRejected,
    CertKind,
    PartyCategory,
    RelyingPartyKind,
    revocation_reason,
)

app = typer.Typer(help="公的個人認証サービス（JPKI）の認証局", no_args_is_help=True)
rp_app = typer.Typer(help="署名検証者・利用者証明検証者の登録", no_args_is_help=True)
app.add_typer(rp_app, name="rp")

DEFAULT_DIR = Path("myna-data")
KINDS = {"signature": RelyingPartyKind.SIGNATURE_VERIFIER, "auth": RelyingPartyKind.AUTH_VERIFIER,
         "both": RelyingPartyKind.BOTH}
CATEGORIES = {"public": PartyCategory.PUBLIC, "private": PartyCategory.APPROVED_PRIVATE}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"ファイルを読めません: {path}（{exc.strerror}）",
                              f"cannot read {path}: {exc}") from None


def _fingerprint(cert_der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(cert_der)
    return digest.finalize().hex(":").upper()


@app.command("ca-export")
def ca_export(
    directory: Annotated[Path, typer.Argument(help="書き出し先のディレクトリ",
                                              callback=output_folder)],
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """ルート認証局・発行用認証局（全世代）・OCSP応答者の証明書をPEMで書き出す。"""
    with opened_system(data_dir) as system:
        ca = system.jpki
        directory.mkdir(exist_ok=True)
        files = [("root.pem", ca.root_certificate())]
        issuing = ca.issuing_certificates()
        files += [(f"issuing-{len(issuing) - i}.pem", c) for i, c in enumerate(issuing)]
        files.append(("ocsp-responder.pem", ca.ocsp_responder_certificate()))
        table = Table(title=f"JPKI 認証局証明書 → {directory}")
        for col in ("ファイル", "主体者", "有効期限", "SHA-256 指紋"):
            table.add_column(col)
        for name, cert in files:
            (directory / name).write_bytes(certs.to_pem(cert))
            table.add_row(name, cert.subject.rfc4514_string(),
                          f"{cert.not_valid_after_utc.astimezone(JST):%Y-%m-%d}",
                          _fingerprint(cert.public_bytes(serialization.Encoding.DER))[:23] + "…")
        out.print(table)


@app.command()
def crl(
    out_file: Annotated[Path, typer.Option("--out", help="書き出すCRLファイル",
                                                     callback=output_file)],
    root: Annotated[bool, typer.Option("--root", help="ルート認証局のARL（発行用認証局の失効）")
                    ] = False,
    pem: Annotated[bool, typer.Option("--pem", help="PEMで書き出す（既定はDER）")] = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """最新の失効リスト（CRL）を発行して書き出す。"""
    with opened_system(data_dir) as system:
        issued = system.jpki.crl("root" if root else "issuing")
        encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
        out_file.write_bytes(issued.public_bytes(encoding))
        number = issued.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        until = issued.next_update_utc
        when = show_time(until) if until else "—"
        err.print(f"{'ARL' if root else 'CRL'} 第{number}号: 失効 {len(issued)}件、"
                  f"次回更新 {when} → {out_file}")


@app.command()
def revoke(
    serial: Annotated[str, typer.Argument(help="シリアル番号（16進）")],
    reason: Annotated[str, typer.Argument(
        help="RFC 5280 の理由: keyCompromise, affiliationChanged, superseded, "
        "cessationOfOperation, privilegeWithdrawn, unspecified")],
    note: Annotated[str, typer.Option("--note", help="記録に残す説明")] = "",
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """証明書を失効させる（ただちにOCSP・検証に反映されます）。"""
    flag = revocation_reason(reason)
    with opened_system(data_dir) as system:
        record = system.jpki.revoke(serial, flag, note)
        out.print(f"失効: {certs.serial_hex(record.serial)}（{record.kind.label}、"
                  f"カード {record.card_id}、理由 {flag.value}）")


def _parse_kind(kind: str) -> RelyingPartyKind:
    if kind in KINDS:
        return KINDS[kind]
    try:
        return RelyingPartyKind(kind)
    except ValueError:
        raise ValidationError(f"検証者の種別が不正です: {kind}（signature | auth | both）",
                              f"unknown relying party kind {kind!r}") from None


def _parse_category(category: str) -> PartyCategory:
    if category in CATEGORIES:
        return CATEGORIES[category]
    try:
        return PartyCategory(category)
    except ValueError:
        raise ValidationError(f"検証者の区分が不正です: {category}（public | private）",
                              f"unknown relying party category {category!r}") from None


PartyId = Annotated[str, typer.Argument(help="検証者ID")]
PartyName = Annotated[str, typer.Argument(help="名称")]
Kind = Annotated[str, typer.Option("--kind", help="signature | auth | both")]
Category = Annotated[str, typer.Option(
    "--category", help="public（行政機関等）| private（総務大臣認定事業者）")]
ApprovalRef = Annotated[str | None, typer.Option(
    "--approval-ref", help="総務大臣の認定番号（民間事業者は必須）")]


@rp_app.command("add")
def rp_add(party_id: PartyId, name: PartyName, kind: Kind = "both",
           category: Category = "public", approval_ref: ApprovalRef = None,
           data_dir: DataDir = DEFAULT_DIR) -> None:
    """署名検証者・利用者証明検証者を登録する（登録済みのIDは update で変更）。

    ネットワーク経由で照会する検証者は、そのノードID（business:<機関ID>）で登録します。
    """
    _save_party(data_dir, party_id, name, kind, category, approval_ref, update=False)


@rp_app.command("update")
def rp_update(party_id: PartyId, name: PartyName, kind: Kind = "both",
              category: Category = "public", approval_ref: ApprovalRef = None,
              data_dir: DataDir = DEFAULT_DIR) -> None:
    """登録済みの検証者の名称・種別・区分を変更する（登録取消済みなら再登録）。"""
    _save_party(data_dir, party_id, name, kind, category, approval_ref, update=True)


def _save_party(data_dir: Path, party_id: str, name: str, kind: str, category: str,
                approval_ref: str | None, *, update: bool) -> None:
    with opened_system(data_dir) as system:
        party = system.jpki.register_relying_party(
            party_id, name, _parse_kind(kind), category=_parse_category(category),
            approval_ref=approval_ref, update_existing=update)
        out.print(f"{'変更' if update else '登録'}: {party.party_id}（{party.name}、"
                  f"{party.kind.value}、{party.category.value}）")


@rp_app.command("list")
def rp_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """登録されている検証者の一覧。"""
    with opened_system(data_dir) as system:
        parties = system.jpki.relying_parties()
    if as_json:
        typer.echo(json.dumps([
            {"party_id": p.party_id, "name": p.name, "kind": p.kind.value,
             "category": p.category.value, "approval_ref": p.approval_ref, "active": p.active}
            for p in parties], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"署名検証者・利用者証明検証者（{len(parties)}件）")
    for col in ("検証者ID", "名称", "種別", "区分", "認定番号", "状態"):
        table.add_column(col)
    for p in parties:
        table.add_row(p.party_id, p.name, p.kind.value, p.category.value, p.approval_ref or "",
                      "有効" if p.active else "登録取消")
    out.print(table)


def _signature_bytes(data: bytes) -> bytes:
    """A raw signature, or one written as base64 text."""
    text = data.strip()
    if text and text.isascii() and len(text) % 4 == 0:
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return data
        if len(decoded) in (256, 384, 512):
            return decoded
    return data


@app.command()
def verify(
    cert: Annotated[Path, typer.Option("--cert", help="署名者の証明書（PEM または DER）")],
    signature: Annotated[Path, typer.Option("--signature", help="署名（バイナリまたはbase64）")],
    document: Annotated[Path, typer.Option("--document", help="署名された文書")],
    relying_party: Annotated[str, typer.Option(
        "--relying-party", envvar="MYNA_RELYING_PARTY",
        help="登録済みの検証者ID（照会は記録されます）")],
    purpose: Annotated[str, typer.Option("--purpose", help="signing | auth")] = "signing",
    data_dir: DataDir = DEFAULT_DIR,
) -> None:
    """文書の署名と証明書を検証する（連鎖・有効期間・失効を、いまのJ-LISの状態で確認）。"""
    try:
        kind = CertKind(purpose)
    except ValueError:
        raise typer.BadParameter("--purpose は signing か auth です") from None
    with opened_system(data_dir) as system:
        try:
            result = system.jpki.verify_signature(
                _read(document), _signature_bytes(_read(signature)), _read(cert),
                relying_party=relying_party, purpose=kind)
        except CertificateRejected as exc:
            err.print(f"[red]検証できません[/red]（{exc.reason.value}）: {exc.message_ja}")
            raise typer.Exit(1) from None
    out.print(f"[green]署名は有効です[/green]: {kind.label} "
              f"シリアル {certs.serial_hex(result.serial)}"
              f"（{result.not_after.astimezone(JST):%Y-%m-%d} まで）")
    if result.subject is not None:
        s = result.subject
        out.print(f"  氏名 {s.name} / 生年月日 {s.birth_date} / 性別 {s.sex} / 住所 {s.address}")
    elif result.subject_id is not None:
        out.print(f"  識別子 {result.subject_id}")
