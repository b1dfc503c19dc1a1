"""`nudge import profiles --kafka` produces to the events topic of a running deployment (no database
opened), and `--url` reaches the same deployment through `nudge api --kafka`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from engine.testing import write_workspace
from tests.kafka.test_worker import edge_beside, start_worker

ROOT = Path(__file__).resolve().parents[2]
CSV = "customer_id,email,first_name\nk1,k1@example.com,Kay\nk2,not-an-email,Bo\nk3,k3@example.com,Cy\n"


def nudge_import(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "import", "profiles", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def test_profiles_imported_to_the_events_topic_reach_the_workers_profiles(kafka_bootstrap: str, tmp_path: Path) -> None:
    workspace = write_workspace(tmp_path / "ws")
    app_id = f"i{uuid.uuid4().hex[:8]}"
    worker = start_worker(workspace, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")
    (tmp_path / "base.csv").write_text(CSV)
    (tmp_path / "more.jsonl").write_text('{"customer_id": "k4", "email": "k4@example.com"}\n')
    with edge_beside(workspace, tmp_path, kafka_bootstrap, app_id, [worker]) as edge:
        env = {"NUDGE_KAFKA_BOOTSTRAP": kafka_bootstrap, "NUDGE_KAFKA_APP_ID": app_id}
        done = nudge_import(str(tmp_path / "base.csv"), "--kafka", "--workspace", str(workspace), env=env)
        assert done.returncode == 1, done.stderr
        [refused] = [line for line in done.stderr.splitlines() if line.startswith("base.csv")]
        assert refused.startswith("base.csv:3: traits.email: 'not-an-email'")
        assert "2 profile(s) imported, 0 unchanged (imported before), 1 rejected; the workers apply them" in " ".join(
            done.stderr.split())
        over_http = nudge_import(str(tmp_path / "more.jsonl"), "--url", edge.url, "--key", edge.api_key,
                                 "--workspace", str(workspace), env={})
        assert over_http.returncode == 0, over_http.stderr
        with edge.client() as c:
            for customer, name in (("k1", "Kay"), ("k3", "Cy"), ("k4", None)):
                edge.wait_for(lambda: c.get(f"/v1/customers/{customer}").status_code == 200, timeout=90,
                              what=f"{customer}'s profile")
                assert c.get(f"/v1/customers/{customer}").json()["traits"].get("first_name") == name
            assert c.get("/v1/customers/k2").status_code == 404
