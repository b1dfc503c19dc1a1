"""`GET /reports`: the same report as `nudge report --db`, read from the running store."""

from __future__ import annotations

import sqlite3

import orjson

from engine.model import Workspace
from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.reports.page import render_html
from engine.reports.period import Period, parse_at, previous
from engine.reports.spreadsheet import render_csv
from engine.runtimes.d2 import render_maps
from engine.runtimes.embedded import broadcasts
from engine.runtimes.report_sources import from_db, latest_at, waiting_now

MEDIA = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def report_page(conn: sqlite3.Connection, workspace: Workspace, format: str, since: str | None, until: str | None,
                journey: str | None) -> tuple[bytes, str]:
    """The body and its media type; ValueError names a bad parameter."""
    if format not in MEDIA:
        raise ValueError(f"format '{format}' is not html, csv or json")
    try:
        period = Period(parse_at(since + ("T00:00:00Z" if len(since) == 10 else "")) if since else None,
                        parse_at(until + ("T23:59:59.999999Z" if len(until) == 10 else "")) if until else None)
    except ValueError:
        raise ValueError("since and until are YYYY-MM-DD or RFC 3339") from None
    logs = from_db(conn, "nudge run", workspace.settings.purchase_events)
    newest = latest_at(conn=conn)
    before = previous(period, parse_at(newest) if newest else None)
    report = build_report(ReportInput(logs.records, logs.events, period, journey, Catalog.of(workspace), logs.source,
                                      previous=before, waiting=waiting_now(conn)))
    report["broadcasts"] = [broadcasts.status(conn, b.id) for b in workspace.broadcasts]  # live, whatever the period
    if format == "json":
        return orjson.dumps(report), MEDIA[format]
    return (render_html(report, render_maps(report)) if format == "html" else render_csv(report)).encode(), MEDIA[format]
