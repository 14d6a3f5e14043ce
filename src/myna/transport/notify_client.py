""":class:`myna.contracts.notify.NotifyApi` over HTTP: a town calling J-LIS's
notification mailing (routes in :mod:`myna.notify.routes`).

J-LIS takes the town from the caller's certificate; the client still names it, so
a call for another town is refused there rather than silently answered for this one.
PDFs and PNGs travel base64-encoded inside the JSON answer.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from myna.contracts.notify import (
    AlternativeReason,
    AlternativeRegistration,
    ApplicationInfo,
    BatchSummary,
    FollowUpEntry,
    HouseholdNotice,
    Letter,
    LetterEvent,
    LetterState,
    ReturnReason,
    StatsReport,
    alternative_from_json,
    application_from_json,
    batch_from_json,
    event_from_json,
    follow_up_from_json,
    household_to_json,
    letter_from_json,
    report_from_json,
)
from myna.transport.http import _Client

PREFIX = "/node/v1/notify"


def _value(value: Any) -> Any:
    """An enum member as its Japanese label (what the service parses), else as is."""
    return getattr(value, "value", value)


class NotifyClient(_Client):
    """番号通知 at J-LIS, for the town whose identity signs the requests."""

    _holding_months: int | None = None

    def _call(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"{PREFIX}/{name}", payload)

    @property
    def holding_months(self) -> int:
        if self._holding_months is None:
            self._holding_months = int(self._call("settings", {})["holding_months"])
        return self._holding_months

    def prepare_batch(self, municipality_code: str, municipality_name: str,
                      households: Sequence[HouseholdNotice]) -> BatchSummary:
        return batch_from_json(self._call("prepare-batch", {
            "municipality_code": municipality_code, "municipality_name": municipality_name,
            "households": [household_to_json(h) for h in households]}))

    def mark_mailed(self, batch_id: int) -> BatchSummary:
        return batch_from_json(self._call("mark-mailed", {"batch_id": batch_id}))

    def batch(self, batch_id: int) -> BatchSummary:
        return batch_from_json(self._call("batch", {"batch_id": batch_id}))

    def batches(self, municipality_code: str | None = None) -> list[BatchSummary]:
        data = self._call("batches", {"municipality_code": municipality_code})
        return [batch_from_json(b) for b in data["batches"]]

    def record(self, letter_id: int, state: LetterState | str,
               reason: ReturnReason | str | None = None, note: str | None = None,
               identity_document: str | None = None) -> LetterEvent:
        return event_from_json(self._call("record", {
            "letter_id": letter_id, "state": _value(state), "reason": _value(reason),
            "note": note, "identity_document": identity_document}))

    def dispose_expired(self, municipality_code: str | None = None) -> list[int]:
        data = self._call("dispose-expired", {"municipality_code": municipality_code})
        return [int(i) for i in data["disposed"]]

    def letters(self, municipality_code: str) -> list[Letter]:
        data = self._call("letters", {"municipality_code": municipality_code})
        return [letter_from_json(x) for x in data["letters"]]

    def letter(self, letter_id: int) -> Letter:
        return letter_from_json(self._call("letter", {"letter_id": letter_id}))

    def letter_pdf(self, letter_id: int) -> bytes:
        return base64.b64decode(self._call("letter-pdf", {"letter_id": letter_id})["pdf"])

    def follow_up(self, municipality_code: str) -> list[FollowUpEntry]:
        data = self._call("follow-up", {"municipality_code": municipality_code})
        return [follow_up_from_json(e) for e in data["entries"]]

    def stats(self, municipality_code: str | None = None) -> StatsReport:
        return report_from_json(self._call("stats", {"municipality_code": municipality_code}))

    def chart_png(self, municipality_code: str | None = None) -> bytes:
        data = self._call("chart", {"municipality_code": municipality_code})
        return base64.b64decode(data["png"])

    def register_alternative(
        self, municipality_code: str, resident_id: int, reason: AlternativeReason | str,
        postcode: str, address: str, care_of: str | None = None, note: str | None = None,
        for_remailing: bool = False,
    ) -> AlternativeRegistration:
        return alternative_from_json(self._call("register-alternative", {
            "municipality_code": municipality_code, "resident_id": resident_id,
            "reason": _value(reason), "postcode": postcode, "address": address,
            "care_of": care_of, "note": note, "for_remailing": for_remailing}))

    def withdraw_alternative(self, municipality_code: str, resident_id: int) -> None:
        self._call("withdraw-alternative", {"municipality_code": municipality_code,
                                            "resident_id": resident_id})

    def alternatives(self, municipality_code: str) -> list[AlternativeRegistration]:
        data = self._call("alternatives", {"municipality_code": municipality_code})
        return [alternative_from_json(a) for a in data["alternatives"]]

    def application(self, application_id: str) -> ApplicationInfo:
        return application_from_json(self._call("application",
                                                {"application_id": application_id}))
