"""Declared data (SPEC §9): from `data:` to values, how an event conforms, and a first `data:` from events."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any, Callable, Iterable, Mapping

from engine.declared import DeclaredData, EventSpec, FieldType
from rules import schema as s

RESERVED_TRAITS = ("email", "phone", "first_name", "last_name", "timezone", "locale", "email_subscribed",
                   "sms_subscribed")
# traits the engine itself keeps (consent proof, topics left): always known
ENGINE_TRAITS = ("unsubscribed_topics", "email_consent_at", "email_consent_source", "sms_consent_at",
                 "sms_consent_source")
# events the engine produces or receives from providers (SPEC §2): known without a declaration
BUILT_IN_EVENTS = ("email_delivered", "email_opened", "email_clicked", "email_bounced", "email_complained",
                   "unsubscribed", "subscribed", "sms_delivered", "sms_failed", "sms_clicked",
                   "profile_imported", "subscription_requested")  # `nudge import profiles`; the preference centre
# the trigger events of journeys started by time (docs/journeys.md)
SYNTHETIC_EVENTS: Mapping[str, tuple[str, ...]] = {"date": ("trait", "date"), "inactivity": ("event_type", "last_at")}
MAX_LABELS = 200  # distinct types or problems counted one by one; more share one label (`/metrics` stays small)


def field_type(model: Any) -> FieldType:
    """One `FieldTypeModel` as a value."""
    if isinstance(model, s.FieldSpecModel):
        inner = field_type(model.type)
        return FieldType(inner.kind, inner.choices, model.required)
    if isinstance(model, s.EnumTypeModel):
        return FieldType("enum", tuple(model.enum), model.required)
    return FieldType(str(model))


def declared(model: s.DataModel) -> DeclaredData:
    return DeclaredData(
        strict=model.strict,
        traits={name: field_type(t) for name, t in model.traits.items()},
        events={name: EventSpec({k: field_type(t) for k, t in (spec.properties if spec else {}).items()},
                                spec.revenue if spec else None)
                for name, spec in model.events.items()},
    )


def known_traits(data: DeclaredData) -> tuple[str, ...]:
    return (*RESERVED_TRAITS, *ENGINE_TRAITS, *data.traits)


def known_events(data: DeclaredData) -> tuple[str, ...]:
    return (*data.events, *BUILT_IN_EVENTS)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {  # built once: value_problem runs per value of every event
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "date": lambda v: _is_date(v) or _is_datetime(v),
    "datetime": lambda v: _is_datetime(v),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _is_choice(value: Any, choices: tuple[object, ...]) -> bool:
    """One of `choices` as JSON tells values apart: Python's True == 1 and False == 0 do not make a boolean a number."""
    return any(value == choice and (type(value) is bool) == (type(choice) is bool) for choice in choices)


def value_problem(value: Any, expected: FieldType) -> str | None:
    """Why `value` is not of the declared type; None when it is."""
    kind = expected.kind
    if value is None or (_is_choice(value, expected.choices) if kind == "enum" else _TYPE_CHECKS[kind](value)):
        return None
    return f"expected {expected.describe()}, got {_shown(value)}"


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 10 and _parses(date.fromisoformat, value)


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def conformance_problems(event_type: str, properties: Mapping[str, Any], traits: Mapping[str, Any],
                         data: DeclaredData) -> list[str]:
    """How one event breaks the declared data, as `field: reason` (empty when it conforms)."""
    problems: list[str] = []
    for name, value in traits.items():
        spec = data.traits.get(name)
        if spec is not None and (why := value_problem(value, spec)):
            problems.append(f"traits.{name}: {why}")
    if event_type in BUILT_IN_EVENTS:
        return problems
    event = data.events.get(event_type)
    if event is None:
        return [f"type: '{event_type}' is not declared in data.events", *problems]
    for name, value in properties.items():
        prop = event.properties.get(name)
        if prop is None:
            problems.append(f"properties.{name}: not declared for {event_type}")
        elif why := value_problem(value, prop):
            problems.append(f"properties.{name}: {why}")
    for name, prop in event.properties.items():
        if prop.required and name not in properties:
            problems.append(f"properties.{name}: missing (required for {event_type})")
    return problems


class DataTally:
    """Events received per type, and nonconforming ones per type and problem (`/metrics`, `nudge data`)."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.problems: Counter[tuple[str, str]] = Counter()

    def observe(self, event_type: str, problems: Iterable[str]) -> None:
        kind = event_type if event_type in self.received or len(self.received) < MAX_LABELS else "(other)"
        self.received[kind] += 1
        for problem in problems:
            label = _label(problem)
            if (kind, label) not in self.problems and len(self.problems) >= MAX_LABELS:
                label = "(other)"
            self.problems[(kind, label)] += 1


def _label(problem: str) -> str:
    """A problem without the values a sender chose, so counts group: 'properties.x: not declared for t'
    stays as is (declared names are few), 'expected number, got 'abc'' loses the value."""
    head, _, reason = problem.partition(": ")
    return f"{head}: {reason.split(', got ')[0]}"


# ---- a first `data:` from recorded events ---------------------------------------

def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if _is_datetime(value):
        return "datetime"
    if _is_date(value):
        return "date"
    return "string"


def _merge(kinds: set[str]) -> str:
    if kinds <= {"integer", "number"}:
        return "number" if "number" in kinds else "integer"
    if kinds <= {"date", "datetime"}:
        return "datetime" if "datetime" in kinds else "date"
    return kinds.pop() if len(kinds) == 1 else "string"


def infer(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A starting `data:` block: every trait and event type seen, each with the type its values share;
    a property present in every event of its type is marked required."""
    traits: dict[str, set[str]] = {}
    props: dict[str, dict[str, set[str]]] = {}
    seen: Counter[str] = Counter()
    present: dict[str, Counter[str]] = {}
    for event in events:
        kind = str(event.get("type"))
        for name, value in (event.get("traits") or {}).items():
            if value is not None and name not in RESERVED_TRAITS:
                traits.setdefault(name, set()).add(_kind_of(value))
        if kind in BUILT_IN_EVENTS:
            continue
        seen[kind] += 1
        here = props.setdefault(kind, {})
        counts = present.setdefault(kind, Counter())
        for name, value in (event.get("properties") or {}).items():
            if value is not None:
                here.setdefault(name, set()).add(_kind_of(value))
                counts[name] += 1
    result_events: dict[str, Any] = {}
    for kind in sorted(props):
        properties: dict[str, Any] = {}
        for name in sorted(props[kind]):
            type_name = _merge(set(props[kind][name]))
            properties[name] = {"type": type_name, "required": True} if present[kind][name] == seen[kind] else type_name
        result_events[kind] = {"properties": properties}
    return {"strict": False, "traits": {name: _merge(set(k)) for name, k in sorted(traits.items())},
            "events": result_events}
