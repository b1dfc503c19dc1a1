"""Split assignment, pinned by a hash so that every runtime agrees (SPEC §4)."""

from __future__ import annotations

from hashlib import sha256

from engine.model import Journey, Split, Variant


def bucket(customer_id: str, journey_id: str, split_name: str, total: int) -> int:
    digest = sha256(f"{customer_id}\x1f{journey_id}\x1f{split_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total


def assign(customer_id: str, journey_id: str, split: Split) -> Variant:
    """Variants take consecutive ranges of the bucket in the order listed."""
    total = sum(v.weight for v in split.variants)
    b = bucket(customer_id, journey_id, split.name, total)
    for variant in split.variants:
        if b < variant.weight:
            return variant
        b -= variant.weight
    raise AssertionError("bucket outside the weights")  # b < total by construction


def holdout_variants(journey: Journey, split: Split) -> frozenset[str]:
    """Variants without steps: their entry point is the split's end, not an instruction of their own."""
    program = journey.program
    return frozenset(v.name for v in split.variants if v.pc >= len(program) or program[v.pc].variant != v.name)
