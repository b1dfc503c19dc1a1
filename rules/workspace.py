"""Loading a workspace folder: read every file once, validate, compile, report all problems."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.model import Journey, Workspace
from rules import schema as s
from rules.compile import Compiler
from rules.expressions import Expression, ExpressionCompiler
from rules.problems import Problem, Severity, WorkspaceError
from rules.pydantic_errors import known_keys, problems_from
from rules.templates import TemplateSet
from rules.yaml_positions import LoadedYaml, Positions, YamlSyntaxError, load_yaml

VOCABULARY = known_keys(s.WorkspaceModel, s.JourneyModel, *(
    s.SendStepModel, s.WaitStepModel, s.WaitUntilStepModel, s.WaitForStepModel, s.IfStepModel,
    s.SplitStepModel, s.UpdateStepModel, s.ExitStepModel, s.EventTriggerModel, s.DateTriggerModel,
    s.InactivityTriggerModel,
))


@dataclass(frozen=True)
class Loaded:
    workspace: Workspace
    warnings: list[Problem]


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def read_templates(root: Path) -> dict[str, str]:
    base = root / "templates"
    if not base.is_dir():
        return {}
    return {
        p.relative_to(base).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(base.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _parse(path: Path, root: Path, problems: list[Problem]) -> LoadedYaml | None:
    label = _rel(path, root)
    try:
        return load_yaml(path.read_text(encoding="utf-8"), label)
    except YamlSyntaxError as exc:
        problems.append(exc.problem)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(label, 1, 1, f"cannot read: {exc}"))
    return None


def _validate(model: type[Any], loaded: LoadedYaml, problems: list[Problem]) -> Any:
    try:
        return model.model_validate(loaded.data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, loaded.data, loaded.positions, VOCABULARY))
        return None


def load_workspace(root: str | Path = ".", templates: dict[str, str] | None = None) -> Loaded:
    """Load and check a workspace; raise WorkspaceError listing every error (warnings too)."""
    root = Path(root)
    problems: list[Problem] = []
    main_file = root / "journeys.yaml"
    if not main_file.is_file():
        raise WorkspaceError([Problem(_rel(main_file, root), 1, 1, "no journeys.yaml here (use --workspace DIR)")])
    loaded = _parse(main_file, root, problems)
    ws_model = _validate(s.WorkspaceModel, loaded, problems) if loaded else None
    if ws_model is None or loaded is None:
        raise WorkspaceError(problems)

    template_set = TemplateSet(read_templates(root) if templates is None else templates)
    problems.extend(template_set.problems)
    exprs = ExpressionCompiler(ws_model.segments)
    compiler = Compiler(exprs, template_set)
    settings = compiler.settings(ws_model.settings, loaded.data, loaded.positions)
    segments: dict[str, Expression] = {}
    for name, source in ws_model.segments.items():
        expr = compiler.expr(source, loaded.positions, ("segments", name))
        if expr is not None:
            segments[name] = expr
    exprs.bind_segments(segments)

    sources: list[tuple[s.JourneyModel, Positions, tuple[Any, ...]]] = []
    files: set[Path] = set()
    for pattern in ws_model.include:
        matched = [p for p in root.glob(pattern) if p.is_file()]
        if not matched:
            i = ws_model.include.index(pattern)
            problems.append(Problem(loaded.positions.file, *loaded.positions.of_value(("include", i)),
                                    f"include '{pattern}' matches no file", Severity.WARNING))
        files.update(matched)
    for path in sorted(files, key=lambda p: (p.name, str(p))):
        doc = _parse(path, root, problems)
        if doc is None:
            continue
        model = _validate(s.JourneyModel, doc, problems)
        if model is not None:
            sources.append((model, doc.positions, ()))
    for i, journey in enumerate(ws_model.journeys):
        sources.append((journey, loaded.positions, ("journeys", i)))

    journeys: list[Journey] = []
    seen: dict[str, str] = {}
    for model, positions, prefix in sources:
        if model.id in seen:
            problems.append(positions.problem((*prefix, "id"), f"duplicate journey id '{model.id}' (also in {seen[model.id]})"))
            continue
        seen[model.id] = positions.file
        journeys.append(compiler.journey(model, positions, prefix))
    problems.extend(compiler.problems)

    if any(p.severity is Severity.ERROR for p in problems):
        raise WorkspaceError(problems)
    workspace = Workspace(settings, segments, tuple(journeys), template_set, str(root))
    return Loaded(workspace, sorted(problems))
