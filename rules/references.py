"""Which names an expression or template reads (`profile.first_name`, `event.properties.total`), and
whether each read is guarded (`| default`, `is defined`, a test) so a missing value cannot fail it."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import nodes

GUARDING_FILTERS = frozenset({"default", "d"})
GUARDING_TESTS = frozenset({"defined", "undefined", "none"})
# names Jinja itself provides inside templates
JINJA_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super", "range", "lipsum", "dict",
                         "cycler", "joiner", "namespace", "true", "false", "none", "True", "False", "None"})


@dataclass(frozen=True)
class Reference:
    """`root.path[0].path[1]...` read at `line`; `guarded` when a missing value is handled."""

    root: str
    path: tuple[str, ...]
    line: int
    guarded: bool

    @property
    def dotted(self) -> str:
        return ".".join((self.root, *self.path))


def _chain(node: nodes.Node) -> tuple[nodes.Node, tuple[str, ...]]:
    """The innermost node of `a.b['c'].d` and the names after it."""
    names: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
            node = node.node
        else:
            return node, tuple(reversed(names))


def references(tree: nodes.Node) -> list[Reference]:
    """Every read of a name, with its attribute path, in source order. Reads inside
    `{% if profile.x %}...{% endif %}` of the name tested there count as guarded."""
    found: list[Reference] = []

    def visit(node: nodes.Node, guarded: bool, tested: frozenset[str]) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem)):
            inner, path = _chain(node)
            if path and isinstance(inner, nodes.Name) and inner.ctx == "load":
                dotted = ".".join((inner.name, *path))
                found.append(Reference(inner.name, path, node.lineno, guarded or _within(dotted, tested)))
                return
            if path:
                visit(inner, False, tested)
                return
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                found.append(Reference(node.name, (), node.lineno, guarded or node.name in tested))
            return
        if isinstance(node, nodes.Filter) and node.name in GUARDING_FILTERS and node.node is not None:
            visit(node.node, True, tested)
            for child in (*node.args, *(kw.value for kw in node.kwargs)):
                visit(child, False, tested)
            return
        if isinstance(node, nodes.Test) and node.name in GUARDING_TESTS:
            visit(node.node, True, tested)
            return
        if isinstance(node, (nodes.If, nodes.CondExpr)):
            start = len(found)
            visit(node.test, True, tested)
            inside = tested | {r.dotted for r in found[start:]}
            for body in ("body", "expr1"):
                for branch in _children(node, body):
                    visit(branch, False, inside)
            for other in node.iter_child_nodes(exclude=("test", "body", "expr1")):
                visit(other, False, tested)
            return
        if isinstance(node, (nodes.And, nodes.Or, nodes.Not, nodes.Compare, nodes.Operand)):
            for operand in node.iter_child_nodes():
                visit(operand, True, tested)
            return
        for part in node.iter_child_nodes():
            visit(part, False, tested)

    visit(tree, False, frozenset())
    return found


def _children(node: nodes.Node, field: str) -> list[nodes.Node]:
    value = getattr(node, field, None)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _within(dotted: str, tested: frozenset[str]) -> bool:
    """`profile.a.b` is safe under a test of `profile.a` or `profile.a.b`."""
    return any(dotted == t or dotted.startswith(t + ".") for t in tested)


def local_names(tree: nodes.Node) -> set[str]:
    """Names a template defines for itself: `set`, `for`, macros and their arguments, imports."""
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names.update(m.name for m in tree.find_all(nodes.Macro))
    names.update(i.target for i in tree.find_all(nodes.Import))
    for imported in tree.find_all(nodes.FromImport):
        names.update(n if isinstance(n, str) else n[1] for n in imported.names)
    return names
