"""Per-customer state the machine reads and writes; stores persist it between events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Waiting(StrEnum):
    """Why a parked instance waits: a wait/wait_until, a wait_for's event, or quiet hours before a send."""

    TIMER = "timer"
    EVENT = "event"
    QUIET = "quiet"


class ActivityMap(dict[str, dict[str, Any]]):
    """`activity.<type>` for expressions: an unseen type has count 0 and no dates."""

    def __missing__(self, key: str) -> dict[str, Any]:
        return {"count": 0}


@dataclass
class Instance:
    """One customer's run through one journey."""

    id: str                      # stable: message ids derive from it
    journey: str
    entered_at: datetime
    trigger_event: dict[str, Any]
    event: dict[str, Any]        # the latest event that moved this instance
    pc: int = 0
    step_id: str = ""            # where it stands, by stable id, for live edits
    generation: int = 0          # bumped at every park, so older timers go stale
    waiting: Waiting | None = None
    due: datetime | None = None  # when the current park ends
    variants: dict[str, str] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)  # repeat id -> pass under way, outermost first
    woke: dict[str, datetime] = field(default_factory=dict)   # wait_until step id -> its last wake-up (repeats)

    @property
    def iteration(self) -> int | None:
        """`journey.iteration`: the pass of the innermost repeat the instance is in, 1-based."""
        return next(reversed(self.iterations.values()), None)


@dataclass
class JourneyHistory:
    """What outlives an instance: re-entry rules and goals look back at it."""

    entries: int = 0
    last_entered_at: datetime | None = None
    last_exited_at: datetime | None = None
    goal_from: datetime | None = None  # entry of the latest instance, for the goal window
    converted: bool = False


@dataclass
class CustomerState:
    key: str                          # customer id, or "anon:<anonymous id>" (SPEC §8 keeps them apart)
    customer_id: str | None
    anonymous_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    activity: ActivityMap = field(default_factory=ActivityMap)
    instances: dict[str, Instance] = field(default_factory=dict)    # active, by journey id
    history: dict[str, JourneyHistory] = field(default_factory=dict)
    sent: list[tuple[str, datetime]] = field(default_factory=list)  # marketing sends, for caps
    plans: dict[str, str] = field(default_factory=dict)             # journey id -> planned timer token

    @classmethod
    def for_key(cls, key: str) -> CustomerState:
        if key.startswith(ANON):
            return cls(key, None, key[len(ANON):])
        return cls(key, key)


ANON = "anon:"  # no customer id may start with it (rules.limits), so the two kinds of key never collide


def anon_key(anonymous_id: str) -> str:
    return ANON + anonymous_id
