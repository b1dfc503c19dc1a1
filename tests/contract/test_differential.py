"""The differential workload of tests/e2e/test_differential.py (waits, wait_for, splits, updates,
re-entry, exits, goals, an identity merge, consent, a frequency cap) through the three runtimes on a
manual clock: the same outcome records, message ids and texts included, on every commit."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from engine.runtimes.simulate import DEFAULT_RUN_ON
from engine.testing import write_workspace
from rules.events import parse_event
from tests.contract.runtimes import every_runtime
from tests.e2e.test_differential import CART, EXTRA, ONBOARDING, PRICING, SETTINGS, TEMPLATES, events_file

START = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def test_the_runtimes_write_the_same_records_for_the_differential_workload(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", settings=SETTINGS, extra=EXTRA,
                           journeys={"01_onboarding": ONBOARDING, "02_cart": CART, "03_pricing": PRICING},
                           templates=TEMPLATES)
    events = [parse_event(e) for e in events_file(START)]
    outputs = every_runtime(root, events, max(e.journey_time for e in events) + DEFAULT_RUN_ON, tmp_path)
    assert sum(b'"type":"send"' in r for r in outputs["simulate"]) > 50  # the workload does what it claims
    assert outputs["embedded"] == outputs["simulate"]
    assert outputs["kafka"] == outputs["simulate"]
