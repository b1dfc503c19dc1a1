"""A big broadcast's start against a real `nudge run`: planned in chunks, so events are processed meanwhile,
and a SIGKILL in the middle of the planning neither misses nor repeats anyone after the restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.sqlite_store import CUSTOMER_UPSERT, customer_row
from engine.state import CustomerState
from engine.testing import email
from tests.e2e.server import NudgeServer, workspace_server

AUDIENCE = 60_000  # 30 chunks of 2,000: planning takes seconds, long enough to be caught in the middle
SLOW = """\
id: slow_sale
audience: "profile.email is defined"
send_at: {utc: "2026-01-05T09:00:00Z"}
throttle: 1/h
steps:
  - id: announce
    send: email
    template: sale
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, templates={"sale.email.html": email("Sale")})
    (srv.workspace / "broadcasts").mkdir()
    (srv.workspace / "broadcasts" / "slow_sale.yaml").write_text(SLOW)
    database.create(srv.db)
    conn = database.connect(srv.db)
    rows = []
    for n in range(AUDIENCE):
        state = CustomerState.for_key(f"c{n:05}")
        state.traits = {"email": f"c{n}@example.com"}
        rows.append(customer_row(state))
    with transaction(conn):
        conn.executemany(CUSTOMER_UPSERT, rows)
    conn.close()
    srv.start()
    yield srv
    srv.stop()


def view(server: NudgeServer) -> dict[str, Any]:
    with server.client() as c:
        body: dict[str, Any] = c.get("/v1/broadcasts/slow_sale").json()
    return body


def test_a_sigkill_in_the_middle_of_a_big_start_then_a_restart_gives_everyone_one_entry(server: NudgeServer) -> None:
    with server.client() as c:
        assert c.post("/v1/broadcasts/slow_sale/send", json={"now": True}).status_code == 202
    server.wait_for(lambda: view(server)["status"] == "starting", what="the planning under way")
    assert server.post([{"id": "v1", "type": "page_viewed", "customer_id": "c00001",
                         "timestamp": "2026-12-01T00:00:00Z"}]).status_code == 202
    server.wait_for(lambda: server.query("SELECT status FROM events WHERE id = 'v1'") == [("processed",)],
                    what="the event processed")
    during = view(server)
    server.kill()
    assert during["status"] == "starting" and 0 < during["examined"] < during["known"] == AUDIENCE
    server.start()
    server.wait_for(lambda: view(server)["status"] in ("sending", "sent"), timeout=300, what="the planning done")
    entries = server.query(
        "SELECT key, COUNT(*) FROM (SELECT key FROM timers WHERE kind = 'broadcast' AND journey = 'slow_sale' "
        "UNION ALL SELECT customer FROM records WHERE journey = 'slow_sale' AND type = 'entered') GROUP BY key")
    assert len(entries) == AUDIENCE and {n for _, n in entries} == {1}
    assert view(server)["planned"] == AUDIENCE
