"""Running the servers and tending them: run, api, worker; apply and plan edits; outbox and failed inputs."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console

from connectors.channels.config import ConfigError
from engine.cli.common import ServerWorkspaceOpt, WorkspaceOpt, err, load
from engine.runtimes.embedded.lock import DatabaseLock
from engine.runtimes.settings import Settings
from engine.runtimes.startup import EX_CONFIG, EX_NOINPUT, EX_TEMPFAIL, StartupError, reason

app = typer.Typer()


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
        load(workspace)
        start()
    except StartupError as exc:
        err.print(f"{command}: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(exc.status) from None
    except ConfigError as exc:
        err.print(f"{command}: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(EX_CONFIG) from None


WatchOpt = Annotated[bool, typer.Option(
    "--watch", help="Development: apply each saved edit of the files at once; one that would exit customers "
                    "is held (shown on /healthz) until `nudge apply --yes`.")]


@app.command("run")
def run_command(
    workspace: ServerWorkspaceOpt = Path("."),
    db: Annotated[Optional[Path], typer.Option(help="SQLite file (default: WORKSPACE/nudge.db).", readable=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    watch: WatchOpt = False,
    yes: Annotated[bool, typer.Option(
        "--yes", help="Start even though files edited while stopped would exit customers in flight "
                      "(step_removed); without it such a start is refused.")] = False,
    engine_in_process: Annotated[bool, typer.Option(
        "--engine-in-process", help="Run the engine loop on a thread of the server's process instead of a "
                                    "process of its own (slower: the two share one interpreter lock).")] = False,
) -> None:
    """Run the engine and its HTTP API, with state in SQLite; edits apply with `nudge apply`.

    The engine runs in a second process beside the API's (docs/operations.md, "The engine process")."""
    from engine.runtimes.embedded.runtime import EmbeddedRuntime
    from engine.runtimes.serve import run

    path = db or workspace / "nudge.db"
    _start("nudge run", workspace, lambda: run(
        lambda url, settings: EmbeddedRuntime(workspace, path, url, settings=settings, confirm_exits=yes,
                                              engine_process=not engine_in_process), workspace,
        path, host, port, Settings.from_env(os.environ), watch))


EX_UNAVAILABLE, EX_NOPERM = 69, 77  # sysexits(3): no server answers; the key is refused
EXIT_REFUSED = 3  # `nudge apply`: customers would exit, and --yes was not given


@app.command("apply")
def apply_command(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply even though customers would exit step_removed.")] = False,
    reschedule: Annotated[bool, typer.Option(
        "--reschedule", help="Customers in a wait whose duration or time changed get the new one "
                             "(default: they keep the due time they have).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    url: Annotated[Optional[str], typer.Option(
        envvar="NUDGE_URL", help="The running server (default $NUDGE_URL, else http://127.0.0.1:8080, where `nudge run` listens).")] = None,
    key: Annotated[Optional[str], typer.Option(
        envvar="NUDGE_API_KEY", help="An API key (default $NUDGE_API_KEY, else the first of $NUDGE_API_KEYS, else the key `nudge run` "
             "generated beside its database).")] = None,
    workspace: WorkspaceOpt = Path("."),
    db: Annotated[Optional[Path], typer.Option(help="Where to find the generated key (default: WORKSPACE/nudge.db).",
                                               dir_okay=False)] = None,
) -> None:
    """Apply the edited workspace to the running server: prints the plan (who stays, moves, exits), then applies.

    Refused (exit 3) when customers would exit and --yes is not given; exit 1 when the files have problems."""
    import httpx

    target = (url or "http://127.0.0.1:8080").rstrip("/")
    secret = key or _first_key(Settings.from_env(os.environ).api.keys, db or workspace / "nudge.db")
    if not secret:
        err.print("nudge apply: no API key: give --key, or set NUDGE_API_KEY", style="red")
        raise typer.Exit(EX_NOPERM)
    try:
        response = httpx.post(target + "/v1/workspace/apply", headers={"Authorization": f"Bearer {secret}"},
                              json={"confirm": yes, "reschedule": reschedule, "dry_run": dry_run}, timeout=300)
    except httpx.HTTPError as exc:
        err.print(f"nudge apply: no Nudge server answers at {target} ({exc}); start it with `nudge run`, or give "
                  "--url / NUDGE_URL", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(EX_UNAVAILABLE) from None
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code in (401, 403):
        err.print(f"nudge apply: {body.get('detail') or body.get('error') or response.text}", style="red", markup=False)
        raise typer.Exit(EX_NOPERM)
    if "outcome" not in body:
        err.print(f"nudge apply: {target} answered {response.status_code}: {response.text[:500]}", style="red",
                  markup=False, soft_wrap=True)
        raise typer.Exit(EX_UNAVAILABLE)
    for problem in body["problems"]:
        err.print(problem, markup=False, soft_wrap=True, style="red")
    if body["plan"]:
        print_plan(body["plan"])
    err.print(body["message"], markup=False, soft_wrap=True,
              style="bold red" if response.status_code >= 400 else "bold green")
    if body["outcome"] == "refused":
        err.print("To apply anyway: nudge apply --yes", style="bold", markup=False)
        raise typer.Exit(EXIT_REFUSED)
    if body["outcome"] == "invalid":
        raise typer.Exit(1)


def _first_key(configured: tuple[str, ...], db: Path) -> str | None:
    """The first of NUDGE_API_KEYS, else the key `nudge run` generated beside its database."""
    from connectors.api.auth import key_file

    if configured:
        return configured[0]
    generated = key_file(db)
    return generated.read_text().strip() if generated.is_file() else None


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
    """Show what the workspace on disk would do to customers in flight: stay, move (`was:`) or exit.

    Read from the database alone, so it cannot tell which waits changed: `nudge apply --dry-run` asks the
    running server, which knows the version it runs."""
    from engine.migration import Edit
    from engine.runtimes.embedded import database, queries

    loaded = load(workspace)
    states = queries.in_flight(database.connect(db))
    print_plan(Edit(None, loaded.workspace).plan(states, datetime.now(timezone.utc)).to_json())


FATES = {"stay": "stay", "move": "move", "exit": "exit: step_removed"}
TIMINGS = {"kept": "keeps its due time (the wait changed; --reschedule re-plans it)", "rescheduled": "re-planned"}


def print_plan(body: dict[str, Any]) -> None:
    """A plan (engine.migration.Plan.to_json), per journey and step, exits in red."""
    from rich.table import Table

    table = Table("journey", "step", "what happens", "customers", "who")
    for journey in body["journeys"]:
        for row in journey["steps"]:
            what = FATES[row["fate"]] + (f" → {row['to']}" if row["fate"] == "move" else "")
            what += f" ({row['why']})" if row["why"] else ""
            what += f"; {TIMINGS[row['timing']]}" if row["timing"] in TIMINGS else ""
            who = ", ".join(c + (f" at {row['due'][c]}" if c in row.get("due", {}) else "") for c in row["customers"])
            who += f" and {row['more']} more" if row["more"] else ""
            table.add_row(journey["journey"], row["step"] or "(end)", what, str(row["count"]), who,
                          style="red" if row["fate"] == "exit" else "yellow" if row["timing"] == "kept" else None)
    Console().print(table)
    err.print(f"{body['in_flight']} customer(s) in flight: {body['stay']} stay, {body['move']} move, "
              f"{body['exit']} would exit step_removed, {body['kept_due']} keep an old due time, "
              f"{body['rescheduled']} re-planned.")
    if not body["timing_known"]:
        err.print("(changed waits are not known here: `nudge apply --dry-run` asks the running server)")


@app.command()
def api(
    kafka: Annotated[bool, typer.Option("--kafka", help="Produce events to Kafka for `nudge worker` processes.")] = False,
    workspace: ServerWorkspaceOpt = Path("."),
    db: Annotated[Optional[Path], typer.Option(help="Local SQLite for the outbox and records (default: WORKSPACE/nudge-edge.db).", readable=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    watch: WatchOpt = False,
) -> None:
    """The HTTP API and the dispatcher beside Kafka workers (`nudge run` is the all-in-one runtime)."""
    from engine.runtimes.kafka.edge import KafkaEdgeRuntime
    from engine.runtimes.serve import run

    if not kafka:
        err.print("nudge api serves Kafka workers: add --kafka (for one process with SQLite, use nudge run)", style="red")
        raise typer.Exit(2)
    path = db or workspace / "nudge-edge.db"
    _start("nudge api", workspace, lambda: run(
        lambda url, settings: KafkaEdgeRuntime(workspace, path, settings.kafka_or_refuse(), url, settings),
        workspace, path, host, port, Settings.from_env(os.environ), watch))


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

    from confluent_kafka import KafkaException

    from engine.runtimes.kafka.worker import create_worker, make_topics

    def start() -> None:
        config = Settings.from_env(os.environ)
        settings = config.kafka_or_refuse()
        if bootstrap:
            settings = dataclasses.replace(settings, bootstrap=bootstrap)
        if partitions:
            settings = dataclasses.replace(settings, partitions=partitions)
        if data_dir:
            settings = dataclasses.replace(settings, data_dir=str(data_dir))
        fapp = create_worker(workspace, settings)
        try:
            make_topics(fapp, settings)
        except (TimeoutError, KafkaException) as exc:
            raise StartupError(EX_TEMPFAIL, f"cannot make the worker's topics on {settings.bootstrap}: {exc}") from None
        runner = faust.Worker(fapp, loglevel=(config.log_level or "warning").lower())
        # faust's terminal spinner turns the root logger to DEBUG to spin on every record: every
        # produce then formats a debug message (a tenth of a worker's time). No spinner, no cost.
        runner.spinner = None
        runner.execute_from_commandline()

    _start("nudge worker", workspace, start)
