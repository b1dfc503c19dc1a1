"""Broadcasts (SPEC §13): loading and checking broadcasts/*.yaml, and running them in `simulate`."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.runtimes.simulate import simulate
from engine.testing import email, journey_yaml, send_step, write_workspace
from rules.events import parse_event
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
SALE = email("Spring sale, {{ profile.first_name | default('friend') }}")


def broadcast(body: str) -> str:
    return textwrap.dedent(body)


def workspace(tmp_path: Path, broadcasts: dict[str, str], settings: str = "", journeys: dict[str, str] | None = None,
              extra: str = "") -> Path:
    root = write_workspace(tmp_path / "ws", settings, journeys, {"sale.email.html": SALE, "hi.email.html": email("Hi")},
                           extra)
    (root / "broadcasts").mkdir()
    for name, text in broadcasts.items():
        (root / "broadcasts" / f"{name}.yaml").write_text(broadcast(text))
    return root


def run(root: Path, profiles: dict[str, dict[str, Any]], events: list[dict[str, Any]] = (),  # type: ignore[assignment]
        until: str = "2026-03-20T00:00:00Z") -> list[dict[str, Any]]:
    ws = load_workspace(root).workspace
    stop = datetime.fromisoformat(until.replace("Z", "+00:00"))
    return simulate(ws, [parse_event(e) for e in events], list(profiles.items()), stop).records


def sends(records: list[dict[str, Any]], journey: str = "spring_sale") -> list[tuple[Any, ...]]:
    return [(r["at"], r["customer_id"], r["status"], r.get("reason"))
            for r in records if r["type"] == "send" and r["journey"] == journey]


LOCAL_9AM = """\
id: spring_sale
audience: "profile.email is defined"
send_at: {local: "2026-03-10T09:00"}
steps:
  - id: announce
    send: email
    template: sale
"""

PEOPLE = {
    "tokyo": {"email": "t@example.com", "timezone": "Asia/Tokyo"},
    "paris": {"email": "p@example.com", "timezone": "Europe/Paris"},
    "nyc": {"email": "n@example.com", "timezone": "America/New_York"},
    "nomail": {"timezone": "Europe/Paris"},
}


# ---- loading ------------------------------------------------------------------

def test_a_broadcast_file_becomes_a_journey_after_the_journeys(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"spring": LOCAL_9AM},
                     journeys={"hello": journey_yaml("hello", "{event: signed_up}", send_step("greet", "hi"))})
    ws = load_workspace(root).workspace
    assert [j.id for j in ws.journeys] == ["hello", "spring_sale"]
    assert [j.id for j in ws.broadcasts] == ["spring_sale"]


def test_broadcast_problems_are_reported_at_file_line_column(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"bad": """\
        id: bad
        audience: "profile.email is defined and in_segment('vipp')"
        send_at: {local: "2026-03-10 09:00"}
        throttle: fast
        stepz: []
    """})
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(root)
    text = str(caught.value)
    assert "broadcasts/bad.yaml:3:" in text and "YYYY-MM-DDTHH:MM" in text
    assert "broadcasts/bad.yaml:4:" in text and "N/h or N/m" in text
    assert "broadcasts/bad.yaml:5:1: " in text and "'stepz'" in text


def test_send_at_needs_exactly_one_of_utc_and_local(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"both": """\
        id: both
        send_at: {local: "2026-03-10T09:00", utc: "2026-03-10T09:00:00Z"}
        steps: [{send: email, template: sale}]
    """})
    with pytest.raises(WorkspaceError, match=r"broadcasts/both.yaml:2:\d+: .*exactly one of 'utc'"):
        load_workspace(root)


def test_a_broadcast_audience_is_checked_like_any_expression(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"aud": """\
        id: aud
        audience: "in_segment('vipp')"
        send_at: {utc: "2026-03-10T09:00:00Z"}
        steps: [{send: email, template: sale}]
    """}, extra="segments:\n  vip: \"profile.lifetime_value >= 500\"\n")
    with pytest.raises(WorkspaceError, match=r"broadcasts/aud.yaml:2:11: unknown segment 'vipp' \(did you mean 'vip'\?\)"):
        load_workspace(root)


def test_a_broadcast_id_may_not_repeat_a_journey_id(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"dup": LOCAL_9AM.replace("spring_sale", "hello")},
                     journeys={"hello": journey_yaml("hello", "{event: signed_up}", send_step("greet", "hi"))})
    with pytest.raises(WorkspaceError, match=r"broadcasts/dup.yaml:1:5: duplicate journey id 'hello'"):
        load_workspace(root)


def test_the_demo_workspace_has_a_broadcast_that_validates() -> None:
    loaded = load_workspace(ROOT)
    assert loaded.warnings == []
    assert [j.id for j in loaded.workspace.broadcasts] == ["spring_sale"]


# ---- simulate -----------------------------------------------------------------

def test_a_local_send_at_goes_out_in_waves_at_nine_in_each_zone(tmp_path: Path) -> None:
    records = run(workspace(tmp_path, {"spring": LOCAL_9AM}), PEOPLE)
    assert sends(records) == [
        ("2026-03-10T00:00:00Z", "tokyo", "sent", None),
        ("2026-03-10T08:00:00Z", "paris", "sent", None),
        ("2026-03-10T13:00:00Z", "nyc", "sent", None),  # summer time since 8 March: UTC-4
    ]
    entered = [(r["customer_id"], r["journey"]) for r in records if r["type"] == "entered"]
    assert entered == [("tokyo", "spring_sale"), ("paris", "spring_sale"), ("nyc", "spring_sale")]


def test_local_nine_follows_each_zone_s_daylight_saving_change(tmp_path: Path) -> None:
    before = LOCAL_9AM.replace("2026-03-10T09:00", "2026-03-06T09:00")  # New York still on UTC-5, Paris on UTC+1
    after_eu = LOCAL_9AM.replace("2026-03-10T09:00", "2026-03-30T09:00")  # Paris on summer time (29 March)
    assert [s[:2] for s in sends(run(workspace(tmp_path / "a", {"b": before}), PEOPLE))] == [
        ("2026-03-06T00:00:00Z", "tokyo"), ("2026-03-06T08:00:00Z", "paris"), ("2026-03-06T14:00:00Z", "nyc")]
    assert [s[:2] for s in sends(run(workspace(tmp_path / "b", {"b": after_eu}), PEOPLE, until="2026-04-05T00:00:00Z"))] == [
        ("2026-03-30T00:00:00Z", "tokyo"), ("2026-03-30T07:00:00Z", "paris"), ("2026-03-30T13:00:00Z", "nyc")]


def test_a_local_time_in_the_spring_gap_resolves_as_wait_until_does(tmp_path: Path) -> None:
    gap = LOCAL_9AM.replace("2026-03-10T09:00", "2026-03-08T02:30")  # 02:30 does not exist in New York that night
    records = run(workspace(tmp_path, {"b": gap}), {"nyc": PEOPLE["nyc"]})
    assert [s[0] for s in sends(records)] == ["2026-03-08T07:30:00Z"]  # fold 0: read with the offset before, UTC-5


def test_a_utc_send_at_reaches_everyone_at_once(tmp_path: Path) -> None:
    utc = LOCAL_9AM.replace('{local: "2026-03-10T09:00"}', '{utc: "2026-03-10T15:00:00Z"}')
    records = run(workspace(tmp_path, {"b": utc}), PEOPLE)
    assert {s[0] for s in sends(records)} == {"2026-03-10T15:00:00Z"}
    assert len(sends(records)) == 3


def test_the_audience_is_judged_again_at_each_customer_s_moment(tmp_path: Path) -> None:
    """Paris unsubscribes and New York leaves the audience after the first wave, before their own 9:00."""
    vip = LOCAL_9AM.replace('"profile.email is defined"', '"profile.vip"')
    people = {k: {**v, "vip": True} for k, v in PEOPLE.items() if k != "nomail"}
    events = [
        {"type": "unsubscribed", "customer_id": "paris", "timestamp": "2026-03-10T05:00:00Z",
         "properties": {"channel": "email"}},
        {"type": "profile_updated", "customer_id": "nyc", "timestamp": "2026-03-10T05:00:00Z", "traits": {"vip": False}},
    ]
    records = run(workspace(tmp_path, {"b": vip}), people, events)
    assert sends(records) == [("2026-03-10T00:00:00Z", "tokyo", "sent", None),
                              ("2026-03-10T08:00:00Z", "paris", "suppressed", "unsubscribed")]
    assert "nyc" not in [r["customer_id"] for r in records if r["journey"] == "spring_sale"]


def test_each_customer_enters_a_broadcast_once(tmp_path: Path) -> None:
    twice = LOCAL_9AM + "  - wait: 1d\n  - id: again\n    send: email\n    template: sale\n"
    records = run(workspace(tmp_path, {"b": twice}), {"paris": PEOPLE["paris"]})
    assert [r["type"] for r in records if r["journey"] == "spring_sale"] == ["entered", "send", "send", "exited"]


def test_a_broadcast_and_a_journey_message_count_against_one_frequency_cap(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"b": LOCAL_9AM}, settings="frequency_caps:\n  email: {max: 1, per: 1d}\n",
                     journeys={"hello": journey_yaml("hello", "{event: signed_up}", send_step("greet", "hi"))})
    events = [{"type": "signed_up", "customer_id": "paris", "timestamp": "2026-03-10T06:00:00Z"}]
    records = run(root, {"paris": PEOPLE["paris"]}, events)
    assert sends(records, "hello") == [("2026-03-10T06:00:00Z", "paris", "sent", None)]
    assert sends(records) == [("2026-03-10T08:00:00Z", "paris", "suppressed", "frequency_cap")]


def test_quiet_hours_hold_a_broadcast_until_they_end(tmp_path: Path) -> None:
    late = LOCAL_9AM.replace("2026-03-10T09:00", "2026-03-10T22:00")
    root = workspace(tmp_path, {"b": late}, settings='quiet_hours: {start: "21:00", end: "08:00"}\n')
    assert sends(run(root, {"paris": PEOPLE["paris"]})) == [("2026-03-11T07:00:00Z", "paris", "sent", None)]


def test_a_throttle_paces_the_entries(tmp_path: Path) -> None:
    paced = LOCAL_9AM.replace('{local: "2026-03-10T09:00"}', '{utc: "2026-03-10T15:00:00Z"}') + "throttle: 60/h\n"
    records = run(workspace(tmp_path, {"b": paced}), PEOPLE)
    assert [s[:2] for s in sends(records)] == [("2026-03-10T15:00:00Z", "nyc"), ("2026-03-10T15:01:00Z", "paris"),
                                               ("2026-03-10T15:02:00Z", "tokyo")]


def test_a_broadcast_follows_up_on_those_who_did_not_open(tmp_path: Path) -> None:
    follow = LOCAL_9AM + textwrap.indent(textwrap.dedent("""\
        - wait_for: {event: email_opened, timeout: 2d}
          else:
            - id: resend
              send: email
              template: hi
    """), "  ")
    opened = [{"type": "email_opened", "customer_id": "tokyo", "timestamp": "2026-03-10T01:00:00Z"}]
    people = {k: PEOPLE[k] for k in ("tokyo", "paris")}
    records = run(workspace(tmp_path, {"b": follow}), people, opened)
    assert [(r["customer_id"], r["step"], r["at"]) for r in records if r["type"] == "send"] == [
        ("tokyo", "announce", "2026-03-10T00:00:00Z"), ("paris", "announce", "2026-03-10T08:00:00Z"),
        ("paris", "resend", "2026-03-12T08:00:00Z")]


def test_a_customer_first_known_after_the_start_joins_when_their_own_moment_is_still_to_come(tmp_path: Path) -> None:
    """New York signs up after the first wave (9:00 at UTC+14) and before 9:00 there: in. Tokyo signs up
    after 9:00 in Tokyo: their moment has passed, out."""
    newcomers = [{"type": "signed_up", "customer_id": c, "timestamp": at, "traits": {"email": f"{c}@example.com",
                                                                                     "timezone": zone}}
                 for c, at, zone in (("ny_new", "2026-03-09T20:00:00Z", "America/New_York"),
                                     ("tokyo_new", "2026-03-10T01:00:00Z", "Asia/Tokyo"))]
    records = run(workspace(tmp_path, {"b": LOCAL_9AM}), {"paris": PEOPLE["paris"]}, newcomers)
    assert sends(records) == [("2026-03-10T08:00:00Z", "paris", "sent", None),
                              ("2026-03-10T13:00:00Z", "ny_new", "sent", None)]


def test_a_disabled_broadcast_does_not_run(tmp_path: Path) -> None:
    records = run(workspace(tmp_path, {"b": LOCAL_9AM + "enabled: false\n"}), PEOPLE)
    assert sends(records) == []


def test_the_demo_backtest_shows_the_spring_sale_to_past_buyers_at_their_best_hour() -> None:
    from engine.runtimes.jsonl import read_events, read_profiles

    ws = load_workspace(ROOT).workspace
    records = simulate(ws, read_events(ROOT / "samples" / "events.jsonl"),
                       read_profiles(ROOT / "samples" / "profiles.jsonl")).records
    entered = {r["customer_id"]: r["at"] for r in records if r["type"] == "entered" and r["journey"] == "spring_sale"}
    assert entered and all(at.startswith("2026-03-2") for at in entered.values())
    buyers = {r["customer_id"] for r in records if r["journey"] == "spring_sale"}
    assert buyers == set(entered)
    assert [r for r in records if r["journey"] == "spring_sale" and r["type"] == "send"]
