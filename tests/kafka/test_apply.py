"""SPEC §10 on Kafka: `nudge apply` to `nudge api --kafka` plans from the workers' customers, is refused
without --yes when they would exit, and with `was:` the workers keep them in place and send their message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from engine.testing import email, write_workspace
from tests.e2e.server import ROOT, NudgeServer
from tests.kafka.test_worker import edge_beside, start_worker

SLOW = ("id: slow\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"
        "  - id: hold\n    wait: 1h\n  - id: after\n    send: email\n    template: hi\n")
RENAMED = SLOW.replace("id: hold\n", "id: pause\n")
CLAIMED = SLOW.replace("id: hold\n    wait: 1h\n", "id: pause\n    was: hold\n    wait: 1s\n")


def nudge_apply(edge: NudgeServer, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "apply", "--url", edge.url, "--key", edge.api_key, *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, "COLUMNS": "200"})


def steps(edge: NudgeServer, customer: str) -> list[str]:
    with edge.client() as c:
        response = c.get(f"/v1/customers/{customer}")
    return [j["step"] for j in response.json()["journeys"]] if response.status_code == 200 else []


def test_an_apply_through_the_kafka_edge_is_refused_without_yes_and_was_keeps_customers(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", journeys={"slow": SLOW}, templates={"hi.email.html": email("Hi")})
    app_id = f"a{uuid.uuid4().hex[:8]}"
    (tmp_path / "w").mkdir()
    worker = start_worker(ws, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")
    with edge_beside(ws, tmp_path, kafka_bootstrap, app_id, [worker]) as edge:
        for n in range(2):
            assert edge.post({"type": "signed_up", "customer_id": f"k{n}",
                              "traits": {"email": f"k{n}@example.com"}}).status_code == 202
        edge.wait_for(lambda: all(steps(edge, f"k{n}") == ["hold"] for n in range(2)), timeout=90,
                      what="both customers waiting at hold, in the edge's mirror")

        (ws / "journeys" / "slow.yaml").write_text(RENAMED)
        refused = nudge_apply(edge)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "k0, k1" in refused.stdout and "nudge apply --yes" in refused.stderr

        (ws / "journeys" / "slow.yaml").write_text(CLAIMED)
        applied = nudge_apply(edge, "--reschedule")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "move → pause" in applied.stdout
        edge.wait_for(lambda: sorted(m["customer_id"] for m in edge.messages() if m["step"] == "after") == ["k0", "k1"],
                      timeout=90, what="both customers' second email")
        edge.wait_for(lambda: edge.query("SELECT COUNT(*) FROM records WHERE type = 'exited'") == [(2,)],
                      what="both exits recorded")
        reasons = [json.loads(b)["reason"] for (b,) in edge.query("SELECT body FROM records WHERE type = 'exited'")]
        assert reasons == ["completed", "completed"]
        assert httpx.get(edge.url + "/healthz").json()["workspace"]["disk_differs"] is False
