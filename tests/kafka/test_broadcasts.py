"""Broadcasts beside Kafka workers: the API tells every partition, each worker plans its own customers."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from engine.testing import email, write_workspace
from tests.e2e.server import NudgeServer
from tests.kafka.test_worker import edge_beside, start_worker

FLASH = """\
id: flash
audience: "profile.email is defined"
send_at: {utc: "2026-01-05T09:00:00Z"}
steps:
  - id: announce
    send: email
    template: hi
"""
CUSTOMERS = [f"c{n:02d}" for n in range(12)]


def workspace(tmp_path: Path, broadcast: str) -> Path:
    root = write_workspace(tmp_path / "ws", templates={"hi.email.html": email("Flash sale")})
    (root / "broadcasts").mkdir()
    (root / "broadcasts" / "flash.yaml").write_text(broadcast)
    return root


def customers_known(edge: NudgeServer, c: httpx.Client) -> None:
    """Sign-ups in, and each worker's profiles mirrored beside the API (the plan counts them)."""
    assert edge.post([{"id": f"s-{n}", "type": "identified", "customer_id": n, "timestamp": "2026-01-01T00:00:00Z",
                       "traits": {"email": f"{n}@example.com"}} for n in CUSTOMERS]).status_code == 202
    edge.wait_for(lambda: c.get("/v1/broadcasts/flash/plan").json()["audience"] == len(CUSTOMERS), timeout=120,
                  what="the workers' profiles")


def reached(edge: NudgeServer) -> Counter[str]:
    return Counter(m["customer_id"] for m in edge.messages())


def test_two_workers_send_a_broadcast_to_every_customer_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    root = workspace(tmp_path, FLASH)
    app_id = f"b{uuid.uuid4().hex[:8]}"
    workers = [start_worker(root, kafka_bootstrap, app_id, tmp_path / f"w{i}", tmp_path / f"w{i}.log") for i in range(2)]
    with edge_beside(root, tmp_path, kafka_bootstrap, app_id, workers) as edge, edge.client() as c:
        customers_known(edge, c)
        response = c.post("/v1/broadcasts/flash/send", json={"now": True})
        assert response.status_code == 202, response.text
        assert c.post("/v1/broadcasts/flash/send").status_code == 409
        edge.wait_for(lambda: len(edge.messages()) >= len(CUSTOMERS), timeout=120, what="every customer reached")
        edge.wait_for(lambda: c.get("/v1/broadcasts/flash").json()["entered"] == len(CUSTOMERS), what="the records")
    assert reached(edge) == Counter({n: 1 for n in CUSTOMERS})


def test_a_worker_killed_mid_broadcast_leaves_no_one_out_and_no_one_twice(kafka_bootstrap: str, tmp_path: Path) -> None:
    root = workspace(tmp_path, FLASH + "throttle: 60/m\n")  # 15 a minute on each of the 4 partitions
    app_id = f"k{uuid.uuid4().hex[:8]}"
    workers = [start_worker(root, kafka_bootstrap, app_id, tmp_path / f"w{i}", tmp_path / f"w{i}.log") for i in range(2)]
    with edge_beside(root, tmp_path, kafka_bootstrap, app_id, workers) as edge, edge.client() as c:
        customers_known(edge, c)
        assert c.post("/v1/broadcasts/flash/send", json={"now": True}).status_code == 202
        edge.wait_for(lambda: len(edge.messages()) >= 2, timeout=120, what="the first customers reached")
        workers[0].kill()  # SIGKILL: its partitions move to the other worker, their entries still to come
        workers[0].wait()
        assert len(reached(edge)) < len(CUSTOMERS)
        edge.wait_for(lambda: len(edge.messages()) >= len(CUSTOMERS), timeout=180, what="every customer reached")
        time.sleep(3)  # bounded grace period: a duplicate would show up now
    assert reached(edge) == Counter({n: 1 for n in CUSTOMERS})
