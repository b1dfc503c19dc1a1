"""What travels on the events topic: events, timer firings, forwards and profile hand-overs.

Everything for one customer is keyed by that customer, so it lands on one partition and is
processed in order by the one worker that owns the customer's state.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.effects import Timer
from engine.events import Event
from engine.runtimes.embedded.processor import epoch, event_from_row, event_to_row, from_epoch

EVENT, FIRE, HAND_OVER, ABSORB = "event", "fire", "hand_over", "absorb"


def key_of(event: Event) -> str:
    """Partition key: the customer, or the anonymous profile until it is linked."""
    return event.customer_id or f"anon:{event.anonymous_id}"


def event_envelope(event: Event, received_at: float) -> bytes:
    return orjson.dumps({"kind": EVENT, "event": orjson.loads(event_to_row(event)), "received_at": received_at})


def fire_envelope(timer_id: str, timer: Timer) -> bytes:
    return orjson.dumps({"kind": FIRE, "id": timer_id, "due": epoch(timer.due), "key": timer.key, "timer_kind": timer.kind,
                         "journey": timer.journey, "token": timer.token})


def hand_over_envelope(anonymous_id: str, customer_id: str) -> bytes:
    """Asks the anonymous profile's partition to send its state to the customer's."""
    return orjson.dumps({"kind": HAND_OVER, "anonymous_id": anonymous_id, "customer_id": customer_id})


def absorb_envelope(customer_id: str, state: bytes, at: float) -> bytes:
    return orjson.dumps({"kind": ABSORB, "customer_id": customer_id, "state": state.decode(), "at": at})


def parse(data: bytes) -> dict[str, Any]:
    return dict(orjson.loads(data))


def event_of(envelope: dict[str, Any]) -> Event:
    return event_from_row(orjson.dumps(envelope["event"]))


def timer_of(envelope: dict[str, Any]) -> Timer:
    return Timer(from_epoch(envelope["due"]), envelope["key"], envelope["timer_kind"], envelope["journey"], envelope["token"])
