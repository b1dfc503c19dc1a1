"""What a report takes from the workspace: journey order and names, splits and their holdouts, orders, currency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from engine.cohorts import assign, holdout_variants
from engine.experiments import Experiment, ExperimentKey, experiments_of
from engine.model import Attribution, Jump, Journey, Split, Workspace

SplitKey = tuple[str, str]   # (journey id, split name): experiments are keyed by both


def _regions(journey: Journey) -> dict[str, str]:
    """Step id -> the name of the innermost split whose variant holds it (splits compile to contiguous ranges)."""
    owner: dict[int, str] = {}
    for pc, ins in enumerate(journey.program):
        if not isinstance(ins.action, Split):
            continue
        holdouts = holdout_variants(journey, ins.action)
        starts = sorted(v.pc for v in ins.action.variants if v.name not in holdouts)
        if holdouts:
            end = next(v.pc for v in ins.action.variants if v.name in holdouts)
        elif len(starts) > 1 and isinstance(jump := journey.program[starts[1] - 1].action, Jump):
            end = jump.target
        else:
            continue   # one variant and no holdout: nothing to compare
        for inner in range(pc + 1, end):
            owner[inner] = ins.action.name   # a later (inner) split overwrites its enclosing one
    return {journey.program[pc].step_id: name for pc, name in owner.items() if journey.program[pc].step_id}


@dataclass(frozen=True)
class Catalog:
    """Without a workspace (a bare log) a report still works: variants come from send records only."""

    order: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    splits: Mapping[str, tuple[Split, ...]] = field(default_factory=dict)   # every split of each journey
    split_of_step: Mapping[tuple[str, str], str] = field(default_factory=dict)
    holdouts: Mapping[SplitKey, frozenset[str]] = field(default_factory=dict)
    currency: str = "USD"
    workspace: Workspace | None = None
    attribution: Attribution = field(default_factory=Attribution)
    tests: Mapping[ExperimentKey, Experiment] = field(default_factory=dict)   # content tests and tested splits
    split_steps: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (journey, split's step id) -> its name

    @classmethod
    def of(cls, workspace: Workspace) -> Catalog:
        splits: dict[str, tuple[Split, ...]] = {}
        holdouts: dict[SplitKey, frozenset[str]] = {}
        split_of_step: dict[tuple[str, str], str] = {}
        split_steps: dict[tuple[str, str], str] = {}
        for journey in workspace.journeys:
            found = tuple(ins.action for ins in journey.program if isinstance(ins.action, Split))
            split_steps.update({(journey.id, ins.step_id): ins.action.name for ins in journey.program
                                if isinstance(ins.action, Split)})
            if not found:
                continue
            splits[journey.id] = found
            for split in found:
                holdouts[(journey.id, split.name)] = holdout_variants(journey, split)
            split_of_step.update({(journey.id, step): name for step, name in _regions(journey).items()})
        return cls(order=tuple(j.id for j in workspace.journeys), names={j.id: j.name for j in workspace.journeys},
                   splits=splits, split_of_step=split_of_step, holdouts=holdouts,
                   currency=str(workspace.settings.raw.get("currency") or "USD"),
                   workspace=workspace, attribution=workspace.settings.attribution,
                   tests=experiments_of(workspace, judged_only=False), split_steps=split_steps)

    def variants(self, customer: str, journey: str) -> list[tuple[str, str]]:
        """Intent to treat: (split, variant) for each split of the journey, by the pinned hash, whoever entered."""
        return [(split.name, assign(customer, journey, split).name) for split in self.splits.get(journey, ())]

    def variant_order(self, key: SplitKey) -> tuple[str, ...]:
        split = next((s for s in self.splits.get(key[0], ()) if s.name == key[1]), None)
        return tuple(v.name for v in split.variants) if split is not None else ()
