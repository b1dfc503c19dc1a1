"""Journey expressions judged for one customer (SPEC §3): a failure counts as false and is reported."""

from __future__ import annotations

from typing import Any

from engine.model import EventMatch, Expr, Journey
from engine.state import Instance
from engine.turn import Turn


def context(turn: Turn, journey: Journey, inst: Instance | None, event: dict[str, Any]) -> dict[str, Any]:
    """The names an expression or a template sees; before entry the event is its own trigger."""
    state = turn.state
    if inst is not None:
        jctx = {"id": journey.id, "name": journey.name, "entered_at": inst.entered_at, "variant": inst.variants}
        if inst.iterations:  # SPEC §15: undefined outside a repeat
            jctx["iteration"] = inst.iteration
        trigger = inst.trigger_event
    else:
        jctx = {"id": journey.id, "name": journey.name, "entered_at": turn.now, "variant": {}}
        trigger = event
    return {
        "profile": state.traits, "activity": state.activity, "event": event, "trigger_event": trigger,
        "journey": jctx, "now": turn.now, "settings": turn.settings.raw,
    }


def attempt(turn: Turn, journey: Journey, inst: Instance | None, expr: Expr, step: str,
            event: dict[str, Any] | None = None) -> tuple[bool, Any]:
    """(True, value), or (False, None) with a diagnostic when the expression fails."""
    ctx = context(turn, journey, inst, event if event is not None else (inst.event if inst else {}))
    try:
        return True, expr.evaluate(ctx)
    except Exception as exc:  # SPEC §3: a failing expression counts as false, reported
        turn.diag(journey.id, step, f"expression '{expr.source}' failed: {type(exc).__name__}: {exc}")
        return False, None


def holds(turn: Turn, journey: Journey, inst: Instance | None, expr: Expr, step: str,
          event: dict[str, Any] | None = None) -> bool:
    ok, value = attempt(turn, journey, inst, expr, step, event)
    return ok and bool(value)


def matches(turn: Turn, journey: Journey, inst: Instance | None, match: EventMatch,
            event: dict[str, Any], step: str) -> bool:
    """`{event: T, where: E}` against an event (exit_on, goal, wait_for)."""
    if event["type"] != match.event:
        return False
    return match.where is None or holds(turn, journey, inst, match.where, step, event)
