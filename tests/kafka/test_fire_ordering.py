"""A timer never fires before an event the API accepted before its due time, even one still on
its way to the broker when the timer falls due (SPEC §14, on Kafka)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.runtimes.kafka import envelopes
from engine.runtimes.simulate import simulate
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.kafka.test_worker import (  # noqa: F401  (fixtures)
    assert_same_messages, collect, produce_raw, stamp, worker, workspace)


def test_an_event_accepted_before_a_timeout_but_landing_after_it_still_comes_first(
        worker: dict[str, Any], workspace: Path) -> None:
    """`cart` waits 2 s for `cart_viewed`. c1's view was accepted 1.5 s after the cart (its
    `received_at`) but reaches the broker 3.5 s after it, as a slow produce would: the worker must
    not have fired the timeout meanwhile, so c1 gets no nudge; c2, who never looked, gets one."""
    app_id, bootstrap = worker["app_id"], worker["bootstrap"]
    t0 = time.time()
    at = stamp(datetime.fromtimestamp(t0, timezone.utc))
    carts = [{"id": f"k{c}", "type": "cart_updated", "customer_id": c, "timestamp": at,
              "traits": {"email": f"{c}@example.com"}} for c in ("c1", "c2")]
    view = {"id": "v1", "type": "cart_viewed", "customer_id": "c1", "timestamp": at}
    received = {"k c1": t0, "k c2": t0, "v1": t0 + 1.5}
    events = [replace(parse_event(e), received_at=datetime.fromtimestamp(r, timezone.utc))
              for e, r in zip([*carts, view], received.values())]
    records = simulate(load_workspace(workspace).workspace, events).records
    expected = [{**r, "id": r["message_id"]} for r in records if r["type"] == "send" and r["status"] == "sent"]
    assert [m["customer_id"] for m in expected] == ["c2"]  # the test is about what it claims

    def envelope(n: int) -> tuple[bytes, bytes]:
        event = events[n]
        return envelopes.key_of(event).encode(), envelopes.event_envelope(event, event.received_at.timestamp())

    asyncio.run(produce_raw(bootstrap, f"{app_id}.events", [envelope(0), envelope(1)]))
    time.sleep(max(0.0, t0 + 3.5 - time.time()))  # past the due time, and past a one-second tick
    asyncio.run(produce_raw(bootstrap, f"{app_id}.events", [envelope(2)]))
    messages = asyncio.run(collect(bootstrap, f"{app_id}.outbox", len(expected), timeout=60))
    assert_same_messages(messages, expected, worker["log"].read_text()[-3000:])
