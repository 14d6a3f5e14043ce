"""``myna affairs …``: a town's table of the affairs a view may be for, and who performs
each (番号法別表第一 and the registry's own), shown and changed from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from myna.cli_support import DataDir, opened_system, out
from myna.registry.affairs import CATALOGUE, role_labels

app = typer.Typer(help="閲覧の目的となる事務と、それを行う役割 (affairs and roles)",
                  no_args_is_help=True)

Municipality = Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")]


@app.command("list")
def affairs_list(municipality: Municipality, data_dir: DataDir = Path("myna-data")) -> None:
    """事務の一覧と、各事務を行う役割・個人番号の全桁を表示できる役割。"""
    with opened_system(data_dir) as system:
        policy = system.registry(municipality).affair_policy()
    table = Table(title="閲覧・検索の目的となる事務")
    for col in ("ID", "事務", "根拠", "行う役割"):
        table.add_column(col)
    for affair in CATALOGUE:
        table.add_row(affair.id, affair.name, affair.law, role_labels(policy.roles_of(affair.id)))
    out.print(table)
    out.print(f"個人番号の全桁を表示できる役割: {role_labels(policy.number_roles)}")


def _roles(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@app.command("set")
def affairs_set(
    municipality: Municipality,
    by: Annotated[str, typer.Option("--by", help="変更する監督者の職員ID（記録に残ります）")],
    affair: Annotated[str | None, typer.Option(help="事務のID（例: local-tax）")] = None,
    roles: Annotated[str, typer.Option(
        help="その事務を行う役割（カンマ区切り: clerk,supervisor,administrator。空で誰も行わない）"
    )] = "",
    number_roles: Annotated[str | None, typer.Option(
        help="個人番号の全桁を表示できる役割（カンマ区切り）")] = None,
    data_dir: DataDir = Path("myna-data"),
) -> None:
    """事務を行う役割、または個人番号を表示できる役割を変える（監督者）。"""
    if affair is None and number_roles is None:
        raise typer.BadParameter("--affair か --number-roles を指定してください")
    with opened_system(data_dir) as system:
        registry = system.registry(municipality)
        policy = registry.set_affair_roles(
            registry.get_staff(by), {affair: _roles(roles)} if affair is not None else {},
            _roles(number_roles) if number_roles is not None else None,
        )
    if affair is not None:
        out.print(f"{affair}: {role_labels(policy.roles_of(affair.strip()))}")
    out.print(f"個人番号の全桁を表示できる役割: {role_labels(policy.number_roles)}")


__all__ = ["app"]
