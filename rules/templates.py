"""Message templates (SPEC §6): sandboxed Jinja2, email front matter, locales, layouts.

Every file is read once when the workspace loads, so rendering does no I/O and a live
edit swaps the whole set at once. Rendering is the engine's costliest step, so the work
that is the same for every message (looking templates up, copying their globals, static
front matter) is done once per template, not per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from jinja2 import DictLoader, Template, TemplateSyntaxError, UndefinedError, nodes, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.model import Rendered
from engine.tracking import origin, rewrite_html, rewrite_text, written_origins
from rules import jinja_internals
from rules.compliance import add_footer, postal_address
from rules.expressions import Missing, huge_literal, make_environment
from rules.plaintext import html_to_text
from rules.problems import Problem
from rules.sms_segments import count_segments
from rules.yaml_positions import YamlSyntaxError, load_yaml

SUFFIX = {"email": ".email.html", "sms": ".sms.txt"}
_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_\-]+?)(?:\.(?P<locale>[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*))?\.(?P<channel>email\.html|sms\.txt)$")
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", re.S | re.M)
FRONT_KEYS = ("subject", "preheader", "text")


class Unset(Missing):
    """A missing value in a template: printing it, looping over it or doing sums with it fails the
    send (`template_error`), so "Hi ," never goes out; `| default(...)`, `is defined` and
    `{% if profile.x %}` still work, as they handle the missing value on purpose."""

    __slots__ = ()

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_hint:  # the sandbox's refusal of an unsafe attribute says why
            raise self._undefined_exception(self._undefined_hint)
        name = self._undefined_name
        what = f"'{name}' is missing" if name else "a missing value is used"
        raise UndefinedError(f"{what}: write {{{{ ... | default('...') }}}} where a value may be missing")

    __str__ = __iter__ = __len__ = __contains__ = __html__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pos__ = __neg__ = __call__ = _fail
    __int__ = __float__ = __complex__ = __pow__ = __rpow__ = _fail
    __hash__ = Missing.__hash__


class Prepared:
    """A compiled template and what `Template.render` would otherwise redo on every call.

    `Template.render` copies the template's globals (a ChainMap, slow to iterate) into each
    new context; here they are copied once and merged with the message's names in one step.
    A template without tags or expressions (a fixed preheader) is rendered once, at load.
    """

    __slots__ = ("template", "_globals", "_constant")

    def __init__(self, template: Template, source: str) -> None:
        self.template = template
        self._globals = dict(template.globals)
        tree = template.environment.parse(source)
        static = all(isinstance(node, (nodes.Output, nodes.TemplateData)) for node in tree.find_all(nodes.Node))
        self._constant = template.render() if static else None

    def render(self, context: Mapping[str, Any]) -> str:
        """What `self.template.render(context)` returns, or raises."""
        if self._constant is not None:
            return self._constant
        return jinja_internals.render(self.template, {**self._globals, **context})


@dataclass(frozen=True)
class EmailParts:
    """Compiled pieces of one email file."""

    subject: Prepared
    preheader: Prepared | None
    text: Prepared | None


class TemplateSet:
    """All templates of a workspace, checked at load and rendered without I/O."""

    def __init__(self, files: Mapping[str, str], label: str = "templates") -> None:
        """`files` maps a path relative to templates/ (e.g. `layouts/base.email.html`) to its text."""
        self.label = label
        self.problems: list[Problem] = []
        self._bodies: dict[str, str] = {}
        self._variants: dict[tuple[str, str], dict[str | None, str]] = {}
        self._email: dict[str, EmailParts] = {}
        self._prepared: dict[str, Prepared] = {}
        self.files = dict(files)
        self._front: dict[str, dict[str, str]] = {}
        self._written = {path: written_origins(text) for path, text in files.items()}
        self._uses: dict[str, set[str]] = {path: set() for path in files}
        self._origins: dict[str, frozenset[str]] = {}
        plain = make_environment(autoescape=False, undefined=Unset)
        for path, text in sorted(files.items()):
            body = self._split(path, text, plain)
            self._bodies[path] = body
            match = _NAME.match(path)
            if match and "/" not in path:
                channel = "email" if match["channel"].startswith("email") else "sms"
                locale = match["locale"].lower().replace("_", "-") if match["locale"] else None
                self._variants.setdefault((match["name"], channel), {})[locale] = path
        self.env = make_environment(undefined=Unset)
        self.env.autoescape = select_autoescape(enabled_extensions=("html",), default_for_string=False)
        self.env.loader = DictLoader(self._bodies)
        for path in sorted(self._bodies):
            self._check(path)

    def _split(self, path: str, text: str, plain: ImmutableSandboxedEnvironment) -> str:
        """Strip email front matter, keeping line numbers, and compile its fields."""
        if not path.endswith(".email.html") or "/" in path:
            return text
        match = _FRONT.match(text)
        if not match:
            self._problem(path, 1, "an email template starts with front matter between '---' lines holding 'subject'")
            return text
        try:  # the workspace's loader: an alias bomb in front matter is refused like one in a journey
            front = load_yaml(match[1], f"{self.label}/{path}").data or {}
        except YamlSyntaxError as exc:
            self._problem(path, exc.problem.line + 1, f"invalid front matter: {exc.problem.message}")
            front = {}
        if not isinstance(front, dict):
            front = {}
        for key in front:
            if key not in FRONT_KEYS:
                self._problem(path, 2, f"unknown front matter key '{key}'; allowed: {', '.join(FRONT_KEYS)}")
        compiled: dict[str, Prepared | None] = {}
        self._front[path] = {k: str(v) for k, v in front.items() if k in FRONT_KEYS and v is not None}
        for key in FRONT_KEYS:
            compiled[key] = None
            source = front.get(key)
            if source is None:
                continue
            try:
                huge = huge_literal(plain.parse(str(source)))
                if huge is None:
                    compiled[key] = Prepared(plain.from_string(str(source)), str(source))
                else:
                    self._problem(path, 2, f"invalid {key}: {huge[1]}")
            except TemplateSyntaxError as exc:
                self._problem(path, 2, f"invalid {key}: {exc.message}")
            except RecursionError:
                self._problem(path, 2, f"invalid {key}: nested too deeply")
        if compiled["subject"] is None and "subject" not in front:
            self._problem(path, 1, "front matter needs a 'subject'")
        if compiled["subject"] is not None:
            self._email[path] = EmailParts(compiled["subject"], compiled["preheader"], compiled["text"])
        return "\n" * match[0].count("\n") + text[match.end():]

    def _check(self, path: str) -> None:
        source = self._bodies[path]
        try:
            tree = self.env.parse(source)
            if (huge := huge_literal(tree)) is not None:
                self._problem(path, *huge)
                return
            template = self.env.get_template(path)
        except TemplateSyntaxError as exc:
            self._problem(path, exc.lineno or 1, exc.message or "invalid template")
            return
        except RecursionError:
            self._problem(path, 1, "nested too deeply")
            return
        for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            target = getattr(node, "template", None)
            if isinstance(target, nodes.Const) and target.value not in self._bodies:
                self._problem(path, node.lineno, f"template '{target.value}' does not exist in {self.label}/")
            elif isinstance(target, nodes.Const):
                self._uses[path].add(target.value)
        del template

    def _problem(self, path: str, line: int, message: str) -> None:
        self.problems.append(Problem(f"{self.label}/{path}", line, 1, message))

    def has(self, name: str, channel: str) -> bool:
        return bool(self._variants.get((name, channel)))

    def path_for(self, name: str, channel: str, locale: str | None) -> str:
        """Exact locale tag, then its language, then the plain file (SPEC §6)."""
        variants = self._variants.get((name, channel))
        if not variants:
            raise LookupError(f"template '{name}' ({channel}) does not exist")
        if isinstance(locale, str) and locale:
            tag = locale.lower().replace("_", "-")
            for candidate in (tag, tag.split("-")[0]):
                if candidate in variants:
                    return variants[candidate]
        if None in variants:
            return variants[None]
        raise LookupError(f"template '{name}' ({channel}) has no variant for locale '{locale}' and no default")

    def render(self, name: str, channel: str, locale: str | None, context: Mapping[str, Any],
               track: Callable[[str], str] | None = None) -> Rendered:
        """`track`, when given, turns each link the template's author wrote into a tracked one."""
        path = self.path_for(name, channel, locale)
        context = {"unsubscribe_url": "", "preferences_url": "", **context}  # empty where none applies: transactional (and SMS: no unsubscribe)
        body = self._body(path).render(context)
        wrap = self._wrap(path, context)
        if channel == "sms":
            text = body.strip()
            if track:
                text = rewrite_text(text, track, wrap)
            sms = count_segments(text)
            return Rendered(subject=None, text=text, segments=sms.segments, encoding=sms.encoding)
        parts = self._email[path]
        subject = " ".join(parts.subject.render(context).split())
        preheader = parts.preheader.render(context).strip() if parts.preheader else None
        written = parts.text.render(context).strip() if parts.text else None
        if unsubscribe := str(context["unsubscribe_url"]):  # marketing email: never without its footer
            body, written = add_footer(body, written, unsubscribe, postal_address(context))
        if track:
            body = rewrite_html(body, track, wrap)
        text = written if written is not None else html_to_text(body)
        if track and parts.text:
            text = rewrite_text(text, track, wrap)
        return Rendered(subject=subject, text=text, html=body, preheader=preheader)

    def text(self, source: str) -> Prepared:
        """A template string outside any file (a content test's subject), compiled as front matter is;
        ValueError says what is wrong with it."""
        try:
            if (huge := huge_literal(self.env.parse(source))) is not None:
                raise ValueError(huge[1])
            return Prepared(self.env.from_string(source), source)
        except TemplateSyntaxError as exc:
            raise ValueError(exc.message) from None
        except RecursionError:
            raise ValueError("nested too deeply") from None

    def variant_paths(self, name: str, channel: str) -> list[str]:
        """Every file of one template: the plain one and its locale variants."""
        return sorted(self._variants.get((name, channel), {}).values())

    def names(self) -> list[tuple[str, str]]:
        """(name, channel) of every template, for lookups by name alone."""
        return sorted(self._variants)

    def sources(self, path: str) -> list[tuple[str, str]]:
        """(file, Jinja source) of everything rendering `path` reads: its front matter, its body, and
        the layouts and macros it uses, so names can be checked wherever they are written."""
        seen, todo = set(), [path]
        found: list[tuple[str, str]] = []
        while todo:
            current = todo.pop()
            if current in seen or current not in self._bodies:
                continue
            seen.add(current)
            found.extend((current, source) for source in self._front.get(current, {}).values())
            found.append((current, self._bodies[current]))
            todo.extend(sorted(self._uses.get(current, ())))
        return found

    def origins(self, path: str) -> frozenset[str]:
        """The link origins written in a template and in the layouts and macros it uses."""
        found = self._origins.get(path)
        if found is None:
            seen, todo = set(), [path]
            while todo:
                if (current := todo.pop()) not in seen:
                    seen.add(current)
                    todo.extend(self._uses.get(current, ()))
            found = self._origins[path] = frozenset().union(*(self._written.get(p, frozenset()) for p in seen))
        return found

    def _wrap(self, path: str, context: Mapping[str, Any]) -> Callable[[str], bool]:
        """Links to wrap: those whose origin the template's author wrote; never unsubscribe and
        confirmation links, which must work as sent."""
        written = self.origins(path)
        own = {str(context[k]) for k in ("unsubscribe_url", "preferences_url", "confirm_url") if context.get(k)}
        return lambda url: url not in own and origin(url) in written

    def _body(self, path: str) -> Prepared:
        """The compiled body, looked up once: the loader compares the whole source on each lookup."""
        prepared = self._prepared.get(path)
        if prepared is None:
            prepared = self._prepared[path] = Prepared(self.env.get_template(path), self._bodies[path])
        return prepared


__all__ = ["TemplateSet", "SUFFIX", "Missing"]
