"""From validated YAML models to the engine's program, checking meaning as we go.

Every problem is collected with its position; nothing is raised until the end, so a
marketer sees the whole list at once.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any, Sequence
from urllib.parse import urlsplit

from engine import model as m
from engine.model import CONFIRM_TEMPLATE
from rules import schema as s
from rules.broadcasts import BroadcastModel
from rules.datacheck import DataCheck, Reach
from rules.durations import parse_duration
from rules.expressions import Expression, ExpressionCompiler, ExpressionError, did_you_mean
from rules.problems import Problem, Severity
from rules.templates import SUFFIX, TemplateSet
from rules.yaml_positions import Path, Positions

EXPRESSION_KEYS = frozenset({"where", "audience", "filter", "if", "when", "value"})
_HHMM = r"([01]\d|2[0-3]):[0-5]\d"
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def signed_duration(text: str) -> timedelta:
    return -parse_duration(text[1:]) if text.startswith("-") else parse_duration(text)


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def webhook_url_problem(url: str) -> str | None:
    """Customer data leaves only over TLS: https, or http to this machine (a local CRM, a test receiver)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"webhook url '{url[:120]}' is not a URL"
    if (parts.scheme == "https" and host) or (parts.scheme == "http" and host in LOCAL_HOSTS):
        return None
    return f"webhook url '{url[:120]}' must be https:// (http:// only to localhost or 127.0.0.1)"


class Compiler:
    """Compiles one workspace; `problems` holds everything found."""

    def __init__(self, exprs: ExpressionCompiler, templates: TemplateSet, topics: Sequence[str] = (),
                 check: DataCheck | None = None) -> None:
        self.exprs = exprs
        self.templates = templates
        self.topics = tuple(topics)
        self.check = check or DataCheck(None, None, templates)
        self.problems: list[Problem] = []
        self._reach = Reach()
        self._repeats = 0  # how many repeats the steps being compiled are inside (journey.iteration is defined)

    # -- helpers --------------------------------------------------------------

    def expr(self, source: str, pos: Positions, path: Path, extra: Sequence[str] = ()) -> Expression | None:
        try:
            compiled = self.exprs.compile(source, extra)
        except ExpressionError as exc:
            self.problems.append(pos.problem(path, str(exc)))
            return None
        self.check.expression(self.exprs.env.parse("{{ (" + source + ") }}"), self._reach, pos, path)
        return compiled

    def expr_for(self, source: str, reach: Reach, pos: Positions, path: Path) -> Expression | None:
        """An expression read where `event` can only be of the given types."""
        saved, self._reach = self._reach, reach
        try:
            return self.expr(source, pos, path)
        finally:
            self._reach = saved

    def opt_expr(self, source: str | None, pos: Positions, path: Path) -> Expression | None:
        return None if source is None else self.expr(source, pos, path)

    def raw_checks(self, node: Any, pos: Positions, path: Path) -> None:
        """Check expressions and templates of a journey whose shape is wrong, so that every
        problem is still reported in one pass."""
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.raw_checks(item, pos, (*path, i))
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            here = (*path, key)
            if key in EXPRESSION_KEYS and isinstance(value, str):
                self.expr(value, pos, here)
            elif key in ("set", "increment") and isinstance(value, dict) and path and path[-1] == "update":
                for name, source in value.items():
                    if isinstance(source, str):
                        self.expr(source, pos, (*here, name))
            elif key == "template" and isinstance(value, str) and node.get("send") in SUFFIX:
                self.check_template(value, node["send"], pos, here)
            else:
                self.raw_checks(value, pos, here)

    def check_template(self, name: str, channel: str, pos: Positions, path: Path) -> None:
        if not self.templates.has(name, channel):
            self.problems.append(pos.problem(
                path, f"template '{name}' does not exist (expected templates/{name}{SUFFIX[channel]})"))

    # -- settings -------------------------------------------------------------

    def settings(self, model: s.SettingsModel, raw: dict[str, Any], pos: Positions) -> m.Settings:
        for channel, on in model.double_opt_in.model_dump().items():
            if on:
                self.check_template(CONFIRM_TEMPLATE, channel, pos, ("settings", "double_opt_in", channel))
        consent = {"email": m.Consent.OPT_OUT, "sms": m.Consent.OPT_IN}
        consent.update({k: m.Consent(v) for k, v in model.consent.items()})
        quiet = m.QuietHours(clock(model.quiet_hours.start), clock(model.quiet_hours.end)) if model.quiet_hours else None
        return m.Settings(
            timezone=model.timezone,
            quiet_hours=quiet,
            frequency_caps={k: m.Cap(v.max, parse_duration(v.per)) for k, v in model.frequency_caps.items()},
            consent=consent,
            late_events=parse_duration(model.late_events),
            future_skew=parse_duration(model.future_skew),
            sender={k: v for k, v in model.sender.model_dump().items() if v is not None},
            topics=tuple(model.topics),
            track_links=model.tracking.links,
            utm=model.tracking.utm,
            double_opt_in=frozenset(ch for ch, on in model.double_opt_in.model_dump().items() if on),
            channels=model.channels.model_dump(),
            purchase_events=tuple(model.purchase_events),
            attribution=self.attribution(model.attribution),
            event_names=dict(model.event_names),
            raw=raw.get("settings") or {},
        )

    @staticmethod
    def attribution(model: s.AttributionModel) -> m.Attribution:
        """A channel left out keeps its default window."""
        default = m.Attribution()
        return m.Attribution(
            {**default.after_click, **{k: parse_duration(v) for k, v in model.after_click.items()}},
            {**default.after_send, **{k: parse_duration(v) for k, v in model.after_send.items()}})

    # -- journeys -------------------------------------------------------------

    def journey(self, model: s.JourneyModel, pos: Positions, root: Path) -> m.Journey:
        self._ids: dict[str, Path] = {}
        self._claims: dict[str, tuple[str, Path, Path]] = {}  # `was:` old id -> (claiming step, it, its `was`)
        self._topic = self.topic(model.topic, pos, (*root, "topic"))
        entry = frozenset({self.trigger_type(model.trigger, pos, (*root, "trigger"))})
        self._reach = Reach(entry, entry)
        trigger = self.trigger(model.trigger, pos, (*root, "trigger"))
        reentry = (
            m.Reentry(m.ReentryKind.COOLDOWN, parse_duration(model.reentry.cooldown))
            if isinstance(model.reentry, s.CooldownModel)
            else m.Reentry(m.ReentryKind(model.reentry))
        )
        if isinstance(trigger, m.DateTrigger) and trigger.yearly and reentry.kind is m.ReentryKind.NEVER:
            line, col = pos.of_value((*root, "trigger", "repeat"))
            self.problems.append(Problem(pos.file, line, col,
                "repeat: yearly never fires again with reentry: never (the default); use reentry: after_exit",
                Severity.WARNING))
        audience = self.opt_expr(model.audience, pos, (*root, "audience"))
        goal = None
        if model.goal:
            g = model.goal
            self.check.event_type(g.event, pos, (*root, "goal", "event"))
            self._reach = Reach(frozenset({g.event}), entry)
            goal = m.Goal(
                m.EventMatch(g.event, self.opt_expr(g.where, pos, (*root, "goal", "where"))),
                parse_duration(g.within),
                self.opt_expr(g.value, pos, (*root, "goal", "value")),
                g.exit,
            )
        exit_on = []
        for i, e in enumerate(model.exit_on):
            self.check.event_type(e.event, pos, (*root, "exit_on", i, "event"))
            self._reach = Reach(frozenset({e.event}), entry)
            exit_on.append(m.EventMatch(e.event, self.opt_expr(e.where, pos, (*root, "exit_on", i, "where"))))
        self._reach = Reach(None, entry)  # re-checked before every send, after any event
        filter_ = self.opt_expr(model.filter, pos, (*root, "filter"))
        self._reach = Reach(entry, entry)
        program: list[m.Instruction] = []
        self.steps(model.steps, pos, (*root, "steps"), "", None, program)
        self.check_claims(pos)
        return m.Journey(
            id=model.id,
            name=model.name or model.id,
            enabled=model.enabled,
            trigger=trigger,
            audience=audience,
            filter=filter_,
            reentry=reentry,
            exit_on=tuple(exit_on),
            goal=goal,
            program=tuple(program),
            topic=self._topic,
            was={old: new for old, (new, _, _) in self._claims.items()},
        )

    def topic(self, name: str | None, pos: Positions, path: Path) -> str | None:
        if name is not None and name not in self.topics:
            known = ", ".join(self.topics) or "none declared"
            self.problems.append(pos.problem(path, f"unknown topic '{name}'{did_you_mean(name, self.topics)}; "
                                                   f"declare it in settings.topics (now: {known})"))
        return name

    def trigger_type(self, t: Any, pos: Positions, path: Path) -> str:
        """The type of the event that starts an instance (synthetic for time triggers), checked against `data:`."""
        if isinstance(t, s.EventTriggerModel):
            self.check.event_type(t.event, pos, (*path, "event"))
            return t.event
        if isinstance(t, s.DateTriggerModel):
            self.check.trait(t.date, pos, (*path, "date"))
            return "date"
        if isinstance(t, BroadcastModel):
            return "broadcast"
        self.check.event_type(t.inactivity, pos, (*path, "inactivity"))
        return "inactivity"

    def trigger(self, t: Any, pos: Positions, path: Path) -> m.Trigger:
        if isinstance(t, s.EventTriggerModel):
            return m.EventTrigger(t.event, self.opt_expr(t.where, pos, (*path, "where")))
        if isinstance(t, s.DateTriggerModel):
            return m.DateTrigger(t.date, signed_duration(t.offset), clock(t.at), t.repeat == "yearly")
        if isinstance(t, BroadcastModel):
            return t.send_at.compiled(t.throttle)
        return m.InactivityTrigger(t.inactivity, parse_duration(t.for_))

    def steps(self, steps: Sequence[Any], pos: Positions, path: Path, prefix: str,
              variant: str | None, program: list[m.Instruction]) -> None:
        for i, step in enumerate(steps):
            here = (*path, i)
            default = f"{prefix}{i}"
            step_id = step.id or default
            if step_id in self._ids:
                self.problems.append(pos.problem((*here, "id") if step.id else here, f"duplicate step id '{step_id}' in this journey"))
            self._ids[step_id] = here
            self.claim(step, step_id, pos, here)
            line = pos.of_value(here)[0]

            def add(action: m.Action) -> int:
                program.append(m.Instruction(action, step_id, variant, line))
                return len(program) - 1

            match step:
                case s.SendStepModel():
                    add(self.send(step, pos, here))
                case s.WaitStepModel():
                    add(m.Wait(parse_duration(step.wait)))
                case s.WaitUntilStepModel() if step.wait_until.best_time is not None:
                    add(m.WaitBest(parse_duration(step.wait_until.best_time)))
                case s.WaitUntilStepModel():
                    add(self.wait_until(step.wait_until, pos, (*here, "wait_until")))
                case s.WaitForStepModel():
                    spec = step.wait_for
                    self.check.event_type(spec.event, pos, (*here, "wait_for", "event"))
                    before = self._reach
                    self._reach = Reach(frozenset({spec.event}), before.trigger)
                    match = m.EventMatch(spec.event, self.opt_expr(spec.where, pos, (*here, "wait_for", "where")))
                    at = add(m.Jump(-1))
                    then_pc, else_pc = self.branches(step.then, step.else_, pos, here, default, variant, program,
                                                     then_reach=self._reach, else_reach=before)
                    program[at] = m.Instruction(m.WaitFor(match, parse_duration(spec.timeout), then_pc, else_pc), step_id, variant, line)
                case s.IfStepModel():
                    condition = self.expr(step.if_, pos, (*here, "if"))
                    at = add(m.Jump(-1))
                    _, else_pc = self.branches(step.then, step.else_, pos, here, default, variant, program)
                    if condition is not None:
                        program[at] = m.Instruction(m.If(condition, else_pc), step_id, variant, line)
                case s.SplitStepModel():
                    self.split(step, pos, here, default, step_id, line, variant, program)
                case s.RepeatStepModel():
                    self.repeat(step, pos, here, default, step_id, line, variant, program)
                case s.UpdateStepModel():
                    u = step.update
                    for kind, names in (("set", u.set), ("increment", u.increment), ("unset", u.unset)):
                        for k, name in enumerate(names):
                            self.check.updated.add(name)
                            self.check.trait(name, pos, (*here, "update", kind, k if kind == "unset" else name))
                    add(m.Update(
                        {k: e for k, v in u.set.items() if (e := self.expr(v, pos, (*here, "update", "set", k)))},
                        {k: e for k, v in u.increment.items() if (e := self.expr(v, pos, (*here, "update", "increment", k)))},
                        tuple(u.unset),
                    ))
                case s.ExitStepModel():
                    add(m.ExitStep())
                case _:
                    raise AssertionError(f"unhandled step {step!r}")

    def claim(self, step: Any, step_id: str, pos: Positions, here: Path) -> None:
        """Record the old ids a step claims with `was:`; one old id moves to one step only."""
        olds = [step.was] if isinstance(step.was, str) else step.was or []
        for k, old in enumerate(olds):
            at = (*here, "was") if isinstance(step.was, str) else (*here, "was", k)
            if old in self._claims:
                other, where, _ = self._claims[old]
                self.problems.append(pos.problem(at, f"'{old}' is already claimed by step '{other}' (line "
                                                     f"{pos.of_value(where)[0]}): customers waiting at a "
                                                     "step can move to one step only"))
            else:
                self._claims[old] = (step_id, here, at)

    def check_claims(self, pos: Positions) -> None:
        """A `was` names an id that is gone: one still in the journey keeps its own customers."""
        for old, (_, _, at) in self._claims.items():
            if old in self._ids:
                self.problems.append(pos.problem(at, f"'was: {old}' names a step that still exists (line "
                                                     f"{pos.of_value(self._ids[old])[0]}); `was` names an id that "
                                                     "is gone, so its waiting customers move here"))

    def branches(self, then: Sequence[Any], else_: Sequence[Any], pos: Positions, here: Path, default: str,
                 variant: str | None, program: list[m.Instruction], then_reach: Reach | None = None,
                 else_reach: Reach | None = None) -> tuple[int, int]:
        """Emit `then:` (ending in a jump past `else:`) and `else:`; returns where each starts. The event
        types reaching the step after are those leaving either branch."""
        start = self._reach
        then_pc = len(program)
        self._reach = then_reach or start
        self.steps(then, pos, (*here, "then"), f"{default}.then.", variant, program)
        after_then = self._reach
        jump = len(program)
        program.append(m.Instruction(m.Jump(-1), "", variant))
        else_pc = len(program)
        self._reach = else_reach or start
        self.steps(else_, pos, (*here, "else"), f"{default}.else.", variant, program)
        self._reach = _union(after_then, self._reach)
        program[jump] = m.Instruction(m.Jump(len(program)), "", variant)
        return then_pc, else_pc

    def split(self, step: s.SplitStepModel, pos: Positions, here: Path, default: str, step_id: str,
              line: int, variant: str | None, program: list[m.Instruction]) -> None:
        spec = step.split
        names = [v.name for v in spec.variants]
        for dup in {n for n in names if names.count(n) > 1}:
            self.problems.append(pos.problem((*here, "split", "variants"), f"duplicate variant name '{dup}'"))
        if sum(v.weight for v in spec.variants) <= 0:
            self.problems.append(pos.problem((*here, "split", "variants"), "the variants' weights must add up to more than 0"))
        at = len(program)
        program.append(m.Instruction(m.Jump(-1), step_id, None, line))
        starts: list[int | None] = []
        jumps: list[int] = []
        start, after = self._reach, self._reach
        for j, v in enumerate(spec.variants):
            if not v.steps:
                starts.append(None)
                continue
            starts.append(len(program))
            self._reach = start
            self.steps(v.steps, pos, (*here, "split", "variants", j, "steps"), f"{default}.variants.{v.name}.", v.name, program)
            after = _union(after, self._reach)
            jumps.append(len(program))
            program.append(m.Instruction(m.Jump(-1), "", v.name))
        self._reach = after
        end = len(program)
        for j in jumps:
            program[j] = m.Instruction(m.Jump(end), "", program[j].variant)
        variants = tuple(m.Variant(v.name, v.weight, end if st is None else st, st is None)
                         for v, st in zip(spec.variants, starts))
        winner = self.winner(spec.winner)
        if winner is not None and sum(not v.holdout for v in variants) < 2:
            self.problems.append(pos.problem((*here, "split", "winner"),
                                             "'winner' needs two variants with steps (a holdout never wins)"))
        program[at] = m.Instruction(m.Split(spec.name, variants, winner), step_id, variant, line)

    @staticmethod
    def winner(model: s.WinnerModel | None) -> m.WinnerRule | None:
        if model is None:
            return None
        return m.WinnerRule(m.Metric(model.metric), parse_duration(model.after), model.min_per_variant,
                            model.confidence)

    def content_test(self, step: s.SendStepModel, pos: Positions, here: Path) -> tuple[tuple[m.ContentVariant, ...],
                                                                                      m.WinnerRule | None]:
        """SPEC §11: a send step's variants (each template checked like the step's) and its winner rule."""
        winner = self.winner(step.winner)
        if step.send == "webhook" and (step.variants or winner):
            self.problems.append(pos.problem((*here, "variants" if step.variants else "winner"),
                                             "a content test sends email or sms, not a webhook"))
            return (), None
        if winner is not None and not step.variants:
            self.problems.append(pos.problem((*here, "winner"), "'winner' needs 'variants' to choose from"))
        if winner is not None and winner.metric is m.Metric.OPENED and step.send == "sms":
            self.problems.append(pos.problem((*here, "winner", "metric"),
                                             "an SMS is never opened; judge it by clicked, converted or revenue"))
        names = [v.name for v in step.variants]
        variants = []
        for j, v in enumerate(step.variants):
            at = (*here, "variants", j)
            if names.index(v.name) != j:
                self.problems.append(pos.problem((*at, "name"), f"duplicate variant name '{v.name}'"))
            if v.template is not None:
                self.check_template(v.template, step.send, pos, (*at, "template"))
                self.check.template(v.template, step.send, self._reach)
            subject = None
            if v.subject is not None and step.send != "email":
                self.problems.append(pos.problem((*at, "subject"), f"a subject belongs to an email; this step sends {step.send}"))
            elif v.subject is not None:
                subject = self.subject(v.subject, pos, (*at, "subject"))
            variants.append(m.ContentVariant(v.name, v.weight, v.template, subject))
        return tuple(variants), winner

    def subject(self, source: str, pos: Positions, path: Path) -> m.TextTemplate | None:
        """A subject line override: a template string, rendered as a template file's subject is."""
        try:
            return self.templates.text(source)
        except ValueError as exc:
            self.problems.append(pos.problem(path, f"invalid subject: {exc}"))
            return None

    def wait_until(self, spec: s.WaitUntilSpec, pos: Positions, path: Path) -> m.WaitUntil:
        """SPEC §15: a `time` that is HH:MM is literal, anything else an expression, which needs a default."""
        default = spec.default or s.WaitUntilDefault()
        assert spec.time is not None  # the schema asks for `time` or `best_time`, and best_time compiles elsewhere
        at, at_expr = time(0), None
        time_is_expr, days_is_expr = not re.fullmatch(_HHMM, spec.time), isinstance(spec.days, str)
        if spec.default is None and time_is_expr and days_is_expr:
            self.problems.append(pos.problem(path, "an expression time and days need a 'default' (e.g. default: "
                                                   "{time: \"18:00\", days: [mon]}; its days may be left out: then any "
                                                   "day), used when the expressions give no HH:MM or no weekdays"))
        if not time_is_expr:
            at = clock(spec.time)
        else:
            at_expr = self.expr(spec.time, pos, (*path, "time"))
            if default.time is not None:
                at = clock(default.time)
            elif spec.default is not None:
                self.problems.append(pos.problem((*path, "default"), "this 'default' needs a 'time' (e.g. default: "
                                                 "{days: [mon], time: \"18:00\"}), used when the expression gives no HH:MM"))
            elif not days_is_expr:
                self.problems.append(pos.problem(path, "an expression time needs a 'default' (e.g. default: "
                                                       "{time: \"18:00\"}), used when the expression gives no HH:MM"))
        days, days_expr = spec.days, None
        if isinstance(spec.days, str):
            days_expr = self.expr(spec.days, pos, (*path, "days"))
            days = default.days
            if spec.default is None and not time_is_expr:
                self.problems.append(pos.problem(path, "expression days need a 'default' (e.g. default: {days: [mon]}), "
                                                       "used when the expression gives no list of weekdays"))
        if spec.default is not None and not time_is_expr and not days_is_expr:
            line, col = pos.of_value((*path, "default"))
            self.problems.append(Problem(pos.file, line, col, "'default' is used only when time or days is an "
                                                              "expression: here it never applies", Severity.WARNING))
        weekdays = frozenset(_WEEKDAYS[d] for d in days) if days else None
        return m.WaitUntil(at, weekdays, at_expr, days_expr)

    def repeat(self, step: s.RepeatStepModel, pos: Positions, here: Path, default: str, step_id: str,
               line: int, variant: str | None, program: list[m.Instruction]) -> None:
        """SPEC §15: a loop head counting passes, the body, and a jump back; the body must wait."""
        spec = step.repeat
        if not _waits(step.steps):
            self.problems.append(pos.problem(here, "a repeat needs a wait, wait_until or wait_for among its steps "
                                                   "(without one, every pass would send at once)"))
        elif gap := _gap(step.steps, pos, (*here, "steps")):
            line, col = pos.of_value(here)
            self.problems.append(Problem(pos.file, line, col, f"a pass can go through without waiting ({gap[0]}), so "
                                                              f"those customers get every pass at once: {gap[1]}",
                                         Severity.WARNING))
        until = self.opt_expr(spec.until, pos, (*here, "repeat", "until"))
        head = len(program)
        program.append(m.Instruction(m.Jump(-1), step_id, variant, line))
        before = self._reach
        self._repeats += 1
        self.steps(step.steps, pos, (*here, "steps"), f"{default}.steps.", variant, program)
        self._repeats -= 1
        program.append(m.Instruction(m.Jump(head), "", variant))
        self._reach = _union(before, self._reach)  # no pass at all is possible (an until that holds at once)
        passes = spec.times if spec.times is not None else spec.max
        assert passes is not None  # the schema requires times, or max with until
        program[head] = m.Instruction(m.Repeat(step_id, passes, until, len(program)), step_id, variant, line)

    def send(self, step: s.SendStepModel, pos: Positions, here: Path) -> m.Send:
        when = self.opt_expr(step.when, pos, (*here, "when"))
        if step.send == "webhook":
            if not step.url:
                self.problems.append(pos.problem(here, "a webhook send needs a 'url'"))
            elif problem := webhook_url_problem(step.url):
                self.problems.append(pos.problem((*here, "url"), problem))
            body = {}
            for key, value in (step.body or {}).items():
                body[key] = self.expr(value, pos, (*here, "body", key)) if isinstance(value, str) else value
            self.content_test(step, pos, here)
            return m.Send(m.Channel.WEBHOOK, None, when, True, step.url, step.method, body)
        if not step.template:
            self.problems.append(pos.problem(here, f"a {step.send} send needs a 'template'"))
        else:
            self.check_template(step.template, step.send, pos, (*here, "template"))
            self.check.template(step.template, step.send, self._reach)
            if not self._repeats and self.check.reads_unguarded(step.template, step.send, "journey", ("iteration",)):
                self.problems.append(pos.problem((*here, "template"), (
                    f"template '{step.template}' prints journey.iteration, which is undefined outside a repeat: "
                    "every send of this step would fail; write {{ journey.iteration | default(1) }}, or send it "
                    "from inside a repeat")))
        topic = self.topic(step.topic, pos, (*here, "topic")) if step.topic else self._topic
        variants, winner = self.content_test(step, pos, here)
        return m.Send(m.Channel(step.send), step.template, when, step.transactional, topic=topic,
                      variants=variants, winner=winner)


def _waits(steps: Sequence[Any]) -> bool:
    """Whether any step of the list, or of the lists inside it, waits."""
    for step in steps:
        match step:
            case s.WaitUntilStepModel() if step.wait_until.best_time is not None:
                continue  # without history a best-time wait ends at once: it would not hold a pass back
            case s.WaitStepModel() | s.WaitUntilStepModel() | s.WaitForStepModel():
                return True
            case s.IfStepModel() if _waits(step.then) or _waits(step.else_):
                return True
            case s.SplitStepModel() if any(_waits(v.steps) for v in step.split.variants):
                return True
            case s.RepeatStepModel() if _waits(step.steps):
                return True
    return False


Gap = tuple[str, str] | None  # (the path that skips every wait, how to close it); ("", "") when nothing waits


def _gap(steps: Sequence[Any], pos: Positions, path: Path) -> Gap:
    """The first branch through which a pass of these steps can skip every wait; None when every path waits."""
    first: Gap = None
    for i, step in enumerate(steps):
        here = (*path, i)
        line = pos.of_value(here)[0]
        match step:
            case s.WaitUntilStepModel() if step.wait_until.best_time is not None:
                continue  # as in _waits: without history it ends at once
            case s.WaitStepModel() | s.WaitUntilStepModel() | s.WaitForStepModel() | s.ExitStepModel():
                return None
            case s.IfStepModel():
                then, else_ = _gap(step.then, pos, (*here, "then")), _gap(step.else_, pos, (*here, "else"))
                if then is None and else_ is None:
                    return None
                if then is None or else_ is None:
                    side, words = ("else", "false") if then is None else ("then", "true")
                    found = then or else_
                    assert found is not None
                    here_gap = found if found[0] else (f"when 'if: {step.if_}' at line {line} is {words}",
                                                       f"put a wait outside the 'if', or one in its '{side}'")
                else:
                    here_gap = then if then[0] else else_
            case s.SplitStepModel():
                gaps = [(v.name, _gap(v.steps, pos, (*here, "split", "variants", j, "steps")))
                        for j, v in enumerate(step.split.variants)]
                name, found = next(((n, g) for n, g in gaps if g is not None), ("", None))
                if found is None:
                    return None
                here_gap = found if found[0] else (
                    f"in variant '{name}' of split '{step.split.name}' at line {line}",
                    "give that variant a wait, or put one outside the 'split'")
            case s.RepeatStepModel():
                inner = _gap(step.steps, pos, (*here, "steps"))
                if inner is None and step.repeat.times is not None:
                    return None
                here_gap = inner if inner and inner[0] else (
                    f"when the 'until' of the repeat at line {line} holds before its first pass",
                    "put a wait outside that repeat")
            case _:
                continue
        first = first or here_gap
    return first or ("", "")


def _union(a: Reach, b: Reach) -> Reach:
    """Where two paths meet: `event` may be either path's."""
    event = None if a.event is None or b.event is None else a.event | b.event
    return Reach(event, a.trigger if a.trigger == b.trigger else None)
