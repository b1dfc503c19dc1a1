"""Which content a tested step uses for one customer (SPEC §11): the pinned hash, or the decided winner."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from engine.cohorts import bucket
from engine.effects import Exposure
from engine.model import ContentVariant, Send, Split, TextTemplate, Variant
from engine.ports import Store
from engine.turn import Turn


@dataclass(frozen=True)
class Content:
    """A tested send's content: its template and subject, the record's `variant`, and whether the winner chose it."""

    send: Send                    # the step with this variant's template
    arm: str
    label: str                    # "<step>:<name>", after "<split variant>/" inside a split
    subject: TextTemplate | None
    decided: bool


def label(split_variant: str | None, step: str, arm: str) -> str:
    """SPEC §11: the split's variant is kept and the content variant appended after `/`."""
    own = f"{step}:{arm}"
    return own if split_variant is None else f"{split_variant}/{own}"


def weighted(b: int, variants: tuple[ContentVariant, ...]) -> ContentVariant:
    """Variants take consecutive ranges of the bucket in the order listed (as a split's do)."""
    for variant in variants:
        if b < variant.weight:
            return variant
        b -= variant.weight
    raise AssertionError("bucket outside the weights")


class ContentTests:
    """Reads decided winners from the store; assignment itself needs nothing but the hash."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def content(self, turn: Turn, journey: str, step: str, split_variant: str | None, send: Send) -> Content:
        customer = turn.state.customer_id or turn.state.key
        winner = self.store.winner(journey, step) if send.winner is not None else None
        chosen = next((v for v in send.variants if v.name == winner), None)
        if chosen is None:
            total = sum(v.weight for v in send.variants)
            chosen = weighted(bucket(customer, journey, step, total), send.variants)
        return Content(replace(send, template=chosen.template or send.template), chosen.name,
                       label(split_variant, step, chosen.name), chosen.subject, chosen.name == winner)

    def exposed(self, turn: Turn, journey: str, step: str, content: Content, message_id: str) -> None:
        """A message of an undecided test went out: the experiment counts its recipient."""
        if content.send.winner is not None and not content.decided:
            turn.effects.append(Exposure(journey, step, content.arm, turn.state.key, message_id, turn.now))

    def enter(self, turn: Turn, journey: str, step: str, split: Split, assigned: Variant) -> Variant:
        """A tested split: until decided, each entry is an exposure; then a holdout stays a holdout
        (it still measures the uplift) and everyone else takes the winner."""
        if split.winner is None:
            return assigned
        winner = self.store.winner(journey, step)
        if winner is None:
            turn.effects.append(Exposure(journey, step, assigned.name, turn.state.key, None, turn.now))
            return assigned
        if assigned.holdout:
            return assigned
        return next((v for v in split.variants if v.name == winner), assigned)


@functools.lru_cache(maxsize=4096)  # a report takes apart the same few labels on every send
def parse_label(variant: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """A record's `variant` taken apart: the split variant, and (step, content variant) of a content test.
    Unambiguous: step ids and variant names hold neither `/` nor `:`."""
    if variant is None or ":" not in variant:
        return variant, None
    split, _, own = variant.rpartition("/")
    step, _, arm = own.partition(":")
    return split or None, (step, arm)
