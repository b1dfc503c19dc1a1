"""What the core asks the world to do, returned as data and carried out by a runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union


@dataclass(frozen=True, order=True)
class Timer:
    """Wake the machine at `due` for one customer: resume an instance or fire a trigger."""

    due: datetime
    key: str                     # the customer state's key when it was set
    kind: str                    # "step", "date" or "inactivity"
    journey: str
    token: str                   # instance id + generation, or the plan token: stale when it differs

    @property
    def id(self) -> str:
        return f"{self.key}|{self.kind}|{self.journey}|{self.token}"


@dataclass(frozen=True)
class Output:
    """One SPEC §7 outcome record (entered, send, converted, exited)."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """A message to hand to a channel connector exactly once; `id` is its idempotency key."""

    id: str
    at: str                      # when the engine decided it (SPEC §7 `at`)
    channel: str
    template: str | None
    to: str
    customer_id: str | None
    journey: str
    step: str
    variant: str | None
    transactional: bool
    subject: str | None
    text: str
    html: str | None = None
    preheader: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Dispatch:
    message: Message


@dataclass(frozen=True)
class Schedule:
    timer: Timer


@dataclass(frozen=True)
class Diagnostic:
    """A run-time expression or template failure: counted as false, reported, never fatal."""

    at: datetime
    customer_id: str | None
    journey: str
    step: str
    message: str


Effect = Union[Output, Dispatch, Schedule, Diagnostic]
