"""A deployment's first worker: its topics are on the broker before it joins its group, so it gets partitions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from engine.runtimes.kafka.worker import create_worker, make_topics
from engine.runtimes.settings import KafkaSettings, Secret
from engine.testing import email, write_workspace
from tests.kafka.test_worker import JOURNEYS, collect, produce, run_worker

TABLES = ("customers", "seen", "aliases", "suppressions", "progress", "experiments", "versions")


def test_a_new_workers_topics_and_changelogs_are_in_the_brokers_metadata_before_faust_starts(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", journeys={})
    settings = KafkaSettings(bootstrap=kafka_bootstrap, app_id=f"m{uuid.uuid4().hex[:8]}", partitions=3,
                             link_secret=Secret("s"), data_dir=str(tmp_path / "data"))
    make_topics(create_worker(ws, settings), settings)

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    shown = admin.list_topics(timeout=10).topics
    names = [settings.topic(t) for t in ("events", "records", "outbox", "dead-letters")]
    changelogs = [f"{settings.app_id}-{table}-changelog" for table in TABLES]
    assert {n: len(shown[n].partitions) for n in names + changelogs if n in shown} == {n: 3 for n in names + changelogs}
    configs = admin.describe_configs([ConfigResource("topic", n) for n in changelogs])
    assert {r.name: f.result()["cleanup.policy"].value for r, f in configs.items()} == {n: "compact" for n in changelogs}
    make_topics(create_worker(ws, settings), settings)  # a second worker finds them made


@pytest.fixture
def first_worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A worker on an app id nothing has used: its topics do not exist yet."""
    ws = write_workspace(tmp_path / "ws", journeys={"hello": JOURNEYS["hello"]},
                         templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})
    yield from run_worker(ws, kafka_bootstrap, tmp_path, prefix="first")


def test_a_deployments_first_worker_gets_its_partitions_and_sends(first_worker: dict[str, Any]) -> None:
    """Before the topics were made first, about half of the bench's first starts waited for ever without
    partitions (faust's assignor failed on a global table's changelog the metadata did not show yet); here,
    on an idle broker with 4 partitions, the old code started fine 3 times of 3: the test above is the guard."""
    sign_up: dict[str, Any] = {"id": "e1", "type": "signed_up", "customer_id": "c1",
                               "timestamp": datetime.now(timezone.utc).isoformat(), "traits": {"email": "c1@example.com"}}
    asyncio.run(produce(first_worker["bootstrap"], f"{first_worker['app_id']}.events", [sign_up]))
    sent = asyncio.run(collect(first_worker["bootstrap"], f"{first_worker['app_id']}.outbox", 1, timeout=90))
    assert [(m["customer_id"], m["step"]) for m in sent] == [("c1", "greet")], first_worker["log"].read_text()[-2000:]
