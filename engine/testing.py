"""A public test kit: build a workspace from text and replay events through it.

    h = Harness(journeys={"promo": PROMO_YAML}, templates={"offer.email.html": email("Hi")})
    records = h.run([{"type": "promo_click", "customer_id": "c1", "timestamp": "..."}])
"""

from __future__ import annotations

import tempfile
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from engine.effects import Diagnostic
from engine.model import Workspace
from engine.runtimes.simulate import Result, simulate
from rules.events import parse_event
from rules.workspace import load_workspace

__all__ = ["Harness", "email", "write_workspace"]


def email(subject: str, body: str = "<p>Hello</p>") -> str:
    """An email template with front matter."""
    return f"---\nsubject: {subject!r}\n---\n{body}\n"


def write_workspace(root: Path, settings: str = "", journeys: dict[str, str] | None = None,
                    templates: dict[str, str] | None = None, extra: str = "") -> Path:
    """Write journeys.yaml (settings block and extra top-level YAML), journeys/ and templates/."""
    root.mkdir(parents=True, exist_ok=True)
    main = "version: 1\n"
    if settings.strip():
        main += "settings:\n" + textwrap.indent(textwrap.dedent(settings).strip("\n"), "  ") + "\n"
    main += textwrap.dedent(extra)
    (root / "journeys.yaml").write_text(main)
    (root / "journeys").mkdir(exist_ok=True)
    for name, text in (journeys or {}).items():
        (root / "journeys" / f"{name}.yaml").write_text(textwrap.dedent(text))
    for name, text in (templates or {}).items():
        path = root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


class Harness:
    """A workspace in a temporary folder and a one-call simulate over event dicts."""

    def __init__(self, settings: str = "", journeys: dict[str, str] | None = None,
                 templates: dict[str, str] | None = None, extra: str = "") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="nudge-test-")
        self.root = write_workspace(Path(self._dir.name), settings, journeys, templates, extra)
        self.workspace: Workspace = load_workspace(self.root).workspace
        self.result = Result()

    def run(self, events: Iterable[dict[str, Any]], profiles: Iterable[tuple[str, dict[str, Any]]] = (),
            until: str | None = None) -> list[dict[str, Any]]:
        parsed = [parse_event(e) for e in events]
        stop = datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None
        self.result = simulate(self.workspace, parsed, list(profiles), stop)
        return self.result.records

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.result.diagnostics

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Records of one type whose keys equal `match`."""
        return [r for r in self.result.records if r["type"] == kind and all(r.get(k) == v for k, v in match.items())]
