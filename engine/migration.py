"""What a journey edit does to customers in flight: continue, move, or exit `step_removed`.

Used by a live reload (to apply it) and by `nudge plan` (to show it first).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.model import Journey, Send, Wait, WaitBest, WaitFor, WaitUntil, Workspace
from engine.state import Instance


class Fate(StrEnum):
    CONTINUE = "continue"   # same step id at the same place
    MOVE = "move"           # same step id, another place in the program
    EXIT = "exit"           # the step (or the journey) is gone: exits with reason step_removed


@dataclass(frozen=True)
class Verdict:
    fate: Fate
    pc: int | None


def judge(instance: Instance, journey: Journey | None) -> Verdict:
    """Where an instance parked at `step_id` stands in the new version of its journey."""
    if journey is None:
        return Verdict(Fate.EXIT, None)
    pc = journey.pc_of(instance.step_id) if instance.step_id else None
    if pc is None:
        return Verdict(Fate.EXIT, None)
    expected = _PARKED_AT.get(instance.waiting or "", ())
    if expected and not isinstance(journey.program[pc].action, expected):
        return Verdict(Fate.EXIT, None)  # the same id now names another kind of step
    return Verdict(Fate.CONTINUE if pc == instance.pc else Fate.MOVE, pc)


_PARKED_AT: dict[str, tuple[type, ...]] = {"timer": (Wait, WaitUntil, WaitBest), "event": (WaitFor,), "quiet": (Send,)}


def journeys_by_id(workspace: Workspace) -> dict[str, Journey]:
    return {j.id: j for j in workspace.journeys}


@dataclass(frozen=True)
class PlanRow:
    journey: str
    step: str
    fate: Fate
    count: int


def summarize(instances: list[Instance], new: Workspace) -> list[PlanRow]:
    """Per journey and step: how many customers continue, move or exit."""
    by_id = journeys_by_id(new)
    counts: dict[tuple[str, str, Fate], int] = {}
    for inst in instances:
        key = (inst.journey, inst.step_id, judge(inst, by_id.get(inst.journey)).fate)
        counts[key] = counts.get(key, 0) + 1
    return [PlanRow(j, s, f, n) for (j, s, f), n in sorted(counts.items())]


