"""A content test's backtest (SPEC §11) through simulate and the embedded runtime on one manual clock:
the same records, the `winner` record and every later send with the winner included."""

from __future__ import annotations

from pathlib import Path

from engine.testing import write_workspace
from rules.events import parse_event
from tests.contract.runtimes import run_embedded, run_simulate
from tests.unit.test_simulate_winners import OFFER, TEMPLATES, backtest_input


def test_simulate_and_nudge_run_choose_the_same_winner_at_the_same_moment(tmp_path: Path) -> None:
    for metric in ("clicked", "revenue"):
        events = [parse_event({"id": f"e{n}", **e}) for n, e in enumerate(backtest_input(metric)[1])]
        root = write_workspace(tmp_path / metric, journeys={"promo": OFFER % metric}, templates=TEMPLATES)
        until = max(e.journey_time for e in events)
        simulated = run_simulate(root, events, until, tmp_path)
        assert [r for r in simulated if r["type"] == "winner"], "the workload picks a winner"
        (tmp_path / f"{metric}-db").mkdir()
        assert run_embedded(root, events, until, tmp_path / f"{metric}-db") == simulated
