"""The conformance scenarios (../shared/conformance) through each runtime: every one writes the
records `expected.jsonl` asks for, and all three write the same records."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from engine.events import Event
from engine.runtimes.jsonl import read_events
from engine.runtimes.simulate import DEFAULT_RUN_ON
from tests.contract.runtimes import RUNTIMES, every_runtime

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
SCENARIOS = sorted(p for p in CONFORMANCE.glob("*") if (p / "expected.jsonl").exists())


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_check", CONFORMANCE / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(scenario: Path) -> tuple[list[Event], datetime]:
    assert not (scenario / "profiles.jsonl").exists() and not (scenario / "args.txt").exists()  # not driven here
    events = read_events(scenario / "events.jsonl")
    return events, max(e.journey_time for e in events) + DEFAULT_RUN_ON


def expected(scenario: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (scenario / "expected.jsonl").read_bytes().splitlines() if line.strip()]


pytestmark = pytest.mark.skipif(not SCENARIOS, reason="../shared/conformance is not beside this checkout")


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_each_runtime_passes_the_conformance_scenario(scenario: Path, runtime: str, tmp_path: Path) -> None:
    events, until = inputs(scenario)
    assert checker().compare(expected(scenario), RUNTIMES[runtime](scenario, events, until, tmp_path)) == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_the_runtimes_write_the_same_records_for_the_scenario(scenario: Path, tmp_path: Path) -> None:
    events, until = inputs(scenario)
    outputs = every_runtime(scenario, events, until, tmp_path)
    assert outputs["simulate"]
    assert outputs["embedded"] == outputs["simulate"]
    assert outputs["kafka"] == outputs["simulate"]
