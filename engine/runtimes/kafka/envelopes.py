"""What travels on the events topic: events (some forwarded), timer firings, profile hand-overs.

Everything for one customer is keyed by that customer, so it lands on one partition and is
processed in order by the one worker that owns the customer's state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from engine.events import Event
from engine.runtimes.kernel.codecs import event_from_json, event_to_row
from engine.runtimes.settings import ACCEPT_WITHIN as ACCEPT_WITHIN  # the API answers 503 for an event not taken by then

EVENT, FIRE, HAND_OVER, ABSORB, ERASE, MIGRATE = "event", "fire", "hand_over", "absorb", "erase", "migrate"
APPLY = "apply"
APPLY_KEY = "workspace"  # an apply is sent to every partition explicitly; its key places nothing
BROADCAST = "broadcast"
WINNER = "winner"


def key_of(event: Event) -> str:
    """Partition key: the customer, or the anonymous profile until it is linked."""
    return event.customer_id or f"anon:{event.anonymous_id}"


def event_envelope(event: Event, received_at: float) -> bytes:
    return orjson.dumps({"kind": EVENT, "event": orjson.loads(event_to_row(event)), "received_at": received_at})


def forward_envelope(envelope: dict[str, Any], forward_id: str) -> bytes:
    """An anonymous event passed on (keyed by the customer its profile was handed over to): the
    customer's partition takes it as that customer's, whatever the eventually consistent
    aliases table says yet, and only once (`forward_id`)."""
    return orjson.dumps({**envelope, "forward_id": forward_id})


def fire_envelope(timer_id: str) -> bytes:
    """Asks the partition of the record holding the timer to fire it (once: it is popped)."""
    return orjson.dumps({"kind": FIRE, "id": timer_id})


def hand_over_envelope(anonymous_id: str, customer_id: str) -> bytes:
    """Asks the anonymous profile's partition to send its state to the customer's."""
    return orjson.dumps({"kind": HAND_OVER, "anonymous_id": anonymous_id, "customer_id": customer_id})


def absorb_envelope(absorb_id: str, customer_id: str, state: bytes, timers: dict[str, Any], version: str,
                    at: float) -> bytes:
    """An anonymous profile, its timers and the workspace version its instances were placed for,
    for the customer's partition to fold in (once, by id)."""
    return orjson.dumps({"kind": ABSORB, "id": absorb_id, "customer_id": customer_id, "state": state.decode(),
                         "timers": timers, "version": version, "at": at})


def apply_envelope(version: str, reschedule: bool, at: float) -> bytes:
    """`nudge apply` (SPEC §10), one on each partition: from this offset on, the partition's inputs run
    `version` of the workspace (which every worker has on disk), rescheduling changed waits or not."""
    return orjson.dumps({"kind": APPLY, "version": version, "reschedule": reschedule, "at": at})


def migrate_envelope(version: str, at: float) -> bytes:
    """After an apply: move the record's instances now (stay, move by `was:`, exit), not at its next input."""
    return orjson.dumps({"kind": MIGRATE, "version": version, "at": at})


def winner_envelope(record: dict[str, Any]) -> bytes:
    """A content test's winner (SPEC §11), sent to every partition: each applies it at its own offset."""
    return orjson.dumps({**record, "kind": WINNER})


def erase_envelope(customer_id: str) -> bytes:
    return orjson.dumps({"kind": ERASE, "customer_id": customer_id})


def broadcast_envelope(broadcast_id: str, action: str, start: float, now: bool, partitions: int) -> bytes:
    """To each of the `partitions`: start a broadcast there at `start` (`now`: whatever its send_at says), or cancel it."""
    return orjson.dumps({"kind": BROADCAST, "id": broadcast_id, "action": action, "start": start, "now": now,
                         "partitions": partitions})


def parse(data: bytes) -> dict[str, Any]:
    """An envelope is a JSON object; anything else is refused (ValueError), and dead-lettered by the worker."""
    envelope = orjson.loads(data)
    if not isinstance(envelope, dict):
        raise ValueError(f"an envelope is a JSON object, not {type(envelope).__name__}")
    return envelope


def event_of(envelope: dict[str, Any], received_at: datetime) -> Event:
    """The envelope's event, accepted at `received_at` (its journey time: SPEC §14)."""
    return event_from_json(envelope["event"], received_at)
