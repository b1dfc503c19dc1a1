"""One call into the machine: the customer, the clock, and the effects produced so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from hashlib import sha256
from typing import Any

from engine.effects import Diagnostic, Effect, ExitReason, Output, Schedule, Timer, TimerKind, Unschedule
from engine.model import Settings
from engine.state import CustomerState, Instance, JourneyHistory, Waiting


def iso(at: datetime) -> str:
    """SPEC §7 `at`: UTC with a Z suffix."""
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at.microsecond == 0 else at.isoformat().replace("+00:00", "Z")


def message_id(instance_id: str, step_id: str) -> str:
    """Stable across runtimes and replays: the idempotency key of the send."""
    return "msg_" + sha256(f"{instance_id}\x1f{step_id}".encode()).hexdigest()[:24]


def pass_of(inst: Instance) -> str:
    """The step where the instance stands, with its passes when inside repeats: one message per step per pass."""
    if not inst.iterations:
        return inst.step_id
    return inst.step_id + "#" + ".".join(str(n) for n in inst.iterations.values())


def iteration_of(inst: Instance) -> dict[str, int]:
    """SPEC §15: the `iteration` field of the records of steps inside a repeat."""
    iteration = inst.iteration
    return {} if iteration is None else {"iteration": iteration}


class Flow(StrEnum):
    """What a step tells the interpreter: go on to the next instruction, or stop (parked or ended)."""

    NEXT = "next"
    STOP = "stop"


@dataclass
class Turn:
    """The customer's state is changed in place; everything else leaves as an effect."""

    state: CustomerState
    now: datetime
    settings: Settings
    effects: list[Effect] = field(default_factory=list)

    def out(self, journey_id: str, kind: str, **fields: Any) -> None:
        """A SPEC §7 outcome record, keys in the documented order."""
        state = self.state
        record: dict[str, Any] = {"at": iso(self.now), "customer_id": state.customer_id}
        if state.customer_id is None:
            record["anonymous_id"] = state.anonymous_id
        record["journey"] = journey_id
        record["type"] = kind
        record.update(fields)
        self.effects.append(Output(record))

    def diag(self, journey_id: str, step: str, message: str) -> None:
        self.effects.append(Diagnostic(self.now, self.state.customer_id, journey_id, step, message))

    def schedule(self, due: datetime, kind: TimerKind, journey_id: str, token: str) -> None:
        self.effects.append(Schedule(Timer(due, self.state.key, kind, journey_id, token)))

    def park(self, journey_id: str, inst: Instance, waiting: Waiting, due: datetime) -> None:
        """Wait at the current step; the new generation makes the instance's older timers stale."""
        if inst.waiting is not None and inst.due is not None:  # re-planned while parked: that timer is void
            self.effects.append(Unschedule(self._step_timer(journey_id, inst, inst.due).id))
        inst.generation += 1
        inst.waiting, inst.due = waiting, due
        self.effects.append(Schedule(self._step_timer(journey_id, inst, due)))

    def _step_timer(self, journey_id: str, inst: Instance, due: datetime) -> Timer:
        return Timer(due, self.state.key, TimerKind.STEP, journey_id, f"{inst.id}#{inst.generation}")

    def exit(self, journey_id: str, inst: Instance, reason: ExitReason, *, remove: bool = True) -> None:
        """End an instance; `remove=False` when it was never the customer's (a merged-away duplicate)."""
        self.out(journey_id, "exited", reason=reason, step=inst.step_id or None, **iteration_of(inst))
        if remove:
            self.state.instances.pop(journey_id, None)
        self.state.history.setdefault(journey_id, JourneyHistory()).last_exited_at = self.now
