"""Loading a workspace folder: read every file once, validate, compile, report all problems."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from engine.model import Journey, Workspace
from rules import schema as s
from rules.broadcasts import FOLDER as BROADCASTS, BroadcastModel
from rules.compile import Compiler
from rules.data import declared
from rules.datacheck import SAMPLES, DataCheck, Reach
from rules.expressions import Expression, ExpressionCompiler
from rules.pages import page_problems, split_pages
from rules.problems import Problem, Severity, WorkspaceError
from rules.pydantic_errors import known_keys, problems_from
from rules.templates import TemplateSet
from rules.yaml_positions import LoadedYaml, Positions, YamlSyntaxError, load_yaml

VOCABULARY = known_keys(s.WorkspaceModel, s.JourneyModel, *(
    s.SendStepModel, s.WaitStepModel, s.WaitUntilStepModel, s.WaitForStepModel, s.IfStepModel,
    s.SplitStepModel, s.RepeatStepModel, s.UpdateStepModel, s.ExitStepModel, s.EventTriggerModel, s.DateTriggerModel,
    s.InactivityTriggerModel, BroadcastModel,
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


def read_templates(root: Path, problems: list[Problem]) -> dict[str, str]:
    """Every file under templates/ as text; one that is not UTF-8 text, or that a symbolic link
    takes outside the workspace, is a problem instead (it used to crash a reload)."""
    base = root / "templates"
    if not base.is_dir():
        return {}
    inside = root.resolve()
    files: dict[str, str] = {}
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if not path.resolve().is_relative_to(inside):
            problems.append(Problem(_rel(path, root), 1, 1, "a symbolic link out of the workspace: templates must be inside it"))
            continue
        try:
            files[path.relative_to(base).as_posix()] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(_rel(path, root), 1, 1, f"cannot read as UTF-8 text: {exc}"))
    return files


def read_samples(root: Path, problems: list[Problem]) -> list[dict[str, Any]] | None:
    """The traits of every profile of samples/profiles.jsonl, which templates are checked against
    (SPEC §9); None when there is no such file. A line that is not a profile is a warning."""
    path = root / SAMPLES
    if not path.is_file():
        return None
    profiles: list[dict[str, Any]] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        problems.append(Problem(SAMPLES, 1, 1, f"cannot read: {exc}", Severity.WARNING))
        return None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(Problem(SAMPLES, number, 1, f"not JSON ({exc}): line skipped", Severity.WARNING))
            continue
        traits = data.get("traits") if isinstance(data, dict) else None
        if not isinstance(traits, dict):
            problems.append(Problem(SAMPLES, number, 1, 'expected {"customer_id": ..., "traits": {...}}: line skipped',
                                    Severity.WARNING))
            continue
        profiles.append(traits)
    return profiles


def _parse(path: Path, root: Path, problems: list[Problem]) -> LoadedYaml | None:
    label = _rel(path, root)
    try:
        return load_yaml(path.read_text(encoding="utf-8"), label)
    except YamlSyntaxError as exc:
        problems.append(exc.problem)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(label, 1, 1, f"cannot read: {exc}"))
    return None


def _included(root: Path, patterns: list[str], positions: Positions, problems: list[Problem]) -> set[Path]:
    """The files the include patterns match; a pattern reaching outside the workspace (absolute,
    `..`, a symbolic link) is an error and nothing outside is read, so nothing of it is echoed."""
    inside = root.resolve()
    files: set[Path] = set()
    for i, pattern in enumerate(patterns):
        where = ("include", i)
        outside = f"include '{pattern}' reaches outside the workspace: only files in its folder can be included"
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            problems.append(positions.problem(where, outside))
            continue
        try:
            matched = [p for p in root.glob(pattern) if p.is_file()]
        except (ValueError, OSError) as exc:  # e.g. an empty pattern
            problems.append(positions.problem(where, f"include '{pattern}' is not a usable pattern: {exc}"))
            continue
        if any(not p.resolve().is_relative_to(inside) for p in matched):  # through a symbolic link
            problems.append(positions.problem(where, outside))
            continue
        if not matched:
            problems.append(replace(positions.problem(where, f"include '{pattern}' matches no file"),
                                    severity=Severity.WARNING))
        files.update(matched)
    return files


def _validate(model: type[Any], loaded: LoadedYaml, problems: list[Problem]) -> Any:
    try:
        return model.model_validate(loaded.data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, loaded.data, loaded.positions, VOCABULARY))
        return None


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _fallback(data: Any) -> s.WorkspaceModel:
    """When journeys.yaml is invalid, keep its includes and segments so journeys still get checked."""
    data = data if isinstance(data, dict) else {}
    for keep in ({"include": data.get("include"), "segments": data.get("segments")},
                 {"include": data.get("include")}, {}):
        try:
            return s.WorkspaceModel.model_validate({"version": 1, **{k: v for k, v in keep.items() if v is not None}})
        except ValidationError:
            continue
    raise AssertionError("the empty workspace is valid")


def load_workspace(root: str | Path = ".", templates: dict[str, str] | None = None) -> Loaded:
    """Load and check a workspace; raise WorkspaceError listing every error (warnings too)."""
    root = Path(root)
    problems: list[Problem] = []
    main_file = root / "journeys.yaml"
    if not root.is_dir():
        raise WorkspaceError([Problem(str(root), 1, 1, f"no folder {root}: give the folder holding journeys.yaml "
                                                       "with --workspace DIR")])
    if not main_file.is_file():
        raise WorkspaceError([Problem(_rel(main_file, root), 1, 1, "no journeys.yaml here (use --workspace DIR)")])
    loaded = _parse(main_file, root, problems)
    if loaded is None:
        raise WorkspaceError(problems)
    ws_model = _validate(s.WorkspaceModel, loaded, problems) or _fallback(loaded.data)

    messages, pages = split_pages(read_templates(root, problems) if templates is None else templates)
    template_set = TemplateSet(messages)
    problems.extend(template_set.problems + page_problems(pages))
    exprs = ExpressionCompiler(ws_model.segments)
    data = declared(ws_model.data) if ws_model.data is not None else None
    check = DataCheck(data, read_samples(root, problems), template_set)
    compiler = Compiler(exprs, template_set, ws_model.settings.topics, check)
    order_values: dict[str, Expression] = {}
    for event_type, spec in (ws_model.data.events.items() if ws_model.data else ()):
        if spec is not None and spec.revenue is not None:
            value = compiler.expr_for(spec.revenue, Reach(frozenset({event_type})), loaded.positions,
                                      ("data", "events", event_type, "revenue"))
            if value is not None:
                order_values[event_type] = value
    settings = compiler.settings(ws_model.settings, loaded.data, loaded.positions)
    segments: dict[str, Expression] = {}
    for name, source in ws_model.segments.items():
        expr = compiler.expr(source, loaded.positions, ("segments", name))
        if expr is not None:
            segments[name] = expr
    exprs.bind_segments(segments)

    sources: list[tuple[s.JourneyModel | BroadcastModel | None, LoadedYaml, tuple[Any, ...]]] = []
    files = _included(root, ws_model.include, loaded.positions, problems)
    for path in sorted(files, key=lambda p: (p.name, str(p))):
        doc = _parse(path, root, problems)
        if doc is None:
            continue
        sources.append((_validate(s.JourneyModel, doc, problems), doc, ()))
    for i, journey in enumerate(ws_model.journeys):
        sources.append((journey, loaded, ("journeys", i)))
    for path in sorted((root / BROADCASTS).glob("*.yaml"), key=lambda p: p.name):  # SPEC §13, after the journeys
        if not path.resolve().is_relative_to(root.resolve()):
            problems.append(Problem(_rel(path, root), 1, 1, "a symbolic link out of the workspace: broadcasts must be inside it"))
        elif (doc := _parse(path, root, problems)) is not None:
            sources.append((_validate(BroadcastModel, doc, problems), doc, ()))

    journeys: list[Journey] = []
    seen: dict[str, str] = {}
    for model, doc, prefix in sources:
        raw = _at(doc.data, prefix)
        journey_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(journey_id, str):
            if journey_id in seen:
                problems.append(doc.positions.problem((*prefix, "id"), f"duplicate journey id '{journey_id}' (also in {seen[journey_id]})"))
                continue
            seen[journey_id] = doc.positions.file
        if model is None:
            compiler.raw_checks(raw, doc.positions, prefix)
        else:
            as_journey = model.as_journey() if isinstance(model, BroadcastModel) else model
            journeys.append(compiler.journey(as_journey, doc.positions, prefix))
    problems.extend(compiler.problems)
    problems.extend(check.finish())

    if any(p.severity is Severity.ERROR for p in problems):
        raise WorkspaceError(problems)
    if order_values:  # SPEC §12: with data, orders are the events that declare revenue, worth what it gives
        settings = replace(settings, purchase_events=tuple(order_values), order_values=order_values)
    workspace = Workspace(settings, segments, tuple(journeys), template_set, str(root), data)
    return Loaded(workspace, sorted(problems))


def fingerprint(root: Path) -> tuple[tuple[str, float], ...]:
    """The workspace's files and their modification times: a change means "reload" (polling needs
    no extra dependency, and works the same on every file system)."""
    files = [root / "journeys.yaml", *root.glob("journeys/**/*"), *root.glob(f"{BROADCASTS}/*"), *root.glob("templates/**/*")]
    return tuple(sorted((str(p), p.stat().st_mtime) for p in files if p.is_file()))
