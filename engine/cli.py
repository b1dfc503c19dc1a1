"""The `nudge` command line: validate, simulate, preview and schema."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import orjson
import typer
from rich.console import Console

from connectors.channels.config import ConfigError
from engine.runtimes.embedded.lock import DatabaseLock
from engine.runtimes.startup import EX_CONFIG, EX_NOINPUT, StartupError, reason
from rules.problems import NudgeError, Severity, WorkspaceError
from rules.workspace import load_workspace

app = typer.Typer(
    help="Nudge: journeys as YAML, a deterministic engine, messages sent exactly once.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True, highlight=False)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Folder holding journeys.yaml.", file_okay=False)]
# servers check readability themselves, to refuse in one line with a sysexits status
ServerWorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Folder holding journeys.yaml.",
                                                  file_okay=False, readable=False)]


def _load(workspace: Path) -> Any:
    try:
        loaded = load_workspace(workspace)
    except WorkspaceError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, soft_wrap=True,
                      style="red" if problem.severity is Severity.ERROR else "yellow")
        err.print(f"{len(exc.errors)} error(s): nothing was run.", style="bold red")
        raise typer.Exit(1) from None
    for warning in loaded.warnings:
        err.print(str(warning), markup=False, soft_wrap=True, style="yellow")
    return loaded


@app.command()
def validate(workspace: WorkspaceOpt = Path(".")) -> None:
    """Check journeys.yaml, every journey and template; list every problem as file:line:column."""
    loaded = _load(workspace)
    ws = loaded.workspace
    err.print(f"ok: {len(ws.journeys)} journeys, {len(ws.segments)} segments, {len(loaded.warnings)} warning(s)")


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not RFC 3339, e.g. 2026-04-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"'{value}' needs an offset, e.g. Z")
    return parsed.astimezone(timezone.utc)


@app.command()
def simulate(
    events: Annotated[Path, typer.Option(help="Recorded events, one JSON object per line.", exists=True, dir_okay=False)],
    workspace: WorkspaceOpt = Path("."),
    profiles: Annotated[Optional[Path], typer.Option(help='Lines of {"customer_id": ..., "traits": {...}}.', exists=True, dir_okay=False)] = None,
    until: Annotated[Optional[str], typer.Option(help="Run the virtual clock to this RFC 3339 time (default: 30 days after the last event).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first refused event line (exit 1) instead of writing a `rejected` record.")] = False,
) -> None:
    """Replay recorded events through the journeys with a virtual clock; print every outcome as JSONL."""
    from engine.runtimes.jsonl import InputError, read_event_lines, read_profiles
    from engine.runtimes.simulate import simulate as run

    loaded = _load(workspace)
    try:
        event_list, refused = read_event_lines(events, loaded.workspace.settings.future_skew)
        profile_list = read_profiles(profiles) if profiles else []
    except InputError as exc:
        err.print(str(exc), markup=False, soft_wrap=True, style="red")
        raise typer.Exit(1) from None
    if strict and refused:
        err.print(f"{events}:{refused[0].line}: {refused[0].reason}", markup=False, soft_wrap=True, style="red")
        err.print("--strict: nothing was run.", style="bold red")
        raise typer.Exit(1)
    if refused:
        err.print(f"warning: {len(refused)} event line(s) refused, first {events}:{refused[0].line}: {refused[0].reason} "
                  "(each one is a `rejected` record)", markup=False, soft_wrap=True, style="yellow")
    stop = _parse_time(until) if until else None
    result = _with_progress(lambda progress: run(loaded.workspace, event_list, profile_list, stop, progress, refused),
                            len(event_list))
    for d in result.diagnostics:
        err.print(f"warning: {d.at.isoformat()} journey {d.journey} step {d.step} customer {d.customer_id}: {d.message}",
                  markup=False, soft_wrap=True, style="yellow")
    data = b"".join(orjson.dumps(r) + b"\n" for r in result.records)
    if output:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _with_progress(work: Any, total: int, label: str = "simulating") -> Any:
    """A progress bar on stderr for long inputs, only when a person is watching."""
    if not err.is_terminal or total < 50_000:
        return work(None)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        return work(lambda n: bar.update(task, completed=n))


def _json_arg(value: str | None, what: str) -> dict[str, Any]:
    """Inline JSON, or @path to a JSON file."""
    if not value:
        return {}
    try:
        raw = Path(value[1:]).read_bytes() if value.startswith("@") else value.encode()
        data = orjson.loads(raw)
    except (OSError, orjson.JSONDecodeError) as exc:
        raise typer.BadParameter(f"{what}: {exc}") from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{what}: expected a JSON object")
    return data


@app.command()
def preview(
    template: Annotated[str, typer.Argument(help="Template name, e.g. cart_reminder (without .email.html).")],
    workspace: WorkspaceOpt = Path("."),
    profile: Annotated[Optional[str], typer.Option(help='Traits as JSON, or @file.json, e.g. \'{"first_name": "Ann"}\'.')] = None,
    event: Annotated[Optional[str], typer.Option(help="The event as JSON (SPEC §2), or @file.json.")] = None,
    channel: Annotated[str, typer.Option(help="email or sms.")] = "email",
    html_out: Annotated[Optional[Path], typer.Option(help="Where to write the email HTML (default: preview-NAME.html).")] = None,
) -> None:
    """Render one template with a sample profile and event: subject, text, and the HTML to a file."""
    from engine.links import SignedLinks
    from engine.runtimes.simulate import SIMULATE_BASE_URL, SIMULATE_SECRET
    from engine.state import ActivityMap

    loaded = _load(workspace)
    ws = loaded.workspace
    traits = _json_arg(profile, "--profile")
    ev = _json_arg(event, "--event")
    now = datetime.now(timezone.utc)
    ev.setdefault("type", "preview")
    ev.setdefault("properties", {})
    ev.setdefault("timestamp", now)
    context = {
        "profile": traits, "activity": ActivityMap(), "event": ev, "trigger_event": ev,
        "journey": {"id": "preview", "name": "Preview", "entered_at": now, "variant": {}}, "now": now,
        "settings": ws.settings.raw,
        "unsubscribe_url": SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL).unsubscribe_url("preview", channel),
    }
    try:
        rendered = ws.renderer.render(template, channel, traits.get("locale"), context)
    except LookupError as exc:
        err.print(str(exc).strip("'\""), style="red")
        raise typer.Exit(1) from None
    except Exception as exc:
        err.print(f"template error: {type(exc).__name__}: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None
    out = Console(highlight=False)
    if rendered.subject is not None:
        out.print(f"[bold]Subject:[/bold] {rendered.subject}")
    if rendered.preheader:
        out.print(f"[bold]Preheader:[/bold] {rendered.preheader}")
    if rendered.segments is not None:
        out.print(f"[bold]SMS:[/bold] {len(rendered.text)} characters, {rendered.segments} segment(s), {rendered.encoding}")
    out.print()
    out.print(rendered.text, markup=False)
    if rendered.html is not None:
        target = html_out or Path(f"preview-{template}.html")
        target.write_text(rendered.html, encoding="utf-8")
        out.print(f"\n[dim]HTML written to {target}[/dim]")


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(help="journey (a file in journeys/) or workspace (journeys.yaml).")] = "journey",
) -> None:
    """Print the JSON Schema of journey files or of journeys.yaml, for editor completion."""
    from rules.schema import journey_file_schema, workspace_file_schema

    if kind not in ("journey", "workspace"):
        raise typer.BadParameter("kind is 'journey' or 'workspace'")
    document = journey_file_schema() if kind == "journey" else workspace_file_schema()
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def _start(command: str, workspace: Path, start: Callable[[], None]) -> None:
    """A server that cannot start says what and where in one line, with a sysexits status
    (docs/operations.md, "Health and start-up"), instead of a traceback."""
    try:
        try:
            os.listdir(workspace)
            if (workspace / "journeys.yaml").exists():
                (workspace / "journeys.yaml").open("rb").close()
        except OSError as exc:
            raise StartupError(EX_NOINPUT, f"cannot read workspace {workspace}: {reason(exc)}") from None
        _load(workspace)
        start()
    except StartupError as exc:
        err.print(f"{command}: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(exc.status) from None
    except ConfigError as exc:
        err.print(f"{command}: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(EX_CONFIG) from None


@app.command("run")
def run_command(
    workspace: ServerWorkspaceOpt = Path("."),
    db: Annotated[Optional[Path], typer.Option(help="SQLite file (default: WORKSPACE/nudge.db).", readable=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the engine and its HTTP API in one process, with state in SQLite."""
    from engine.runtimes.embedded.serve import run

    _start("nudge run", workspace, lambda: run(workspace, db, host, port))


def _sole_writer(command: str, db: Path) -> DatabaseLock:
    """A command that writes takes the server's lock for its run: beside a running server it is
    refused (the server would not notice the change until much later), and no server starts meanwhile."""
    try:
        return DatabaseLock.acquire(db, command)
    except StartupError as exc:
        err.print(f"{command}: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(exc.status) from None


DbOpt = Annotated[Path, typer.Option(help="The SQLite file of `nudge run`.", exists=True, dir_okay=False)]


OUTBOX_COLUMNS = ("id", "status", "channel", "journey", "step", "to", "at", "attempts", "error")


@app.command()
def outbox(
    db: DbOpt,
    ids: Annotated[Optional[list[str]], typer.Argument(help="Message ids for --requeue or --resolve.", show_default=False)] = None,
    in_doubt: Annotated[bool, typer.Option("--in-doubt", help="Only messages whose hand-off may or may not have landed.")] = False,
    dead: Annotated[bool, typer.Option("--dead", help="Only messages that failed for good.")] = False,
    status: Annotated[Optional[str], typer.Option(help="Only this status: pending, sending, sent, in_doubt, dead, erased.")] = None,
    requeue: Annotated[bool, typer.Option("--requeue", help="Send dead messages again: the IDS given, those matching --reason, or --all.")] = False,
    reason: Annotated[Optional[str], typer.Option(help="With --requeue: dead messages whose error contains this text.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="With --requeue: every dead message.")] = False,
    resolve: Annotated[Optional[str], typer.Option(help="Resolve this in-doubt message (and any IDS given) --as sent or resend.")] = None,
    resolve_all: Annotated[bool, typer.Option("--resolve-all", help="Resolve every in-doubt message --as sent or resend.")] = False,
    as_: Annotated[Optional[str], typer.Option("--as", help="With --resolve: 'sent' (the provider has it) or 'resend'.")] = None,
    limit: int = 50,
) -> None:
    """List outbox messages (full ids, one per line); re-queue dead ones; resolve ones in doubt (docs/operations.md).

    Re-queuing and resolving write: beside a running server they are refused; use its /v1/outbox API instead.
    """
    from engine.runtimes.embedded import database, queries

    conn = database.connect(db)
    if resolve or resolve_all:
        if as_ not in ("sent", "resend"):
            raise typer.BadParameter("--as must be 'sent' or 'resend'")
        chosen = None if resolve_all else [*([resolve] if resolve else []), *(ids or [])]
        with _sole_writer("nudge outbox --resolve", db):
            done = queries.resolve_in_doubt(conn, as_, chosen)
        for mid in done:
            err.print(f"{mid}: {'marked sent' if as_ == 'sent' else 'queued to send again'}", soft_wrap=True)
        missing = sorted(set(chosen or []) - set(done))
        for mid in missing:
            err.print(f"no in-doubt message '{mid}'", style="red", soft_wrap=True)
        err.print(f"{len(done)} resolved")
        if missing or (chosen is not None and not done):
            raise typer.Exit(1)
        return
    if requeue:
        if not (ids or reason or all_):
            raise typer.BadParameter("--requeue needs message ids, --reason TEXT or --all")
        with _sole_writer("nudge outbox --requeue", db):
            done = queries.requeue_dead(conn, ids or None, reason)
        missing = sorted(set(ids or []) - set(done))
        for mid in missing:
            err.print(f"no dead message '{mid}' (or its data was erased)", style="red", soft_wrap=True)
        err.print(f"{len(done)} dead message(s) queued to send again")
        if missing:
            raise typer.Exit(1)
        return
    rows = queries.outbox_rows(conn, "in_doubt" if in_doubt else "dead" if dead else status, limit)
    table = [list(OUTBOX_COLUMNS)] + [[" ".join(str(r[k]).split()) if r[k] is not None else "" for k in OUTBOX_COLUMNS]
                                     for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(OUTBOX_COLUMNS) - 1)]
    for row in table:  # plain columns, never cut: ids are copied from here into --resolve and --requeue
        sys.stdout.write("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip() + "\n")


@app.command()
def failed(
    db: DbOpt,
    retry: Annotated[bool, typer.Option("--retry", help="Put them all back to be processed (after a fix).")] = False,
    limit: int = 50,
) -> None:
    """List events and timers the engine failed on and set aside; retry them after a fix."""
    from rich.table import Table

    from engine.runtimes.embedded import database, queries

    database.create(db)  # a file from before failed_inputs existed gets the table
    conn = database.connect(db)
    if retry:
        with _sole_writer("nudge failed --retry", db):
            err.print(f"{queries.retry_failed(conn)} input(s) back in the queue")
        return
    table = Table("kind", "ref", "customer", "at", "error")
    for r in queries.failed_inputs(conn, limit):
        who = r["body"].get("customer_id") or r["body"].get("anonymous_id") or r["body"].get("key") or ""
        at = datetime.fromtimestamp(r["at"], timezone.utc).isoformat(timespec="seconds")
        table.add_row(r["kind"], r["ref"], str(who), at, r["error"])
    Console().print(table)


@app.command()
def plan(
    db: DbOpt,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Show what an edited workspace would do to customers in flight: continue, move, or exit."""
    from rich.table import Table

    from engine.migration import Fate, summarize
    from engine.runtimes.embedded import database, queries

    loaded = _load(workspace)
    rows = summarize(queries.in_flight(database.connect(db)), loaded.workspace)
    table = Table("journey", "step", "customers", "what happens")
    words = {Fate.CONTINUE: "continue", Fate.MOVE: "move (same step id, new place)", Fate.EXIT: "exit: step_removed"}
    for row in rows:
        table.add_row(row.journey, row.step or "(end)", str(row.count), words[row.fate],
                      style="red" if row.fate is Fate.EXIT else None)
    Console().print(table)
    exits = sum(r.count for r in rows if r.fate is Fate.EXIT)
    err.print(f"{sum(r.count for r in rows)} customers in flight; {exits} would exit.")


@app.command()
def api(
    kafka: Annotated[bool, typer.Option("--kafka", help="Produce events to Kafka for `nudge worker` processes.")] = False,
    workspace: ServerWorkspaceOpt = Path("."),
    db: Annotated[Optional[Path], typer.Option(help="Local SQLite for the outbox and records (default: WORKSPACE/nudge-edge.db).", readable=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """The HTTP API and the dispatcher beside Kafka workers (`nudge run` is the all-in-one runtime)."""
    from engine.runtimes.embedded.serve import run

    if not kafka:
        err.print("nudge api serves Kafka workers: add --kafka (for one process with SQLite, use nudge run)", style="red")
        raise typer.Exit(2)
    _start("nudge api", workspace, lambda: run(workspace, db, host, port, kafka=True))


@app.command()
def worker(
    workspace: ServerWorkspaceOpt = Path("."),
    bootstrap: Annotated[Optional[str], typer.Option(help="Kafka bootstrap server (default $NUDGE_KAFKA_BOOTSTRAP or 127.0.0.1:9092).")] = None,
    partitions: Annotated[Optional[int], typer.Option(help="Partitions of Nudge's topics (default $NUDGE_KAFKA_PARTITIONS or 8).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Local table state (default $NUDGE_KAFKA_DATA_DIR or .nudge-worker).")] = None,
) -> None:
    """Run the engine as a Kafka worker (faust-streaming); start as many as you need."""
    import dataclasses

    import faust

    from engine.runtimes.kafka.worker import KafkaSettings, create_worker

    def start() -> None:
        settings = KafkaSettings.from_env(os.environ)
        if bootstrap:
            settings = dataclasses.replace(settings, bootstrap=bootstrap)
        if partitions:
            settings = dataclasses.replace(settings, partitions=partitions)
        if data_dir:
            settings = dataclasses.replace(settings, data_dir=str(data_dir))
        fapp = create_worker(workspace, settings)
        runner = faust.Worker(fapp, loglevel=os.environ.get("NUDGE_LOG_LEVEL", "warning").lower())
        # faust's terminal spinner turns the root logger to DEBUG to spin on every record: every
        # produce then formats a debug message (a tenth of a worker's time). No spinner, no cost.
        runner.spinner = None
        runner.execute_from_commandline()

    _start("nudge worker", workspace, start)


@app.command()
def report(
    db: Annotated[Optional[Path], typer.Option(help="The SQLite file of `nudge run`.", exists=True, dir_okay=False)] = None,
    input: Annotated[Optional[Path], typer.Option("--input", help="`nudge simulate` output (JSONL).", exists=True, dir_okay=False)] = None,
    events: Annotated[Optional[Path], typer.Option(help="With --input: the events (SPEC §2), provider feedback and purchases included.", exists=True, dir_okay=False)] = None,
    since: Annotated[Optional[str], typer.Option(help="Start: RFC 3339 / YYYY-MM-DD, or a duration (30d) back from --until or the newest record.")] = None,
    until: Annotated[Optional[str], typer.Option(help="End: RFC 3339 or YYYY-MM-DD (that whole day).")] = None,
    journey: Annotated[Optional[str], typer.Option(help="Only this journey id.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="html, csv or json.")] = "json",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Campaign performance (funnels, experiments) and customer analytics from the logs (docs/reports.md)."""
    from engine.reports import ReportInput, build_report
    from engine.model import DEFAULT_PURCHASE_EVENTS
    from engine.reports.catalog import Catalog
    from engine.reports.page import render_html
    from engine.reports.period import Period
    from engine.reports.spreadsheet import render_csv
    from engine.runtimes import report_sources as sources
    from engine.runtimes.embedded import database
    from rules.durations import parse_duration

    if format not in ("html", "csv", "json") or (db is None) == (input is None) or (events and not input):
        raise typer.BadParameter("give --db or --input (with --events optionally), and --format html, csv or json")
    conn = database.connect(db) if db else None
    end = _day_or_time(until, end_of_day=True) if until else None
    start: datetime | None = None
    if since and since[-1] in "smhdw":
        try:
            back = parse_duration(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        anchor = end or (_parse_time(newest) if (newest := sources.latest_at(input, conn)) else None)
        start = anchor - back if anchor else None
    elif since:
        start = _day_or_time(since, end_of_day=False)
    catalog = Catalog.of(_load(workspace).workspace) if (workspace / "journeys.yaml").exists() else Catalog()
    try:
        order_types = catalog.workspace.settings.purchase_events if catalog.workspace else DEFAULT_PURCHASE_EVENTS
        logs = (sources.from_db(conn, str(db), order_types) if conn
                else sources.from_files(input, events))  # type: ignore[arg-type]
        size = logs.size if logs.size is not None else (sources.count_lines(input) if err.is_terminal and input else 0)
        inp = ReportInput(logs.records, logs.events, Period(start, end), journey, catalog, logs.source)
        result = _with_progress(lambda progress: build_report(inp, progress), size, "building the report")
    except sources.SourceError as exc:
        err.print(str(exc), markup=False, soft_wrap=True, style="red")
        raise typer.Exit(1) from None
    renderers = {"json": lambda r: orjson.dumps(r, option=orjson.OPT_INDENT_2).decode() + "\n",
                 "csv": render_csv, "html": render_html}
    text = renderers[format](result)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"report written to {output}")
    else:
        sys.stdout.write(text)


def _day_or_time(value: str, end_of_day: bool) -> datetime:
    """YYYY-MM-DD is that whole day in UTC (an end date includes it); else RFC 3339."""
    if len(value) == 10:
        return _parse_time(value + ("T23:59:59.999999Z" if end_of_day else "T00:00:00Z"))
    return _parse_time(value)


def main() -> None:
    try:
        app()
    except NudgeError as exc:
        err.print(str(exc), style="red", markup=False)
        raise SystemExit(1) from None
