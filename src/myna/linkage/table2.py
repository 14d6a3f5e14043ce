"""Table 2 (番号法別表第二, now 令和6年デジタル庁・総務省令第9号) as signed data.

The table ships as ``data/table2.json`` with a detached Ed25519 signature
(``table2.json.sig``) by its publisher, whose public key (``publisher.pub``) is
the trust anchor every node pins.  Every node verifies the signature over the
exact file bytes at load and refuses a file that does not verify.

Each row says who may ask (情報照会者), for which affair (事務), whom
(情報提供者), for which items (特定個人情報).  The hub refuses any request
whose (requester, affair, provider, item) is not in the row it cites.

不開示 (番号法23条2項): where the fact that an item was asked for or provided is
itself information not to be disclosed to the person (不開示情報, e.g.
個人情報保護法78条1項7号ロ: disclosure would make it hard to establish the facts in
the assessment or collection of taxes), the requester and the provider must record
that it is so.  The law leaves the judgment to them, case by case; Myna publishes a
standing judgment per row and item as ``undisclosed`` (with the provision relied on
in ``undisclosed_basis``), and the hub sets the flag on every record of such an item.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from myna.contracts.hub import Table2Row
from myna.errors import PermissionDenied, ValidationError


class Table2Tampered(ValidationError):
    """The Table 2 file does not carry its publisher's valid signature."""

    code = "table2_tampered"


class NotInTable2(PermissionDenied):
    """The request is not permitted by the Table 2 row it cites."""

    code = "not_in_table2"


#: A row of the table, as the hub's contract carries it.
Row = Table2Row


@dataclass(frozen=True)
class Table2:
    version: str
    publisher: str
    rows: dict[str, Row]
    digest: str

    def row(self, row_id: str) -> Row:
        try:
            return self.rows[row_id]
        except KeyError:
            raise NotInTable2(
                f"別表第二に項番 {row_id} はありません", f"Table 2 has no row {row_id!r}"
            ) from None

    def authorise(
        self, row_id: str, requester_role: str, affair: str, provider_role: str, item: str
    ) -> Row:
        """The cited row, if it permits exactly this request; else :class:`NotInTable2`."""
        row = self.row(row_id)
        checks = (
            (row.requester == requester_role, "情報照会者", requester_role, row.requester),
            (row.affair == affair, "事務", affair, row.affair),
            (row.provider == provider_role, "情報提供者", provider_role, row.provider),
            (item in row.items, "特定個人情報", item, "、".join(row.items)),
        )
        for ok, label, given, allowed in checks:
            if not ok:
                raise NotInTable2(
                    f"別表第二 {row_id} の{label}は「{allowed}」であり、"
                    f"「{given}」は認められません",
                    f"Table 2 row {row_id}: {label} {given!r} is not {allowed!r}",
                )
        return row

    def undisclosed(self, row_id: str, affair: str, item: str) -> bool:
        """Whether a record of ``item`` asked for under this row and affair is 不開示."""
        row = self.rows.get(row_id)
        return row is not None and row.affair == affair and item in row.undisclosed

    def select(self, requester: str | None = None,
               provider: str | None = None) -> list[Row]:
        """The rows by id, only those of a requester or provider role when given."""
        return [r for _, r in sorted(self.rows.items())
                if (requester is None or r.requester == requester)
                and (provider is None or r.provider == provider)]

    def affairs(self) -> list[str]:
        return sorted({r.affair for r in self.rows.values()})


def _data(name: str) -> bytes:
    return resources.files("myna.linkage").joinpath("data", name).read_bytes()


def publisher_key() -> Ed25519PublicKey:
    """The pinned public key of Table 2's publisher."""
    raw = base64.b64decode(_data("publisher.pub").strip())
    return Ed25519PublicKey.from_public_bytes(raw)


def parse(document: bytes, signature: bytes, key: Ed25519PublicKey | None = None) -> Table2:
    """Verify ``signature`` over ``document`` and parse the table."""
    import hashlib

    try:
        (key or publisher_key()).verify(base64.b64decode(signature.strip()), document)
    except (InvalidSignature, ValueError):
        raise Table2Tampered(
            "別表第二のデータの署名が検証できません（改ざんまたは発行者の鍵の不一致）",
            "Table 2 signature does not verify: file altered or signed by another key",
        ) from None
    data = json.loads(document.decode("utf-8"))
    rows: dict[str, Row] = {}
    for raw in data["rows"]:
        row = Row(raw["id"], raw["requester"], raw["affair"], raw["provider"],
                  tuple(raw["items"]), tuple(raw.get("undisclosed", ())),
                  str(raw.get("undisclosed_basis", "")))
        if not set(row.undisclosed) <= set(row.items) or (row.undisclosed
                                                         and not row.undisclosed_basis):
            raise ValidationError(
                f"別表第二の項番 {row.id} の不開示の項目が特定個人情報にないか、根拠がありません",
                f"Table 2 row {row.id}: undisclosed items outside its items or without a basis")
        if row.id in rows:
            raise ValidationError(f"別表第二の項番 {row.id} が重複しています",
                                  f"duplicate Table 2 row {row.id}")
        rows[row.id] = row
    return Table2(data["version"], data["publisher"], rows,
                  hashlib.sha256(document).hexdigest())


def load(path: Path | None = None, key: Ed25519PublicKey | None = None) -> Table2:
    """Table 2 from the shipped file (or ``path`` with ``path.sig`` beside it)."""
    if path is None:
        return parse(_data("table2.json"), _data("table2.json.sig"), key)
    signature = path.with_name(path.name + ".sig")
    if not signature.exists():
        raise Table2Tampered(f"署名ファイル {signature.name} がありません",
                             f"missing signature file {signature}")
    return parse(path.read_bytes(), signature.read_bytes(), key)
