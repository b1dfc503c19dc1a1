"""Experiments in the report (SPEC §11): each content test and each tested split, with arms, rates, intervals,
verdict and the winner, against numbers worked out by hand."""

from __future__ import annotations

from math import isclose, sqrt
from typing import Any

from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.testing import Harness, email
from tests.reports.test_metrics import provider, rec, send
from tests.unit.test_engine_steps import expected_variant

OFFER = """\
id: promo
trigger: {event: signed_up}
goal: {event: purchase, within: 7d, value: "event.properties.total"}
steps:
  - id: offer
    send: email
    template: offer
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 1, template: offer_b}
    winner: {metric: clicked, after: 3d, min_per_variant: 4, confidence: 0.95}
"""
TEMPLATES = {"offer.email.html": email("A"), "offer_b.email.html": email("B")}


def content_report(winner_at: str | None = "2026-03-04T10:00:00Z") -> dict[str, Any]:
    """A: c1-c4 (m1-m4), B: c5-c8 (m5-m8); A opened 2, clicked 1; B opened 4 (one by a click), clicked 3;
    c1 converts for 20 and c5 for 50; then two sends with the winner, outside the test."""
    records: list[dict[str, Any]] = []
    for n in range(1, 9):
        at = f"2026-03-01T10:0{n}:00Z"
        records += [rec(at, "entered", f"c{n}"),
                    send(at, f"c{n}", f"m{n}", step="offer", variant="offer:A" if n <= 4 else "offer:B")]
    records += [rec("2026-03-02T10:00:00Z", "converted", "c1", value=20.0),
                rec("2026-03-02T10:00:00Z", "converted", "c5", value=50.0)]
    if winner_at:
        records.append({"at": winner_at, "journey": "promo", "type": "winner", "step": "offer", "variant": "B",
                        "metric": "clicked", "reason": "significant"})
        for n in (9, 10):
            records += [rec("2026-03-05T10:00:00Z", "entered", f"c{n}"),
                        {**send("2026-03-05T10:00:00Z", f"c{n}", f"m{n}", step="offer", variant="offer:B"), "winner": True}]
    events = [provider("email_opened", "m1", "2026-03-01T12:00:00Z"), provider("email_clicked", "m2", "2026-03-01T12:00:00Z"),
              provider("email_opened", "m2", "2026-03-01T12:00:00Z"),
              *(provider("email_clicked", m, "2026-03-01T12:00:00Z") for m in ("m5", "m6", "m7")),
              provider("email_opened", "m5", "2026-03-01T12:00:00Z"), provider("email_opened", "m8", "2026-03-01T12:00:00Z")]
    catalog = Catalog.of(Harness(journeys={"promo": OFFER}, templates=TEMPLATES).workspace)
    return build_report(ReportInput(records, events, catalog=catalog))


def test_a_content_test_shows_each_arm_with_its_rates_and_intervals() -> None:
    [e] = content_report()["experiments"]
    assert (e["kind"], e["key"], e["journey"], e["step"], e["metric"], e["baseline"]) == (
        "content", "promo/offer", "promo", "offer", "clicked", "A")
    a, b = e["variants"]
    assert (a["variant"], a["recipients"], a["opened"], a["clicked"], a["converted"], a["revenue"]) == ("A", 4, 2, 1, 1, 20.0)
    assert (b["variant"], b["recipients"], b["opened"], b["clicked"], b["converted"], b["revenue"]) == ("B", 4, 4, 3, 1, 50.0)
    assert (a["open_rate"], a["click_rate"], a["conversion_rate"], a["revenue_per_recipient"]) == (0.5, 0.25, 0.25, 5.0)
    assert (b["open_rate"], b["click_rate"], b["conversion_rate"], b["revenue_per_recipient"]) == (1.0, 0.75, 0.25, 12.5)
    # Wilson 95% interval of 3/4: centre (0.75 + 3.8415/8) / (1 + 3.8415/4) = 0.6275, half-width 0.3269
    low, high = b["ci95"]
    assert isclose(low, 0.3006, abs_tol=1e-4) and isclose(high, 0.9544, abs_tol=1e-4)


def test_a_content_test_compares_each_variant_with_the_default_on_its_metric() -> None:
    [e] = content_report()["experiments"]
    [c] = e["comparisons"]
    # 3/4 against 1/4: pooled 0.5, se = sqrt(0.25 * 0.5) = 0.353553, z = 1.414214, p = 0.157299
    assert (c["variant"], c["baseline"], c["metric"]) == ("B", "A", "click rate")
    assert isclose(c["difference"], 0.5) and isclose(c["p_value"], 0.157299, abs_tol=1e-6)


def test_the_winner_its_time_and_the_sends_that_used_it_are_shown() -> None:
    [e] = content_report()["experiments"]
    assert e["winner"] == {"variant": "B", "at": "2026-03-04T10:00:00Z", "reason": "significant"}
    assert e["sent_with_winner"] == 2
    assert e["verdict"] == "B chosen on 2026-03-04T10:00:00Z (click rate; significant)"


def test_an_undecided_test_says_what_it_waits_for() -> None:
    [e] = content_report(winner_at=None)["experiments"]
    assert e["winner"] is None
    # 4 recipients each is the minimum, but p = 0.157 is not below 0.05
    assert e["verdict"] == "No variant beats every other at 95% confidence yet"


def test_content_labels_do_not_make_split_experiments_or_split_funnels() -> None:
    report = content_report()
    [journey] = report["journeys"]
    assert journey["variants"] == []
    assert [x["kind"] for x in report["experiments"]] == ["content"]


SPLIT = """\
id: promo
trigger: {event: signed_up}
goal: {event: purchase, within: 7d, value: "event.properties.total"}
steps:
  - id: test
    split:
      name: arm
      winner: {metric: converted, after: 2d, min_per_variant: 2}
      variants:
        - {name: X, weight: 1, steps: [{id: x, send: email, template: offer}]}
        - {name: Y, weight: 1, steps: [{id: y, send: email, template: offer_b}]}
"""


def test_a_tested_split_counts_the_customers_who_entered_before_its_winner() -> None:
    customers = [f"c{n}" for n in range(12)]
    records: list[dict[str, Any]] = []
    for n, c in enumerate(customers):
        at = f"2026-03-0{1 if n < 8 else 5}T10:{n:02d}:00Z"
        arm = expected_variant(c, "promo", "arm", [("X", 1), ("Y", 1)]) if n < 8 else "Y"
        records += [rec(at, "entered", c), send(at, c, f"m{n}", step=arm.lower(), variant=arm)]
    records.insert(16, {"at": "2026-03-03T10:00:00Z", "journey": "promo", "type": "winner", "step": "test",
                        "variant": "Y", "metric": "converted", "reason": "significant"})
    catalog = Catalog.of(Harness(journeys={"promo": SPLIT}, templates=TEMPLATES).workspace)
    [e] = build_report(ReportInput(records, [], catalog=catalog))["experiments"]
    assert (e["kind"], e["split"], e["step"]) == ("split", "arm", "test")
    assigned = {v["variant"]: v["customers"] for v in e["variants"]}
    expected = {name: sum(expected_variant(c, "promo", "arm", [("X", 1), ("Y", 1)]) == name for c in customers[:8])
                for name in ("X", "Y")}
    assert assigned == expected and sum(assigned.values()) == 8
    assert e["winner"] == {"variant": "Y", "at": "2026-03-03T10:00:00Z", "reason": "significant"}
    assert e["sent_with_winner"] == 4


def test_the_html_report_shows_the_content_test_with_its_arms_verdict_and_winner() -> None:
    from engine.reports.page import render_html
    from tests.reports.test_page import table

    html = render_html(content_report())
    assert "promo · step offer (content test)" in html
    rows = table(html, "experiment-promo-offer")
    assert rows[0][:6] == ["variant", "recipients", "opened", "clicked", "converted", "click rate"]
    assert rows[1][:6] == ["A (default)", "4", "2", "1", "1", "25.0%"]
    assert rows[2][:7] == ["B", "4", "4", "3", "1", "75.0%", "30.1% – 95.4%"]
    assert "Winner: B, chosen 2026-03-04 10:00 UTC (significant); 2 sends used it since" in html
    assert "B chosen on 2026-03-04T10:00:00Z (click rate; significant)" in html


def test_the_journey_map_names_a_content_test_and_its_winner_rule() -> None:
    from engine.reports.journey_map import structure

    [journey] = Harness(journeys={"promo": OFFER}, templates=TEMPLATES).workspace.journeys
    [send_node] = [n for n in structure(journey).nodes if n.kind == "send"]
    assert send_node.detail == ("content test: A 50% · B offer_b 50%", "winner by click rate after 3d")
    [split] = Harness(journeys={"promo": SPLIT}, templates=TEMPLATES).workspace.journeys
    [split_node] = [n for n in structure(split).nodes if n.kind == "split"]
    assert split_node.detail == ("winner by conversion rate after 2d",)
