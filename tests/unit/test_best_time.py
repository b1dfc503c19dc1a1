"""Best-time sending (SPEC §13): opens and clicks by local hour, and the most engaged hour in a window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine import state_codec
from engine.best_time import best_moment, engagement, note_engagement
from engine.events import Event
from engine.state import CustomerState
from rules.problems import WorkspaceError
from rules.workspace import load_workspace
from tests.unit.test_broadcasts import LOCAL_9AM, run, sends, workspace

PARIS = ZoneInfo("Europe/Paris")
NINE = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)  # 09:00 in Paris


def hours(**counts: int) -> list[int]:
    table = [0] * 24
    for hour, n in counts.items():
        table[int(hour[1:])] = n
    return table


def test_no_history_keeps_the_scheduled_time() -> None:
    assert best_moment(NINE, timedelta(hours=6), [0] * 24, PARIS) == NINE


def test_the_most_engaged_hour_inside_the_window_wins() -> None:
    assert best_moment(NINE, timedelta(hours=6), hours(h11=3, h13=1, h18=9), PARIS) == NINE + timedelta(hours=2)


def test_a_tie_goes_to_the_earliest_hour() -> None:
    assert best_moment(NINE, timedelta(hours=6), hours(h10=2, h12=2), PARIS) == NINE + timedelta(hours=1)


def test_an_hour_just_outside_the_window_is_not_chosen() -> None:
    assert best_moment(NINE, timedelta(hours=6), hours(h15=5), PARIS) == NINE  # 09:00-15:00, 15:00 excluded


def test_a_start_between_hours_moves_to_the_top_of_a_later_hour() -> None:
    start = NINE + timedelta(minutes=30)
    assert best_moment(start, timedelta(hours=3), hours(h10=1), PARIS) == NINE + timedelta(hours=1)


def test_opens_and_clicks_are_counted_by_the_customer_s_local_hour() -> None:
    state = CustomerState.for_key("c1")
    state.traits["timezone"] = "Asia/Tokyo"
    for kind in ("email_opened", "email_clicked", "page_viewed"):
        event = Event(kind, datetime(2026, 3, 1, 2, 30, tzinfo=timezone.utc), customer_id="c1")
        state.activity[kind] = {"count": 1, "first_at": event.timestamp, "last_at": event.timestamp}
        note_engagement(state, event, "UTC")
    assert engagement(state.activity) == hours(h11=2)  # 02:30 UTC is 11:30 in Tokyo
    assert engagement(state_codec.loads(state_codec.dumps(state)).activity) == hours(h11=2)  # kept by durable stores


def test_best_time_sends_at_the_hour_the_customer_usually_opens(tmp_path: Path) -> None:
    best = LOCAL_9AM.replace('{local: "2026-03-10T09:00"}', '{local: "2026-03-10T09:00", best_time: 6h}')
    opens = [{"type": "email_opened", "customer_id": "paris", "timestamp": f"2026-03-0{day}T10:15:00Z"}
             for day in (2, 3, 4)]  # 11:15 in Paris, three times
    people = {"paris": {"email": "p@example.com", "timezone": "Europe/Paris"},
              "nyc": {"email": "n@example.com", "timezone": "America/New_York"}}
    records = run(workspace(tmp_path, {"b": best}), people, opens)
    assert sends(records) == [("2026-03-10T10:00:00Z", "paris", "sent", None),   # 11:00 in Paris
                              ("2026-03-10T13:00:00Z", "nyc", "sent", None)]     # no history: 09:00 in New York


BEST_WAIT = """\
id: nudge_later
trigger: {event: signed_up}
steps:
  - wait_until: {best_time: 12h}
  - id: tip
    send: email
    template: hi
"""


def test_wait_until_best_time_waits_for_the_customer_s_best_hour(tmp_path: Path) -> None:
    root = workspace(tmp_path, {}, journeys={"later": BEST_WAIT})
    clicks = [{"type": "email_clicked", "customer_id": "paris", "timestamp": "2026-03-03T19:40:00Z",
               "traits": {"timezone": "Europe/Paris"}}]  # 20:40 in Paris
    signups = [{"type": "signed_up", "customer_id": c, "timestamp": "2026-03-10T08:00:00Z",
                "traits": {"email": f"{c}@example.com", "timezone": "Europe/Paris"}} for c in ("paris", "fresh")]
    assert sends(run(root, {}, clicks + signups), "nudge_later") == [
        ("2026-03-10T08:00:00Z", "fresh", "sent", None),    # no history: at once
        ("2026-03-10T19:00:00Z", "paris", "sent", None)]    # 20:00 in Paris


def test_wait_until_takes_a_time_or_a_best_time(tmp_path: Path) -> None:
    both = BEST_WAIT.replace("{best_time: 12h}", '{best_time: 12h, time: "10:00"}')
    with pytest.raises(WorkspaceError, match=r"journeys/later.yaml:4:\d+: .*'time' \(and optional 'days', 'default'\), or 'best_time'"):
        load_workspace(workspace(tmp_path, {}, journeys={"later": both}))


CONTROLLED = """\
id: spring_sale
send_at: {local: "2026-03-10T09:00", best_time: 6h}
goal: {event: purchase, within: 3d}
steps:
  - split:
      name: timing
      variants:
        - name: best_time
          weight: 1
          steps:
            - {id: announce, send: email, template: sale}
        - {name: send_at, weight: 1}     # no steps: the control group, entering at send_at
  - id: announce_control
    send: email
    template: sale
    when: "journey.variant.timing == 'send_at'"
"""


def test_a_holdout_split_keeps_a_control_group_at_send_at_and_the_report_compares_them(tmp_path: Path) -> None:
    from engine.cohorts import assign
    from engine.reports import ReportInput, build_report
    from engine.reports.catalog import Catalog

    root = workspace(tmp_path, {"b": CONTROLLED})
    people = {f"c{n}": {"email": f"c{n}@example.com", "timezone": "Europe/Paris"} for n in range(40)}
    opens = [{"type": "email_opened", "customer_id": c, "timestamp": "2026-03-02T11:10:00Z"} for c in people]  # 12:10
    records = run(root, people, opens)
    split = next(ins.action for ins in load_workspace(root).workspace.broadcasts[0].program)
    group = {c: assign(c, "spring_sale", split).name for c in people}  # type: ignore[arg-type]
    at = {customer: when for when, customer, _, _ in sends(records)}
    assert {at[c] for c in people if group[c] == "send_at"} == {"2026-03-10T08:00:00Z"}     # 09:00 in Paris
    assert {at[c] for c in people if group[c] == "best_time"} == {"2026-03-10T11:00:00Z"}   # 12:00, their hour
    report = build_report(ReportInput(records, catalog=Catalog.of(load_workspace(root).workspace)))
    (experiment,) = report["experiments"]
    assert (experiment["key"], experiment["baseline"]) == ("spring_sale/timing", "send_at")
    assert {v["variant"]: v["customers"] for v in experiment["variants"]} == {
        name: list(group.values()).count(name) for name in ("best_time", "send_at")}
