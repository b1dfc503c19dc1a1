"""The report's numbers on generated logs stay what they were when the tally was rewritten for speed (issue 15).

Two workloads: the report bench's own logs (bench/report_bench.py, 3,000 messages) and a varied log with
every kind of record and event the tally reads (channels, reasons, passes, split and content-test labels,
sends without a message id, anonymous customers, exits, bounces, offsets, duplicates, unknown messages).
Each report is compared whole with the one the earlier code built (tests/reports/data/pinned_reports.json),
and its main totals with counts made here by plain loops over the input.

To rebuild the pinned file after a deliberate change of a number: `python -m tests.reports.test_pinned_numbers`.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from bench.report_bench import write_logs
from engine.reports import ReportInput, build_report
from engine.reports.period import Period

PINNED = Path(__file__).parent / "data" / "pinned_reports.json"
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
ENGAGING = {"email_delivered", "sms_delivered", "email_opened", "email_clicked", "sms_clicked"}


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def bench_logs(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records, events, _, _ = write_logs(folder, 3000)
    return _read(records), _read(events)


def _read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def varied_logs(seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Three journeys over three weeks, 300 entries, with every branch of the tally taken at least once."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for n in range(300):
        journey = rng.choice(("promo", "repeat", "tests"))
        at = START + timedelta(minutes=rng.randrange(21 * 24 * 60))
        who: dict[str, Any] = ({"anonymous_id": f"a{n % 40}"} if rng.random() < 0.1 else
                               {"customer_id": f"c{rng.randrange(120)}"})
        records.append({"at": stamp(at), **who, "journey": journey, "type": "entered"})
        for k, step in enumerate(("first", "second", "third")[:rng.randrange(1, 4)]):
            at += timedelta(hours=rng.randrange(1, 40))
            mid = None if rng.random() < 0.04 else f"m{n}-{k}"
            records.append(_send(rng, at, who, journey, step, mid))
            if mid is not None:
                events += _feedback(rng, at, mid, who)
        if rng.random() < 0.15:
            records.append({"at": stamp(at), **who, "journey": journey, "type": "exited", "step": rng.choice((None, "first")),
                            "reason": rng.choice(("goal", "unsubscribed", None))})
        if rng.random() < 0.3:
            at += timedelta(hours=rng.randrange(1, 80))
            value = rng.choice((None, 0, round(rng.uniform(5, 400), 2)))
            records.append({"at": stamp(at), **who, "journey": journey, "type": "converted", "value": value})
            events.append({"id": f"o{n}", "type": "purchase", **who, "timestamp": stamp(at),
                           "properties": {} if value is None else {"total": value}})
            if rng.random() < 0.2:
                events.append(dict(events[-1]))   # the same order received twice
    records.append({"at": "2026-03-05T00:00:00Z", "customer_id": "c1", "type": "entered"})   # no journey: not counted
    events += [{"id": "x1", "type": "email_opened", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z",
                "properties": {"message_id": "nowhere"}},
               {"id": "x2", "type": "email_clicked", "customer_id": "c1", "properties": {"message_id": "m0-0"}},
               {"id": "x3", "type": "page_viewed", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z"},
               {"id": "x4", "type": "purchase", "timestamp": "2026-03-02T10:00:00Z", "properties": {"total": 3}}]
    records.sort(key=lambda r: r["at"])
    rng.shuffle(events)
    return records, events


def _send(rng: random.Random, at: datetime, who: dict[str, Any], journey: str, step: str,
          mid: str | None) -> dict[str, Any]:
    status = rng.choices(("sent", "suppressed", "skipped", "failed"), (20, 2, 2, 1))[0]
    variant = {"promo": rng.choice(("A", "B")), "repeat": None,
               "tests": f"subject/{step}:" + rng.choice(("v1", "v2"))}[journey]
    record = {"at": stamp(at), **who, "journey": journey, "type": "send", "step": step,
              "channel": rng.choice(("email", "email", "sms", "push")), "template": rng.choice((step, None)),
              "status": status, "reason": None if status == "sent" else rng.choice(("cap", "quiet_hours", None)),
              "variant": variant, "message_id": mid}
    if journey == "repeat":
        record["iteration"] = rng.randrange(1, 4)
    return record


def _feedback(rng: random.Random, at: datetime, mid: str, who: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for kind, p in (("email_delivered", 0.5), ("sms_delivered", 0.1), ("email_opened", 0.3), ("email_clicked", 0.1),
                    ("sms_clicked", 0.05), ("email_bounced", 0.05), ("sms_failed", 0.03),
                    ("email_complained", 0.03), ("unsubscribed", 0.04)):
        for copy in range(2 if rng.random() < 0.1 else 1):
            if rng.random() < p:
                later = at + timedelta(minutes=rng.randrange(1, 3000))
                text = stamp(later) if rng.random() < 0.8 else later.astimezone(timezone(timedelta(hours=2))).isoformat()
                yield {"id": f"{kind}-{mid}-{copy}", "type": kind, **who, "timestamp": text,
                       "properties": {"message_id": mid}}


PERIOD = Period(datetime(2026, 3, 8, tzinfo=timezone.utc), datetime(2026, 3, 15, 23, 59, 59, tzinfo=timezone.utc))
PREVIOUS = Period(datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 7, 23, 59, 59, tzinfo=timezone.utc))
OPTIONS: dict[str, dict[str, Any]] = {
    "whole": {},
    "period": {"period": PERIOD, "previous": PREVIOUS},
    "journey": {},   # the workload's first journey alone: the others' messages still compete for its orders
}
FIRST = {"bench": "welcome", "varied": "promo"}


def reports(folder: Path) -> dict[str, Any]:
    """Each workload's report under each option, as JSON would carry it."""
    workloads = {"bench": bench_logs(folder), "varied": varied_logs()}
    built = {f"{w}/{o}": build_report(ReportInput(records, events, source="pinned",
                                                  **({"journey": FIRST[w]} if o == "journey" else options)))
             for w, (records, events) in workloads.items() for o, options in OPTIONS.items()}
    as_json: dict[str, Any] = json.loads(json.dumps(built, sort_keys=True))
    return as_json


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return reports(tmp_path_factory.mktemp("pinned"))


@pytest.mark.parametrize("name", [f"{w}/{o}" for w in ("bench", "varied") for o in OPTIONS])
def test_the_report_is_the_one_the_earlier_tally_built(built: dict[str, Any], name: str) -> None:
    expected = json.loads(PINNED.read_text())[name]
    for section in sorted(set(expected) | set(built[name])):
        assert built[name].get(section) == expected.get(section), section


def by_hand(records: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, Any]:
    """Sends, reasons, recipients, unique provider flags and goal conversions, per journey, by plain loops."""
    counts: dict[str, dict[str, Any]] = {}
    sent_to: dict[str, str] = {}
    for r in records:
        if not r.get("journey"):
            continue
        j = counts.setdefault(r["journey"], {"entered": 0, "sent": 0, "recipients": set(), "conversions": 0,
                                             "goal_value": 0.0, "suppressed": 0, "delivered": set(), "opened": set(),
                                             "clicked": set(), "bounced": set()})
        who = r.get("customer_id") or f"anon:{r.get('anonymous_id')}"
        if r["type"] == "entered":
            j["entered"] += 1
        elif r["type"] == "send" and r["status"] == "sent":
            j["sent"] += 1
            j["recipients"].add(who)
            if r.get("message_id"):
                sent_to[r["message_id"]] = r["journey"]
        elif r["type"] == "send" and r["status"] == "suppressed":
            j["suppressed"] += 1
        elif r["type"] == "converted":
            j["conversions"] += 1
            j["goal_value"] += r["value"] or 0.0
    for e in events:
        journey = sent_to.get((e.get("properties") or {}).get("message_id", ""))
        if journey is None or not e.get("timestamp"):
            continue
        mid = e["properties"]["message_id"]
        if e["type"] in ENGAGING:
            counts[journey]["delivered"].add(mid)
        for flag, kinds in (("opened", ("email_opened",)), ("clicked", ("email_clicked", "sms_clicked")),
                            ("bounced", ("email_bounced", "sms_failed"))):
            if e["type"] in kinds:
                counts[journey][flag].add(mid)
    return {journey: {k: len(v) if isinstance(v, set) else round(v, 2) if isinstance(v, float) else v
                      for k, v in j.items()} for journey, j in counts.items()}


@pytest.mark.parametrize("workload", ["bench", "varied"])
def test_the_journeys_totals_equal_counts_made_by_hand(tmp_path: Path, workload: str) -> None:
    records, events = bench_logs(tmp_path) if workload == "bench" else varied_logs()
    expected = by_hand(records, events)
    report = build_report(ReportInput(records, events))
    got = {j["id"]: {"entered": j["entered"], "sent": j["sent"], "recipients": j["recipients"],
                     "conversions": j["conversions"], "goal_value": j["goal_value"],
                     "suppressed": sum(j["suppressed"].values()), "delivered": j["delivered"], "opened": j["opened"],
                     "clicked": j["clicked"], "bounced": j["bounced"]} for j in report["journeys"]}
    assert got == expected
    assert report["totals"]["sent"] == sum(j["sent"] for j in expected.values())
    recipients = {r.get("customer_id") or f"anon:{r['anonymous_id']}" for r in records
                  if r["type"] == "send" and r["status"] == "sent"}
    assert report["totals"]["recipients"] == len(recipients)
    orders = {e["id"]: e for e in events if e["type"] == "purchase" and isinstance(e["properties"].get("total"), (int, float))
              and (e.get("customer_id") or e.get("anonymous_id"))}
    assert report["revenue"]["orders"] == len(orders)
    assert report["revenue"]["order_total"] == round(sum(e["properties"]["total"] for e in orders.values()), 2)


def test_each_steps_recipients_are_its_distinct_customers() -> None:
    records, events = varied_logs()
    report = build_report(ReportInput(records, events))
    expected: dict[tuple[str, str], set[str]] = {}
    for r in records:
        if r["type"] == "send" and r["status"] == "sent":
            expected.setdefault((r["journey"], r["step"]), set()).add(r.get("customer_id") or f"anon:{r['anonymous_id']}")
    got = {(j["id"], s["id"]): s["recipients"] for j in report["journeys"] for s in j["steps"]}
    assert got == {k: len(v) for k, v in expected.items()}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        PINNED.parent.mkdir(exist_ok=True)
        PINNED.write_text(json.dumps(reports(Path(tmp)), sort_keys=True, separators=(",", ":")) + "\n")
