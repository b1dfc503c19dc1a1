"""Broadcasts beside Kafka workers: the API tells every partition, each worker plans its own customers."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from engine.testing import email, write_workspace
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


def test_two_workers_send_a_broadcast_to_every_customer_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", templates={"hi.email.html": email("Flash sale")})
    (root / "broadcasts").mkdir()
    (root / "broadcasts" / "flash.yaml").write_text(FLASH)
    app_id = f"b{uuid.uuid4().hex[:8]}"
    workers = [start_worker(root, kafka_bootstrap, app_id, tmp_path / f"w{i}", tmp_path / f"w{i}.log") for i in range(2)]
    with edge_beside(root, tmp_path, kafka_bootstrap, app_id, workers) as edge:
        assert edge.post([{"id": f"s-{c}", "type": "identified", "customer_id": c, "timestamp": "2026-01-01T00:00:00Z",
                           "traits": {"email": f"{c}@example.com"}} for c in CUSTOMERS]).status_code == 202
        with edge.client() as c:
            def audience() -> Any:
                return c.get("/v1/broadcasts/flash/plan").json()["audience"]

            edge.wait_for(lambda: audience() == len(CUSTOMERS), timeout=120, what="the workers' profiles")
            response = c.post("/v1/broadcasts/flash/send", json={"now": True})
            assert response.status_code == 202, response.text
            assert c.post("/v1/broadcasts/flash/send").status_code == 409
            edge.wait_for(lambda: len(edge.messages()) >= len(CUSTOMERS), timeout=120, what="every customer reached")
            edge.wait_for(lambda: c.get("/v1/broadcasts/flash").json()["entered"] == len(CUSTOMERS), what="the records")
    assert Counter(m["customer_id"] for m in edge.messages()) == Counter({c: 1 for c in CUSTOMERS})
