"""Checks of the names journeys and templates read (SPEC §9): against `data:` when declared, against
the sample profiles otherwise, so a misspelled trait or property is caught before anything runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from jinja2 import TemplateSyntaxError, nodes

from engine.declared import DeclaredData
from rules.data import ENGINE_TRAITS, RESERVED_TRAITS, SYNTHETIC_EVENTS, known_events, known_traits
from rules.expressions import NAMES, did_you_mean
from rules.problems import Problem, Severity
from rules.references import JINJA_NAMES, Reference, local_names, references
from rules.templates import TemplateSet
from rules.yaml_positions import Path, Positions

TEMPLATE_NAMES = (*NAMES, "settings", "unsubscribe_url", "preferences_url", "confirm_url")
EVENT_FIELDS = ("type", "properties", "traits", "timestamp", "received_at", "id", "customer_id", "anonymous_id")
ACTIVITY_FIELDS = ("count", "first_at", "last_at")
SAMPLES = "samples/profiles.jsonl"


@dataclass(frozen=True)
class Reach:
    """The event types `event` and `trigger_event` can be at one place of a journey (None: not known)."""

    event: frozenset[str] | None = None
    trigger: frozenset[str] | None = None


@dataclass(frozen=True)
class TemplateUse:
    name: str
    channel: str
    reach: Reach


class DataCheck:
    """Collects problems with the names read by expressions (at once) and templates (at the end)."""

    def __init__(self, data: DeclaredData | None, samples: Sequence[Mapping[str, Any]] | None,
                 templates: TemplateSet) -> None:
        self.data = data
        self.samples = samples
        self.templates = templates
        self.problems: list[Problem] = []
        self.updated: set[str] = set()
        self.uses: list[TemplateUse] = []
        self._parsed: dict[str, tuple[list[Reference], set[str]]] = {}

    # -- event types and traits named in journeys -------------------------------------

    def event_type(self, name: str, pos: Positions, path: Path) -> None:
        if self.data is not None and name not in known_events(self.data):
            self.problems.append(pos.problem(path, f"event type '{name}' is not declared in data.events"
                                                   f"{did_you_mean(name, known_events(self.data))}"))

    def trait(self, name: str, pos: Positions, path: Path) -> None:
        if self.data is not None and name not in known_traits(self.data):
            self.problems.append(pos.problem(path, self._unknown_trait(name)))

    def _unknown_trait(self, name: str) -> str:
        assert self.data is not None
        return (f"profile.{name} is not a declared trait{did_you_mean(name, known_traits(self.data))}; "
                f"declare it under data.traits")

    # -- expressions ---------------------------------------------------------------------

    def expression(self, tree: nodes.Node, reach: Reach, pos: Positions, path: Path) -> None:
        for ref in references(tree):
            message = _shape(ref) or (self._declared(ref, reach) if self.data is not None else None)
            if message:
                self.problems.append(pos.problem(path, message))

    def _declared(self, ref: Reference, reach: Reach) -> str | None:
        """Why `ref` reads something `data:` does not declare; None when it is declared."""
        assert self.data is not None
        if ref.root == "profile" and ref.path and ref.path[0] not in known_traits(self.data):
            return self._unknown_trait(ref.path[0])
        if ref.root in ("event", "trigger_event") and len(ref.path) >= 2 and ref.path[0] == "properties":
            types = reach.event if ref.root == "event" else reach.trigger
            allowed = None if types is None else self._properties(types)
            if types is not None and allowed is not None and ref.path[1] not in allowed:
                return (f"{ref.root}.properties.{ref.path[1]} is not declared for {' or '.join(sorted(types))}"
                        f"{did_you_mean(ref.path[1], allowed)}")
        return None

    def _properties(self, types: Iterable[str]) -> set[str] | None:
        """Property names declared for any of `types`; None when one of them is not checked."""
        assert self.data is not None
        allowed: set[str] = set()
        for kind in types:
            if kind in SYNTHETIC_EVENTS:
                allowed.update(SYNTHETIC_EVENTS[kind])
            elif kind in self.data.events:
                allowed.update(self.data.events[kind].properties)
            else:
                return None  # built in, or undeclared (reported where the type is named)
        return allowed

    # -- templates -------------------------------------------------------------------------

    def template(self, name: str, channel: str, reach: Reach) -> None:
        self.uses.append(TemplateUse(name, channel, reach))

    def reads_unguarded(self, name: str, channel: str, root: str, path: tuple[str, ...]) -> bool:
        """Whether the template (any language, its layouts and macros) prints `root.path...` with no default."""
        return any(ref.root == root and ref.path[:len(path)] == path and not ref.guarded
                   for variant in self.templates.variant_paths(name, channel)
                   for _, source in self.templates.sources(variant)
                   for ref in self._read(source)[0])

    def finish(self) -> list[Problem]:
        """Template problems, once every journey has been read (an `update` anywhere may set a trait)."""
        found: set[Problem] = set()
        used = {(u.name, u.channel) for u in self.uses}
        unused = [TemplateUse(name, channel, Reach()) for name, channel in self.templates.names()
                  if (name, channel) not in used]  # a confirmation, or one a journey will use: checked all the same
        for use in dict.fromkeys([*self.uses, *unused]):
            for path in self.templates.variant_paths(use.name, use.channel):
                for file, source in self.templates.sources(path):
                    found.update(self._template_source(file, source, use.reach))
        return [*self.problems, *sorted(found)]

    def _read(self, source: str) -> tuple[list[Reference], set[str]]:
        """The names a template source reads and those it may read, parsed once per source."""
        if source not in self._parsed:
            try:
                tree = self.templates.env.parse(source)
            except TemplateSyntaxError:  # reported when the templates were loaded
                self._parsed[source] = ([], set())
            else:
                local = local_names(tree) | JINJA_NAMES | set(self.templates.env.globals) | set(TEMPLATE_NAMES)
                self._parsed[source] = (references(tree), local)
        return self._parsed[source]

    def _template_source(self, file: str, source: str, reach: Reach) -> list[Problem]:
        refs, local = self._read(source)
        problems: list[Problem] = []
        for ref in refs:
            message, severity = self._template_ref(ref, reach, local)
            if message:
                line, column = self._place(file, ref)
                problems.append(Problem(f"{self.templates.label}/{file}", line, column, message, severity))
        return problems

    def _template_ref(self, ref: Reference, reach: Reach, local: set[str]) -> tuple[str | None, Severity]:
        if ref.root not in local:
            return (f"unknown variable '{ref.root}'{did_you_mean(ref.root, TEMPLATE_NAMES)}; "
                    f"templates see {', '.join(TEMPLATE_NAMES)}"), Severity.ERROR
        if message := _shape(ref):
            return message, Severity.ERROR
        if self.data is not None and (message := self._declared(ref, reach)):
            return message, Severity.ERROR
        if ref.root != "profile" or not ref.path:
            return None, Severity.ERROR
        trait = ref.path[0]
        if not self.samples:
            return None, Severity.ERROR
        lacking = sum(1 for p in self.samples if p.get(trait) is None)
        if (self.data is None and lacking == len(self.samples) and trait not in self.updated
                and trait not in (*RESERVED_TRAITS, *ENGINE_TRAITS)):
            known = {t for p in self.samples for t in p} | self.updated | set(RESERVED_TRAITS)
            return (f"profile.{trait} is undefined for every profile of {SAMPLES}{did_you_mean(trait, known)}; "
                    f"a send using it would fail"), Severity.ERROR
        required = self.data is not None and (spec := self.data.traits.get(trait)) is not None and spec.required
        if not ref.guarded and lacking and not required:
            return (f"profile.{trait} has no default: {lacking} of {len(self.samples)} profiles of {SAMPLES} "
                    f"({round(100 * lacking / len(self.samples))}%) lack it, and a send to them fails; write "
                    f"{{{{ profile.{trait} | default('...') }}}}"), Severity.WARNING
        return None, Severity.ERROR

    def _place(self, file: str, ref: Reference) -> tuple[int, int]:
        """Line and column of the reference in the file as written (front matter included)."""
        lines = self.templates.files.get(file, "").splitlines()
        for number in [*range(ref.line, len(lines) + 1), *range(1, ref.line)]:
            column = lines[number - 1].find(ref.dotted) if number - 1 < len(lines) else -1
            if column >= 0:
                return number, column + 1
        return ref.line, 1



def _shape(ref: Reference) -> str | None:
    """A read that can never find anything, whatever the data: `event.propeties.x`, `activity.purchase.cont`."""
    if ref.root in ("event", "trigger_event") and ref.path and ref.path[0] not in EVENT_FIELDS:
        return (f"{ref.root}.{ref.path[0]} does not exist{did_you_mean(ref.path[0], EVENT_FIELDS)}; "
                f"an event has {', '.join(EVENT_FIELDS)}")
    if ref.root == "activity" and len(ref.path) >= 2 and ref.path[1] not in ACTIVITY_FIELDS:
        return (f"activity.{ref.path[0]}.{ref.path[1]} does not exist{did_you_mean(ref.path[1], ACTIVITY_FIELDS)}; "
                f"activity of an event type has {', '.join(ACTIVITY_FIELDS)}")
    return None
