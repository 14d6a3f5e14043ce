"""The event that travels between nodes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from myna.errors import ValidationError


@dataclass(frozen=True)
class Event:
    """One fact a node tells another.

    ``event_id`` is unique across the installation (the inbox's key); ``seq`` is
    the sender's outbox position, increasing, so the receiver can tell order;
    ``subject`` names what the event is about in terms the receiver already
    knows (its own reference of the person), used to keep order per person.
    """

    event_id: str
    source: str
    destination: str
    kind: str
    subject: str
    seq: int
    created_at: dt.datetime
    payload: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "source": self.source,
                "destination": self.destination, "kind": self.kind, "subject": self.subject,
                "seq": self.seq, "created_at": self.created_at.isoformat(),
                "payload": self.payload}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        try:
            at = dt.datetime.fromisoformat(str(data["created_at"]))
            payload = data.get("payload") or {}
            if not isinstance(payload, dict):
                raise TypeError("payload")
            return cls(str(data["event_id"]), str(data["source"]), str(data["destination"]),
                       str(data["kind"]), str(data["subject"]), int(data["seq"]), at,
                       dict(payload))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError("イベントの形式が不正です",
                                  f"malformed event ({type(exc).__name__})") from None
