"""Journey maps: the graph built from a journey's steps, the counts of a small run on the right nodes, and the SVG
that the real D2 binary lays out."""

from __future__ import annotations

import sqlite3
from collections import Counter
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from engine import state_codec
from engine.cohorts import assign
from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.reports.journey_map import d2_quote, d2_source, structure, with_counts
from engine.reports.page import render_html
from engine.runtimes.d2 import draw, render_maps, render_svg
from engine.runtimes.embedded import database
from engine.runtimes.report_sources import waiting_now
from engine.state import CustomerState, Instance
from engine.testing import Harness, email
from tests.reports.conftest import nudge

TOUR = """\
id: tour
name: Tour
trigger: {event: signed_up, where: "event.properties.plan == 'pro'"}
exit_on: [{event: closed_account}]
goal: {event: purchase, within: 7d}
steps:
  - id: hello
    send: email
    template: hi
  - id: pause
    wait: 1d
  - id: came_back
    wait_for: {event: visited, timeout: 2d}
    then:
      - id: thanks
        send: email
        template: hi
    else:
      - id: ping
        send: sms
        template: ping
  - id: vip
    if: "profile.vip == true"
    then:
      - id: stamp
        update: {set: {toured: "true"}}
    else:
      - id: bye
        exit: true
  - id: offer
    split:
      name: offer
      variants:
        - name: A
          weight: 3
          steps:
            - id: offer_a
              send: email
              template: hi
        - name: control
          weight: 1
  - id: monday
    wait_until: {time: "09:00", days: [mon]}
"""

CART = """\
id: cart
name: Cart
trigger: {event: cart}
exit_on: [{event: emptied}]
goal: {event: purchase, within: 7d}
steps:
  - id: reminder
    send: email
    template: hi
  - id: wait_visit
    wait_for: {event: visited, timeout: 1d}
    else:
      - id: last_call
        send: email
        template: hi
  - id: rest
    wait: 5d
"""
TEMPLATES = {"hi.email.html": email("Hi"), "ping.sms.txt": "Ping"}


def edges_by_title(m: Any) -> set[tuple[str, str, str]]:
    title = {n.id: n.title for n in m.nodes}
    return {(title[e.source], title[e.target], e.label) for e in m.edges}


def test_every_step_kind_becomes_a_node_and_edges_follow_what_the_machine_does() -> None:
    journey = Harness(journeys={"tour": TOUR}, templates=TEMPLATES).workspace.journeys[0]
    m = structure(journey)
    assert [(n.kind, n.title, n.step) for n in m.nodes] == [
        ("start", "Starts on signed_up", None),
        ("send", "Send email: hi", "hello"), ("wait", "Wait 1d", "pause"),
        ("wait_for", "Wait up to 2d for visited", "came_back"),
        ("send", "Send email: hi", "thanks"), ("send", "Send sms: ping", "ping"),
        ("if", "If profile.vip == true", "vip"), ("update", "Update profile", "stamp"), ("exit", "Exit", "bye"),
        ("split", "Split offer", "offer"), ("send", "Send email: hi", "offer_a"),
        ("wait", "Wait until 09:00 on Mon", "monday"),
        ("end", "Journey complete", None),
        ("goal", "Goal: purchase", None), ("exit_on", "Leaves at once on", None)]
    assert m.node("start").detail == ("where event.properties.plan == 'pro'",)
    assert m.node("goal").detail == ("within 7d of entry", "then leaves")
    assert m.node("exit_on").detail == ("closed_account",)
    ids = {n.step: n.id for n in m.nodes}
    edges = {(e.source, e.target, e.label) for e in m.edges}
    assert edges == {
        ("start", ids["hello"], ""), (ids["hello"], ids["pause"], ""), (ids["pause"], ids["came_back"], ""),
        (ids["came_back"], ids["thanks"], "visited came"), (ids["came_back"], ids["ping"], "no visited in 2d"),
        (ids["thanks"], ids["vip"], ""), (ids["ping"], ids["vip"], ""),          # both branches rejoin
        (ids["vip"], ids["stamp"], "yes"), (ids["vip"], ids["bye"], "no"),
        (ids["stamp"], ids["offer"], ""),                                          # an exit step has no way on
        (ids["offer"], ids["offer_a"], "A · 75%"), (ids["offer"], ids["monday"], "control (holdout) · 25%"),
        (ids["offer_a"], ids["monday"], ""), (ids["monday"], "end", ""),
        ("start", "goal", "any time"), ("start", "exit_on", "any time")}


def cart_run() -> tuple[Harness, list[dict[str, Any]], list[dict[str, Any]]]:
    """Five carts: a buys after 2 h, b empties the cart, c never comes back, d visits, e has no email address."""
    h = Harness(journeys={"cart": CART}, templates=TEMPLATES)

    def event(n: int, kind: str, who: str, at: str, **extra: Any) -> dict[str, Any]:
        return {"id": f"e{n}", "type": kind, "customer_id": who, "timestamp": f"2026-03-01T{at}:00Z", **extra}

    events = [event(i, "cart", who, f"1{i}:00", traits={"email": f"{who}@example.com"} if who != "e" else {})
              for i, who in enumerate("abcde")]
    events += [event(10, "purchase", "a", "12:00", properties={"total": 20.0}), event(11, "emptied", "b", "14:00"),
               event(12, "visited", "d", "18:00")]
    return h, h.run(events), events


def test_counts_of_a_small_run_sit_on_the_right_nodes() -> None:
    h, records, events = cart_run()
    report = build_report(ReportInput(records, events, catalog=Catalog.of(h.workspace),
                                      waiting={("cart", "rest"): 2, ("other", "rest"): 9}))
    (cart,) = report["journeys"]
    counts = {n["step"] or n["id"]: n["counts"] for n in cart["map"]["nodes"]}
    assert counts == {
        "start": ["5 entered"],
        "reminder": ["4 sent · 0 clicked (0.0% of sent)", "1 goal conv. (last touch) · $20.00 attributed",
                     "not sent: no_address 1", "0 waiting now"],
        "wait_visit": ["0 waiting now", "left here: exit_event 1, goal 1"],
        "last_call": ["1 sent · 0 clicked (0.0% of sent)", "0 goal conv. (last touch) · $0.00 attributed",
                      "not sent: no_address 1", "0 waiting now"],
        "rest": ["2 waiting now"],
        "end": ["3 completed"],
        "goal": ["1 reached it (20.0% of entered)", "goal value $0.00"],
        "exit_on": ["1 left this way"]}


def test_without_a_live_store_no_node_claims_a_waiting_count() -> None:
    h, records, events = cart_run()
    (cart,) = build_report(ReportInput(records, events, catalog=Catalog.of(h.workspace)))["journeys"]
    assert cart["waiting_now"] is None
    assert not any("waiting" in line for n in cart["map"]["nodes"] for line in n["counts"])


def test_split_edges_carry_the_customers_assigned_to_each_variant() -> None:
    h = Harness(journeys={"tour": TOUR}, templates=TEMPLATES)
    events = [{"id": f"s{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": "2026-03-02T10:00:00Z",
               "properties": {"plan": "pro"}, "traits": {"email": f"c{i}@example.com", "vip": True}} for i in range(8)]
    records = h.run(events)
    split = h.workspace.journeys[0].program[next(pc for pc, i in enumerate(h.workspace.journeys[0].program)
                                                 if i.step_id == "offer")].action
    expected = Counter(assign(f"c{i}", "tour", split).name for i in range(8))   # type: ignore[arg-type]
    (tour,) = build_report(ReportInput(records, events, catalog=Catalog.of(h.workspace)))["journeys"]
    arms = {v["id"]: v["entered"] for v in tour["variants"]}
    assert arms == dict(expected) and sum(arms.values()) == 8
    labels = {e["label"] for e in tour["map"]["edges"] if e["from"] == next(
        n["id"] for n in tour["map"]["nodes"] if n["step"] == "offer")}
    assert labels == {f"A · 75% · {arms.get('A', 0)} customers", f"control (holdout) · 25% · {arms.get('control', 0)} customers"}


def test_d2_lays_out_the_map_as_svg_with_every_node_and_count(tmp_path: Path) -> None:
    h, records, events = cart_run()
    (cart,) = build_report(ReportInput(records, events, catalog=Catalog.of(h.workspace)))["journeys"]
    svg = render_svg(d2_source(cart["map"]))
    root = ET.fromstring(svg)
    text = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for node in cart["map"]["nodes"]:
        assert node["title"] in text
        for line in node["counts"]:
            assert line in text
    assert "no visited in 1d" in text and "visited came" in text


def test_labels_are_quoted_for_d2_so_dollars_quotes_and_backslashes_stay_text() -> None:
    label = 'price "$5" ${x} \\ back\nnext line'
    svg = render_svg(f"a: {d2_quote(label)}\n")
    text = " ".join("".join(t.itertext()) for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))
    assert 'price "$5" ${x} \\ back' in text and "next line" in text


def test_waiting_now_counts_instances_in_flight_by_journey_and_step(tmp_path: Path) -> None:
    """The live store's reader, on customer states written by the store's own codec."""
    db = tmp_path / "nudge.db"
    database.create(db)
    conn = sqlite3.connect(db)
    at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    where = {"a": [("cart", "rest"), ("welcome", "pause")], "b": [("cart", "rest")], "c": [("cart", "wait_visit")],
             "d": []}   # d finished every journey: not active
    for key, places in where.items():
        state = CustomerState(key, key, instances={journey: Instance(f"{key}:{journey}:1", journey, at, {}, {},
                                                                     step_id=step, waiting="timer")
                                                   for journey, step in places})
        conn.execute("INSERT INTO customers (key, customer_id, state, active) VALUES (?, ?, ?, ?)",
                     (key, key, state_codec.dumps(state), len(places)))
    conn.commit()
    assert waiting_now(conn) == {("cart", "rest"): 2, ("cart", "wait_visit"): 1, ("welcome", "pause"): 1}


def test_nudge_map_writes_an_svg_without_counts_or_with_them_from_the_logs(tmp_path: Path) -> None:
    h, records, events = cart_run()
    logs, feed = tmp_path / "records.jsonl", tmp_path / "events.jsonl"
    logs.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    feed.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    bare, counted = tmp_path / "bare.svg", tmp_path / "counted.svg"
    result = nudge("map", "cart", "--workspace", str(h.root), "-o", str(bare))
    assert result.returncode == 0, result.stderr
    assert "Send email: hi" in bare.read_text() and "entered" not in bare.read_text()
    result = nudge("map", "cart", "--workspace", str(h.root), "--input", str(logs), "--events", str(feed),
                   "-o", str(counted))
    assert result.returncode == 0, result.stderr
    assert "5 entered" in counted.read_text() and "3 completed" in counted.read_text()
    result = nudge("map", "nope", "--workspace", str(h.root))
    assert result.returncode != 0 and "no journey 'nope'" in result.stderr


def test_a_map_d2_refuses_is_named_in_the_report_which_goes_on_without_it() -> None:
    h, records, events = cart_run()
    report = build_report(ReportInput(records, events, catalog=Catalog.of(h.workspace)))
    refused = draw("a: {\n")   # unclosed: D2 says why
    assert not refused.svg and "D2 refused the map" in refused.problem
    html = render_html(report, {"cart": refused})
    assert "Journey map not drawn: D2 refused the map" in html and 'id="steps-cart"' in html
    assert "The map is not drawn in this output" in render_html(report)
    drawn = render_html(report, render_maps(report))
    assert '<div class="map" id="map-cart"><svg' in drawn


def test_journeys_without_activity_in_the_period_are_drawn_with_zero_counts(tmp_path: Path) -> None:
    h = Harness(journeys={"cart": CART, "tour": TOUR}, templates=TEMPLATES)
    events = [{"id": "e1", "type": "cart", "customer_id": "a", "timestamp": "2026-03-01T10:00:00Z",
               "traits": {"email": "a@example.com"}}]
    report = build_report(ReportInput(h.run(events), events, catalog=Catalog.of(h.workspace), waiting={}))
    assert [j["id"] for j in report["journeys"]] == ["cart"]
    (tour,) = report["idle_journeys"]
    counts = {n["step"] or n["id"]: n["counts"] for n in tour["map"]["nodes"]}
    assert counts["start"] == ["0 entered"] and counts["hello"][0] == "0 sent" and counts["end"] == ["0 completed"]
    assert counts["pause"] == ["0 waiting now"] and tour["waiting_now"] == {}
    html = render_html(report)
    assert "Journeys with no activity in this period" in html and 'id="journey-tour"' in html
    only_cart = build_report(ReportInput(h.run(events), events, journey="cart", catalog=Catalog.of(h.workspace)))
    assert only_cart["idle_journeys"] == []
    logs = tmp_path / "records.jsonl"
    logs.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in h.run(events)))
    result = nudge("map", "tour", "--workspace", str(h.root), "--input", str(logs), "-o", str(tmp_path / "tour.svg"))
    assert result.returncode == 0, result.stderr
    assert "0 entered" in (tmp_path / "tour.svg").read_text()
