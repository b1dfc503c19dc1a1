"""The event value the machine consumes (SPEC §2), already validated at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str
    timestamp: datetime
    id: str | None = None
    customer_id: str | None = None
    anonymous_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)

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
