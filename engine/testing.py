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

__all__ = ["Harness", "email", "journey_yaml", "send_step", "wait_step", "write_workspace"]


def email(subject: str, body: str = "<p>Hello</p>") -> str:
    """An email template with front matter."""
    return f"---\nsubject: {subject!r}\n---\n{body}\n"


def send_step(step_id: str, template: str, channel: str = "email", topic: str | None = None) -> str:
    """One `send` step as an item of `steps:`, keys in a fixed order (so tests can point at its lines)."""
    text = f"  - id: {step_id}\n    send: {channel}\n    template: {template}\n"
    return text + (f"    topic: {topic}\n" if topic else "")


def wait_step(duration: str, step_id: str | None = None) -> str:
    """One `wait` step as an item of `steps:`, with an id only when given."""
    return f"  - id: {step_id}\n    wait: {duration}\n" if step_id else f"  - wait: {duration}\n"


def journey_yaml(journey_id: str, trigger: str, *steps: str, topic: str | None = None,
                 reentry: str | None = None) -> str:
    """A journey file: id, topic, trigger (YAML flow text), reentry, then the steps (from `send_step`, ...)."""
    text = f"id: {journey_id}\n" + (f"topic: {topic}\n" if topic else "") + f"trigger: {trigger}\n"
    text += f"reentry: {reentry}\n" if reentry else ""
    return text + "steps:\n" + "".join(steps)


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
