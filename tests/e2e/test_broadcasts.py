"""Broadcasts against a real `nudge run`: sent and cancelled over the API, and exactly once through a SIGKILL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.testing import email
from tests.e2e.server import NudgeServer, workspace_server

CUSTOMERS = [f"c{n:02d}" for n in range(10)]
# sent after its send_at, so it starts when sent; one customer a second
SALE = """\
id: flash_sale
audience: "profile.email is defined"
send_at: {utc: "2026-01-05T09:00:00Z"}
throttle: 60/m
steps:
  - id: announce
    send: email
    template: sale
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, templates={"sale.email.html": email("Flash sale")})
    (srv.workspace / "broadcasts").mkdir()
    (srv.workspace / "broadcasts" / "flash_sale.yaml").write_text(SALE)
    srv.start()
    assert srv.post([{"id": f"s-{c}", "type": "signed_up", "customer_id": c, "timestamp": "2026-01-01T00:00:00Z",
                      "traits": {"email": f"{c}@example.com"}} for c in CUSTOMERS]).status_code == 202
    srv.wait_for(lambda: srv.health()["events_pending"] == 0, what="the sign-ups processed")
    yield srv
    srv.stop()


def received(server: NudgeServer) -> Counter[str]:
    return Counter(m["customer_id"] for m in server.messages() if m["journey"] == "flash_sale")


def view(server: NudgeServer) -> dict[str, Any]:
    with server.client() as c:
        response = c.get("/v1/broadcasts/flash_sale")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def send(server: NudgeServer) -> None:
    with server.client() as c:
        response = c.post("/v1/broadcasts/flash_sale/send")
    assert response.status_code == 202, response.text


def test_a_broadcast_plan_send_and_status_over_the_api(server: NudgeServer) -> None:
    with server.client() as c:
        plan = c.get("/v1/broadcasts/flash_sale/plan").json()
        assert (plan["audience"], plan["will_send"]) == (10, 10)
        assert c.get("/v1/broadcasts/flash_sale").json() == {"id": "flash_sale", "status": "draft"}
        assert c.get("/v1/broadcasts/nope").status_code == 404
    assert received(server) == Counter()  # a broadcast file alone sends nothing
    send(server)
    with server.client() as c:
        assert c.post("/v1/broadcasts/flash_sale/send").status_code == 409  # once only
    server.wait_for(lambda: len(received(server)) == 10, timeout=60, what="every customer reached")
    assert set(received(server).values()) == {1}
    final = view(server)
    assert (final["status"], final["entered"], final["sent"], final["waiting"]) == ("sent", 10, 10, 0)
    with server.client() as c:
        report = c.get("/reports", params={"format": "json"}).json()
        page = c.get("/reports").text
    assert [(b["id"], b["entered"]) for b in report["broadcasts"]] == [("flash_sale", 10)]
    assert '<table id="broadcasts">' in page


def test_cancelling_mid_way_sends_nothing_more(server: NudgeServer) -> None:
    send(server)
    server.wait_for(lambda: len(received(server)) >= 3, timeout=30, what="the first customers reached")
    with server.client() as c:
        response = c.post("/v1/broadcasts/flash_sale/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["not_reached"] > 0
    state = view(server)
    assert (state["status"], state["waiting"]) == ("cancelled", 0)
    assert server.query("SELECT COUNT(*) FROM outbox WHERE journey = 'flash_sale' AND status IN ('pending', 'sending')") \
        in ([(0,)], [(1,)])  # at most the hand-off that was in flight
    server.wait_for(lambda: server.query("SELECT COUNT(*) FROM outbox WHERE journey = 'flash_sale' "
                                         "AND status IN ('pending', 'sending')") == [(0,)], what="the last hand-off")
    reached = received(server)
    assert set(reached.values()) == {1} and len(reached) == state["entered"] < 10
    with server.client() as c:
        assert c.post("/v1/broadcasts/flash_sale/cancel").status_code == 409


def test_a_sigkill_mid_broadcast_then_a_restart_reaches_everyone_once(server: NudgeServer) -> None:
    send(server)
    server.wait_for(lambda: len(received(server)) >= 3, timeout=30, what="the first customers reached")
    server.kill()
    assert len(received(server)) < 10
    server.start()
    server.wait_for(lambda: len(received(server)) == 10, timeout=60, what="every customer reached after the restart")
    assert received(server) == Counter({c: 1 for c in CUSTOMERS})
    assert view(server)["entered"] == 10


def test_writing_commands_beside_a_running_server_point_to_the_api(server: NudgeServer) -> None:
    import subprocess
    import sys

    from tests.e2e.server import ROOT

    done = subprocess.run([sys.executable, "-m", "engine", "broadcast", "send", "flash_sale", "-w", str(server.workspace),
                           "--db", str(server.db)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 75
    assert "POST /v1/broadcasts/flash_sale/send" in done.stderr
    plan = subprocess.run([sys.executable, "-m", "engine", "broadcast", "plan", "flash_sale", "-w", str(server.workspace),
                           "--db", str(server.db), "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert plan.returncode == 0, plan.stderr
    assert '"audience": 10' in plan.stdout
