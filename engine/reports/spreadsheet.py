"""The CSV report: one row per journey, step (and pass of a step inside a repeat), variant and template,
the same columns for each."""

from __future__ import annotations

import csv
import io
from typing import Any, Mapping

COUNTS = ("entered", "sent", "recipients", "delivery_reported", "delivered", "opened", "clicked", "conversions",
          "goal_value", "orders", "attributed_revenue", "unsubscribed", "bounced", "complained")
RATES = ("delivery_rate", "open_rate", "click_rate", "click_to_open_rate", "conversion_rate",
         "attributed_revenue_per_recipient", "unsubscribe_rate", "bounce_rate", "complaint_rate")
COLUMNS = ("level", "journey", "id", "split", *COUNTS, "suppressed", "skipped", "failed", *RATES, "pass")
PASS_COUNTS = frozenset({"sent", "recipients", "delivered", "opened", "clicked", "conversions", "orders",
                         "attributed_revenue"})
PASS_RATES = frozenset({"open_rate", "click_rate"})


def _row(level: str, journey: str, f: Mapping[str, Any]) -> list[Any]:
    reasons = [";".join(f"{k}={v}" for k, v in f[s].items()) for s in ("suppressed", "skipped", "failed")]
    rates = ["" if f["rates"][r] is None else round(f["rates"][r], 6) for r in RATES]
    return [level, journey, f["id"], f.get("split") or "", *(f[c] if f[c] is not None else "" for c in COUNTS), *reasons, *rates, ""]


def _passes(journey: str, step: Mapping[str, Any]) -> list[list[Any]]:
    """A step inside a repeat, pass by pass (the counts a pass has; `not_sent` as skipped=n)."""
    def cell(row: Mapping[str, Any], name: str, kept: frozenset[str]) -> Any:
        return "" if name not in kept or row[name] is None else row[name]

    return [["pass", journey, step["id"], step.get("split") or "", *(cell(i, c, PASS_COUNTS) for c in COUNTS),
             "", f"not_sent={i['not_sent']}" if i["not_sent"] else "", "",
             *(cell(i, r, PASS_RATES) for r in RATES), i["iteration"]] for i in step.get("iterations", ())]


def render_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for j in report["journeys"]:
        writer.writerow(_row("journey", j["id"], j))
        for s in j["steps"]:
            writer.writerow(_row("step", j["id"], s))
            writer.writerows(_passes(j["id"], s))
        writer.writerows(_row("variant", j["id"], v) for v in j["variants"])
    writer.writerows(_row("template", "", t) for t in report.get("templates", ()))   # across journeys
    return out.getvalue()
