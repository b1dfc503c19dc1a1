"""A repeat and a customer-chosen wait_until on the journey map (SPEC §15): a loop, and the default named."""

from __future__ import annotations

from engine.reports.journey_map import structure
from engine.testing import Harness, email

PROGRAMME = """\
id: programme
trigger: {event: signed_up}
steps:
  - id: weeks
    repeat: {times: 8}
    steps:
      - id: chosen
        wait_until: {time: "profile.reminder_time", days: "profile.reminder_days", default: {time: "18:00"}}
      - id: reminder
        send: email
        template: r
  - id: bye
    send: email
    template: r
"""


def test_a_repeat_is_drawn_as_a_loop_with_its_bound() -> None:
    journey = Harness(journeys={"programme": PROGRAMME}, templates={"r.email.html": email("R")}).workspace.journeys[0]
    drawn = structure(journey)
    titles = {n.step: n.title for n in drawn.nodes if n.step}
    assert titles["weeks"] == "Repeat 8 times"
    assert titles["chosen"] == "Wait until the customer's time"
    by_id = {n.id: n.step for n in drawn.nodes}
    edges = {(by_id[e.source], by_id[e.target], e.label) for e in drawn.edges if e.source != "start"}
    assert ("weeks", "chosen", "each pass") in edges
    assert ("reminder", "weeks", "") in edges          # back to the head for the next pass
    assert ("weeks", "bye", "after 8 passes") in edges
