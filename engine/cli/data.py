"""`nudge data`: how recorded events measure up to the workspace's declared `data:`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from engine.cli.common import WorkspaceOpt, err, event_dicts, load
from rules.limits import json_value

app = typer.Typer(help="Data quality against `data:` (SPEC §9); `infer` writes a first `data:` block.",
                  no_args_is_help=False)


@app.callback(invoke_without_command=True)
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
    declared = load(workspace).workspace.data
    if events is None:
        db = db or workspace / "nudge.db"
        if not db.is_file():
            raise typer.BadParameter(f"no database at {db}: give --events FILE or --db FILE")
        from engine.runtimes.embedded import database

        rows = database.connect(db).execute("SELECT body FROM events WHERE status != 'erased' ORDER BY seq")
        items = [json_value(body) for (body,) in rows]
    else:
        items = event_dicts(events)
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


@app.command("infer")
def data_infer(
    events: Annotated[Path, typer.Option(help="Recorded events (JSONL).", exists=True, dir_okay=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a starting `data:` block from recorded events, to paste into journeys.yaml and edit."""
    import yaml

    from rules.data import infer

    text = "# from " + str(events) + ": check each type, then set strict: true when the data is clean\n"
    text += yaml.safe_dump({"data": infer(event_dicts(events))}, sort_keys=False, default_flow_style=None,
                           allow_unicode=True, width=100)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"data: written to {output}")
    else:
        sys.stdout.write(text)
