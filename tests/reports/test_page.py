"""The HTML report's display bugs of issue 15, each pinned: shares with a stated base, channel numbers,
rates with a base, one scale per series, unknown deliveries, one experiment per split."""

from __future__ import annotations

import re
from typing import Any

from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.reports.page import render_html
from engine.testing import Harness, email
from tests.reports.test_attribution import order
from tests.reports.test_metrics import provider, rec, send


def table(html: str, id: str) -> list[list[str]]:
    found = re.search(rf'<table id="{id}">(.*?)</table>', html, re.S)
    assert found, f"no table {id}"
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)]


def svg(html: str, label: str) -> str:
    found = re.search(rf'<svg[^>]*aria-label="{label}"[^>]*>(.*?)</svg>', html, re.S)
    assert found, f"no chart {label}"
    return found.group(1)


def busy_journey() -> list[dict[str, Any]]:
    """Two customers entered, five messages sent (more messages than entries), two delivered, one clicked."""
    records: list[dict[str, Any]] = [rec("2026-03-01T10:00:00Z", "entered", "c1"), rec("2026-03-01T10:00:00Z", "entered", "c2")]
    records += [send(f"2026-03-0{d}T10:00:00Z", c, f"m{d}{c}", step=f"s{d}") for d in (1, 2) for c in ("c1", "c2")]
    records += [send("2026-03-03T10:00:00Z", "c1", "m3", step="s3", channel="sms"),
                rec("2026-03-03T12:00:00Z", "converted", "c1", value=20.0)]
    return records


def test_funnel_shares_never_exceed_their_base_and_say_what_it_is() -> None:
    events = [provider("email_delivered", "m1c1", "2026-03-01T10:01:00Z"), provider("email_delivered", "m1c2", "2026-03-01T10:01:00Z"),
              provider("email_clicked", "m1c1", "2026-03-01T11:00:00Z")]
    chart = svg(render_html(build_report(ReportInput(busy_journey(), events))), "Funnel of promo")
    shares = re.findall(r">[\d,]+ \((\d+\.\d)% of (\w+)\)</text>", chart)
    assert shares == [("50.0", "entered"), ("40.0", "sent"), ("0.0", "delivered"), ("50.0", "delivered")]


def test_the_channels_table_shows_attributed_orders_and_conversions_not_zeros() -> None:
    html = render_html(build_report(ReportInput(busy_journey(), [order("o1", "c1", "2026-03-03T12:00:00Z", 20.0)])))
    header, *rows = table(html, "channels")
    by_channel = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_channel["sms"]["goal conv."] == "1" and by_channel["sms"]["attrib. revenue"] == "$20.00"
    assert by_channel["sms"]["goal conv. rate"] == "100.0%" and by_channel["email"]["goal conv. rate"] == "0.0%"
    assert "entered" not in header   # nobody enters a channel


def test_goal_conversion_rates_have_a_base_in_every_table() -> None:
    html = render_html(build_report(ReportInput(busy_journey(), [])))
    header, journey, _ = table(html, "journeys")
    assert dict(zip(header, journey))["goal conv. rate"] == "50.0%"   # 1 of 2 entered
    assert 'title="goal conversions / entered (journeys, variants) or / recipients (steps, channels)"' in html


def test_each_daily_series_has_its_own_scale_and_a_journey_without_sends_is_not_flat() -> None:
    records = busy_journey() + [rec("2026-03-02T09:00:00Z", "entered", f"x{i}", journey="quiet") for i in range(3)]
    events = [provider("email_clicked", "m1c1", "2026-03-01T11:00:00Z")]
    html = render_html(build_report(ReportInput(records, events)))
    busy = svg(html, "Daily activity of promo")
    assert "max 2" in busy and "max 1" in busy            # sends (2 a day) and clicks (1) each on their own scale
    quiet = svg(html, "Daily activity of quiet")
    assert "max 3" in quiet and quiet.count("none in this period") == 4   # entries drawn; the rest say so


def test_a_connector_without_delivery_reports_shows_delivery_not_reported_not_zero_percent() -> None:
    html = render_html(build_report(ReportInput(busy_journey(), [])))
    assert re.search(r'id="sent"><span>Sent</span><b>5</b><span>delivery not reported</span>', html)
    header, journey, _ = table(html, "journeys")
    assert dict(zip(header, journey))["delivered"] == "not reported" and "0.0% delivered" not in html
    reported = render_html(build_report(ReportInput(busy_journey(), [provider("email_delivered", "m1c1", "2026-03-01T10:01:00Z")])))
    assert '<span>20.0% delivered</span>' in reported


FOUR_SPLITS = "id: promo\ntrigger: {event: signed_up}\ngoal: {event: purchase, within: 7d}\nsteps:\n" + "".join(
    f"  - split:\n      name: test{k}\n      variants:\n"
    f"        - {{name: A, weight: 1, steps: [{{id: a{k}, send: email, template: hi}}]}}\n"
    f"        - {{name: B, weight: 1, steps: [{{id: b{k}, send: email, template: hi}}]}}\n" for k in range(4))


def test_four_splits_with_the_same_variant_names_are_four_experiments_titled_by_split() -> None:
    harness = Harness(journeys={"promo": FOUR_SPLITS}, templates={"hi.email.html": email("Hi")})
    events = [{"id": f"s{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": "2026-03-01T10:00:00Z",
               "traits": {"email": f"c{i}@example.com"}} for i in range(40)]
    records = harness.run(events, until="2026-03-10T00:00:00Z")
    result = build_report(ReportInput(records, events, catalog=Catalog.of(harness.workspace)))
    experiments = {e["key"]: e for e in result["experiments"]}
    assert list(experiments) == [f"promo/test{k}" for k in range(4)]
    for e in experiments.values():
        assert sum(v["customers"] for v in e["variants"]) == 40        # each split assigns everyone once
    variants = {(v["split"], v["id"]): v["sent"] for v in result["journeys"][0]["variants"]}
    assert sum(variants.values()) == 160 and all(variants[(f"test{k}", "A")] + variants[(f"test{k}", "B")] == 40
                                                 for k in range(4))
    html = render_html(result)
    assert all(f"promo · split test{k}: baseline A" in html for k in range(4))


NESTED = """\
id: n
trigger: {event: signed_up}
steps:
  - split:
      name: outer
      variants:
        - name: X
          weight: 1
          steps:
            - {id: x1, send: email, template: hi}
            - split:
                name: inner
                variants:
                  - {name: C, weight: 1, steps: [{id: c1, send: email, template: hi}]}
                  - {name: D, weight: 1, steps: [{id: d1, send: email, template: hi}]}
            - {id: x2, send: email, template: hi}
        - {name: Y, weight: 1}
  - {id: after, send: email, template: hi}
"""


def test_a_send_belongs_to_the_innermost_split_holding_it_and_a_variant_without_steps_is_a_holdout() -> None:
    catalog = Catalog.of(Harness(journeys={"n": NESTED}, templates={"hi.email.html": email("Hi")}).workspace)
    assert {step: split for (_, step), split in catalog.split_of_step.items() if not step[0].isdigit()} == {
        "x1": "outer", "c1": "inner", "d1": "inner", "x2": "outer"}
    assert catalog.holdouts == {("n", "outer"): frozenset({"Y"}), ("n", "inner"): frozenset()}
