"""Safe YAML loading that remembers where every key and value stands in the file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from rules.problems import Problem

Path = tuple[str | int, ...]


@dataclass
class Positions:
    """Line and column (1-based) of each value and each mapping key, by path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def of_value(self, path: Path) -> tuple[int, int]:
        """The closest known position: the value itself, else its nearest parent."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.values:
                return self.values[path[:n]]
        return (1, 1)

    def of_key(self, path: Path) -> tuple[int, int]:
        return self.keys.get(path) or self.of_value(path)

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        line, column = self.of_key(path) if key else self.of_value(path)
        return Problem(self.file, line, column, message)


@dataclass
class LoadedYaml:
    data: Any
    positions: Positions


_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
# values in one file once aliases are expanded: a large workspace file holds a few thousand,
# a "billion laughs" alias bomb billions (the limit is checked before anything is expanded)
MAX_VALUES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader, so tags that build Python objects are refused."""


def load_yaml(text: str, file: str) -> LoadedYaml:
    """Parse one YAML document; raise a Problem-carrying ValueError on a syntax error."""
    positions = Positions(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(Problem(file, line, column, in_words(reason))) from exc
    except RecursionError as exc:  # PyYAML composes recursively
        raise YamlSyntaxError(Problem(file, 1, 1, "invalid YAML: nested too deeply")) from exc
    if node is None:
        return LoadedYaml(None, positions)
    _expanded_size(node, file, {}, set())
    constructor = _Loader(text)
    try:
        data = _build(node, (), positions, constructor)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlSyntaxError(Problem(file, line, column, f"invalid YAML: {exc.problem}")) from exc
    finally:
        constructor.dispose()
    return LoadedYaml(data, positions)


# the parser's words, and what a person editing the file should do
_IN_WORDS = (
    ("found character '\\t'", "a tab character: indent with spaces, never tabs"),
    ("mapping values are not allowed here",
     "a ':' YAML did not expect: put quotes around a value that contains ': ' "
     '(name: "Welcome: part 1"), or check the indentation of this line'),
    ("expected <block end>, but found '<block mapping start>'",
     "the indentation does not match the lines above: line this key up with the keys of the same "
     "mapping (2 spaces per level)"),
    ("expected <block end>, but found '<block sequence start>'",
     "the indentation does not match the lines above: line this '- ' up with the other items of its list"),
    ("expected <block end>, but found",
     "the indentation does not match the lines above: line this up with the keys or items it belongs with"),
    ("could not find expected ':'", "a line that is not 'key: value': add the ':' or check the indentation"),
)


def in_words(reason: str) -> str:
    """A parser error as advice; the parser's own text when there is none."""
    for found, advice in _IN_WORDS:
        if found in reason:
            return advice
    return f"invalid YAML: {reason}"


class YamlSyntaxError(ValueError):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def _expanded_size(node: yaml.Node, file: str, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values `node` becomes once its aliases are expanded, counted without expanding
    (a shared node is counted once and multiplied); raises on a bomb or a recursive alias."""
    if id(node) in sizes:
        return sizes[id(node)]
    here = Problem(file, node.start_mark.line + 1, node.start_mark.column + 1, "")
    if id(node) in open_nodes:
        raise YamlSyntaxError(replace(here, message="invalid YAML: an alias refers to the value that contains it"))
    open_nodes.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    size = 1 + sum(_expanded_size(child, file, sizes, open_nodes) for child in children)
    if size > MAX_VALUES:
        raise YamlSyntaxError(replace(
            here, message=f"invalid YAML: over {MAX_VALUES} values once aliases are expanded (an alias bomb?)"))
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size


def _build(node: yaml.Node, path: Path, positions: Positions, constructor: yaml.SafeLoader) -> Any:
    positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        line, col = positions.values[path]
        raise YamlSyntaxError(Problem(positions.file, line, col, f"invalid YAML: tag '{node.tag}' is not allowed"))
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                key = str(key)
            if key in result:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                raise YamlSyntaxError(Problem(positions.file, line, col, f"duplicate key '{key}'"))
            child = (*path, key)
            positions.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _build(value_node, child, positions, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), positions, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
