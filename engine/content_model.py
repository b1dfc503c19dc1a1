"""Content tests and winner rules as the machine sees them (SPEC §11): immutable, built by `rules.compile`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Mapping, Protocol


class TextTemplate(Protocol):
    """A compiled template string (a variant's subject); `render` raises on a template error."""

    def render(self, context: Mapping[str, Any]) -> str: ...


class Metric(StrEnum):
    """What a winner is judged by: a rate per recipient, or revenue (goal value) per recipient."""

    OPENED = "opened"
    CLICKED = "clicked"
    CONVERTED = "converted"
    REVENUE = "revenue"


@dataclass(frozen=True)
class WinnerRule:
    metric: Metric
    after: timedelta          # from the experiment's first send (or entry, for a split)
    min_per_variant: int
    confidence: float


@dataclass(frozen=True)
class ContentVariant:
    """One arm of a content test; no template and no subject: the step's own content."""

    name: str
    weight: int
    template: str | None = None
    subject: TextTemplate | None = None

    @property
    def is_default(self) -> bool:
        return self.template is None and self.subject is None
