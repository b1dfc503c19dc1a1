"""The JSON Schema an editor uses, completed with a workspace's declared data (SPEC §9), so typing
`profile.` offers the declared traits and `event:` the declared event types."""

from __future__ import annotations

from typing import Any

from engine.declared import DeclaredData
from rules.data import known_events, known_traits

_EXPRESSION = "a Jinja2 expression"
_EVENT_KEYS = ("event", "inactivity")


def with_declared(schema: dict[str, Any], data: DeclaredData) -> dict[str, Any]:
    """`schema` with examples: trait and property reads for expressions, declared types for events."""
    reads = [f"profile.{t}" for t in known_traits(data)]
    reads += sorted({f"event.properties.{p}" for spec in data.events.values() for p in spec.properties})
    events = list(known_events(data))

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if str(node.get("description", "")).startswith(_EXPRESSION):
            node["examples"] = reads
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key in _EVENT_KEYS:
                if isinstance(properties.get(key), dict) and properties[key].get("type") == "string":
                    properties[key]["examples"] = events
            if isinstance(properties.get("date"), dict) and properties["date"].get("type") == "string":
                properties["date"]["examples"] = list(data.traits)
        for value in node.values():
            walk(value)

    walk(schema)
    schema["x-nudge-traits"] = list(known_traits(data))
    schema["x-nudge-events"] = events
    return schema
