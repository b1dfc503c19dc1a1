"""Customer state survives a restart: what a durable store writes decodes to the same state, old rows too."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from engine import state_codec
from engine.state import CustomerState, Instance, Waiting

AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
EVENT = {"id": "e1", "type": "signed_up", "customer_id": "c1", "anonymous_id": None, "timestamp": AT,
         "properties": {}, "traits": {}}


def in_a_repeat() -> CustomerState:
    state = CustomerState.for_key("c1")
    state.instances["programme"] = Instance(
        "c1:programme:1", "programme", AT, EVENT, EVENT, pc=4, step_id="reminder_time", generation=3,
        waiting=Waiting.TIMER, due=AT, iterations={"weeks": 3, "days": 2},
        woke={"reminder_time": datetime(2026, 3, 9, 17, 0, tzinfo=timezone.utc)})
    return state


def test_a_state_inside_repeats_decodes_to_the_same_passes_and_wake_ups() -> None:
    state = in_a_repeat()
    decoded = state_codec.loads(state_codec.dumps(state))
    assert decoded == state
    inst = decoded.instances["programme"]
    assert list(inst.iterations) == ["weeks", "days"] and inst.iteration == 2  # the innermost stays last


def test_a_state_written_before_repeats_existed_still_decodes() -> None:
    raw = orjson.loads(state_codec.dumps(in_a_repeat()))
    for inst in raw["instances"].values():
        del inst["iterations"], inst["woke"]
    raw.pop("format", None)
    decoded = state_codec.loads(orjson.dumps(raw))
    inst = decoded.instances["programme"]
    assert (inst.iterations, inst.woke, inst.iteration, inst.step_id) == ({}, {}, None, "reminder_time")


def test_the_encoding_says_its_format() -> None:
    assert orjson.loads(state_codec.dumps(in_a_repeat()))["format"] == state_codec.FORMAT
