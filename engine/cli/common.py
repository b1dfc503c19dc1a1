"""What every command shares: the workspace option, stderr, and reading times, JSON lines and workspaces."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rules.limits import json_value
from rules.problems import Severity, WorkspaceError
from rules.workspace import load_workspace

err = Console(stderr=True, highlight=False)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Folder holding journeys.yaml.", file_okay=False)]
# servers check readability themselves, to refuse in one line with a sysexits status
ServerWorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Folder holding journeys.yaml.",
                                                  file_okay=False, readable=False)]


def load(workspace: Path) -> Any:
    """The loaded workspace, its warnings shown; with errors, every problem shown and exit 1."""
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


def parse_time(value: str) -> datetime:
    """An RFC 3339 time with its offset, in UTC; anything else is a bad parameter."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not RFC 3339, e.g. 2026-04-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"'{value}' needs an offset, e.g. Z")
    return parsed.astimezone(timezone.utc)


def with_progress(work: Any, total: int, label: str = "simulating") -> Any:
    """A progress bar on stderr for long inputs, only when a person is watching."""
    if not err.is_terminal or total < 50_000:
        return work(None)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        return work(lambda n: bar.update(task, completed=n))


def event_dicts(events: Path) -> list[dict[str, Any]]:
    """Every JSON object of an events file; other lines are skipped (`simulate` reports them)."""
    found: list[dict[str, Any]] = []
    with events.open("rb") as handle:
        for line in handle:
            try:
                data = json_value(line) if line.strip() else None
            except ValueError:
                continue
            if isinstance(data, dict):
                found.append(data)
    return found
