"""Kafka workers on a real broker: a reminder moved while waiting fires at the new time only; a repeat's passes."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.testing import email, write_workspace
from tests.kafka.test_worker import collect, produce, run_worker, stamp

JOURNEYS = {
    "remind": "id: remind\ntrigger: {event: signed_up}\nsteps:\n"
              "  - id: at_chosen\n    wait_until: {time: \"profile.reminder_time\", default: {time: \"03:00\"}}\n"
              "  - id: reminder\n    send: email\n    template: t\n",
    "drip": "id: drip\ntrigger: {event: signed_up}\nsteps:\n  - id: passes\n    repeat: {times: 3}\n    steps:\n"
            "      - wait: 2s\n      - id: tip\n        send: email\n        template: t\n",
}


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    workspace = write_workspace(tmp_path / "ws", journeys=JOURNEYS,
                                templates={"t.email.html": email("{{ journey.id }} {{ journey.iteration | default('-') }}")})
    yield from run_worker(workspace, kafka_bootstrap, tmp_path, prefix="t")



def test_a_moved_reminder_fires_at_the_new_time_only_and_a_repeat_sends_each_pass(worker: dict[str, Any]) -> None:
    topic = f"{worker['app_id']}.events"
    now = datetime.now(timezone.utc)
    # whole minutes (times are HH:MM): the nearer at least 90 s ahead, for the worker to take both events
    near = now.replace(second=0, microsecond=0) + timedelta(minutes=2 if now.second < 30 else 3)
    far = near + timedelta(minutes=1)
    asyncio.run(produce(worker["bootstrap"], topic, [
        {"id": "s1", "type": "signed_up", "customer_id": "c1", "timestamp": stamp(now),
         "traits": {"email": "c1@example.com", "reminder_time": f"{far:%H:%M}"}}]))
    asyncio.run(produce(worker["bootstrap"], topic, [
        {"id": "p1", "type": "preferences_updated", "customer_id": "c1",
         "timestamp": stamp(datetime.now(timezone.utc)), "traits": {"reminder_time": f"{near:%H:%M}"}}]))
    wait = (far + timedelta(seconds=20) - datetime.now(timezone.utc)).total_seconds()
    time.sleep(max(wait, 0))  # a real broker and a worker on the wall clock: the old time must pass unfired
    messages = asyncio.run(collect(worker["bootstrap"], f"{worker['app_id']}.outbox", 5, timeout=30))
    got = sorted((m["journey"], m["step"], m["subject"]) for m in messages)
    assert got == [("drip", "tip", "drip 1"), ("drip", "tip", "drip 2"), ("drip", "tip", "drip 3"),
                   ("remind", "reminder", "remind -")], worker["log"].read_text()[-3000:]
    [reminder] = [m for m in messages if m["journey"] == "remind"]
    assert reminder["at"] == f"{near:%Y-%m-%dT%H:%M:%SZ}"
