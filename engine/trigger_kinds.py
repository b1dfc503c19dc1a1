"""What starts a journey (SPEC §4, §13): an event, a date in a trait, inactivity, or a broadcast's schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import TYPE_CHECKING, Union

from engine.schedules import BroadcastTrigger

if TYPE_CHECKING:
    from engine.model import Expr


@dataclass(frozen=True)
class EventTrigger:
    event: str
    where: Expr | None = None


@dataclass(frozen=True)
class DateTrigger:
    trait: str
    offset: timedelta
    at: time
    yearly: bool


@dataclass(frozen=True)
class InactivityTrigger:
    event: str
    duration: timedelta


Trigger = Union[EventTrigger, DateTrigger, InactivityTrigger, BroadcastTrigger]
