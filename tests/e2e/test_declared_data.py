"""SPEC §9 over HTTP: a strict workspace answers 422 for a nonconforming event; /metrics counts data quality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from engine.cli import app
from tests.e2e.server import workspace_server
from tests.e2e.test_api import metric
from tests.helpers import HI, hello_journey

DATA = """\
data:
  strict: {strict}
  events:
    signed_up:
      properties: {{source: string}}
"""


def signed_up(customer: str, **properties: Any) -> dict[str, Any]:
    return {"type": "signed_up", "customer_id": customer, "properties": properties,
            "traits": {"email": f"{customer}@example.com"}}


def test_a_strict_workspace_refuses_a_nonconforming_event_with_422(tmp_path: Path) -> None:
    srv = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI},
                           extra=DATA.format(strict="true")).start()
    try:
        response = srv.post([signed_up("c1", source="ad"), signed_up("c2", source=3)])
        assert response.status_code == 202
        assert response.json()["rejected"] == [
            {"index": 1, "field": "properties.source", "reason": "expected string, got 3 (data.strict: true)"}]
        assert srv.post({"type": "signup", "customer_id": "c3"}).status_code == 422
    finally:
        srv.stop()


def test_metrics_count_events_per_type_and_nonconforming_ones_per_problem(tmp_path: Path) -> None:
    srv = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI},
                           extra=DATA.format(strict="false")).start()
    try:
        assert srv.post([signed_up("c1", source="ad"), signed_up("c2", source=3), signed_up("c3", sorce="x")]).status_code == 202
        assert metric(srv, "nudge_data_events_received", type="signed_up") == 3
        assert metric(srv, "nudge_data_nonconforming", type="signed_up", problem="properties.source: expected string") == 1
        assert metric(srv, "nudge_data_nonconforming", type="signed_up",
                      problem="properties.sorce: not declared for signed_up") == 1
        srv.wait_for(lambda: srv.query("SELECT COUNT(*) FROM events")[0][0] == 3, what="the events stored")
        table = CliRunner().invoke(app, ["data", "--workspace", str(srv.workspace), "--db", str(srv.db)],
                                   env={"COLUMNS": "200"})
        assert table.exit_code == 0, table.output
        assert "1 × properties.source: expected string" in table.output
    finally:
        srv.stop()
