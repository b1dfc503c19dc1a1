"""SPEC §11 language: `variants:` and `winner:` on a send step, `winner:` on a split, checked at load."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.model import ContentVariant, Metric, Send, Split, WinnerRule
from engine.testing import email, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

TEMPLATES = {"offer.email.html": email("Offer"), "offer_b.email.html": email("Offer B"),
             "ping.sms.txt": "Hi"}

OFFER = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: offer
    send: email
    template: offer
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 2, template: offer_b}
      - {name: C, weight: 1, subject: "Last chance, {{ profile.first_name | default('friend') }}"}
    winner: {metric: clicked, after: 3d, min_per_variant: 200, confidence: 0.95}
"""

SPLIT = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: test
    split:
      name: s
      winner: {metric: converted, after: 2d, min_per_variant: 50, confidence: 0.9}
      variants:
        - {name: A, weight: 1, steps: [{send: email, template: offer}]}
        - {name: B, weight: 1, steps: [{send: email, template: offer_b}]}
        - {name: H, weight: 1}
"""


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


def test_a_send_step_compiles_its_variants_and_winner_rule(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"promo": OFFER}, templates=TEMPLATES)
    [journey] = load_workspace(tmp_path).workspace.journeys
    send = journey.program[0].action
    assert isinstance(send, Send)
    assert [(v.name, v.weight, v.template) for v in send.variants] == [("A", 1, None), ("B", 2, "offer_b"), ("C", 1, None)]
    assert send.variants[0].subject is None and send.variants[2].subject is not None
    assert send.variants[2].subject.render({"profile": {}}) == "Last chance, friend"
    assert send.winner == WinnerRule(Metric.CLICKED, timedelta(days=3), 200, 0.95)
    assert isinstance(send.variants[0], ContentVariant)


def test_a_split_compiles_its_winner_rule_and_knows_its_holdout(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"promo": SPLIT}, templates=TEMPLATES)
    [journey] = load_workspace(tmp_path).workspace.journeys
    split = journey.program[0].action
    assert isinstance(split, Split)
    assert split.winner == WinnerRule(Metric.CONVERTED, timedelta(days=2), 50, 0.9)
    assert [(v.name, v.holdout) for v in split.variants] == [("A", False), ("B", False), ("H", True)]


def test_winner_defaults_need_only_metric_and_after(tmp_path: Path) -> None:
    journey = OFFER.replace("winner: {metric: clicked, after: 3d, min_per_variant: 200, confidence: 0.95}",
                            "winner: {metric: opened, after: 1d}")
    write_workspace(tmp_path, journeys={"promo": journey}, templates=TEMPLATES)
    send = load_workspace(tmp_path).workspace.journeys[0].program[0].action
    assert isinstance(send, Send)
    assert send.winner == WinnerRule(Metric.OPENED, timedelta(days=1), 100, 0.95)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("template: offer_b}", "template: offer_c}",
     "journeys/promo.yaml:9:40: template 'offer_c' does not exist (expected templates/offer_c.email.html)"),
    ("{name: C, weight: 1,", "{name: A, weight: 1,",
     "journeys/promo.yaml:10:16: duplicate variant name 'A'"),
    ("{name: B, weight: 2,", "{name: B, weight: 0,",
     "journeys/promo.yaml:9:27: 'weight' is more than 0: got 0"),
    ("metric: clicked", "metric: bought",
     "journeys/promo.yaml:11:22: got 'bought'; expected 'opened', 'clicked', 'converted' or 'revenue'"),
    ("confidence: 0.95", "confidence: 95",
     "journeys/promo.yaml:11:76: 'confidence' is less than 1.0: got 95"),
    ("after: 3d", "after: 3 days",
     "journeys/promo.yaml:11:38: '3 days' is not a duration: use digits and units s, m, h, d, w, e.g. 30m, 1d12h"),
])
def test_a_broken_content_test_is_reported_where_it_is_written(tmp_path: Path, old: str, new: str,
                                                                expected: str) -> None:
    assert old in OFFER
    write_workspace(tmp_path, journeys={"promo": OFFER.replace(old, new)}, templates=TEMPLATES)
    assert problems(tmp_path) == [expected]


def test_a_winner_without_variants_is_an_error(tmp_path: Path) -> None:
    journey = "\n".join(line for line in OFFER.splitlines() if "name:" not in line and "variants:" not in line)
    write_workspace(tmp_path, journeys={"promo": journey + "\n"}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/promo.yaml:7:13: 'winner' needs 'variants' to choose from"]


def test_a_subject_override_on_an_sms_is_an_error(tmp_path: Path) -> None:
    journey = """\
id: promo
trigger: {event: signed_up}
steps:
  - send: sms
    template: ping
    variants: [{name: A, weight: 1}, {name: B, weight: 1, subject: Hi}]
"""
    write_workspace(tmp_path, journeys={"promo": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/promo.yaml:6:68: a subject belongs to an email; this step sends sms"]


def test_an_sms_cannot_be_judged_by_opens(tmp_path: Path) -> None:
    journey = """\
id: promo
trigger: {event: signed_up}
steps:
  - send: sms
    template: ping
    variants: [{name: A, weight: 1}, {name: B, weight: 1}]
    winner: {metric: opened, after: 1d}
"""
    write_workspace(tmp_path, journeys={"promo": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/promo.yaml:7:22: an SMS is never opened; judge it by clicked, "
                                  "converted or revenue"]


def test_a_split_winner_needs_two_variants_that_can_win(tmp_path: Path) -> None:
    journey = SPLIT.replace("        - {name: B, weight: 1, steps: [{send: email, template: offer_b}]}\n", "")
    write_workspace(tmp_path, journeys={"promo": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/promo.yaml:7:15: 'winner' needs two variants with steps "
                                  "(a holdout never wins)"]


def test_variants_on_a_webhook_are_an_error(tmp_path: Path) -> None:
    journey = """\
id: promo
trigger: {event: signed_up}
steps:
  - send: webhook
    url: https://crm.example/hook
    variants: [{name: A, weight: 1}, {name: B, weight: 1}]
"""
    write_workspace(tmp_path, journeys={"promo": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/promo.yaml:6:15: a content test sends email or sms, not a webhook"]
