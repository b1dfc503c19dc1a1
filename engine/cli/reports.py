"""`nudge report` and `nudge map`: what the journeys did, read from the logs of a server or a simulation."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import orjson
import typer

from engine.cli.common import WorkspaceOpt, err, load, parse_time, with_progress

app = typer.Typer()

LogsDbOpt = Annotated[Optional[Path], typer.Option(help="The SQLite file of `nudge run`.", exists=True, dir_okay=False)]
InputOpt = Annotated[Optional[Path], typer.Option("--input", help="`nudge simulate` output (JSONL).", exists=True, dir_okay=False)]
EventsOpt = Annotated[Optional[Path], typer.Option(help="With --input: the events (SPEC §2), provider feedback and purchases included.", exists=True, dir_okay=False)]
SinceOpt = Annotated[Optional[str], typer.Option(help="Start: RFC 3339 / YYYY-MM-DD, or a duration (30d) back from --until or the newest record.")]
UntilOpt = Annotated[Optional[str], typer.Option(help="End: RFC 3339 or YYYY-MM-DD (that whole day).")]


def _build_report(db: Path | None, input: Path | None, events: Path | None, since: str | None, until: str | None,
                  journey: str | None, workspace: Path, compare: bool) -> dict[str, Any]:
    """The report of `nudge report` and `nudge map`: read the logs once, compare with the period before when asked."""
    from engine.reports import ReportInput, build_report
    from engine.model import DEFAULT_PURCHASE_EVENTS
    from engine.reports.catalog import Catalog
    from engine.reports.period import Period, previous
    from engine.runtimes import report_sources as sources
    from engine.runtimes.embedded import database
    from rules.durations import parse_duration

    conn = database.connect(db) if db else None
    end = _day_or_time(until, end_of_day=True) if until else None
    start: datetime | None = None
    newest = parse_time(latest) if since and (latest := sources.latest_at(input, conn)) else None
    if since and since[-1] in "smhdw":
        try:
            back = parse_duration(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        anchor = end or newest
        start = anchor - back if anchor else None
    elif since:
        start = _day_or_time(since, end_of_day=False)
    catalog = Catalog.of(load(workspace).workspace) if (workspace / "journeys.yaml").exists() else Catalog()
    period = Period(start, end)
    try:
        order_types = catalog.workspace.settings.purchase_events if catalog.workspace else DEFAULT_PURCHASE_EVENTS
        logs = (sources.from_db(conn, str(db), order_types) if conn
                else sources.from_files(input, events))  # type: ignore[arg-type]
        size = logs.size if logs.size is not None else (sources.count_lines(input) if err.is_terminal and input else 0)
        inp = ReportInput(logs.records, logs.events, period, journey, catalog, logs.source,
                          previous=previous(period, newest) if compare else None,
                          waiting=sources.waiting_now(conn) if conn else None)
        result: dict[str, Any] = with_progress(lambda progress: build_report(inp, progress), size,
                                                "building the report")
    except sources.SourceError as exc:
        err.print(str(exc), markup=False, soft_wrap=True, style="red")
        raise typer.Exit(1) from None
    return result


@app.command()
def report(
    db: LogsDbOpt = None,
    input: InputOpt = None,
    events: EventsOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    journey: Annotated[Optional[str], typer.Option(help="Only this journey id.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="html, csv or json.")] = "json",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    compare: Annotated[bool, typer.Option("--compare/--no-compare", help="With --since: compare with the period of the same length just before.")] = True,
    maps: Annotated[bool, typer.Option("--maps/--no-maps", help="HTML: draw each journey's map (D2).")] = True,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Campaign performance (funnels, experiments, journey maps) and customer analytics from the logs (docs/reports.md)."""
    from engine.reports.page import render_html
    from engine.reports.spreadsheet import render_csv
    from engine.runtimes.d2 import render_maps

    if format not in ("html", "csv", "json") or (db is None) == (input is None) or (events and not input):
        raise typer.BadParameter("give --db or --input (with --events optionally), and --format html, csv or json")
    result = _build_report(db, input, events, since, until, journey, workspace, compare)
    if format == "html":
        text = render_html(result, render_maps(result) if maps else None)
    else:
        text = render_csv(result) if format == "csv" else orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"report written to {output}")
    else:
        sys.stdout.write(text)


@app.command("map")
def map_command(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the SVG here instead of stdout.")] = None,
    db: LogsDbOpt = None,
    input: InputOpt = None,
    events: EventsOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Draw a journey as a diagram (SVG, laid out by D2) with live counts from --db (or --input); none without."""
    from engine.reports.journey_map import d2_source, structure
    from engine.runtimes.d2 import DiagramError, render_svg

    if input is not None and db is not None or (events and not input):
        raise typer.BadParameter("give --db or --input (with --events optionally), or neither for the map alone")
    model = next((j for j in load(workspace).workspace.journeys if j.id == journey), None)
    if model is None:
        raise typer.BadParameter(f"no journey '{journey}' in {workspace}")
    if db is None and input is None:
        drawn = structure(model).as_dict()
    else:
        report = _build_report(db, input, events, since, until, journey, workspace, compare=False)
        drawn = next(j["map"] for j in (*report["journeys"], *report["idle_journeys"]) if j["id"] == journey)
    try:
        svg = render_svg(d2_source(drawn))
    except DiagramError as exc:
        err.print(str(exc), markup=False, soft_wrap=True, style="red")
        raise typer.Exit(1) from None
    if output:
        output.write_text(svg, encoding="utf-8")
        err.print(f"map written to {output}")
    else:
        sys.stdout.write(svg)


def _day_or_time(value: str, end_of_day: bool) -> datetime:
    """YYYY-MM-DD is that whole day in UTC (an end date includes it); else RFC 3339."""
    if len(value) == 10:
        return parse_time(value + ("T23:59:59.999999Z" if end_of_day else "T00:00:00Z"))
    return parse_time(value)
