"""情報連携 for the staff screens: Table 2 rows, institutions, flags, records.

Everything here reads the municipality's own intermediate server
(:class:`~myna.contracts.intermediate.IntermediateApi`), the hub
(:class:`~myna.contracts.hub.HubApi`) and the registry — the contracts only, never
the services behind them; the pages in :mod:`myna.web.linkage_pages` turn it into
screens.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from myna.clock import aware
from myna.contracts.hub import HubApi, Institution, ProvisionRecord
from myna.contracts.hub import Table2Row as Row
from myna.contracts.intermediate import HeldItem, Refusal
from myna.errors import NotFound, ValidationError
from myna.linkage import items as item_schemas
from myna.linkage.messages import Result
from myna.municipality import ROLE, Municipality
from myna.registry.affairs import affair
from myna.registry.domain import Resident
from myna.registry.service import MunicipalityRegistry
from myna.web.presenters import jdate, jst
from myna.web.state import StaffServices

#: The longest purpose staff may type: the registry logs it with a suffix such as
#: ``（情報照会: 地方税関係情報）`` and accepts at most 200 characters in all.
PURPOSE_MAX = 150

#: How each result looks (badge and alert class).
RESULT_CLASS = {
    "provided": "ok", "refused": "danger", "denied": "danger", "pending": "warn",
    "failed": "warn", "no_data": "muted",
}

#: What a refused provision tells the requester's staff.
PAPER = ("本人の申出等により、情報提供ネットワークシステムによる情報提供は行われませんでした。"
         "この事務は情報連携によらず、課税証明書などの書類を本人に提出してもらうなど、"
         "書面による手続で進めてください。")


def linkage_purpose(value: str) -> str:
    """The affair a 情報照会 is for: required, and one of the catalogue's affairs (the
    view of the record checks that the role performs it).

    >>> linkage_purpose(" child-allowance ")
    'child-allowance'
    """
    if not value.strip(" \u3000"):
        raise ValidationError("照会の目的（事務）を選んでください", "a purpose is required")
    return affair(value).id


#: ``日本語 (English)`` as :attr:`myna.errors.MynaError.message` writes it.
_BILINGUAL = re.compile(r"^(.+?) \((?=[A-Za-z]).*\)$", re.S)


def reason_ja(reason: str) -> str:
    """The Japanese part of a reason the hub stored as ``日本語 (English)``.

    >>> reason_ja("別表第二に項番 T2-9 はありません (Table 2 has no row 'T2-9')")
    '別表第二に項番 T2-9 はありません'
    >>> reason_ja("別表第二 T2-1 の事務は「甲」です (Table 2 row T2-1: 事務 '乙' is not '甲')")
    '別表第二 T2-1 の事務は「甲」です'
    >>> reason_ja("本人が当該事務への情報提供を拒否しています")
    '本人が当該事務への情報提供を拒否しています'
    """
    match = _BILINGUAL.match(reason)
    return match[1] if match else reason


def result_label(value: str) -> str:
    try:
        return Result(value).label
    except ValueError:
        return value


# -- Table 2 and institutions -------------------------------------------------------------


def hub_of(system: StaffServices) -> HubApi:
    """The hub, as the staff screens may reach it."""
    return system.hub


def request_rows(system: StaffServices) -> list[Row]:
    """The Table 2 rows under which a municipality (市町村長) may ask."""
    return hub_of(system).table2_rows(requester=ROLE)


def row_of(system: StaffServices, row_id: str) -> Row | None:
    return next((r for r in hub_of(system).table2_rows() if r.id == row_id), None)


def institutions(system: StaffServices) -> list[Institution]:
    """Every institution registered at the hub."""
    return hub_of(system).institutions()


def providers_for(system: StaffServices, row: Row, own: str) -> list[Institution]:
    """The institutions that may answer under ``row`` (not the asking town itself)."""
    return sorted((i for i in institutions(system)
                   if i.role == row.provider and i.institution_id != own),
                  key=lambda i: (i.name, i.institution_id))


def provider_affairs(system: StaffServices) -> list[str]:
    """The affairs for which other institutions may ask a municipality (what a person
    may refuse at the town's intermediate server)."""
    return sorted({r.affair for r in hub_of(system).table2_rows(provider=ROLE)})


class InstitutionNames:
    """Institution display names, looked up once per page."""

    def __init__(self, hub: HubApi) -> None:
        self.hub = hub
        self._names: dict[str, str] = {}

    def __call__(self, institution_id: str) -> str:
        if institution_id not in self._names:
            try:
                self._names[institution_id] = self.hub.institution(institution_id).name
            except NotFound:
                self._names[institution_id] = institution_id
        return self._names[institution_id]


# -- one person at this town's intermediate server ------------------------------------------


@dataclass(frozen=True)
class PersonLinkage:
    has_atena: bool
    has_code: bool
    items: tuple[HeldItem, ...] = ()
    refusals: tuple[Refusal, ...] = ()

    @property
    def refused_affairs(self) -> set[str]:
        return {r.affair for r in self.refusals}


def person_linkage(town: Municipality, resident_id: int) -> PersonLinkage:
    """Whether the resident has a 符号, and the flags held for them."""
    try:
        atena_no = town.atena_no(resident_id)
    except NotFound:
        return PersonLinkage(False, False)
    if not town.intermediate.has_code(atena_no):
        return PersonLinkage(True, False)
    items, refusals = town.intermediate.flags(atena_no)
    return PersonLinkage(True, True, items, refusals)


def resident_brief(registry: MunicipalityRegistry, resident_id: int) -> Resident | None:
    """The current record of a resident for a list, without logging a view.

    The registry has no unlogged read by id; the latest version gives the
    household, whose members are read as they are now (support measures included).
    """
    versions = registry.versions(resident_id)
    if not versions:
        return None
    household = versions[-1].get("household_number")
    if not isinstance(household, str):
        return None
    for member in registry.household_members(household, include_removed=True):
        if member.resident_id == resident_id:
            return member
    return None


# -- what was received ---------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PEOPLE = {"扶養人数", "世帯員数", "世帯人員", "支給対象児童数"}


def field_value(key: str, value: Any) -> str:
    """A received field as staff read it.

    >>> field_value("総所得金額", 3456789), field_value("年度", 2025)
    ('3,456,789円', '2025年度')
    >>> field_value("認定日", "2024-04-01")
    '令和6年4月1日（2024-04-01）'
    """
    if isinstance(value, bool) or value is None:
        return "―" if value is None else ("あり" if value else "なし")
    if isinstance(value, int):
        if key.endswith("額"):
            return f"{value:,}円"
        if key == "年度":
            return f"{value}年度"
        if key in _PEOPLE:
            return f"{value}人"
        if key == "保険料段階":
            return f"第{value}段階"
        return str(value)
    if isinstance(value, str) and _DATE.match(value):
        try:
            return jdate(dt.date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def payload_rows(item: str, payload: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The received fields in the order of the item's schema.

    >>> payload_rows("地方税関係情報", {"課税区分": "課税", "年度": 2025})
    [('年度', '2025年度'), ('課税区分', '課税')]
    """
    data = payload or {}
    order = list(item_schemas.SCHEMAS.get(item, {}))
    keys = [k for k in order if k in data] + [k for k in data if k not in order]
    return [(k, field_value(k, data[k])) for k in keys]


# -- 情報提供等記録 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordLine:
    request_id: str
    attempt: int
    direction: str  # 照会 (we asked) or 提供 (we were asked)
    requester: str
    provider: str
    row_id: str
    affair: str
    item: str
    requested_at: str
    provided_at: str
    result: str
    label: str
    css: str
    reason: str
    leaf_index: int | None
    undisclosed: bool = False


def records_of(system: StaffServices, institution: str) -> list[ProvisionRecord]:
    """The hub's records in which ``institution`` took part, newest first."""
    mine = hub_of(system).records_for_institution(institution)
    mine.sort(key=lambda r: (aware(r.provided_at or r.requested_at), r.attempt), reverse=True)
    return mine


def record_lines(
    system: StaffServices, institution: str, records: Iterable[ProvisionRecord],
) -> list[RecordLine]:
    names = InstitutionNames(hub_of(system))
    return [
        RecordLine(
            r.request_id, r.attempt, "照会" if r.requester == institution else "提供",
            names(r.requester), names(r.provider), r.row_id, r.affair, r.item,
            jst(r.requested_at), jst(r.provided_at), r.result, result_label(r.result),
            RESULT_CLASS.get(r.result, "muted"), reason_ja(r.reason), r.leaf_index,
            r.undisclosed,
        )
        for r in records
    ]


def latest_record(system: StaffServices, request_id: str, requester: str) -> ProvisionRecord:
    """The hub's latest record of one of ``requester``'s requests."""
    records = [r for r in hub_of(system).records_of_request(requester, request_id)
               if r.requester == requester]
    if not records:
        raise NotFound(f"照会 {request_id} の記録はありません", f"no request {request_id}")
    return max(records, key=lambda r: r.attempt)


#: Results offered by the filter of the records page.
RESULTS = [(r.value, r.label) for r in Result]
