"""A step inside a `repeat` (SPEC §15) is one row across its passes, with a per-pass breakdown, worked out by hand."""

from __future__ import annotations

from typing import Any

from engine.reports import ReportInput, build_report
from engine.reports.page import render_html


def weekly(at: str, customer: str, mid: str, iteration: int, status: str = "sent",
           reason: str | None = None) -> dict[str, Any]:
    return {"at": at, "customer_id": customer, "journey": "programme", "type": "send", "step": "weekly",
            "channel": "email", "template": "week", "status": status, "reason": reason, "variant": None,
            "message_id": mid, "transactional": False, "iteration": iteration}


def opened(mid: str, at: str) -> dict[str, Any]:
    return {"id": f"o-{mid}", "type": "email_opened", "customer_id": "x", "timestamp": at,
            "properties": {"message_id": mid}}


RECORDS = [
    {"at": "2026-03-01T09:00:00Z", "customer_id": "c1", "journey": "programme", "type": "entered"},
    {"at": "2026-03-01T09:00:00Z", "customer_id": "c2", "journey": "programme", "type": "entered"},
    weekly("2026-03-02T09:00:00Z", "c1", "m1", 1),
    weekly("2026-03-02T09:00:00Z", "c2", "m2", 1),
    weekly("2026-03-09T09:00:00Z", "c1", "m3", 2),
    weekly("2026-03-09T09:00:00Z", "c2", "m4", 2, status="suppressed", reason="frequency_cap"),
    weekly("2026-03-16T09:00:00Z", "c1", "m5", 3),
    {"at": "2026-03-17T09:00:00Z", "customer_id": "c1", "journey": "programme", "type": "converted", "value": None},
]
EVENTS = [opened("m1", "2026-03-02T10:00:00Z"), opened("m2", "2026-03-02T11:00:00Z"),
          opened("m3", "2026-03-09T10:00:00Z")]


def step(report: dict[str, Any]) -> dict[str, Any]:
    (journey,) = report["journeys"]
    (weekly_step,) = journey["steps"]
    return weekly_step


def test_a_repeated_step_is_one_row_across_its_passes() -> None:
    s = step(build_report(ReportInput(RECORDS, EVENTS)))
    assert (s["id"], s["sent"], s["recipients"], s["opened"], s["suppressed"]) == (
        "weekly", 4, 2, 3, {"frequency_cap": 1})


def test_each_pass_has_its_own_counts() -> None:
    s = step(build_report(ReportInput(RECORDS, EVENTS)))
    assert [(i["iteration"], i["sent"], i["recipients"], i["opened"], i["open_rate"], i["not_sent"], i["conversions"])
            for i in s["iterations"]] == [
        (1, 2, 2, 2, 1.0, 0, 0),
        (2, 1, 1, 1, 1.0, 1, 0),
        (3, 1, 1, 0, 0.0, 0, 1),   # c1's goal came after week 3's email: its last touch
    ]


def test_a_step_outside_any_repeat_has_no_breakdown() -> None:
    records = [{k: v for k, v in r.items() if k != "iteration"} for r in RECORDS]
    assert "iterations" not in step(build_report(ReportInput(records, EVENTS)))


def test_the_page_shows_the_breakdown_by_pass() -> None:
    html = render_html(build_report(ReportInput(RECORDS, EVENTS)))
    assert 'id="iterations-programme-weekly"' in html
    table = html.split('id="iterations-programme-weekly"')[1].split("</table>")[0]
    assert [row.count("<td>") for row in table.split("<tr>")[2:]] == [7, 7, 7]
    assert "<td>2</td><td>1</td><td>1</td><td>1</td><td>100.0%</td><td>1</td><td>0</td>" in table
