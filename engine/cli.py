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
from engine.runtimes.settings import Settings
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
    from rules.compliance import unaddressed_marketing

    loaded = _load(workspace)
    ws = loaded.workspace
    warnings = len(loaded.warnings)
    if where := unaddressed_marketing(ws):
        warnings += 1
        err.print(f"journeys.yaml: warning: {where} sends marketing email, which must show the sender's postal "
                  "address: set settings.sender.postal_address (it is added to every marketing email whose "
                  "template does not show it)", markup=False, soft_wrap=True, style="yellow")
    counts = ((len(ws.journeys) - len(ws.broadcasts), "journey"), (len(ws.broadcasts), "broadcast"),  # a broadcast
              (len(ws.segments), "segment"), (warnings, "warning"))                       # is a journey too
    err.print("ok: " + ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts))


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
        event_list, refused = read_event_lines(events, loaded.workspace.settings.future_skew, loaded.workspace.data)
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
    if (declared := loaded.workspace.data) is not None:
        from rules.data import conformance_problems

        odd = [(e.type, p) for e in event_list if (p := conformance_problems(e.type, e.properties, e.traits, declared))]
        if odd:
            err.print(f"warning: {len(odd)} event(s) do not match data:, the first one, {odd[0][0]}: {odd[0][1][0]} "
                      f"(nudge data --events {events} counts them by type and problem)",
                      markup=False, soft_wrap=True, style="yellow")
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


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a samples file; nothing when it is absent."""
    return _event_dicts(path) if path.is_file() else []


@app.command()
def preview(
    template: Annotated[str, typer.Argument(help="Template name, e.g. cart_reminder (email or SMS, found by name).")],
    workspace: WorkspaceOpt = Path("."),
    profile: Annotated[Optional[str], typer.Option(help='Traits as JSON, or @file.json, e.g. \'{"first_name": "Ann"}\' (default: the sample event\'s customer).')] = None,
    event: Annotated[Optional[str], typer.Option(help="The event as JSON (SPEC §2), or @file.json (default: a sample of the journey's trigger).")] = None,
    channel: Annotated[Optional[str], typer.Option(help="email or sms, when a template of each channel has this name.")] = None,
    locale: Annotated[Optional[str], typer.Option(help="Render the variant for this locale (e.g. fr), as profile.locale would.")] = None,
    variant: Annotated[Optional[str], typer.Option(help="The split variant the customer is in (journey.variant).")] = None,
    iteration: Annotated[Optional[int], typer.Option(help="The pass of the repeat sending it (journey.iteration; default 1 inside a repeat).")] = None,
    html_out: Annotated[Optional[Path], typer.Option(help="Where to write the email HTML (default: a new temporary folder).")] = None,
    sample_file: Annotated[Optional[Path], typer.Option("--sample", help="Recorded events (JSONL) to take the sample event and customer from (default: samples/events.jsonl).", exists=True, dir_okay=False)] = None,
) -> None:
    """Render one template as a customer would get it: subject, text, SMS as sent, and the HTML to a file.

    Without --event, the event is the first of the --sample file (default samples/events.jsonl) that starts a
    journey sending this template (else one made up from `data:`); without --profile, that customer's traits."""
    import tempfile

    from engine.links import SignedLinks
    from engine.runtimes.simulate import SIMULATE_BASE_URL, SIMULATE_SECRET
    from engine.state import ActivityMap
    from rules.preview import channels_of, repeated, sample, variants_of

    loaded = _load(workspace)
    ws = loaded.workspace
    found = channels_of(ws, template)
    if not found or (channel and channel not in found):
        err.print(f"no template '{template}'" + (f" for {channel}" if channel else "")
                  + f" in {workspace / 'templates'} (expected {template}.email.html or {template}.sms.txt)",
                  style="red", markup=False)
        raise typer.Exit(1)
    chosen = channel or found[0]
    if len(found) > 1 and not channel:
        err.print(f"'{template}' exists for email and sms: showing {chosen} (use --channel)", style="yellow")
    picked = sample(ws, template, chosen, _jsonl(sample_file or workspace / "samples" / "events.jsonl"),
                    _jsonl(workspace / "samples" / "profiles.jsonl"))
    traits = _json_arg(profile, "--profile") if profile else dict(picked.traits)
    if locale:
        traits["locale"] = locale
    ev = _json_arg(event, "--event") if event else dict(picked.event)
    now = datetime.now(timezone.utc)
    ev.setdefault("type", "preview")
    ev.setdefault("properties", {})
    ev["timestamp"] = now if not isinstance(ev.get("timestamp"), str) else _parse_time(ev["timestamp"])
    splits = variants_of(picked.journey)
    if variant and splits and not any(variant in names for names in splits.values()):
        raise typer.BadParameter(f"no variant '{variant}' (the journey's splits: "
                                 + "; ".join(f"{k}: {', '.join(v)}" for k, v in splits.items()) + ")")
    journey_id = picked.journey.id if picked.journey else "preview"
    context = {
        "profile": traits, "activity": ActivityMap(), "event": ev, "trigger_event": ev,
        "journey": {"id": journey_id, "name": picked.journey.name if picked.journey else "Preview", "entered_at": now,
                    "variant": {name: variant for name in splits} if variant else {}},
        "now": now, "settings": ws.settings.raw,
    }
    if iteration is not None or repeated(picked.journey, template, chosen):
        context["journey"]["iteration"] = iteration or 1
    link = SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL).unsubscribe_url("preview", chosen)
    context["preferences_url"] = link
    if chosen == "email":
        context["unsubscribe_url"] = link
    try:
        rendered = ws.renderer.render(template, chosen, traits.get("locale"), context)
    except LookupError as exc:
        err.print(str(exc).strip("'\""), style="red")
        raise typer.Exit(1) from None
    except Exception as exc:
        err.print(f"template error: {type(exc).__name__}: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None
    err.print(f"[dim]{journey_id}: event {ev['type']}, customer {ev.get('customer_id', 'preview')}[/dim]")
    out = Console(highlight=False, soft_wrap=True)
    if rendered.subject is not None:
        out.print(f"[bold]Subject:[/bold] {rendered.subject}", markup=True)
    if rendered.preheader:
        out.print(f"[bold]Preheader:[/bold] {rendered.preheader}")
    if rendered.segments is not None:
        out.print(f"[bold]SMS:[/bold] {len(rendered.text)} characters, {rendered.segments} segment(s), {rendered.encoding}")
    out.print()
    sys.stdout.flush()
    sys.stdout.write(rendered.text + "\n")  # as sent: no wrapping, no markup
    sys.stdout.flush()
    if rendered.html is not None:
        target = html_out or Path(tempfile.mkdtemp(prefix="nudge-preview-")) / f"{template}.html"
        target.write_text(rendered.html, encoding="utf-8")
        out.print(f"\nHTML written to {target}")


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(help="journey (a file in journeys/) or workspace (journeys.yaml).")] = "journey",
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Print the JSON Schema of journey files or of journeys.yaml, for editor completion; with the
    workspace's declared data, expressions complete `profile.` and event types."""
    from rules.editor_schema import with_declared
    from rules.schema import journey_file_schema, workspace_file_schema

    if kind not in ("journey", "workspace"):
        raise typer.BadParameter("kind is 'journey' or 'workspace'")
    document = journey_file_schema() if kind == "journey" else workspace_file_schema()
    if (workspace / "journeys.yaml").is_file() and (data := _load(workspace).workspace.data) is not None:
        document = with_declared(document, data)
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


data_app = typer.Typer(help="Data quality against `data:` (SPEC §9); `infer` writes a first `data:` block.",
                       no_args_is_help=False)
app.add_typer(data_app, name="data")


def _event_dicts(events: Path) -> list[dict[str, Any]]:
    """Every JSON object of an events file; other lines are skipped (`simulate` reports them)."""
    found: list[dict[str, Any]] = []
    with events.open("rb") as handle:
        for line in handle:
            try:
                data = orjson.loads(line) if line.strip() else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                found.append(data)
    return found


@data_app.callback(invoke_without_command=True)
def data(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    events: Annotated[Optional[Path], typer.Option(help="Count the events of this file (JSONL).", exists=True, dir_okay=False)] = None,
    db: Annotated[Optional[Path], typer.Option(help="Count the events stored by `nudge run` (default: WORKSPACE/nudge.db).", dir_okay=False)] = None,
) -> None:
    """Events received per type, and those that do not match `data:` per type and problem."""
    from rich.table import Table

    from rules.data import DataTally, conformance_problems

    if ctx.invoked_subcommand:
        return
    declared = _load(workspace).workspace.data
    if events is None:
        db = db or workspace / "nudge.db"
        if not db.is_file():
            raise typer.BadParameter(f"no database at {db}: give --events FILE or --db FILE")
        from engine.runtimes.embedded import database

        rows = database.connect(db).execute("SELECT body FROM events WHERE status != 'erased' ORDER BY seq")
        items = [orjson.loads(body) for (body,) in rows]
    else:
        items = _event_dicts(events)
    tally = DataTally()
    for item in items:
        kind = str(item.get("type"))
        props, traits = item.get("properties") or {}, item.get("traits") or {}
        tally.observe(kind, conformance_problems(kind, props, traits, declared) if declared else [])
    table = Table("event type", "received", "nonconforming", "problems")
    for kind, n in sorted(tally.received.items()):
        problems = {p: c for (k, p), c in tally.problems.items() if k == kind}
        table.add_row(kind, str(n), str(sum(problems.values())), "\n".join(f"{c} × {p}" for p, c in sorted(problems.items())))
    Console().print(table)
    if declared is None:
        err.print("no data: in journeys.yaml: events are counted, not checked (nudge data infer writes a first one)")


@data_app.command("infer")
def data_infer(
    events: Annotated[Path, typer.Option(help="Recorded events (JSONL).", exists=True, dir_okay=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a starting `data:` block from recorded events, to paste into journeys.yaml and edit."""
    import yaml

    from rules.data import infer

    text = "# from " + str(events) + ": check each type, then set strict: true when the data is clean\n"
    text += yaml.safe_dump({"data": infer(_event_dicts(events))}, sort_keys=False, default_flow_style=None,
                           allow_unicode=True, width=100)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"data: written to {output}")
    else:
        sys.stdout.write(text)


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
) -> None:
    """Run the engine and its HTTP API in one process, with state in SQLite; edits apply with `nudge apply`."""
    from engine.runtimes.embedded.runtime import EmbeddedRuntime
    from engine.runtimes.serve import run

    path = db or workspace / "nudge.db"
    _start("nudge run", workspace, lambda: run(
        lambda url, settings: EmbeddedRuntime(workspace, path, url, settings=settings, confirm_exits=yes), workspace,
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

    loaded = _load(workspace)
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

    from engine.runtimes.kafka.worker import create_worker

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
        runner = faust.Worker(fapp, loglevel=(config.log_level or "warning").lower())
        # faust's terminal spinner turns the root logger to DEBUG to spin on every record: every
        # produce then formats a debug message (a tenth of a worker's time). No spinner, no cost.
        runner.spinner = None
        runner.execute_from_commandline()

    _start("nudge worker", workspace, start)


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
    newest = _parse_time(latest) if since and (latest := sources.latest_at(input, conn)) else None
    if since and since[-1] in "smhdw":
        try:
            back = parse_duration(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        anchor = end or newest
        start = anchor - back if anchor else None
    elif since:
        start = _day_or_time(since, end_of_day=False)
    catalog = Catalog.of(_load(workspace).workspace) if (workspace / "journeys.yaml").exists() else Catalog()
    period = Period(start, end)
    try:
        order_types = catalog.workspace.settings.purchase_events if catalog.workspace else DEFAULT_PURCHASE_EVENTS
        logs = (sources.from_db(conn, str(db), order_types) if conn
                else sources.from_files(input, events))  # type: ignore[arg-type]
        size = logs.size if logs.size is not None else (sources.count_lines(input) if err.is_terminal and input else 0)
        inp = ReportInput(logs.records, logs.events, period, journey, catalog, logs.source,
                          previous=previous(period, newest) if compare else None,
                          waiting=sources.waiting_now(conn) if conn else None)
        result: dict[str, Any] = _with_progress(lambda progress: build_report(inp, progress), size,
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
    model = next((j for j in _load(workspace).workspace.journeys if j.id == journey), None)
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


import_app = typer.Typer(help="Load a customer base: into a stopped database, a running server, or Kafka.",
                         no_args_is_help=True, add_completion=False)
app.add_typer(import_app, name="import")


@import_app.command("profiles")
def import_profiles(
    file: Annotated[Path, typer.Argument(help="Profiles: .csv (a header row) or .jsonl (one object a line).",
                                         exists=True, dir_okay=False)],
    id_column: Annotated[str, typer.Option(help="The column (or key) holding each customer's id.")] = "customer_id",
    db: Annotated[Optional[Path], typer.Option(help="The SQLite file of a stopped `nudge run` (default nudge.db; created when missing).", dir_okay=False)] = None,
    url: Annotated[Optional[str], typer.Option(help="A running server instead (nudge run, or nudge api --kafka): rows are posted to its /v1/events.")] = None,
    key: Annotated[Optional[str], typer.Option(envvar="NUDGE_API_KEY", help="The server's API key, with --url.")] = None,
    kafka: Annotated[bool, typer.Option("--kafka", help="Produce to the Kafka events topic instead ($NUDGE_KAFKA_BOOTSTRAP, $NUDGE_KAFKA_APP_ID).")] = False,
    workspace: WorkspaceOpt = Path("."),
    show: Annotated[int, typer.Option("--show-rejected", help="List at most this many rejected (and not matching) rows.")] = 50,
) -> None:
    """Stream profiles in as `profile_imported` events, held to SPEC §8 and the workspace's `data:` (§9).

    Into a database only with no server on it (exit 75): else use --url. Exit 1 when a row was rejected.
    """
    import asyncio

    from rich.progress import DownloadColumn, Progress, TimeRemainingColumn

    from connectors import profile_import
    from connectors.import_targets import HttpDestination, ImportStopped, KafkaDestination
    from engine.runtimes.embedded import database
    from engine.runtimes.embedded.lock import claim

    if sum((db is not None, url is not None, kafka)) > 1:
        raise typer.BadParameter("choose one of --db, --url and --kafka")
    if url is not None and not key:
        raise typer.BadParameter("--url needs --key (or NUDGE_API_KEY)")
    try:
        settings = Settings.from_env(os.environ)
    except StartupError as exc:
        err.print(f"nudge import: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(exc.status) from None
    declared = None
    if (workspace / "journeys.yaml").is_file():
        try:  # its warnings are about journeys, not this import: only an invalid workspace is reported
            declared = load_workspace(workspace).workspace.data
        except WorkspaceError:
            _load(workspace)
    else:
        err.print(f"note: no journeys.yaml in {workspace}: rows are held to SPEC §8 only, not to a workspace's data: "
                  "(give --workspace DIR)", style="yellow", markup=False, soft_wrap=True)

    async def run(progress: Callable[[int], None]) -> Any:
        if url is not None:
            http = HttpDestination(url, key or "", settings.api.signing_secret)
            try:
                return await profile_import.stream(file, http, id_column, declared, progress)
            finally:
                await http.close()
        if kafka:
            topic = KafkaDestination(settings.kafka.bootstrap, settings.kafka.app_id)
            try:
                await topic.start()
                return await profile_import.stream(file, topic, id_column, declared, progress)
            finally:
                await topic.close()
        path = db or Path("nudge.db")
        try:
            lock = claim(path, "nudge import")
        except StartupError as exc:
            raise ImportStopped(f"{exc}", exc.status) from None
        with lock:
            return await profile_import.import_profiles(database.connect(path), file, id_column, progress,
                                                        declared=declared)

    with Progress(*Progress.get_default_columns()[:-1], DownloadColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"importing {file.name}", total=file.stat().st_size)
        try:
            summary = asyncio.run(run(lambda done: bar.update(task, completed=done)))
        except ImportStopped as exc:
            err.print(f"nudge import: {exc}", style="red", markup=False, soft_wrap=True)
            raise typer.Exit(exc.status) from None
    for found, style in ((summary.rejected, "red"), (summary.nonconforming, "yellow")):
        for row in found[:show]:
            err.print(str(row), style=style, markup=False, soft_wrap=True)
        if len(found) > show:
            err.print(f"... and {len(found) - show} more", style=style)
    where = (f"{url} applies them" if url else "the workers apply them" if kafka
             else f"`nudge run` on {db or 'nudge.db'} applies them")
    odd = f", {len(summary.nonconforming)} not matching data:" if summary.nonconforming else ""
    err.print(f"{summary.imported} profile(s) imported, {summary.unchanged} unchanged (imported before), "
              f"{len(summary.rejected)} rejected{odd}; {where}", markup=False, soft_wrap=True)
    if summary.rejected:
        raise typer.Exit(1)


broadcast_app = typer.Typer(help="Broadcasts (SPEC §13): plan, send, follow and cancel one-off campaigns "
                                 "(broadcasts/*.yaml); a broadcast file sends nothing until it is sent.",
                            no_args_is_help=True, add_completion=False)
app.add_typer(broadcast_app, name="broadcast")
BroadcastDbOpt = Annotated[Optional[Path], typer.Option(help="The SQLite file of `nudge run` (default: WORKSPACE/nudge.db).",
                                                        dir_okay=False)]
AsJsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _broadcast_db(db: Path | None, workspace: Path) -> Path:
    return db or workspace / "nudge.db"


def _broadcast_writer(command: str, db: Path, broadcast_id: str, action: str) -> Any:
    """The server's lock for the command's run; beside a running server, the API does it instead (exit 75)."""
    from engine.runtimes.embedded.lock import claim

    try:
        return claim(db, command)
    except StartupError as exc:
        err.print(f"{command}: {exc}", style="red", markup=False, soft_wrap=True)
        err.print(f"beside a running server use its API: POST /v1/broadcasts/{broadcast_id}/{action}",
                  markup=False, soft_wrap=True)
        raise typer.Exit(exc.status) from None


def _broadcast_out(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.table import Table

    table = Table("", "", show_header=False, box=None)
    for key, value in view.items():
        shown = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        table.add_row(key.replace("_", " "), shown or "-")
    Console(highlight=False).print(table)


def _broadcast_run(work: Callable[[], dict[str, Any]], as_json: bool) -> None:
    from engine.runtimes.embedded.broadcasts import BroadcastError

    try:
        view = work()
    except BroadcastError as exc:
        err.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    _broadcast_out(view, as_json)


@broadcast_app.command("plan")
def broadcast_plan(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    workspace: WorkspaceOpt = Path("."),
    db: BroadcastDbOpt = None,
    profiles: Annotated[Optional[Path], typer.Option(help='Plan over these profiles (lines of {"customer_id": ..., "traits": {...}}) instead of a database.', exists=True, dir_okay=False)] = None,
    as_json: AsJsonOpt = False,
) -> None:
    """Before anything is sent: the audience, the first message's sends by hour (UTC) and those suppressed by reason.

    Read-only: runs beside a running server."""
    import time

    from engine import broadcasts as planning
    from engine.runtimes.embedded import broadcasts, database
    from engine.runtimes.jsonl import read_profiles
    from engine.state import CustomerState

    ws = _load(workspace).workspace

    def work() -> dict[str, Any]:
        if profiles is None:
            path = _broadcast_db(db, workspace)
            if not path.is_file():
                raise typer.BadParameter(f"no database at {path}: give --db FILE or --profiles FILE")
            return broadcasts.forecast(database.connect(path), ws, broadcast_id, time.time())
        journey = broadcasts.broadcast_of(ws, broadcast_id)
        states = []
        for customer_id, traits in read_profiles(profiles):
            state = CustomerState.for_key(customer_id)
            state.traits.update(traits)
            states.append(state)
        start = max(planning.first_wave(planning.schedule_of(journey)), datetime.fromtimestamp(time.time(), timezone.utc))
        return {"id": broadcast_id,
                **planning.forecast(journey, states, ws.settings, start, lambda address: None).as_dict()}

    _broadcast_run(work, as_json)


@broadcast_app.command("send")
def broadcast_send(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    workspace: WorkspaceOpt = Path("."),
    db: BroadcastDbOpt = None,
    now: Annotated[bool, typer.Option("--now", help="Start now for everyone, whatever send_at says.")] = False,
    as_json: AsJsonOpt = False,
) -> None:
    """Schedule a broadcast: `nudge run` starts it at its send_at (or now, with --now). Once only.

    Beside a running server it is refused (exit 75): use POST /v1/broadcasts/ID/send."""
    import time

    from engine.runtimes.embedded import broadcasts, database

    ws = _load(workspace).workspace
    path = _broadcast_db(db, workspace)
    with _broadcast_writer("nudge broadcast send", path, broadcast_id, "send"):
        _broadcast_run(lambda: broadcasts.schedule(database.connect(path), ws, broadcast_id, time.time(), now), as_json)
    err.print(f"{broadcast_id} scheduled: `nudge run` on {path} sends it")


@broadcast_app.command("cancel")
def broadcast_cancel(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    workspace: WorkspaceOpt = Path("."),
    db: BroadcastDbOpt = None,
    as_json: AsJsonOpt = False,
) -> None:
    """Cancel a broadcast before or during its sending: customers not yet reached get nothing.

    Beside a running server it is refused (exit 75): use POST /v1/broadcasts/ID/cancel."""
    import time

    from engine.links import SignedLinks
    from engine.runtimes.embedded import database
    from engine.runtimes.embedded.processor import Processor

    ws = _load(workspace).workspace
    path = _broadcast_db(db, workspace)
    with _broadcast_writer("nudge broadcast cancel", path, broadcast_id, "cancel"):
        # an exit sends nothing, so the links need no real secret
        processor = Processor(database.connect(path), ws, SignedLinks(b"unused", "http://127.0.0.1"), time.time)
        _broadcast_run(lambda: processor.cancel_broadcast(broadcast_id), as_json)


@broadcast_app.command("status")
def broadcast_status(
    broadcast_id: Annotated[str, typer.Argument(help="The broadcast's id.")],
    workspace: WorkspaceOpt = Path("."),
    db: BroadcastDbOpt = None,
    as_json: AsJsonOpt = False,
) -> None:
    """Where a sent broadcast stands: entered, sent, not sent by reason, waiting by local time zone (read-only)."""
    from engine.runtimes.embedded import broadcasts, database

    path = _broadcast_db(db, workspace)
    if not path.is_file():
        raise typer.BadParameter(f"no database at {path}: give --db FILE")
    database.create(path)  # a file from before broadcasts existed gets the table
    _broadcast_run(lambda: broadcasts.status(database.connect(path), broadcast_id), as_json)


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
