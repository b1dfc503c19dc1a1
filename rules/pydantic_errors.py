"""Pydantic validation errors translated into `file:line:column: message` problems."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from rules.expressions import did_you_mean
from rules.problems import Problem
from rules.yaml_positions import Path, Positions


def known_keys(*models: type[BaseModel]) -> set[str]:
    """Every key any model of the language accepts, for 'did you mean' hints."""
    keys: set[str] = set()
    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
            for arg in _types_in(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    walk(arg)

    for m in models:
        walk(m)
    return keys


def _types_in(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_types_in(arg))
    for meta in getattr(annotation, "__metadata__", ()) or ():
        found.extend(_types_in(meta))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None:
        found.append(origin)
    return found


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Follow `loc` through the data; union tags (which name no real place) are skipped.

    A tag can coincide with a real key (`send` is both), so this backtracks: the last
    item must be a real key or index, or a key that is missing or unknown.
    """
    def follow(node: Any, i: int) -> Path | None:
        if i == len(loc):
            return ()
        item, last = loc[i], i == len(loc) - 1
        if isinstance(node, dict) and item in node or (
                isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)):
            rest = follow(node[item], i + 1)
            if rest is not None:
                return (item, *rest)
        if last:
            return (item,) if isinstance(node, dict) else None
        return follow(node, i + 1)

    found = follow(data, 0)
    if found is not None:
        return found
    path: list[str | int] = []  # a union tag at the end: the deepest real place will do
    node = data
    for item in loc:
        if isinstance(node, dict) and item in node or (isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)):
            node = node[item]
            path.append(item)
    return tuple(path)


def _message(error: Any, vocabulary: set[str]) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return f"unknown key '{key}'{did_you_mean(key, vocabulary)}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "expected a mapping (key: value)"
    if kind == "list_type":
        return "expected a list"
    if kind == "literal_error":
        return f"got {error['input']!r}; expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch" and "[0-5]" in str(error["ctx"]["pattern"]):
        return f"{error['input']!r} is not a time: use 24-hour HH:MM, e.g. 08:00"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} does not match the pattern {error['ctx']['pattern']}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def problems_from(exc: ValidationError, data: Any, positions: Positions, vocabulary: set[str]) -> list[Problem]:
    """One problem per place; alternatives of a union at one place are joined with 'or'."""
    by_path: dict[Path, list[tuple[str, bool]]] = {}
    for error in exc.errors():
        path = _data_path(data, error["loc"])
        is_key = error["type"] == "extra_forbidden"
        message = _message(error, vocabulary)
        entries = by_path.setdefault(path, [])
        if (message, is_key) not in entries:
            entries.append((message, is_key))
    problems: list[Problem] = []
    for path, entries in by_path.items():
        if len(entries) > 1 and not any(k for _, k in entries):
            problems.append(positions.problem(path, "; or ".join(m for m, _ in entries)))
        else:
            problems.extend(positions.problem(path, m, key=k) for m, k in entries)
    return problems
