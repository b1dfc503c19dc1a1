"""The CSV report carries a step's pass-by-pass rows, as the HTML and JSON do: where a programme loses people."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.reports.conftest import ROOT, nudge


def test_a_step_inside_a_repeat_has_one_pass_row_per_pass(tmp_path: Path) -> None:
    records = tmp_path / "cot.jsonl"
    sample = str(ROOT / "samples" / "change_one_thing.jsonl")
    assert nudge("simulate", "--events", sample, "-o", str(records)).returncode == 0
    result = nudge("report", "--input", str(records), "--events", sample, "--journey", "change_one_thing",
                   "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    weekly = [(r["pass"], r["sent"], r["recipients"]) for r in rows if r["level"] == "pass" and r["id"] == "weekly_email"]
    assert weekly == [("1", "4", "4"), ("2", "4", "4"), ("3", "4", "4"), ("4", "4", "4"), ("5", "3", "3"),
                      ("6", "2", "2"), ("7", "2", "2"), ("8", "2", "2")]
    levels = [(r["level"], r["id"]) for r in rows]
    assert levels.index(("pass", "weekly_email")) == levels.index(("step", "weekly_email")) + 1
    assert all(r["pass"] == "" for r in rows if r["level"] != "pass")
