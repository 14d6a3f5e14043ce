"""The notification node's HTTP routes (served in J-LIS's process), for municipalities.

Every route is for a town (``municipality:<code>``), and a town acts only on what is
its own: its batches, letters, follow-up list, statistics, 居所情報登録 and
application forms.  The town is the one named in the caller's certificate, never
one taken from the payload: a payload naming another town, or a batch, letter or
申請書ID of another town, is refused.  A town sees its own statistics only (the
national figures are J-LIS's: ``myna notify stats`` on its own node).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from myna.contracts.notify import (
    alternative_to_json,
    application_to_json,
    batch_to_json,
    event_to_json,
    follow_up_to_json,
    household_from_json,
    letter_to_json,
    report_to_json,
)
from myna.errors import PermissionDenied
from myna.notify.service import NotificationService
from myna.transport.http import Handler

PREFIX = "/node/v1/notify"
TOWN = "municipality:"


def is_town(caller: str) -> bool:
    return caller.startswith(TOWN) and len(caller) > len(TOWN)


def town_of(caller: str) -> str:
    return caller.removeprefix(TOWN)


def _refuse(what_ja: str, what_en: str) -> PermissionDenied:
    return PermissionDenied(f"他の市区町村の{what_ja}は扱えません",
                            f"{what_en} belongs to another municipality")


def _own_code(caller: str, payload: dict[str, Any]) -> str:
    """The caller's own town; a payload naming no town, or another one, is refused."""
    code = payload.get("municipality_code")
    if code != town_of(caller):
        raise _refuse("通知・集計・登録", "the municipality named")
    return town_of(caller)


def notify_routes(
    notify: NotificationService,
) -> dict[str, tuple[Handler, Callable[[str], bool]]]:
    """path -> (handler, may_call) for :func:`myna.transport.http.node_app`."""

    def own_batch(caller: str, batch_id: int) -> None:
        if notify.batch(batch_id).municipality_code != town_of(caller):
            raise _refuse(f"一括（一括 {batch_id}）", f"batch {batch_id}")

    def own_letter(caller: str, letter_id: int) -> None:
        if notify.letter(letter_id).municipality_code != town_of(caller):
            raise _refuse(f"通知書（通知 {letter_id}）", f"letter {letter_id}")

    def settings(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"holding_months": notify.holding_months}

    def prepare(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        code = _own_code(caller, p)
        households = [household_from_json(h) for h in p["households"]]
        return batch_to_json(notify.prepare_batch(code, str(p["municipality_name"]),
                                                  households))

    def mailed(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        own_batch(caller, int(p["batch_id"]))
        return batch_to_json(notify.mark_mailed(int(p["batch_id"])))

    def batch(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        own_batch(caller, int(p["batch_id"]))
        return batch_to_json(notify.batch(int(p["batch_id"])))

    def batches(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"batches": [batch_to_json(b) for b in notify.batches(_own_code(caller, p))]}

    def letters(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"letters": [letter_to_json(x) for x in notify.letters(_own_code(caller, p))]}

    def letter(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        found = notify.letter(int(p["letter_id"]))
        if found.municipality_code != town_of(caller):
            raise _refuse(f"通知書（通知 {found.letter_id}）", f"letter {found.letter_id}")
        return letter_to_json(found)

    def letter_pdf(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        own_letter(caller, int(p["letter_id"]))
        pdf = notify.letter_pdf(int(p["letter_id"]))
        return {"pdf": base64.b64encode(pdf).decode()}

    def record(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        own_letter(caller, int(p["letter_id"]))
        return event_to_json(notify.record(
            int(p["letter_id"]), str(p["state"]), p.get("reason"), p.get("note"),
            p.get("identity_document")))

    def dispose(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"disposed": notify.dispose_expired(_own_code(caller, p))}

    def follow_up(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"entries": [follow_up_to_json(e)
                            for e in notify.follow_up(_own_code(caller, p))]}

    def stats(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return report_to_json(notify.stats(_own_code(caller, p)))

    def chart(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        png = notify.chart_png(_own_code(caller, p))
        return {"png": base64.b64encode(png).decode()}

    def register(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return alternative_to_json(notify.register_alternative(
            _own_code(caller, p), int(p["resident_id"]), str(p["reason"]), str(p["postcode"]),
            str(p["address"]), p.get("care_of"), p.get("note"),
            for_remailing=bool(p.get("for_remailing", False))))

    def withdraw(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        notify.withdraw_alternative(_own_code(caller, p), int(p["resident_id"]))
        return {"ok": True}

    def alternatives(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"alternatives": [alternative_to_json(a)
                                 for a in notify.alternatives(_own_code(caller, p))]}

    def application(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        info = notify.application(str(p["application_id"]))
        if info.municipality_code != town_of(caller):
            raise _refuse("交付申請書", "the application form")
        return application_to_json(info)

    handlers: dict[str, Handler] = {
        "settings": settings, "prepare-batch": prepare, "mark-mailed": mailed,
        "batch": batch, "batches": batches, "letters": letters, "letter": letter,
        "letter-pdf": letter_pdf, "record": record, "dispose-expired": dispose,
        "follow-up": follow_up, "stats": stats, "chart": chart,
        "register-alternative": register, "withdraw-alternative": withdraw,
        "alternatives": alternatives, "application": application,
    }
    return {f"{PREFIX}/{name}": (handler, is_town) for name, handler in handlers.items()}
