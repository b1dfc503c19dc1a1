"""SPEC §11 in the engine: a content test's variant by the pinned hash, its content, its record, and a decided winner."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from engine.effects import Exposure
from engine.links import SignedLinks
from engine.machine import Engine
from engine.memory_store import MemoryStore
from engine.testing import Harness, email, write_workspace
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.helpers import T0, event
from tests.unit.test_engine_steps import expected_variant

TEMPLATES = {"offer.email.html": email("Offer for {{ profile.first_name | default('you') }}"),
             "offer_b.email.html": email("Offer B"), "after.email.html": email("After")}

OFFER = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: offer
    send: email
    template: offer
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 1, template: offer_b}
      - {name: C, weight: 2, subject: "Only today, {{ profile.first_name | default('friend') }}"}
"""

JUDGED = OFFER + "    winner: {metric: clicked, after: 3d}\n"

IN_SPLIT = """\
id: promo
trigger: {event: signed_up}
steps:
  - split:
      name: arm
      variants:
        - name: X
          weight: 1
          steps:
            - id: offer
              send: email
              template: offer
              variants: [{name: A, weight: 1}, {name: B, weight: 1, template: offer_b}]
        - {name: Y, weight: 1, steps: [{send: email, template: after}]}
"""

CUSTOMERS = [f"c{i}" for i in range(40)]
WEIGHTS = [("A", 1), ("B", 1), ("C", 2)]


def signups() -> list[dict[str, object]]:
    return [event("signed_up", customer=c, traits={"email": f"{c}@example.com", "first_name": "Ann"})
            for c in CUSTOMERS]


def test_each_send_takes_the_variant_the_pinned_hash_gives_with_the_step_id_as_split_name() -> None:
    h = Harness(journeys={"promo": OFFER}, templates=TEMPLATES)
    h.run(signups())
    sends = {r["customer_id"]: r for r in h.of("send")}
    assert {c: sends[c]["variant"] for c in CUSTOMERS} == {
        c: "offer:" + expected_variant(c, "promo", "offer", WEIGHTS) for c in CUSTOMERS}
    assert {r["variant"] for r in sends.values()} == {"offer:A", "offer:B", "offer:C"}


def test_each_variant_sends_its_own_content() -> None:
    h = Harness(journeys={"promo": OFFER}, templates=TEMPLATES)
    h.run(signups())
    seen = {(r["variant"], r["template"], r["subject"]) for r in h.of("send")}
    assert seen == {("offer:A", "offer", "Offer for Ann"), ("offer:B", "offer_b", "Offer B"),
                    ("offer:C", "offer", "Only today, Ann")}


def test_inside_a_split_the_split_variant_is_kept_and_the_content_variant_appended() -> None:
    h = Harness(journeys={"promo": IN_SPLIT}, templates=TEMPLATES)
    h.run(signups())
    labels = {r["customer_id"]: r["variant"] for r in h.of("send")}
    for c in CUSTOMERS:
        arm = expected_variant(c, "promo", "arm", [("X", 1), ("Y", 1)])
        expected = f"X/offer:{expected_variant(c, 'promo', 'offer', [('A', 1), ('B', 1)])}" if arm == "X" else "Y"
        assert labels[c] == expected


def test_a_sent_message_of_an_undecided_test_is_an_exposure(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"promo": JUDGED}, templates=TEMPLATES)
    workspace = load_workspace(tmp_path).workspace
    engine = Engine(workspace, MemoryStore(), SignedLinks(b"k", "https://x.invalid"))
    effects = engine.handle_event(parse_event(signups()[0]))
    [exposure] = [e for e in effects if isinstance(e, Exposure)]
    [send] = [e.record for e in effects if hasattr(e, "record") and e.record["type"] == "send"]
    assert (exposure.journey, exposure.step, exposure.customer) == ("promo", "offer", "c0")
    assert f"offer:{exposure.arm}" == send["variant"]
    assert exposure.message_id == send["message_id"]
    assert exposure.at == datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def test_once_a_winner_is_decided_every_new_send_uses_it_and_says_so(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"promo": JUDGED}, templates=TEMPLATES)
    workspace = load_workspace(tmp_path).workspace
    store = MemoryStore()
    store.winners[("promo", "offer")] = "B"
    engine = Engine(workspace, store, SignedLinks(b"k", "https://x.invalid"))
    records = []
    for e in signups():
        effects = engine.handle_event(parse_event(e))
        assert not any(isinstance(x, Exposure) for x in effects)   # the test is over: nothing more to tally
        records += [x.record for x in effects if hasattr(x, "record") and x.record["type"] == "send"]
    assert {(r["variant"], r["template"], r.get("winner")) for r in records} == {("offer:B", "offer_b", True)}


TESTED_SPLIT = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: test
    split:
      name: arm
      winner: {metric: converted, after: 2d}
      variants:
        - {name: X, weight: 1, steps: [{send: email, template: offer}]}
        - {name: Y, weight: 1, steps: [{send: email, template: offer_b}]}
        - {name: H, weight: 1}
"""


def test_entering_an_undecided_tested_split_is_an_exposure_without_a_message(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"promo": TESTED_SPLIT}, templates=TEMPLATES)
    engine = Engine(load_workspace(tmp_path).workspace, MemoryStore(), SignedLinks(b"k", "https://x.invalid"))
    arms = {}
    for e in signups():
        [exposure] = [x for x in engine.handle_event(parse_event(e)) if isinstance(x, Exposure)]
        assert (exposure.step, exposure.message_id) == ("test", None)
        arms[exposure.customer] = exposure.arm
    assert arms == {c: expected_variant(c, "promo", "arm", [("X", 1), ("Y", 1), ("H", 1)]) for c in CUSTOMERS}


def test_after_a_split_winner_the_holdout_stays_and_everyone_else_takes_the_winner(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"promo": TESTED_SPLIT}, templates=TEMPLATES)
    store = MemoryStore()
    store.winners[("promo", "test")] = "Y"
    engine = Engine(load_workspace(tmp_path).workspace, store, SignedLinks(b"k", "https://x.invalid"))
    sent: dict[str, str] = {}
    for e in signups():
        for x in engine.handle_event(parse_event(e)):
            assert not isinstance(x, Exposure)
            if hasattr(x, "record") and x.record["type"] == "send":
                sent[x.record["customer_id"]] = x.record["variant"]
    holdouts = {c for c in CUSTOMERS if expected_variant(c, "promo", "arm", [("X", 1), ("Y", 1), ("H", 1)]) == "H"}
    assert holdouts and set(sent) == set(CUSTOMERS) - holdouts
    assert set(sent.values()) == {"Y"}
