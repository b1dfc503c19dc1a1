"""Declared data (SPEC §9): the traits and event types a workspace says it uses, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

KINDS = ("string", "number", "integer", "boolean", "date", "datetime", "list", "object", "enum")


@dataclass(frozen=True)
class FieldType:
    """One declared value: its kind, the choices of an enum, whether it must be present."""

    kind: str
    choices: tuple[object, ...] = ()
    required: bool = False

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices) if self.kind == "enum" else self.kind


@dataclass(frozen=True)
class EventSpec:
    properties: Mapping[str, FieldType] = field(default_factory=dict)
    revenue: str | None = None


@dataclass(frozen=True)
class DeclaredData:
    """`data:` of journeys.yaml; `strict` refuses events that do not match it."""

    strict: bool = False
    traits: Mapping[str, FieldType] = field(default_factory=dict)
    events: Mapping[str, EventSpec] = field(default_factory=dict)
