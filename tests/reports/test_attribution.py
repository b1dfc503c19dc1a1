"""SPEC §12 rule by rule, on logs small enough to check by eye."""

from __future__ import annotations

from typing import Any

from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.testing import Harness, email
from tests.reports.test_metrics import provider, rec, send


def order(id: str, customer: str, at: str, total: float, kind: str = "purchase") -> dict[str, Any]:
    return {"id": id, "type": kind, "customer_id": customer, "timestamp": at, "properties": {"total": total}}


def revenue(records: list[dict[str, Any]], events: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return build_report(ReportInput(records, events, **kw))


def test_an_order_received_twice_counts_once_and_both_default_order_types_are_orders() -> None:
    events = [order("o1", "c1", "2026-03-02T10:00:00Z", 40.0), order("o1", "c1", "2026-03-02T10:00:00Z", 40.0),
              order("o2", "c2", "2026-03-02T11:00:00Z", 10.0, kind="order_completed"),
              {"id": "o3", "type": "purchase", "customer_id": "c3", "timestamp": "2026-03-02T11:00:00Z", "properties": {}}]
    r = revenue([], events)["revenue"]
    assert (r["orders"], r["order_total"], r["order_events_without_total"]) == (2, 50.0, 1)


def test_an_order_before_any_message_is_not_attributed_though_the_journey_goal_counts_it() -> None:
    records = [rec("2026-03-01T10:00:00Z", "entered", "ben"), rec("2026-03-01T12:00:00Z", "converted", "ben", value=80.0),
               send("2026-03-01T14:00:00Z", "ben", "m1")]
    result = revenue(records, [order("o1", "ben", "2026-03-01T12:00:00Z", 80.0)])
    assert result["journeys"][0]["conversions"] == 1 and result["journeys"][0]["goal_value"] == 80.0
    assert (result["revenue"]["attributed_orders"], result["revenue"]["unattributed_revenue"]) == (0, 80.0)


def test_a_message_sent_at_the_instant_of_the_order_takes_no_credit() -> None:
    records = [send("2026-03-01T12:00:00Z", "c1", "receipt")]
    assert revenue(records, [order("o1", "c1", "2026-03-01T12:00:00Z", 5.0)])["revenue"]["attributed_orders"] == 0


def test_send_windows_are_inclusive_one_day_for_email_and_sms() -> None:
    records = [send("2026-03-01T12:00:00Z", "in", "m1"), send("2026-03-01T12:00:00Z", "out", "m2", channel="sms")]
    events = [order("o1", "in", "2026-03-02T12:00:00Z", 30.0), order("o2", "out", "2026-03-02T12:00:01Z", 70.0)]
    r = revenue(records, events)["revenue"]
    assert (r["attributed_orders"], r["attributed_revenue"], r["by_channel"]) == (1, 30.0, {"email": {"orders": 1, "revenue": 30.0}})


def test_a_click_extends_an_email_to_five_days_and_wins_over_a_later_plain_send() -> None:
    records = [send("2026-03-01T12:00:00Z", "c1", "m1", step="newsletter"),
               send("2026-03-04T12:00:00Z", "c1", "m2", step="reminder", channel="sms")]
    events = [provider("email_clicked", "m1", "2026-03-01T13:00:00Z"), order("o1", "c1", "2026-03-04T18:00:00Z", 60.0)]
    steps = {s["id"]: s["orders"] for s in revenue(records, events)["journeys"][0]["steps"]}
    assert steps == {"newsletter": 1, "reminder": 0}
    late = [provider("email_clicked", "m1", "2026-03-01T13:00:00Z"), order("o1", "c1", "2026-03-06T13:00:01Z", 60.0)]
    assert revenue(records, late)["revenue"]["attributed_orders"] == 0   # 5 days and a second after the click


def test_without_a_click_the_latest_message_sent_wins() -> None:
    records = [send("2026-03-01T10:00:00Z", "c1", "m1", journey="welcome", step="w"),
               send("2026-03-01T11:00:00Z", "c1", "m2", journey="cart", step="c")]
    result = revenue(records, [order("o1", "c1", "2026-03-01T20:00:00Z", 25.0)])
    assert {j["id"]: j["attributed_revenue"] for j in result["journeys"]} == {"cart": 25.0, "welcome": 0.0}


def test_with_a_journey_filter_another_journeys_later_message_still_takes_the_order() -> None:
    records = [send("2026-03-01T10:00:00Z", "c1", "m1", journey="welcome"), send("2026-03-01T11:00:00Z", "c1", "m2", journey="cart")]
    r = revenue(records, [order("o1", "c1", "2026-03-01T20:00:00Z", 25.0)], journey="welcome")["revenue"]
    assert (r["attributed_orders"], r["attributed_to_other_journeys"], r["unattributed_orders"]) == (0, 1, 0)


def test_workspace_settings_name_the_order_events_and_the_windows() -> None:
    harness = Harness(settings="purchase_events: [checkout_done]\nattribution: {after_send: {email: 2d}}",
                      journeys={}, templates={"hi.email.html": email("Hi")})
    settings = harness.workspace.settings
    assert settings.purchase_events == ("checkout_done",) and settings.attribution.after_send["email"].days == 2
    assert settings.attribution.after_send["sms"].days == 1   # a channel left out keeps its default
    records = [send("2026-03-01T12:00:00Z", "c1", "m1")]
    events = [order("o1", "c1", "2026-03-02T18:00:00Z", 9.0, kind="checkout_done"), order("o2", "c1", "2026-03-02T18:00:00Z", 5.0)]
    r = revenue(records, events, catalog=Catalog.of(harness.workspace))["revenue"]
    assert (r["orders"], r["attributed_revenue"], r["order_events"]) == (1, 9.0, ["checkout_done"])


def test_a_declared_revenue_expression_values_the_order_and_names_the_order_types() -> None:
    data = """\
    data:
      events:
        checkout_done:
          properties: {amount_cents: integer, total: number}
          revenue: "event.properties.amount_cents / 100"
        purchase: {}
    """
    harness = Harness(journeys={}, templates={"hi.email.html": email("Hi")}, extra=data)
    records = [send("2026-03-01T12:00:00Z", "c1", "m1")]
    checkout = {**order("o1", "c1", "2026-03-01T18:00:00Z", 1.0, kind="checkout_done"),
                "properties": {"amount_cents": 1250, "total": 1.0}}
    no_amount = order("o2", "c2", "2026-03-01T18:00:00Z", 3.0, kind="checkout_done")   # revenue gives nothing
    not_declared_as_order = order("o3", "c1", "2026-03-01T19:00:00Z", 99.0)        # `purchase` declares no revenue
    r = revenue(records, [checkout, no_amount, not_declared_as_order], catalog=Catalog.of(harness.workspace))["revenue"]
    assert (r["orders"], r["order_total"], r["attributed_revenue"], r["order_events"]) == (1, 12.5, 12.5, ["checkout_done"])
    assert r["order_events_without_total"] == 1
