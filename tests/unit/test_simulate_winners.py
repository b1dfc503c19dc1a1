"""`simulate` decides winners from the provider events in its input (SPEC §11), so a backtest shows the switch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from engine.testing import Harness, email
from engine.turn import iso, message_id

TEMPLATES = {"offer.email.html": email("Offer A"), "offer_b.email.html": email("Offer B")}

OFFER = """\
id: promo
trigger: {event: signed_up}
reentry: after_exit
goal: {event: purchase, within: 7d, value: "event.properties.total"}
steps:
  - id: offer
    send: email
    template: offer
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 1, template: offer_b}
    winner: {metric: %s, after: 3d, min_per_variant: 50, confidence: 0.95}
"""

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def backtest(metric: str) -> tuple[Harness, list[dict[str, Any]]]:
    """The records of `backtest_input`."""
    h, events = backtest_input(metric)
    return h, h.run(events)


def backtest_input(metric: str, days: int = 6) -> tuple[Harness, list[dict[str, Any]]]:
    """40 sign-ups a day for `days` days, each at its own hour; B's recipients click (and buy) four times
    as often as A's: the input carries, an hour after each send, the provider's click and a purchase."""
    h = Harness(journeys={"promo": OFFER % metric}, templates=TEMPLATES)
    events: list[dict[str, Any]] = []
    for day in range(days):
        for n in range(40):
            customer = f"c{day}_{n}"
            at = START + timedelta(days=day, minutes=10 * n + 5)
            events.append({"type": "signed_up", "customer_id": customer, "timestamp": iso(at),
                           "traits": {"email": f"{customer}@example.com"}})
    first = h.run(events)
    sends = {r["customer_id"]: r for r in first if r["type"] == "send"}
    for customer, send in sends.items():
        engaged = int(customer.split("_")[1]) % 5 < (4 if send["variant"] == "offer:B" else 1)
        if engaged:
            at = datetime.fromisoformat(send["at"].replace("Z", "+00:00")) + timedelta(hours=1)
            mid = message_id(f"{customer}:promo:1", "offer")
            assert mid == send["message_id"]
            events.append({"type": "email_clicked", "customer_id": customer, "timestamp": iso(at),
                           "properties": {"message_id": mid, "url": "https://shop.example/"}})
            events.append({"type": "purchase", "customer_id": customer, "timestamp": iso(at),
                           "properties": {"total": 30.0}})
    return h, events


def test_b_clearly_wins_on_clicks_at_the_first_check_and_every_later_send_uses_it() -> None:
    h, records = backtest("clicked")
    [winner] = [r for r in records if r["type"] == "winner"]
    # the first send was at 09:05 on 2 March; a sign-up at the check's very time is handled before it (SPEC §4)
    assert winner == {"at": "2026-03-05T09:05:00Z", "journey": "promo", "type": "winner", "step": "offer",
                      "variant": "B", "metric": "clicked", "reason": "significant"}
    sends = [r for r in records if r["type"] == "send"]
    before = [r for r in sends if r["at"] < winner["at"]]
    after = [r for r in sends if r["at"] > winner["at"]]
    assert {r["variant"] for r in before} == {"offer:A", "offer:B"} and not any(r.get("winner") for r in before)
    assert len(after) == 119 and all((r["variant"], r["template"], r["winner"]) == ("offer:B", "offer_b", True)
                                     for r in after)
    assert records.index(winner) < records.index(after[0])


def test_revenue_per_recipient_decides_too() -> None:
    _, records = backtest("revenue")
    assert [(r["variant"], r["at"]) for r in records if r["type"] == "winner"] == [("B", "2026-03-05T09:05:00Z")]


def test_without_a_clear_difference_the_default_wins_after_thirty_days() -> None:
    h = Harness(journeys={"promo": OFFER % "clicked"}, templates=TEMPLATES)
    events = [{"type": "signed_up", "customer_id": f"c{n}", "timestamp": iso(START + timedelta(minutes=n)),
               "traits": {"email": f"c{n}@example.com"}} for n in range(200)]
    records = h.run(events, until="2026-04-10T00:00:00Z")
    assert [r for r in records if r["type"] == "winner"] == [
        {"at": "2026-04-01T09:00:00Z", "journey": "promo", "type": "winner", "step": "offer", "variant": "A",
         "metric": "clicked", "reason": "no_winner_in_time"}]


def test_a_workspace_without_winners_gives_the_same_output_as_before() -> None:
    plain = OFFER.replace("    winner: {metric: %s, after: 3d, min_per_variant: 50, confidence: 0.95}\n", "")
    h = Harness(journeys={"promo": plain}, templates=TEMPLATES)
    records = h.run([{"type": "signed_up", "customer_id": "c1", "timestamp": iso(START),
                      "traits": {"email": "c1@example.com"}}])
    assert [r["type"] for r in records] == ["entered", "send", "exited"]


SPLIT = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: test
    split:
      name: arm
      winner: {metric: clicked, after: 2d, min_per_variant: 30, confidence: 0.95}
      variants:
        - {name: X, weight: 1, steps: [{id: x, send: email, template: offer}]}
        - {name: Y, weight: 1, steps: [{id: y, send: email, template: offer_b}]}
        - {name: H, weight: 1}
"""


def test_a_tested_split_switches_its_entries_to_the_winner_and_keeps_its_holdout() -> None:
    h = Harness(journeys={"promo": SPLIT}, templates=TEMPLATES)
    signups = [{"type": "signed_up", "customer_id": f"c{day}_{n}", "timestamp": iso(START + timedelta(days=day, minutes=n)),
                "traits": {"email": f"c{day}_{n}@example.com"}} for day in range(4) for n in range(60)]
    first = h.run(signups)
    clicks = [{"type": "email_clicked", "customer_id": r["customer_id"], "timestamp": r["at"],
               "properties": {"message_id": r["message_id"]}}
              for n, r in enumerate(x for x in first if x["type"] == "send") if r["variant"] == "Y" and n % 2 == 0]
    records = h.run(signups + clicks)
    [winner] = [r for r in records if r["type"] == "winner"]
    assert (winner["at"], winner["step"], winner["variant"]) == ("2026-03-04T09:00:00Z", "test", "Y")
    later = [r for r in records if r["type"] == "entered" and r["at"] > winner["at"]]
    later_sends = [r for r in records if r["type"] == "send" and r["at"] > winner["at"]]
    assert len(later) == 119 and {r["variant"] for r in later_sends} == {"Y"}
    assert 0 < len(later) - len(later_sends) < 119   # the holdout's share still gets nothing
