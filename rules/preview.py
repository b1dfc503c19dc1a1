"""What `nudge preview` renders a template with: the event that starts a journey sending it, taken
from recorded samples (samples/events.jsonl, or the file of `--sample`) or made up from the declared
data, and the profile of that customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from engine.declared import DeclaredData, FieldType
from engine.model import BroadcastTrigger, DateTrigger, EventTrigger, Journey, Repeat, Send, Split, Workspace
from engine.state import ActivityMap

# a made-up value per declared type, for an event no sample has
_PLACEHOLDER: Mapping[str, Any] = {"string": "sample", "number": 42.5, "integer": 3, "boolean": True,
                                   "date": "2026-03-01", "datetime": "2026-03-01T12:00:00Z", "list": [], "object": {}}


@dataclass(frozen=True)
class Sample:
    """The journey that sends the template (None when none does), its trigger event and the profile."""

    journey: Journey | None
    event: dict[str, Any]
    traits: dict[str, Any]


def channels_of(workspace: Workspace, name: str) -> list[str]:
    """The channels a template of this name exists for (email first)."""
    return [channel for channel in ("email", "sms") if workspace.renderer.has(name, channel)]


def journey_sending(workspace: Workspace, name: str, channel: str) -> Journey | None:
    for journey in workspace.journeys:
        for ins in journey.program:
            if isinstance(ins.action, Send) and ins.action.template == name and ins.action.channel.value == channel:
                return journey
    return None


def trigger_type(journey: Journey) -> str:
    trigger = journey.trigger
    if isinstance(trigger, EventTrigger):
        return trigger.event
    if isinstance(trigger, BroadcastTrigger):
        return "broadcast"
    return "date" if isinstance(trigger, DateTrigger) else "inactivity"


def _made_up(kind: str, data: DeclaredData | None) -> dict[str, Any]:
    spec = data.events.get(kind) if data else None
    properties = {name: _value(t) for name, t in spec.properties.items()} if spec else {}
    return {"type": kind, "customer_id": "preview", "properties": properties, "traits": {}}


def _value(t: FieldType) -> Any:
    return t.choices[0] if t.kind == "enum" and t.choices else _PLACEHOLDER.get(t.kind)


def sample(workspace: Workspace, name: str, channel: str, events: Sequence[Mapping[str, Any]],
           profiles: Sequence[Mapping[str, Any]]) -> Sample:
    """The first recorded event of the trigger's type whose customer the journey's audience takes (else the
    first of that type, else one made from `data:`), and that customer's traits by then."""
    journey = journey_sending(workspace, name, channel)
    if journey is None:
        return Sample(None, {"type": "preview", "customer_id": "preview", "properties": {}, "traits": {}}, {})
    kind = trigger_type(journey)
    found = [(dict(e), _traits_by(e, events, profiles)) for e in events if e.get("type") == kind]
    taken = next((pair for pair in found if _in_audience(workspace, journey, *pair)), found[0] if found else None)
    if taken is None:
        event = _made_up(kind, workspace.data)
        return Sample(journey, event, _traits_by(event, events, profiles))
    return Sample(journey, *taken)


def _traits_by(event: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
               profiles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The customer's sample profile, then the traits their events had set up to this one."""
    who = event.get("customer_id")
    traits: dict[str, Any] = {}
    for profile in profiles:
        if profile.get("customer_id") == who and isinstance(profile.get("traits"), dict):
            traits.update(profile["traits"])
    for earlier in events:
        if earlier.get("customer_id") == who and isinstance(earlier.get("traits"), dict):
            traits.update(earlier["traits"])
        if earlier is event or earlier == event:
            break
    return traits


def _in_audience(workspace: Workspace, journey: Journey, event: dict[str, Any], traits: dict[str, Any]) -> bool:
    """The audience as on entry, with no activity known; an expression that fails counts as false (SPEC §3)."""
    if journey.audience is None:
        return True
    now = datetime.now(timezone.utc)
    context = {"profile": traits, "activity": ActivityMap(), "event": event, "trigger_event": event,
               "journey": {"id": journey.id, "name": journey.name, "entered_at": now, "variant": {}},
               "now": now, "settings": workspace.settings.raw}
    try:
        return bool(journey.audience.evaluate(context))
    except Exception:  # a sample that does not fit the expression is simply not taken
        return False


def repeated(journey: Journey | None, name: str, channel: str) -> bool:
    """Whether the journey sends the template from inside a repeat, where `journey.iteration` is defined."""
    program = journey.program if journey else ()
    loops = [(pc, ins.action.end_pc) for pc, ins in enumerate(program) if isinstance(ins.action, Repeat)]
    return any(isinstance(ins.action, Send) and ins.action.template == name and ins.action.channel.value == channel
               and any(head < pc < end for head, end in loops) for pc, ins in enumerate(program))


def variants_of(journey: Journey | None) -> dict[str, list[str]]:
    """Split name → variant names of a journey, for `--variant`."""
    found: dict[str, list[str]] = {}
    for ins in journey.program if journey else ():
        if isinstance(ins.action, Split):
            found[ins.action.name] = [v.name for v in ins.action.variants]
    return found
