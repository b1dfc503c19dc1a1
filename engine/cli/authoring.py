"""Commands a marketer runs on the files alone, no server: validate, simulate, preview and schema."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import orjson
import typer
from rich.console import Console

from engine.cli.common import WorkspaceOpt, err, event_dicts, load, parse_time, with_progress

app = typer.Typer()


@app.command()
def validate(workspace: WorkspaceOpt = Path(".")) -> None:
    """Check journeys.yaml, every journey and template; list every problem as file:line:column."""
    from rules.compliance import unaddressed_marketing

    loaded = load(workspace)
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

    loaded = load(workspace)
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
    stop = parse_time(until) if until else None
    result = with_progress(lambda progress: run(loaded.workspace, event_list, profile_list, stop, progress, refused),
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
    return event_dicts(path) if path.is_file() else []


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

    loaded = load(workspace)
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
    ev["timestamp"] = now if not isinstance(ev.get("timestamp"), str) else parse_time(ev["timestamp"])
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
    if (workspace / "journeys.yaml").is_file() and (data := load(workspace).workspace.data) is not None:
        document = with_declared(document, data)
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
