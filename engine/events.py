"""The event value the machine consumes (SPEC §2), already validated at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str
    timestamp: datetime               # the customer's time: profile, activity, reports
    id: str | None = None
    customer_id: str | None = None
    anonymous_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None  # stamped at acceptance by a live runtime (SPEC §14)

    @property
    def journey_time(self) -> datetime:
        """The time journeys count on (SPEC §14): acceptance, else (a replay without it) the timestamp."""
        return self.received_at or self.timestamp

    def late(self, late_events: timedelta) -> bool:
        """Older than `late_events` when accepted: fixed at acceptance, whenever it is processed."""
        return self.received_at is not None and self.received_at - self.timestamp > late_events

    def context(self) -> dict[str, Any]:
        """The `event` name that expressions and templates see."""
        return {
            "id": self.id,
            "type": self.type,
            "customer_id": self.customer_id,
            "anonymous_id": self.anonymous_id,
            "timestamp": self.timestamp,
            "properties": self.properties,
            "traits": self.traits,
        }
