"""`nudge report` as a marketer runs it: JSON, CSV and HTML, from simulate output or the database."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from engine.runtimes.embedded import database
from tests.reports.conftest import Replay, nudge


def report_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = nudge("report", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_json_report_from_simulate_output_and_events(replay: Replay) -> None:
    data = report_json("--workspace", str(replay.workspace), "--input", str(replay.records), "--events", str(replay.events))
    (j,) = data["journeys"]
    n = len(replay.sent)
    assert (j["id"], j["name"], j["entered"], j["sent"], j["delivered"], j["opened"], j["clicked"]) == (
        "promo", "Spring promo", 20, n, n, n, 1)
    assert (j["conversions"], j["goal_value"], j["unsubscribed"], j["bounced"]) == (10, 500.0, 0, 0)
    assert data["currency"] == "EUR"
    assert {v["id"] for v in j["variants"]} == {"discount", "holdout"}
    assert sum(v["entered"] for v in j["variants"]) == 20 and {v["id"]: v["sent"] for v in j["variants"]}["holdout"] == 0
    (experiment,) = data["experiments"]
    assert experiment["baseline"] == "holdout" and experiment["comparisons"][0]["verdict"] == "Sample too small to call a winner"
    assert data["customers"]["customers"] == 10 and data["customers"]["lifecycle"]["new"] == 10


def test_csv_has_one_row_per_journey_step_and_variant(replay: Replay, tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    result = nudge("report", "--workspace", str(replay.workspace), "--input", str(replay.records),
                   "--format", "csv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["level"], r["id"]) for r in rows] == [("journey", "promo"), ("step", "discount_mail"),
                                                    ("variant", "discount"), ("variant", "holdout"),
                                                    ("template", "hi")]
    assert rows[0]["entered"] == "20" and rows[0]["conversions"] == "10" and rows[0]["goal_value"] == "500.0"


def test_html_report_is_one_self_contained_file(replay: Replay, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = nudge("report", "--workspace", str(replay.workspace), "--input", str(replay.records), "--events",
                   str(replay.events), "--format", "html", "-o", str(out))
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert html.count("<svg") >= 3 and "€500.00" in html and "Spring promo" in html
    namespaces = ('xmlns="http://www.w3.org/2000/svg"', 'xmlns:xlink="http://www.w3.org/1999/xlink"')
    assert "http://" not in html.replace(namespaces[0], "").replace(namespaces[1], "") and "https://" not in html
    assert "<script" not in html


def test_since_counts_back_from_the_newest_record_and_until_ends_a_whole_day(replay: Replay) -> None:
    newest = json.loads(replay.records.read_text().splitlines()[-1])["at"]
    assert newest.startswith("2026-03-0")
    data = report_json("--input", str(replay.records), "--since", "1h")
    assert data["period"]["until"] is None and data["journeys"][0]["entered"] <= 2
    data = report_json("--input", str(replay.records), "--since", "2026-03-02", "--until", "2026-03-02")
    assert data["journeys"][0]["entered"] == 0 and data["journeys"][0]["conversions"] == 10


def test_report_from_the_embedded_database(replay: Replay, tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    conn = sqlite3.connect(db)
    for line in replay.records.read_text().splitlines():
        r = json.loads(line)
        conn.execute("INSERT INTO records (at, customer, journey, type, body) VALUES (?, ?, ?, ?, ?)",
                     (r["at"], r.get("customer_id"), r["journey"], r["type"], line.encode()))
    for n, line in enumerate(replay.events.read_text().splitlines()):
        e = json.loads(line)
        conn.execute("INSERT INTO events (id, customer, received_at, timestamp, body, status) VALUES (?, ?, 0, ?, ?, ?)",
                     (e["id"], e["customer_id"], e["timestamp"], line.encode(), "processed"))
    conn.commit()
    from_db = report_json("--workspace", str(replay.workspace), "--db", str(db))
    from_files = report_json("--workspace", str(replay.workspace), "--input", str(replay.records), "--events", str(replay.events))
    live = ("waiting_now", "map")   # only a live store knows who waits where now

    def logged(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in j.items() if k not in live} for j in report["journeys"]]

    assert logged(from_db) == logged(from_files) and from_db["customers"] == from_files["customers"]
    assert from_db["journeys"][0]["waiting_now"] == {} and from_files["journeys"][0]["waiting_now"] is None


def test_bad_arguments_are_refused(replay: Replay) -> None:
    assert nudge("report", "--format", "json").returncode != 0
    assert nudge("report", "--input", str(replay.records), "--format", "pdf").returncode != 0
    assert nudge("report", "--input", str(replay.records), "--since", "3x").returncode != 0
