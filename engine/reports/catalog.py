"""What a report takes from the workspace: journey order and names, splits, holdouts, currency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from engine.cohorts import assign
from engine.model import Split, Workspace


@dataclass(frozen=True)
class Catalog:
    """Without a workspace (a bare log) a report still works: variants come from send records only."""

    order: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    splits: Mapping[str, Split] = field(default_factory=dict)       # the first split of each journey
    holdouts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    currency: str = "USD"

    @classmethod
    def of(cls, workspace: Workspace) -> Catalog:
        splits: dict[str, Split] = {}
        holdouts: dict[str, frozenset[str]] = {}
        for journey in workspace.journeys:
            found = [ins.action for ins in journey.program if isinstance(ins.action, Split)]
            if not found:
                continue
            splits[journey.id] = found[0]
            with_steps = {ins.variant for ins in journey.program}
            holdouts[journey.id] = frozenset(v.name for s in found for v in s.variants if v.name not in with_steps)
        return cls(order=tuple(j.id for j in workspace.journeys), names={j.id: j.name for j in workspace.journeys},
                   splits=splits, holdouts=holdouts,
                   currency=str(workspace.settings.raw.get("currency") or "USD"))

    def variant(self, customer: str, journey: str) -> str | None:
        """Intent to treat: every customer who entered is in the variant the pinned hash gives them."""
        split = self.splits.get(journey)
        return assign(customer, journey, split).name if split is not None and customer else None

    def variant_order(self, journey: str) -> tuple[str, ...]:
        split = self.splits.get(journey)
        return tuple(v.name for v in split.variants) if split is not None else ()
