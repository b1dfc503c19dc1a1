"""Hostile inputs on the events topic go to dead letters (or harm only their own customer) while
everyone else's flow: the Kafka half of the hostile suite (tests/hostile/ is the HTTP half).

The API refuses these events at the boundary (SPEC §8), so here they are written straight to
the events topic, as a buggy or compromised producer would, interleaved with normal customers'
events. The worker must not stall: every normal customer's messages equal `simulate`'s, and each
hostile input is dead-lettered with its error, or handled without a message for anyone else.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.runtimes.kafka import envelopes
from rules.events import parse_event
from tests.kafka.test_worker import (  # noqa: F401  (fixtures)
    assert_same_messages, collect, expected_sends, produce_raw, reading, stamp, worker, workspace)


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def hostile_bodies(at: str) -> list[dict[str, Any]]:
    """Event rows no API would accept: each one a way an input once stopped every partition."""
    base = {"type": "signed_up", "timestamp": at, "anonymous_id": None, "properties": {}}
    return [
        {**base, "id": "h1", "customer_id": "h1", "traits": {"email": "h1@example.com", "n": 2 ** 64}},
        {**base, "id": "h2", "customer_id": "h2", "traits": {"email": "h2@example.com"}, "properties": nested(300)},
        {**base, "id": "h3", "customer_id": "h3", "traits": {"email": "a@b.c\r\nBcc: x@y"}},
        {**base, "id": "h4", "customer_id": "h4", "traits": {"email": "h4@example.com", "timezone": "Mars/Olympus"}},
        {**base, "id": "h5", "customer_id": "h5", "timestamp": "9999-12-31T23:59:59+00:00",
         "traits": {"email": "h5@example.com"}},
        {**base, "id": "h6", "customer_id": "h6", "traits": "not an object"},
    ]


def test_hostile_inputs_on_the_topic_are_set_aside_and_the_rest_flow(worker: dict[str, Any],
                                                                     workspace: Path) -> None:
    app_id, bootstrap = worker["app_id"], worker["bootstrap"]
    now = stamp(datetime.now(timezone.utc))
    normal = [{"id": f"n{k}", "type": "signed_up", "customer_id": f"n{k}", "timestamp": now,
               "traits": {"email": f"n{k}@example.com", "first_name": f"N{k}"}} for k in range(8)]
    sent = expected_sends(workspace, normal)
    inputs: list[tuple[bytes, bytes]] = []
    hostile = hostile_bodies(now)
    for k, event in enumerate(normal):
        inputs.append((f"n{k}".encode(), envelopes.event_envelope(parse_event(event), time.time())))
        if k < len(hostile):  # json, not orjson: orjson refuses the 2**64 that a careless producer writes
            body = hostile[k]
            envelope = json.dumps({"kind": "event", "event": body, "received_at": time.time()}).encode()
            inputs.append((str(body["customer_id"]).encode(), envelope))
    asyncio.run(produce_raw(bootstrap, f"{app_id}.events", inputs))

    # the hostile customers' own messages are not counted: reading could otherwise stop before the normal ones came
    messages = asyncio.run(collect(bootstrap, f"{app_id}.outbox", len(sent), timeout=90,
                                   counts=lambda m: str(m.get("customer_id", "")).startswith("n")))
    log = worker["log"].read_text()[-3000:]
    normal_messages = [m for m in messages if str(m.get("customer_id", "")).startswith("n")]
    assert_same_messages(normal_messages, sent, log)
    # a hostile input never produces a message for anyone but its own customer
    assert all(m.get("customer_id") in {None, *(h["customer_id"] for h in hostile)}
               for m in messages if m not in normal_messages), messages

    async def dead_letters() -> list[Any]:
        found: list[Any] = []
        async with reading(bootstrap, f"{app_id}.dead-letters") as consumer:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(batch)
        return found

    letters = asyncio.run(dead_letters())
    lettered = {json.loads(m.value)["event"]["id"] for m in letters}
    # the ones that cannot be read or stored are set aside, visibly, with their error
    assert {"h2", "h6"} <= lettered, (lettered, log)
    assert all(dict(m.headers).get("error") for m in letters)
    # the rest were handled as their own customer's: 2**64 reads as a float (orjson), a year-9999
    # stamp is only the customer's time (journeys run on received_at), a bad zone falls back to the
    # workspace's; the injected address reaches the outbox as data, which the dispatcher refuses
    handled = {m["customer_id"] for m in messages} | lettered
    assert {h["id"] for h in hostile} <= handled, (handled, log)
