"""Display helpers shared by the pages and the API: dates, masks, log and event text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from myna.clock import show_time
from myna.errors import MynaError, NotFound
from myna.numbers import individual, resident_code
from myna.registry.affairs import BY_ID as AFFAIRS
from myna.registry.documents import to_wareki
from myna.registry.domain import HistoryEntry, Resident, Staff
from myna.registry.service import AccessLogEntry, MunicipalityRegistry

#: Shown instead of details that a clerk may not see (支援措置).
HIDDEN = "（支援措置により非表示）"
NOT_ASSIGNED = "（未指定）"


def jdate(value: dt.date | None) -> str:
    """``令和6年1月5日（2024-01-05）``; ISO only where no era applies.

    >>> jdate(dt.date(2024, 1, 5))
    '令和6年1月5日（2024-01-05）'
    """
    if value is None:
        return "―"
    if isinstance(value, dt.datetime):
        value = value.date()
    try:
        return f"{to_wareki(value)}（{value.isoformat()}）"
    except ValueError:
        return value.isoformat()


def jst(value: dt.datetime | None) -> str:
    """A timestamp in Japan time, labelled; naive values are UTC as stored by the services.

    >>> jst(dt.datetime(2024, 1, 4, 15, 30))
    '2024-01-05 00:30 JST'
    """
    return show_time(value)


def percent(value: float) -> str:
    """A rate as a percentage with one decimal.

    >>> percent(0.02777)
    '2.8%'
    """
    return f"{value:.1%}"


def mask_number(number: str | None) -> str:
    """The individual number with all but the last four digits hidden.

    >>> mask_number("123456789018")
    '**** **** 9018'
    """
    if not number:
        return NOT_ASSIGNED
    if "*" in number:  # masked already by the registry
        return number
    try:
        return individual.mask(number)
    except MynaError:
        return "****"


def format_number(number: str | None) -> str:
    if not number:
        return NOT_ASSIGNED
    try:
        return individual.format(number)
    except MynaError:
        return number


def mask_code(code: str | None) -> str:
    """住民票コード with all but the last three digits hidden.

    >>> mask_code("31415926531")
    '**** **** 531'
    """
    if not code:
        return NOT_ASSIGNED
    if "*" in code:  # masked already by the registry
        return code
    try:
        return resident_code.mask(code)
    except MynaError:
        return "****"


def format_code(code: str | None) -> str:
    if not code:
        return NOT_ASSIGNED
    try:
        return resident_code.format(code)
    except MynaError:
        return code


def affair_name(affair_id: str) -> str:
    """The name of an affair from its id (the id itself when it names none).

    >>> affair_name("local-tax")
    '地方税の賦課徴収'
    """
    found = AFFAIRS.get(affair_id)
    return found.name if found else affair_id


def hidden_from(staff: Staff, resident: Resident) -> bool:
    """Whether ``staff`` may not see the details of ``resident`` (DV support measures)."""
    return resident.support_measure and not staff.may_view_protected


ACTIONS = {
    "view": "閲覧",
    "view_denied": "閲覧（拒否）",
    "search": "検索",
    "search_hit": "検索で該当",
    "write": "記載・変更",
    "issue_copy": "住民票の写しの交付",
    "issue_copy_denied": "住民票の写しの交付（拒否：支援措置、承認なし）",
    "copy_withheld": "世帯の写しに記載せず（支援措置、承認なし）",
    "view_copy_denied": "交付済みの写しの表示（拒否：支援措置、承認なし）",
    "number_on_copy": "写しへの個人番号・住民票コードの記載",
    "support_measure": "支援措置の設定",
    "sign_in": "サインイン",
    "sign_in_failed": "サインイン失敗",
    "sign_in_locked": "サインイン拒否（ロック中）",
    "view_number": "閲覧（個人番号を表示）",
    "view_copy": "交付済みの写しの表示",
    "view_certificate": "転出証明書の表示・照合",
    "reprint_certificate": "転出証明書の再交付",
    "reprint_certificate_denied": "転出証明書の再交付（拒否）",
    "sign_out": "サインアウト",
    "staff_role": "職員の役割の変更",
    "staff_suspend": "職員アカウントの利用停止",
    "staff_reinstate": "職員アカウントの利用再開",
    "view_household": "世帯員として表示",
    "search_hidden": "検索条件に該当（支援措置により検索結果に表示せず）",
    "view_list": "一覧に表示", "list_hidden": "一覧の対象（支援措置により表示せず）",
    "number_disclosure": "個人番号・住民票コードの全桁表示",
    "protected_request": "支援措置対象者の記録を開く申請",
    "protected_approve": "記録を開く申請の承認",
    "protected_decline": "記録を開く申請の不承認",
    "affair_roles": "事務を行う役割の設定の変更",
    "number_roles": "個人番号を表示できる役割の設定の変更",
}

DETAIL_LABELS = {
    "destination": "転出先",
    "certificate_id": "転出証明書",
    "certificate_number": "証明書番号",
    "includes_number": "個人番号の記載",
    "reason": "理由",
    "mode": "区分",
    "numbering": "付番",
    "from": "変更前",
    "to": "変更後",
    "on": "設定",
    "name": "氏名",
    "birth_date": "生年月日",
    "sex": "性別",
    "address": "住所",
    "number": "個人番号",
    "event_id": "異動番号",
    "affair": "事務",
    "note": "手続",
    "approval": "承認された申請の番号",
    "request_id": "申請番号",
    "requested_by": "申請した職員",
    "until": "有効期限",
    "page": "ページ",
    "per_page": "1ページの件数",
    "total": "該当件数（全体）",
    "listed_with": "表示した住民票（住民ID）",
    "hidden": "支援措置により非表示",
    "number_withheld": "全桁表示の求め（役割により不可）",
    "items": "項目",
    "item": "項目",
    "whole_household": "世帯全員",
}


def _detail_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "あり" if value else "なし"
    if value is None:
        return "―"
    if key == "affair" and isinstance(value, str) and value in AFFAIRS:
        return AFFAIRS[value].name
    if key == "until" and isinstance(value, str):
        try:
            return jst(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def describe_detail(detail: dict[str, Any]) -> str:
    """``転出先: 東京都… / 転出証明書: 132152-…`` (search hit lists shown as a count).

    >>> describe_detail({"destination": "千代田区", "hits": [1, 2]})
    '転出先: 千代田区 / 該当件数: 2'
    """
    parts = []
    for key, value in detail.items():
        if key == "hits":
            label = "このページの件数" if "total" in detail else "該当件数"
            parts.append(f"{label}: {len(value) if isinstance(value, list) else value}")
        else:
            parts.append(f"{DETAIL_LABELS.get(key, key)}: {_detail_value(key, value)}")
    return " / ".join(parts)


@dataclass(frozen=True)
class LogLine:
    at: str
    staff: str
    action: str
    purpose: str
    detail: str


@dataclass(frozen=True)
class EventLine:
    kind: str
    occurred_on: str
    recorded_at: str
    staff: str
    detail: str


class StaffNames:
    """Staff display names, looked up once per page."""

    def __init__(self, registry: MunicipalityRegistry) -> None:
        self.registry = registry
        self._names: dict[str, str] = {"system": "システム"}

    def __call__(self, staff_id: str) -> str:
        if staff_id not in self._names:
            try:
                self._names[staff_id] = f"{self.registry.get_staff(staff_id).name}（{staff_id}）"
            except NotFound:
                self._names[staff_id] = staff_id
        return self._names[staff_id]


def access_lines(
    registry: MunicipalityRegistry, resident_id: int, entries: Iterable[AccessLogEntry],
) -> list[LogLine]:
    """The access log of one record, for staff and for the resident.

    ``access_log(resident_id)`` also matches searches whose hit list merely
    contains the digits of the id (``LIKE '%1%'``); those are dropped here.
    """
    names = StaffNames(registry)
    lines = []
    for e in entries:
        hits = e.detail.get("hits")
        if isinstance(hits, list) and resident_id not in hits:
            continue
        lines.append(LogLine(jst(e.at), names(e.staff_id), ACTIONS.get(e.action, e.action),
                             e.purpose, describe_detail(e.detail)))
    return lines


def event_lines(registry: MunicipalityRegistry, events: Iterable[HistoryEntry]) -> list[EventLine]:
    names = StaffNames(registry)
    return [
        EventLine(e.kind, jdate(e.occurred_on), jst(e.recorded_at), names(e.staff_id),
                  describe_detail(dict(e.detail)))
        for e in events
    ]
