"""Content-test winners on Kafka without a broker (SPEC §11): tallies per partition, one decision from
partition 0's worker, applied by each partition at its own offset."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from engine.effects import Exposure
from engine.experiments import Ledger
from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.router import Router, Topics
from engine.runtimes.kafka.store import SEP, Tables, Writes
from engine.runtimes.kafka.winners import Decider, take, tally_key, track
from engine.links import SignedLinks
from engine.testing import email, write_workspace
from engine.turn import iso
from tests.kafka_wire import live_workspace
from tests.unit.test_kafka_router import Wire

OFFER = """\
id: promo
trigger: {event: signed_up}
reentry: after_exit
steps:
  - id: offer
    send: email
    template: offer
    variants: [{name: A, weight: 1}, {name: B, weight: 1, template: offer_b}]
    winner: {metric: clicked, after: 1h, min_per_variant: 10, confidence: 0.95}
"""
AT = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


class OfferWire(Wire):
    def __init__(self, tmp_path: Path) -> None:
        ws = write_workspace(tmp_path / "ws", journeys={"promo": OFFER},
                             templates={"offer.email.html": email("A"), "offer_b.email.html": email("B")})
        self.tables = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={},  # type: ignore[arg-type]
                             experiments={})  # type: ignore[arg-type]
        self.router = Router(self.tables, live_workspace(ws, self.tables.progress), SignedLinks(b"secret", "http://127.0.0.1"),
                             Topics("events", "records", "outbox", "dead"), 4)
        self.topics = {"events": [], "records": [], "outbox": [], "dead": []}
        self.read = 0
        self.offsets = {}

    def to_every_partition(self, value: bytes) -> None:
        """As the decider sends a control envelope: to each of the 4 partitions, after what they hold."""
        for partition in range(4):
            offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
            asyncio.run(self._handle(SimpleNamespace(key=b"winner:promo:offer", value=value, topic="events",
                                                     partition=partition, offset=offset)))

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for _, v, _ in self.topics["outbox"] if v]


def tallies(wire: OfferWire) -> dict[str, list[float]]:
    total: dict[str, list[float]] = {}
    for key, value in wire.tables.experiments.items():  # type: ignore[union-attr]
        if key.startswith(b"t" + SEP.encode()):
            for name, numbers in orjson.loads(value)["arms"].items():
                total[name] = [a + b for a, b in zip(total.get(name, [0] * 6), numbers)]
    return total


def test_partitions_tally_their_customers_and_one_decision_switches_every_partition(tmp_path: Path) -> None:
    wire = OfferWire(tmp_path)
    for n in range(40):
        wire.post(type="signed_up", customer_id=f"c{n}", id=f"s{n}", traits={"email": f"c{n}@example.com"})
    wire.run()
    sent = wire.messages()
    assert len(sent) == 40 and {m["variant"] for m in sent} == {"offer:A", "offer:B"}
    for n, m in enumerate(sent):   # B's recipients all click, A's none
        if m["variant"] == "offer:B":
            wire.post(type="email_clicked", customer_id=m["customer_id"], id=f"k{n}",
                      properties={"message_id": m["id"]})
    wire.run()
    b = sum(m["variant"] == "offer:B" for m in sent)
    counts = tallies(wire)
    assert counts["A"][:3] == [40 - b, 0, 0] and counts["B"][:3] == [b, b, b]   # recipients, opened, clicked
    assert len({k for k in wire.tables.experiments if k.startswith(b"t")}) > 1  # type: ignore[union-attr]

    decider = Decider()
    items = list(wire.tables.experiments.items())  # type: ignore[union-attr]
    assert decider.due(wire.router.experiments(0), items, AT + timedelta(minutes=59)) == []
    [decision] = decider.due(wire.router.experiments(0), items, AT + timedelta(hours=1))
    assert decider.due(wire.router.experiments(0), items, AT + timedelta(hours=2)) == []   # announced once
    assert decision.winner == "B"
    envelope = envelopes.winner_envelope(decision.record(iso(AT + timedelta(hours=1))))
    wire.to_every_partition(envelope)
    wire.to_every_partition(envelope)   # sent again by a restarted decider: nothing changes
    records = [r for _, v, _ in wire.topics["records"] if v for r in orjson.loads(v) if r["type"] == "winner"]
    assert records == [{"at": "2026-03-02T13:00:00Z", "journey": "promo", "type": "winner", "step": "offer",
                        "variant": "B", "metric": "clicked", "reason": "significant"}]

    for n in range(40, 52):
        wire.post(type="signed_up", customer_id=f"c{n}", id=f"s{n}", traits={"email": f"c{n}@example.com"})
    wire.run()
    later = wire.messages()[40:]
    assert len(later) == 12 and {(m["variant"], m["template"]) for m in later} == {("offer:B", "offer_b")}
    assert tallies(wire) == counts   # the test is over: later sends are not tallied


def test_an_input_processed_again_adds_nothing_twice() -> None:
    from engine.experiments import Experiment
    from engine.model import Metric, WinnerRule

    key = ("promo", "offer")
    experiments = {key: Experiment("promo", "offer", WinnerRule(Metric.CLICKED, timedelta(hours=1), 1, 0.95),
                                   ("A", "B"), ("A", "B"), "A")}
    table: dict[bytes, Any] = {}
    exposure = Exposure("promo", "offer", "A", "c1", "m1", AT)
    for _ in range(2):   # the same input at offset 7, the second time after a crash lost the customer's record
        writes = Writes()
        track(Ledger.load(experiments, None), None, [exposure], writes, table, 3, 7)  # type: ignore[arg-type]
        table.update(writes.written(table))  # type: ignore[arg-type]
    assert orjson.loads(table[tally_key("promo", "offer", 3)])["arms"] == {"A": [1, 0, 0, 0, 0.0, 0.0],
                                                                          "B": [0, 0, 0, 0, 0.0, 0.0]}
