"""The commands, their options and their order are what people type and scripts call: they change only on purpose."""

from __future__ import annotations

from typing import Any

import typer

from engine.cli import app

# recorded from `nudge --help` and every subcommand's before the command line became a package
SURFACE = {
    "": [],
    "validate": ["--workspace", "-w"],
    "simulate": ["--events", "--workspace", "-w", "--profiles", "--until", "--output", "-o", "--strict"],
    "preview": ["template", "--workspace", "-w", "--profile", "--event", "--channel", "--locale", "--variant",
                "--iteration", "--html-out", "--sample"],
    "schema": ["kind", "--workspace", "-w"],
    "run": ["--workspace", "-w", "--db", "--host", "--port", "--watch", "--yes", "--engine-in-process"],
    "apply": ["--yes", "-y", "--reschedule", "--dry-run", "--url", "--key", "--workspace", "-w", "--db"],
    "outbox": ["--db", "ids", "--in-doubt", "--dead", "--status", "--requeue", "--reason", "--all", "--resolve",
               "--resolve-all", "--as", "--limit"],
    "failed": ["--db", "--retry", "--limit"],
    "plan": ["--db", "--workspace", "-w"],
    "api": ["--kafka", "--workspace", "-w", "--db", "--host", "--port", "--watch"],
    "worker": ["--workspace", "-w", "--bootstrap", "--partitions", "--data-dir"],
    "report": ["--db", "--input", "--events", "--since", "--until", "--journey", "--format", "-f", "--output", "-o",
               "--compare", "--no-compare", "--maps", "--no-maps", "--workspace", "-w"],
    "map": ["journey", "--output", "-o", "--db", "--input", "--events", "--since", "--until", "--workspace", "-w"],
    "data": ["--workspace", "-w", "--events", "--db"],
    "data infer": ["--events", "--output", "-o"],
    "import": [],
    "import profiles": ["file", "--id-column", "--db", "--url", "--key", "--kafka", "--workspace", "-w",
                        "--show-rejected"],
    "broadcast": [],
    "broadcast plan": ["broadcast_id", "--workspace", "-w", "--db", "--profiles", "--json"],
    "broadcast send": ["broadcast_id", "--workspace", "-w", "--db", "--now", "--json"],
    "broadcast cancel": ["broadcast_id", "--workspace", "-w", "--db", "--json"],
    "broadcast status": ["broadcast_id", "--workspace", "-w", "--db", "--json"],
}


def surface(command: Any, path: str = "") -> dict[str, list[str]]:
    """Each command's path, in the order help lists them, with its options and arguments."""
    found = {path: [flag for p in command.params for flag in (*p.opts, *p.secondary_opts)]}
    for name, sub in getattr(command, "commands", {}).items():
        found.update(surface(sub, f"{path} {name}".strip()))
    return found


def test_every_command_keeps_its_name_its_options_and_its_place_in_the_help() -> None:
    found = surface(typer.main.get_command(app))
    assert list(found) == list(SURFACE)
    assert found == SURFACE
