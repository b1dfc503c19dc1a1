"""Pydantic validation errors translated into `file:line:column: message` problems."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from rules.expressions import did_you_mean
from rules.schema import STEP_KINDS
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


def _data_path(data: Any, loc: tuple[Any, ...], names_key: bool = True) -> Path:
    """Follow `loc` through the data; union tags (which name no real place) are skipped.

    A tag can coincide with a real key (`send` is both), so every way of reading each item (a
    real key, or a tag) is tried, and the one that goes deepest into the data wins: a key that is
    missing from one mapping is never skipped to land in another.
    """
    memo: dict[tuple[int, int], tuple[int, bool, Path]] = {}
    end = len(loc) - 1

    def follow(node: Any, i: int) -> tuple[int, bool, Path]:
        """(real keys followed, whether the last one is `loc`'s last, the path) from `loc[i:]` at `node`."""
        key = (id(node), i)
        if key in memo:
            return memo[key]
        if i == len(loc):
            found: tuple[int, bool, Path] = (0, False, ())
        else:
            item = loc[i]
            options: list[tuple[int, bool, Path]] = []
            if isinstance(node, dict) and item in node or (
                    isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)):
                depth, last, rest = follow(node[item], i + 1)
                options.append((depth + 1, last or i == end, (item, *rest)))
            elif i == end and isinstance(node, dict):
                options.append((1, names_key, (item,)))  # a key that is missing, or unknown
            options.append(follow(node, i + 1))  # a union tag
            found = max(options, key=lambda option: option[:2])
        memo[key] = found
        return found

    return follow(data, 0)[2]


# what a pattern means, in the words of the person who has to fix the value
_PATTERNS = {
    r"^[a-z][a-z0-9_]*$": "lower case letters, digits and _, starting with a letter",
    r"^[A-Za-z0-9_.\-]+$": "letters, digits, _, . and -, without spaces",
    r"^[A-Za-z0-9_\-]+$": "letters, digits, _ and -, without spaces",
}
_DURATION_KEYS = frozenset({"wait", "timeout", "within", "per", "for", "cooldown", "offset", "late_events",
                            "future_skew"})
_TIME_KEYS = frozenset({"time", "at", "start", "end"})


_BOUNDS = {"less_than_equal": ("at most", "le"), "greater_than_equal": ("at least", "ge"),
           "less_than": ("less than", "lt"), "greater_than": ("more than", "gt")}


def _misplaced(key: str) -> str:
    if key in ("then", "else"):
        return (f"'{key}' does not belong to this step: it goes with 'if' or 'wait_for', lined up with their "
                "'then:' (check the indentation)")
    return f"'{key}' does not belong here: check the indentation of this line"


def _not_text(key: Any, value: Any) -> str:
    if key in _DURATION_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value} has no unit: write a duration such as {value}h or {value}d (units s m h d w)"
    if key in _TIME_KEYS and isinstance(value, int) and not isinstance(value, bool):
        hours, minutes = divmod(value, 60)  # YAML 1.1 reads 10:00 as 600, base 60
        return f'write the time in quotes, e.g. "{hours:02d}:{minutes:02d}" (unquoted, YAML reads {hours}:{minutes:02d} as a number)'
    return f"expected text, got {value!r}: put it in quotes"


def _unknown_step(value: Any) -> str:
    kinds = ", ".join(STEP_KINDS)
    keys = list(value) if isinstance(value, dict) else [value] if isinstance(value, str) else []
    for key in keys:
        hint = did_you_mean(str(key), STEP_KINDS)
        if hint:
            return f"unknown step '{key}'{hint}; a step needs one of: {kinds}"
    return f"a step needs one of: {kinds}"


def _message(error: Any, vocabulary: set[str]) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if key in vocabulary:
            return _misplaced(key)
        return f"unknown key '{key}'{did_you_mean(key, vocabulary)}"
    if kind == "step":
        return _unknown_step(error["input"])
    if kind == "string_type":
        return _not_text(next((k for k in reversed(loc) if isinstance(k, str)), None), error["input"])
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "expected a mapping (key: value)"
    if kind == "list_type":
        return "expected a list"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error["ctx"]["expected"]))
        return f"got {error['input']!r}{did_you_mean(str(error['input']), choices)}; expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch" and "[0-5]" in str(error["ctx"]["pattern"]):
        return f"{error['input']!r} is not a time: use 24-hour HH:MM, e.g. 08:00"
    if kind == "string_pattern_mismatch" and (words := _PATTERNS.get(str(error["ctx"]["pattern"]))):
        example = re.sub(r"[^a-z0-9_]+", "_", str(error["input"]).lower()).strip("_")
        suggestion = f" (e.g. {example})" if words.startswith("lower") and re.fullmatch(r"[a-z][a-z0-9_]*", example) else ""
        return f"{error['input']!r} is not a valid {_what(loc)}: use {words}{suggestion}"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} does not match the pattern {error['ctx']['pattern']}"
    if kind in _BOUNDS:
        words, name = _BOUNDS[kind]
        return f"'{_what(loc)}' is {words} {error['ctx'][name]}: got {error['input']!r}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _what(loc: tuple[Any, ...]) -> str:
    last = next((k for k in reversed(loc) if isinstance(k, str)), "value")
    return "id" if last == "id" else f"{last}"


def problems_from(exc: ValidationError, data: Any, positions: Positions, vocabulary: set[str]) -> list[Problem]:
    """One problem per place; alternatives of a union at one place are joined with 'or'."""
    by_path: dict[Path, list[tuple[str, bool]]] = {}
    placed = [(_data_path(data, e["loc"], e["type"] in ("extra_forbidden", "missing")), e) for e in exc.errors()]
    for path, error in placed:
        if _text_beside_a_deeper_error(path, error, placed):
            continue
        is_key = error["type"] == "extra_forbidden"
        message = _message(error, vocabulary)
        entries = by_path.setdefault(path, [])
        if (message, is_key) not in entries:
            entries.append((message, is_key))
    problems: list[Problem] = []
    for path, entries in by_path.items():
        entries = _without_stray_mapping(entries, exc, data, path)
        if len(entries) > 1 and not any(k for _, k in entries):
            problems.append(positions.problem(path, "; or ".join(m for m, _ in entries)))
        else:
            problems.extend(positions.problem(path, m, key=k) for m, k in entries)
    return problems


def _text_beside_a_deeper_error(path: Path, error: Any, placed: list[tuple[Path, Any]]) -> bool:
    """`days: [monday]` fails both the text form and the list's item: the item's message says what to fix."""
    return (error["type"] == "string_type" and isinstance(error["input"], (list, dict))
            and any(len(other) > len(path) and other[:len(path)] == path for other, _ in placed))


def _without_stray_mapping(entries: list[tuple[str, bool]], exc: ValidationError, data: Any,
                           path: Path) -> list[tuple[str, bool]]:
    """`reentry: always` fails both the words (never, ...) and the mapping form ({cooldown: 7d}): one
    message naming both, not a bare 'expected a mapping' beside the list of words."""
    mapping = ("expected a mapping (key: value)", False)
    if mapping not in entries or len(entries) < 2:
        return entries
    fields = [f for e in exc.errors() if e["type"] == "model_type" and _data_path(data, e["loc"], False) == path
              for f in _fields_of(str(e.get("ctx", {}).get("class_name", "")))]
    shown = "{" + ", ".join(f"{f}: ..." for f in fields) + "}" if fields else "(key: value)"
    rest = [e for e in entries if e != mapping]
    return [(rest[0][0] + f", or a mapping {shown}", rest[0][1]), *rest[1:]]


def _fields_of(class_name: str) -> list[str]:
    from rules import schema

    model = getattr(schema, class_name, None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []
