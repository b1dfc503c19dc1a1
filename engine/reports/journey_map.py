"""A journey drawn as a graph from its compiled steps, with live counts on each node; laid out by D2.

The structure comes from the compiled program (engine.model): every instruction but the internal
jumps is a node, and the edges follow what the machine does (fall through, `if` yes/no, `wait_for`
event/timeout, one edge per split variant with its weight). Start, goal, `exit_on` and the end are
nodes of their own. Counts come from the report of the same journey (engine.reports.metrics), so
the map and the tables never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Mapping

from engine.cohorts import holdout_variants
from engine.model import (DateTrigger, EventMatch, EventTrigger, ExitStep, If, InactivityTrigger, Journey, Jump, Repeat,
                          Send, Split, Update, Wait, WaitBest, WaitFor, WaitUntil, WinnerRule)
from engine.reports.content_experiments import METRIC_NAMES
from engine.reports.formatting import count, money, percent
from engine.reports.funnel import Funnel

START, GOAL, LEAVES, END = "start", "goal", "exit_on", "end"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LONGEST = 46   # characters of an expression shown on a node; the rest is elided
FILL = {"start": "#e3f4e8", "send": "#e8f0fe", "wait": "#fff8e6", "wait_for": "#fff1d6", "if": "#f3e8fd",
        "split": "#f3e8fd", "update": "#eef1f6", "exit": "#fde8e8", "end": "#eef1f6", "goal": "#e3f4e8",
        "exit_on": "#fde8e8"}
STROKE = {"start": "#2e8b57", "goal": "#2e8b57", "exit": "#c0392b", "exit_on": "#c0392b", "send": "#2f6fdb"}
SHAPE = {"start": "oval", "end": "oval", "exit": "oval", "if": "hexagon", "split": "hexagon"}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Node:
    """`step` is the step id the records name (None for start, goal, exit_on and end)."""

    id: str
    kind: str            # start, send, wait, wait_for, if, split, update, exit, end, goal, exit_on
    title: str
    detail: tuple[str, ...] = ()
    step: str | None = None
    counts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False
    split: str | None = None     # a split variant's edge: (split, variant), for its customers
    variant: str | None = None


@dataclass(frozen=True)
class JourneyMap:
    journey: str
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def as_dict(self) -> dict[str, Any]:
        return {"journey": self.journey, "name": self.name,
                "nodes": [{"id": n.id, "kind": n.kind, "title": n.title, "detail": list(n.detail), "step": n.step,
                           "counts": list(n.counts)} for n in self.nodes],
                "edges": [{"from": e.source, "to": e.target, "label": e.label, "dashed": e.dashed}
                          for e in self.edges]}


@dataclass(frozen=True)
class Drawing:
    """A map laid out (engine/runtimes/d2.py): its SVG, or the reason it could not be drawn."""

    svg: str = ""
    problem: str = ""


def span(duration: timedelta) -> str:
    """1d12h, 45m: the units of the YAML."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _short(source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= LONGEST else text[:LONGEST - 1] + "…"


def _match(match: EventMatch) -> str:
    return match.event + (f" where {_short(match.where.source)}" if match.where is not None else "")


def _trigger(journey: Journey) -> tuple[str, tuple[str, ...]]:
    trigger = journey.trigger
    if isinstance(trigger, EventTrigger):
        title = f"Starts on {trigger.event}"
        detail: tuple[str, ...] = (f"where {_short(trigger.where.source)}",) if trigger.where is not None else ()
    elif isinstance(trigger, DateTrigger):
        offset = f" {'+' if trigger.offset >= timedelta(0) else '-'}{span(abs(trigger.offset))}" if trigger.offset else ""
        title = f"Starts on date {trigger.trait}{offset} at {trigger.at:%H:%M}"
        detail = ("every year",) if trigger.yearly else ()
    elif isinstance(trigger, InactivityTrigger):
        title = f"Starts after no {trigger.event} for {span(trigger.duration)}"
        detail = ()
    else:
        title = "Broadcast at " + (f"{trigger.local:%Y-%m-%d %H:%M} local time" if trigger.local is not None
                                   else f"{trigger.utc:%Y-%m-%d %H:%M %Z}")
        detail = (f"best time within {span(trigger.best_time)}",) if trigger.best_time else ()
    if journey.audience is not None:
        detail += (f"audience: {_short(journey.audience.source)}",)
    return title, detail


def _step(journey: Journey, pc: int) -> Node:
    ins = journey.program[pc]
    action = ins.action
    node_id, step = f"n{pc}", ins.step_id
    if isinstance(action, Send):
        what = action.template or f"{action.method} {action.url}"
        detail = tuple(x for x in (f"when {_short(action.when.source)}" if action.when is not None else "",
                                   "transactional" if action.transactional else "") if x)
        return Node(node_id, "send", f"Send {action.channel.value}: {what}", detail + _content_test(action), step)
    if isinstance(action, Wait):
        return Node(node_id, "wait", f"Wait {span(action.duration)}", (), step)
    if isinstance(action, WaitUntil):
        days = f" on {', '.join(DAYS[d] for d in sorted(action.days))}" if action.days else ""
        if action.chosen:
            chosen = tuple(_short(e.source) for e in (action.at_expr, action.days_expr) if e is not None)
            return Node(node_id, "wait", "Wait until the customer's time",
                        (*chosen, f"else {action.at:%H:%M}{days}", "customer's local time"), step)
        return Node(node_id, "wait", f"Wait until {action.at:%H:%M}{days}", ("customer's local time",), step)
    if isinstance(action, WaitBest):
        return Node(node_id, "wait", f"Wait for their best hour within {span(action.window)}", ("opens and clicks",), step)
    if isinstance(action, WaitFor):
        return Node(node_id, "wait_for", f"Wait up to {span(action.timeout)} for {action.match.event}",
                    (f"where {_short(action.match.where.source)}",) if action.match.where is not None else (), step)
    if isinstance(action, If):
        return Node(node_id, "if", f"If {_short(action.condition.source)}", (), step)
    if isinstance(action, Split):
        return Node(node_id, "split", f"Split {action.name}", _winner_rule(action.winner), step)
    if isinstance(action, Repeat):
        if action.until is None:
            return Node(node_id, "split", f"Repeat {action.times} times", ("journey.iteration counts the passes",), step)
        return Node(node_id, "split", f"Repeat until {_short(action.until.source)}", (f"at most {action.times} passes",), step)
    if isinstance(action, Update):
        names = [*action.set, *action.increment, *action.unset]
        return Node(node_id, "update", "Update profile", (_short(", ".join(names)),), step)
    if isinstance(action, ExitStep):
        return Node(node_id, "exit", "Exit", (), step)
    raise TypeError(f"no node for {type(action).__name__}")   # a Jump is resolved, never drawn


def _content_test(send: Send) -> tuple[str, ...]:
    """A tested send's variants with their shares (and their own template or subject), and its winner rule."""
    if not send.variants:
        return ()
    total = sum(v.weight for v in send.variants)
    arms = " · ".join(" ".join(x for x in (v.name, v.template or "", "own subject" if v.subject else "",
                                            percent(v.weight / total, 0)) if x) for v in send.variants)
    return (f"content test: {arms}", *_winner_rule(send.winner))


def _winner_rule(rule: WinnerRule | None) -> tuple[str, ...]:
    return () if rule is None else (f"winner by {METRIC_NAMES[rule.metric]} after {span(rule.after)}",)


def structure(journey: Journey) -> JourneyMap:
    """Nodes and edges from the compiled steps: what the machine does, not how the YAML is indented."""
    program = journey.program

    def target(pc: int) -> str:
        while pc < len(program) and isinstance(jump := program[pc].action, Jump):
            pc = jump.target
        return END if pc >= len(program) else f"n{pc}"

    title, detail = _trigger(journey)
    nodes = [Node(START, "start", title, detail)]
    edges = [Edge(START, target(0))]
    for pc, ins in enumerate(program):
        action = ins.action
        if isinstance(action, Jump):
            continue
        nodes.append(_step(journey, pc))
        source = f"n{pc}"
        if isinstance(action, If):
            edges += [Edge(source, target(pc + 1), "yes"), Edge(source, target(action.else_pc), "no")]
        elif isinstance(action, WaitFor):
            edges += [Edge(source, target(action.then_pc), f"{action.match.event} came"),
                      Edge(source, target(action.else_pc), f"no {action.match.event} in {span(action.timeout)}")]
        elif isinstance(action, Split):
            total = sum(v.weight for v in action.variants)
            holdouts = holdout_variants(journey, action)
            for v in action.variants:
                tag = " (holdout)" if v.name in holdouts and "holdout" not in v.name else ""
                edges.append(Edge(source, target(v.pc), f"{v.name}{tag} · "
                                  f"{percent(v.weight / total, 0)}", split=action.name, variant=v.name))
        elif isinstance(action, Repeat):
            done = f"after {action.times} passes" if action.until is None else "until holds"
            edges += [Edge(source, target(pc + 1), "each pass"), Edge(source, target(action.end_pc), done)]
        elif not isinstance(action, ExitStep):
            edges.append(Edge(source, target(pc + 1)))
    nodes.append(Node(END, "end", "Journey complete"))
    if journey.goal is not None:
        goal = journey.goal
        nodes.append(Node(GOAL, "goal", f"Goal: {_match(goal.match)}",
                          (f"within {span(goal.within)} of entry", "then leaves" if goal.exit else "stays in")))
        edges.append(Edge(START, GOAL, "any time", dashed=True))
    if journey.exit_on:
        nodes.append(Node(LEAVES, "exit_on", "Leaves at once on", tuple(_match(m) for m in journey.exit_on)))
        edges.append(Edge(START, LEAVES, "any time", dashed=True))
    return JourneyMap(journey.id, journey.name, tuple(nodes), tuple(edges))


def _reasons(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {count(n)}" for reason, n in sorted(reasons.items()))


def no_activity(journey_id: str) -> dict[str, Any]:
    """A journey's part of a report when the period holds nothing of it: every count 0."""
    return {**Funnel(journey_id).as_dict(), "steps": [], "variants": [], "exits": [], "waiting_now": None}


def with_counts(journey_map: JourneyMap, report: Mapping[str, Any], currency: str = "USD") -> JourneyMap:
    """The same map with the report's numbers on its nodes: `report` is one journey of `build_report`."""
    steps = {s["id"]: s for s in report["steps"]}
    waiting: Mapping[str, int] | None = report.get("waiting_now")
    exits: dict[str | None, dict[str, int]] = {}    # step (None: before the first) -> reason -> instances
    by_reason: dict[str, int] = {}
    for e in report["exits"]:
        by_reason[e["reason"]] = by_reason.get(e["reason"], 0) + e["count"]
        if e["reason"] != "completed":   # completing is reaching the end node, not leaving at a step
            here = exits.setdefault(e["step"], {})
            here[e["reason"]] = here.get(e["reason"], 0) + e["count"]
    customers = {(v.get("split"), v["id"]): v["entered"] for v in report["variants"]}
    entered = report["entered"]

    def numbers(node: Node) -> tuple[str, ...]:
        lines: list[str] = []
        if node.kind == "start":
            lines.append(f"{count(entered)} entered")
        elif node.kind == "goal":
            lines.append(f"{count(report['conversions'])} reached it ({percent(report['rates']['conversion_rate'])} "
                         "of entered)")
            lines.append(f"goal value {money(report['goal_value'], currency)}")
        elif node.kind == "exit_on":
            lines.append(f"{count(by_reason.get('exit_event', 0))} left this way")
        elif node.kind == "end":
            lines.append(f"{count(by_reason.get('completed', 0))} completed")
        elif node.kind == "send" and (s := steps.get(node.step)) is not None:
            base = s["rate_bases"]["engagement"]
            lines.append(f"{count(s['sent'])} sent · {count(s['clicked'])} clicked "
                         f"({percent(s['rates']['click_rate'])} of {base})")
            lines.append(f"{count(s['conversions'])} goal conv. (last touch) · "
                         f"{money(s['attributed_revenue'], currency)} attributed")
            not_sent = {**s["skipped"], **s["suppressed"], **s["failed"]}
            if not_sent:
                lines.append(f"not sent: {_reasons(not_sent)}")
        elif node.kind == "send":
            lines.append("0 sent")
        if waiting is not None and node.step is not None:
            lines.append(f"{count(waiting.get(node.step, 0))} waiting now")
        left = exits.get(None) if node.kind == "start" else exits.get(node.step) if node.step is not None else None
        if left:
            lines.append(("exited here: " if node.kind == "exit" else "left here: ") + _reasons(left))
        return tuple(lines)

    nodes = tuple(replace(n, counts=numbers(n)) for n in journey_map.nodes)
    edges = tuple(replace(e, label=f"{e.label} · {count(customers.get((e.split, e.variant), 0))} customers")
                  if e.variant is not None else e for e in journey_map.edges)
    return replace(journey_map, nodes=nodes, edges=edges)


# ---- D2 text (engine/runtimes/d2.py runs the binary) ------------------------------

def d2_quote(text: str) -> str:
    """A D2 double-quoted string: backslash, quote and `$` (D2 substitutions) escaped, newlines as \\n."""
    lines = (CONTROL.sub(" ", line).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
             for line in text.split("\n"))
    return '"' + "\\n".join(lines) + '"'


def d2_source(journey_map: Mapping[str, Any]) -> str:
    """A map (JourneyMap.as_dict) as D2 text: one shape per node (title, details, counts), one connection per edge."""
    out = ["direction: down"]
    for node in journey_map["nodes"]:
        kind = node["kind"]
        label = "\n".join((node["title"], *node["detail"], *node["counts"]))
        out.append(f"{node['id']}: {d2_quote(label)} {{")
        out.append(f"  shape: {SHAPE.get(kind, 'rectangle')}")
        out.append(f"  style.fill: \"{FILL.get(kind, '#ffffff')}\"")
        if kind in STROKE:
            out.append(f"  style.stroke: \"{STROKE[kind]}\"")
        if kind in ("wait", "wait_for"):
            out.append("  style.stroke-dash: 3")
        out.append("  style.font-size: 15")
        out.append("}")
    for edge in journey_map["edges"]:
        label = f": {d2_quote(edge['label'])}" if edge["label"] else ""
        style = " {style.stroke-dash: 4}" if edge["dashed"] else ""
        out.append(f"{edge['from']} -> {edge['to']}{label}{style}")
    return "\n".join(out) + "\n"
