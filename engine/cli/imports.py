"""`nudge import profiles`: a customer base loaded into a database, a running server or Kafka."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from engine.cli.common import WorkspaceOpt, err, load
from engine.runtimes.settings import Settings
from engine.runtimes.startup import StartupError
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

app = typer.Typer(help="Load a customer base: into a stopped database, a running server, or Kafka.",
                  no_args_is_help=True, add_completion=False)


@app.command("profiles")
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
            load(workspace)
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
