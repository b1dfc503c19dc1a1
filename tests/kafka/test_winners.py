"""Content-test winners on a real broker (SPEC §11): partitions tally, partition 0's worker decides, every
partition switches to the winner."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from engine.testing import email, write_workspace
from tests.kafka.test_worker import collect, produce, reading, run_worker

OFFER = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: offer
    send: email
    template: offer
    variants: [{name: A, weight: 1}, {name: B, weight: 1, template: offer_b}]
    winner: {metric: clicked, after: 40s, min_per_variant: 5, confidence: 0.95}
"""


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    workspace = write_workspace(tmp_path / "ws", journeys={"promo": OFFER},
                                templates={"offer.email.html": email("A"), "offer_b.email.html": email("B")})
    yield from run_worker(workspace, kafka_bootstrap, tmp_path, prefix="w")


def signups(names: list[str]) -> list[dict[str, Any]]:
    at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return [{"id": f"s-{c}", "type": "signed_up", "customer_id": c, "timestamp": at,
             "traits": {"email": f"{c}@example.com"}} for c in names]


async def winner_record(bootstrap: str, topic: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    async with reading(bootstrap, topic) as consumer:
        while not found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r for m in records for r in orjson.loads(m.value) if r.get("type") == "winner"]
        await asyncio.sleep(3)   # one record only, however many partitions took the winner
        for records in (await consumer.getmany(timeout_ms=500)).values():
            found += [r for m in records for r in orjson.loads(m.value) if r.get("type") == "winner"]
    return found


def test_the_partitions_tallies_decide_one_winner_that_every_later_send_uses(worker: dict[str, Any]) -> None:
    bootstrap, app = worker["bootstrap"], worker["app_id"]
    events, outbox, records = f"{app}.events", f"{app}.outbox", f"{app}.records"
    first = [f"c{n}" for n in range(30)]
    asyncio.run(produce(bootstrap, events, signups(first)))
    sent = asyncio.run(collect(bootstrap, outbox, 30, timeout=90))
    assert sorted(m["customer_id"] for m in sent) == sorted(first), worker["log"].read_text()[-3000:]
    assert {m["variant"] for m in sent} == {"offer:A", "offer:B"}
    at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    clicks = [{"id": f"k-{m['id']}", "type": "email_clicked", "customer_id": m["customer_id"], "timestamp": at,
               "properties": {"message_id": m["id"]}} for m in sent if m["variant"] == "offer:B"]
    asyncio.run(produce(bootstrap, events, clicks))

    found = asyncio.run(winner_record(bootstrap, records, timeout=120))
    assert [(r["journey"], r["step"], r["variant"], r["reason"]) for r in found] == [
        ("promo", "offer", "B", "significant")], worker["log"].read_text()[-3000:]

    later = [f"late{n}" for n in range(12)]
    asyncio.run(produce(bootstrap, events, signups(later)))
    every = asyncio.run(collect(bootstrap, outbox, 42, timeout=90))
    late = [m for m in every if m["customer_id"].startswith("late")]
    assert len(late) == 12 and {(m["variant"], m["template"]) for m in late} == {("offer:B", "offer_b")}
