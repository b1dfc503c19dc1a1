"""The `nudge` command line: one typer app, its commands grouped by what they are for."""

from __future__ import annotations

import typer

from engine.cli import authoring, broadcasts, data, imports, reports, serving
from engine.cli.common import err
from rules.problems import NudgeError

app = typer.Typer(
    help="Nudge: journeys as YAML, a deterministic engine, messages sent exactly once.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
# commands first, in this order, then the groups: the order `nudge --help` lists them in
app.add_typer(authoring.app)
app.add_typer(serving.app)
app.add_typer(reports.app)
app.add_typer(data.app, name="data")
app.add_typer(imports.app, name="import")
app.add_typer(broadcasts.app, name="broadcast")


def main() -> None:
    try:
        app()
    except NudgeError as exc:
        err.print(str(exc), style="red", markup=False)
        raise SystemExit(1) from None
