"""`nudge broadcast`: plan, send, follow and cancel one-off campaigns from the command line."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import orjson
import typer
from rich.console import Console

from engine.cli.common import WorkspaceOpt, err, load
from engine.runtimes.startup import StartupError

app = typer.Typer(help="Broadcasts (SPEC §13): plan, send, follow and cancel one-off campaigns "
                  "(broadcasts/*.yaml); a broadcast file sends nothing until it is sent.",
                  no_args_is_help=True, add_completion=False)
BroadcastDbOpt = Annotated[Optional[Path], typer.Option(help="The SQLite file of `nudge run` (default: WORKSPACE/nudge.db).",
                                                        dir_okay=False)]
BroadcastIdArg = Annotated[str, typer.Argument(help="The broadcast's id.")]
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


@app.command("plan")
def broadcast_plan(
    broadcast_id: BroadcastIdArg,
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

    ws = load(workspace).workspace

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


@app.command("send")
def broadcast_send(
    broadcast_id: BroadcastIdArg,
    workspace: WorkspaceOpt = Path("."),
    db: BroadcastDbOpt = None,
    now: Annotated[bool, typer.Option("--now", help="Start now for everyone, whatever send_at says.")] = False,
    as_json: AsJsonOpt = False,
) -> None:
    """Schedule a broadcast: `nudge run` starts it at its send_at (or now, with --now). Once only.

    Beside a running server it is refused (exit 75): use POST /v1/broadcasts/ID/send."""
    import time

    from engine.runtimes.embedded import broadcasts, database

    ws = load(workspace).workspace
    path = _broadcast_db(db, workspace)
    with _broadcast_writer("nudge broadcast send", path, broadcast_id, "send"):
        _broadcast_run(lambda: broadcasts.schedule(database.connect(path), ws, broadcast_id, time.time(), now), as_json)
    err.print(f"{broadcast_id} scheduled: `nudge run` on {path} sends it")


@app.command("cancel")
def broadcast_cancel(
    broadcast_id: BroadcastIdArg,
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

    ws = load(workspace).workspace
    path = _broadcast_db(db, workspace)
    with _broadcast_writer("nudge broadcast cancel", path, broadcast_id, "cancel"):
        # an exit sends nothing, so the links need no real secret
        processor = Processor(database.connect(path), ws, SignedLinks(b"unused", "http://127.0.0.1"), time.time)
        _broadcast_run(lambda: processor.cancel_broadcast(broadcast_id), as_json)


@app.command("status")
def broadcast_status(
    broadcast_id: BroadcastIdArg,
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
