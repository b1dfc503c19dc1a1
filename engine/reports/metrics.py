"""Funnels per journey, step, split variant and channel, with daily series, from send records and events.

Provider events carry `properties.message_id`, the send record's `message_id`. A flag
(delivered, opened, ...) counts once per message; an open or click of a message with no
delivery event also counts it delivered. Goal conversions (`converted` records) count for
their journey, for each split variant the customer was assigned there, and for the last
message of that journey sent to the customer before the conversion (its step and channel).
Orders (engine.reports.orders) are read from the events, once each, and credited to at most
one message by the attribution windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from engine.content_tests import parse_label
from engine.experiments import Ledger
from engine.reports.catalog import Catalog, SplitKey
from engine.reports.funnel import (BOUNCED, CLICKED, DELIVERED, FLAG_FIELDS, OPENED, PROVIDER_EVENTS, REPORTED, Funnel,
                                   daily_row, iteration_row)
from engine.reports.orders import Order, Touch, credited, order_of, order_types
from engine.reports.period import Period, parse_at

ENGAGED = OPENED | CLICKED
OTHER_JOURNEY = -1   # a message of a journey the report leaves out: it still competes for orders


def customer_key(item: Mapping[str, Any]) -> str | None:
    """The customer an outcome or event belongs to; an anonymous one is `anon:<id>`."""
    customer = item.get("customer_id")
    if customer:
        return str(customer)
    anonymous = item.get("anonymous_id")
    return f"anon:{anonymous}" if anonymous else None


@dataclass
class Arm:
    """One split variant as an experiment sees it: customers, not messages."""

    assigned: set[str] = field(default_factory=set)
    converted: set[str] = field(default_factory=set)
    clicked: set[str] = field(default_factory=set)
    goal_value: float = 0.0
    spend: dict[str, float] = field(default_factory=dict)   # orders placed after entering the journey, per customer
    messages: int = 0


@dataclass(frozen=True)
class Group:
    """The funnels one message counts in."""

    journey: Funnel
    step: Funnel
    variant: Funnel | None
    channel: Funnel
    total: Funnel
    total_channel: Funnel
    template: Funnel
    journey_id: str
    own: Funnel   # sends, reasons and provider flags of this group alone, folded into the others by finish()
    iteration: Funnel | None = None   # the pass of a step inside a repeat (SPEC §15)

    def each(self) -> tuple[Funnel, ...]:
        parts = (self.journey, self.step, self.channel, self.total, self.total_channel, self.template)
        return (*parts, *(f for f in (self.variant, self.iteration) if f is not None))

    def touched(self) -> tuple[Funnel, ...]:
        """Where a last-touch goal conversion is credited: the message's step (and pass), channels and template."""
        parts = (self.step, self.channel, self.total_channel, self.template)
        return parts if self.iteration is None else (*parts, self.iteration)


class Tally:
    """Reads records, then events, in one pass each; `finish()` attributes orders, then the results are read."""

    def __init__(self, period: Period = Period(), journey: str | None = None, catalog: Catalog = Catalog()) -> None:
        self.period, self.only, self.catalog = period, journey, catalog
        self.bounded = period.since is not None or period.until is not None
        self.order_types = frozenset(order_types(catalog.workspace))
        self.total = Funnel("all")
        self.channels: dict[str, Funnel] = {}
        self.templates: dict[tuple[str, str], Funnel] = {}    # (channel, template) across journeys
        self.journey_funnels: dict[str, Funnel] = {}
        self.steps: dict[tuple[str, str], Funnel] = {}
        self.variants: dict[tuple[str, str, str], Funnel] = {}
        self.journey_channels: dict[tuple[str, str], Funnel] = {}
        self.days: dict[tuple[str, str], Funnel] = {}
        self.iterations: dict[tuple[str, str], dict[int, Funnel]] = {}   # (journey, step) -> pass -> its funnel
        self.groups: dict[tuple[str, str, str | None, str | None, str, str | None, int | None], int] = {}
        self.group_list: list[Group] = []
        # messages sent, by index: their group (or OTHER_JOURNEY), channel, customer and time
        self.messages: dict[str, int] = {}
        self.message_group: list[int] = []
        self.message_channel: list[str] = []
        self.message_customer: list[str] = []
        self.message_at: list[str] = []
        self.flags = bytearray()
        self.clicks: dict[int, list[datetime]] = {}             # message index -> its clicks, for attribution
        self.customer_messages: dict[str, list[int]] = {}
        self.entries: dict[tuple[str, str], str] = {}          # (customer, journey) -> first entry, journeys with splits
        self.sent_variants: dict[tuple[str, str], dict[str, str]] = {}  # (customer, journey) -> split -> variant
        self.last_touch: dict[tuple[str, str], int] = {}
        self.conversions: list[tuple[str, str, float]] = []
        self.exits: dict[tuple[str, str | None, str], int] = {}   # (journey, step, reason) -> instances
        self.orders: dict[str, Order] = {}
        self.orders_without_total = 0
        self.attributed: dict[str, int] = {}                    # order id -> message index
        self.unattributed: dict[str, int] = {}
        self.first_at: str | None = None
        self.last_at: str | None = None
        # experiments (SPEC §11): content tests tallied as the engine does; winners and the sends that used them
        self.ledger = Ledger({k: e for k, e in catalog.tests.items() if not e.split}, discover=True)
        self.winners: dict[tuple[str, str], Mapping[str, Any]] = {}          # (journey, step) -> its winner record
        self.with_winner: dict[tuple[str, str], int] = {}

    # ---- reading -------------------------------------------------------------------
    def add_record(self, r: Mapping[str, Any]) -> None:
        journey = r.get("journey")
        if not journey:
            return
        if self.bounded and not self.period.contains(parse_at(r["at"])):
            return
        kind = r.get("type")
        customer = customer_key(r) or ""
        if self.only and journey != self.only:
            if kind == "send" and r.get("status") == "sent":
                self._message(r, OTHER_JOURNEY, customer)
            return
        at = r["at"]
        day = at[:10]
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        if kind == "winner":
            self.winners[(journey, str(r.get("step")))] = r
            return
        if kind in ("entered", "converted") and self.ledger.experiments:   # content tests only
            self.ledger.record(r)
        if kind == "entered":
            self._journey(journey).entered += 1
            self._day(journey, day).entered += 1
            self.total.entered += 1
            if journey in self.catalog.splits:
                self.entries.setdefault((customer, journey), r["at"])
        elif kind == "send":
            self._send(r, journey, customer, day)
        elif kind == "converted":
            value = float(r.get("value") or 0.0)
            for f in (self._journey(journey), self._day(journey, day), self.total):
                f.conversions += 1
                f.goal_value += value
            touched = self.last_touch.get((customer, journey))
            if touched is not None:
                for f in self.group_list[touched].touched():
                    f.conversions += 1
                    f.goal_value += value
            self.conversions.append((customer, journey, value))
        elif kind == "exited":
            self._journey(journey)
            key = (journey, r.get("step"), str(r.get("reason")))
            self.exits[key] = self.exits.get(key, 0) + 1

    def _send(self, r: Mapping[str, Any], journey: str, customer: str, day: str) -> None:
        step = str(r.get("step"))
        variant, test = parse_label(r.get("variant"))
        if test is not None and r.get("status") == "sent":
            self._tested(r, journey, customer, *test)
        elif variant is not None and r.get("status") == "sent" and self.winners:
            self._after_split_winner(journey, step)
        split = None if variant is None else self.catalog.split_of_step.get((journey, step), "")
        if variant is not None and split is not None and journey not in self.catalog.splits:
            self.sent_variants.setdefault((customer, journey), {}).setdefault(split, str(variant))
            self.entries.setdefault((customer, journey), r["at"])
        iteration = r.get("iteration")
        index = self._group(journey, step, split, variant, str(r.get("channel")), r.get("template"),
                            iteration if isinstance(iteration, int) else None)
        group = self.group_list[index]
        status = r.get("status")
        own = group.own
        if status == "sent":
            own.sent += 1
            own.reach(customer)
            self._day(journey, day).sent += 1
            self.last_touch[(customer, journey)] = index
            self._message(r, index, customer)
            return
        reason = str(r.get("reason") or "unknown")
        by_reason = own.skipped if status == "skipped" else own.suppressed if status == "suppressed" else own.failed
        by_reason[reason] = by_reason.get(reason, 0) + 1

    def _tested(self, r: Mapping[str, Any], journey: str, customer: str, step: str, arm: str) -> None:
        """A content test's message: an exposure until the winner is chosen, then a send that used it."""
        if r.get("winner"):
            self.with_winner[(journey, step)] = self.with_winner.get((journey, step), 0) + 1
        else:
            self.ledger.expose(journey, step, arm, customer, r.get("message_id"), parse_at(r["at"]))

    def _after_split_winner(self, journey: str, step: str) -> None:
        """A message inside a split whose winner was chosen earlier: it went out with the winner."""
        name = self.catalog.split_of_step.get((journey, step))
        for (j, split_step), _ in self.winners.items():
            if j == journey and self.catalog.split_steps.get((j, split_step)) == name:
                self.with_winner[(j, split_step)] = self.with_winner.get((j, split_step), 0) + 1

    def _message(self, r: Mapping[str, Any], group: int, customer: str) -> None:
        mid = r.get("message_id")
        if not mid:
            return
        index = self.messages[mid] = len(self.message_group)
        self.message_group.append(group)
        self.message_channel.append(str(r.get("channel")))
        self.message_customer.append(customer)
        self.message_at.append(r["at"])
        self.flags.append(0)
        self.customer_messages.setdefault(customer, []).append(index)

    def add_event(self, e: Mapping[str, Any]) -> None:
        kind = e.get("type", "")
        if kind in self.order_types:
            self._order(e)
            return
        if self.ledger.experiments:
            self.ledger.event(kind, e.get("properties") or {})
        flag = PROVIDER_EVENTS.get(kind)
        if flag is None:
            return
        index = self.messages.get((e.get("properties") or {}).get("message_id", ""))
        timestamp = e.get("timestamp")
        if index is None or not timestamp:
            self.unattributed[kind] = self.unattributed.get(kind, 0) + 1
            return
        utc = timestamp.endswith("Z")  # the day is then in the text: most events need no parsing
        at = parse_at(timestamp) if not utc or self.period.until is not None or flag & CLICKED else None
        if at is not None and self.period.until is not None and at > self.period.until:
            return
        have = self.flags[index]
        new = flag | (DELIVERED if flag & ENGAGED else 0) | (REPORTED if flag & (DELIVERED | BOUNCED) else 0)
        fresh = new & ~have
        if at is not None and flag & CLICKED:
            self.clicks.setdefault(index, []).append(at)
        if not fresh:
            return
        self.flags[index] = have | fresh
        if (g := self.message_group[index]) == OTHER_JOURNEY:
            return
        group = self.group_list[g]
        day = self._day(group.journey_id, timestamp[:10] if at is None else at.date().isoformat())
        for bit in (b for b in FLAG_FIELDS if fresh & b):
            group.own.flag(bit)
            day.flag(bit)

    def _order(self, e: Mapping[str, Any]) -> None:
        order = order_of(e, customer_key(e), self.catalog.workspace)
        if order is None:
            self.orders_without_total += 1
            return
        if self.period.until is not None and order.at > self.period.until:
            return
        key = order.id or f"{order.customer}@{order.at.isoformat()}"
        self.orders.setdefault(key, order)   # an order is one order, however often its event was received

    # ---- attribution ---------------------------------------------------------------
    def in_period(self) -> list[Order]:
        since = self.period.since
        return [o for o in self.orders.values() if since is None or o.at >= since]

    def finish(self) -> None:
        """Folds each group's sends into its funnels, then credits each order of the period to at most one
        message (SPEC §12)."""
        for group in self.group_list:
            for f in group.each():
                f.absorb(group.own)
        windows = self.catalog.attribution
        for key, order in self.orders.items():
            if self.period.since is not None and order.at < self.period.since:
                continue
            touches = [Touch(i, self.message_channel[i], parse_at(self.message_at[i]),
                             tuple(self.clicks.get(i, ())))
                       for i in self.customer_messages.get(order.customer, ())]
            index = credited(order, touches, windows)
            if index is None:
                continue
            self.attributed[key] = index
            if (g := self.message_group[index]) == OTHER_JOURNEY:
                continue
            group = self.group_list[g]
            for f in (*group.each(), self._day(group.journey_id, order.at.date().isoformat())):
                f.orders += 1
                f.attributed_revenue += order.value

    def revenue(self) -> dict[str, Any]:
        """Orders of the period, each once, and the share credited to messages, by channel."""
        orders = self.in_period()
        by_channel: dict[str, dict[str, Any]] = {}
        shown = elsewhere = 0
        shown_value = 0.0
        for key, index in self.attributed.items():
            value = self.orders[key].value
            if self.message_group[index] == OTHER_JOURNEY:
                elsewhere += 1
                continue
            item = by_channel.setdefault(self.message_channel[index], {"orders": 0, "revenue": 0.0})
            item["orders"] += 1
            item["revenue"] += value
            shown += 1
            shown_value += value
        total = sum(o.value for o in orders)
        windows = self.catalog.attribution
        return {
            "orders": len(orders), "order_total": round(total, 2),
            "attributed_orders": shown, "attributed_revenue": round(shown_value, 2),
            "attributed_to_other_journeys": elsewhere,
            "unattributed_orders": len(orders) - len(self.attributed),
            "unattributed_revenue": round(total - sum(self.orders[k].value for k in self.attributed), 2),
            "by_channel": {c: {"orders": v["orders"], "revenue": round(v["revenue"], 2)} for c, v in sorted(by_channel.items())},
            "order_events": sorted(self.order_types),
            "order_events_without_total": self.orders_without_total,
            "windows": {"after_click": {c: _duration(d) for c, d in windows.after_click.items()},
                        "after_send": {c: _duration(d) for c, d in windows.after_send.items()}},
        }

    # ---- results -------------------------------------------------------------------
    def arms(self) -> dict[SplitKey, dict[str, Arm]]:
        """Per split (journey, split name), per variant: customers assigned, converted, clicking and their spend."""
        arms: dict[SplitKey, dict[str, Arm]] = {}
        memberships: dict[tuple[str, str], list[tuple[SplitKey, Arm]]] = {}
        decided = {(j, self.catalog.split_steps.get((j, step), "")): parse_at(w["at"])
                   for (j, step), w in self.winners.items()}
        for (customer, journey), entry in self.entries.items():
            pairs = (self.catalog.variants(customer, journey) if journey in self.catalog.splits else
                     list(self.sent_variants.get((customer, journey), {}).items()))
            for split, variant in pairs:
                if (winner_at := decided.get((journey, split))) is not None and parse_at(entry) >= winner_at:
                    continue   # entered once the winner was chosen: assigned by the winner, not the test
                arm = arms.setdefault((journey, split), {}).setdefault(variant, Arm())
                arm.assigned.add(customer)
                memberships.setdefault((customer, journey), []).append(((journey, split), arm))
        for customer, journey, value in self.conversions:
            for _, arm in memberships.get((customer, journey), ()):
                arm.converted.add(customer)
                arm.goal_value += value
        for index in self.clicks:
            g = self.message_group[index]
            if g != OTHER_JOURNEY:
                customer, journey = self.message_customer[index], self.group_list[g].journey_id
                for _, arm in memberships.get((customer, journey), ()):
                    arm.clicked.add(customer)
        by_customer: dict[str, list[tuple[str, str]]] = {}
        for (customer, journey), at in self.entries.items():
            by_customer.setdefault(customer, []).append((journey, at))
        for order in self.in_period():
            for journey, at in by_customer.get(order.customer, ()):
                if parse_at(at) <= order.at:
                    for _, arm in memberships.get((order.customer, journey), ()):
                        arm.spend[order.customer] = arm.spend.get(order.customer, 0.0) + order.value
        for (journey, split, variant), f in self.variants.items():
            arms.setdefault((journey, split), {}).setdefault(variant, Arm()).messages = f.sent
        return arms

    def journeys(self, arms: Mapping[SplitKey, Mapping[str, Arm]], order: Iterable[str] = (),
                 names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Each journey with its steps, variants (customers as `entered`), channels and daily series."""
        for (journey, split), by_variant in arms.items():
            for variant, arm in by_variant.items():
                f = self._variant(journey, split, variant)
                f.entered = len(arm.assigned)
                f.conversions, f.goal_value = len(arm.converted), arm.goal_value
        known = list(dict.fromkeys(j for j in order if j in self.journey_funnels))
        ids = known + sorted(set(self.journey_funnels) - set(known))
        result = []
        for journey in ids:
            item = self.journey_funnels[journey].as_dict()
            item["name"] = (names or {}).get(journey, journey)
            item["steps"] = [self._step(j, step, f) for (j, step), f in self.steps.items() if j == journey]
            item["variants"] = [f.as_dict() for (j, _, _), f in sorted(self.variants.items()) if j == journey]
            item["channels"] = [f.as_dict() for (j, _), f in sorted(self.journey_channels.items()) if j == journey]
            item["daily"] = [daily_row(f) for (j, _), f in sorted(self.days.items()) if j == journey]
            item["exits"] = [{"step": step, "reason": reason, "count": n}
                             for (j, step, reason), n in self.exits.items() if j == journey]
            result.append(item)
        return result

    def _step(self, journey: str, step: str, f: Funnel) -> dict[str, Any]:
        """A step's funnel; inside a repeat, with a row for each pass."""
        item = f.as_dict()
        passes = self.iterations.get((journey, step))
        if passes:
            item["iterations"] = [iteration_row(passes[k]) for k in sorted(passes)]
        return item

    def channel_totals(self) -> list[dict[str, Any]]:
        return [f.as_dict() for _, f in sorted(self.channels.items())]

    def template_totals(self) -> list[dict[str, Any]]:
        """Each template's messages across journeys, by channel and name."""
        return [f.as_dict() for _, f in sorted(self.templates.items())]

    # ---- funnels by key ------------------------------------------------------------
    def _journey(self, journey: str) -> Funnel:
        f = self.journey_funnels.get(journey)
        if f is None:
            f = self.journey_funnels[journey] = Funnel(journey)
        return f

    def _variant(self, journey: str, split: str, variant: str) -> Funnel:
        f = self.variants.get((journey, split, variant))
        if f is None:
            f = self.variants[(journey, split, variant)] = Funnel(variant, split=split)
        return f

    def _day(self, journey: str, day: str) -> Funnel:
        f = self.days.get((journey, day))
        if f is None:
            f = self.days[(journey, day)] = Funnel(day, track_recipients=False)
        return f

    def _group(self, journey: str, step: str, split: str | None, variant: str | None, channel: str,
               template: str | None, iteration: int | None) -> int:
        key = (journey, step, split, variant, channel, template, iteration)
        index = self.groups.get(key)
        if index is None:
            step_f = self.steps.get((journey, step))
            if step_f is None:
                step_f = self.steps[(journey, step)] = Funnel(step, per="recipients", channel=channel, split=split,
                                                              variant=variant, templates=[])
            if template and template not in step_f.extra["templates"]:
                step_f.extra["templates"].append(template)   # a content test sends one step with several
            name = template or "(no template)"
            tf = self.templates.get((channel, name))
            if tf is None:
                tf = self.templates[(channel, name)] = Funnel(name, per="recipients", channel=channel)
            jc = self.journey_channels.get((journey, channel))
            if jc is None:
                jc = self.journey_channels[(journey, channel)] = Funnel(channel, per="recipients")
            tc = self.channels.get(channel)
            if tc is None:
                tc = self.channels[channel] = Funnel(channel, per="recipients")
            variant_f = self._variant(journey, split or "", variant) if variant is not None else None
            pass_f = None
            if iteration is not None:
                passes = self.iterations.setdefault((journey, step), {})
                pass_f = passes.get(iteration) or passes.setdefault(iteration, Funnel(str(iteration), per="recipients"))
            index = self.groups[key] = len(self.group_list)
            self.group_list.append(Group(self._journey(journey), step_f, variant_f, jc, self.total, tc, tf, journey,
                                         Funnel("group"), pass_f))
        return index


def _duration(window: timedelta) -> str:
    seconds = window.total_seconds()
    return f"{seconds / 86400:g}d" if seconds % 86400 == 0 else f"{seconds / 3600:g}h"
