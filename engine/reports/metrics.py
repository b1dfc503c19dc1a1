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

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Mapping

from engine.content_tests import parse_label
from engine.experiments import Ledger
from engine.reports.catalog import Catalog, SplitKey
from engine.reports.funnel import (BOUNCED, CLICKED, DELIVERED, OPENED, PROVIDER_EVENTS, REPORTED, Funnel, daily_row,
                                   iteration_row)
from engine.reports.orders import Order, Touch, credited, order_of, order_types
from engine.reports.period import Period, parse_at

ENGAGED = OPENED | CLICKED
OTHER_JOURNEY = -1   # a message of a journey the report leaves out: it still competes for orders
# each provider event's flag with those it implies: an open or click was delivered; a delivery or bounce was reported
FLAGS_OF = {kind: flag | (DELIVERED if flag & ENGAGED else 0) | (REPORTED if flag & (DELIVERED | BOUNCED) else 0)
            for kind, flag in PROVIDER_EVENTS.items()}
SendKey = tuple[str, Any, Any, Any, Any, Any]   # a send record's journey, step, variant, channel, template, iteration


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
    recipients: set[str]   # its customers, made into its funnels' recipients by finish()
    iteration: Funnel | None = None   # the pass of a step inside a repeat (SPEC §15)

    def each(self) -> tuple[Funnel, ...]:
        parts = (self.journey, self.step, self.channel, self.total, self.total_channel, self.template)
        return (*parts, *(f for f in (self.variant, self.iteration) if f is not None))

    def touched(self) -> tuple[Funnel, ...]:
        """Where a last-touch goal conversion is credited: the message's step (and pass), channels and template."""
        parts = (self.step, self.channel, self.total_channel, self.template)
        return parts if self.iteration is None else (*parts, self.iteration)


@dataclass(frozen=True)
class SendKind:
    """What every send record with the same journey, step, variant label, channel, template and pass shares, worked
    out on the first one: the next cost one dictionary lookup instead of parsing, key building and lookups."""

    group: int
    own: Funnel
    recipients: set[str]
    days: dict[str, Funnel]       # the journey's daily funnels
    touches: dict[str, int]       # the journey's last message group per customer
    journey: str
    step: str
    channel: str
    labelled: bool                # a split variant or content test label: experiments read the send
    variant: str | None
    split: str | None
    test: tuple[str, str] | None  # (step, content variant) of a content test


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
        self.days: dict[str, dict[str, Funnel]] = {}                    # journey -> day -> its funnel
        self.iterations: dict[tuple[str, str], dict[int, Funnel]] = {}   # (journey, step) -> pass -> its funnel
        self.groups: dict[tuple[str, str, str | None, str | None, str, str | None, int | None], int] = {}
        self.group_list: list[Group] = []
        self.kinds: dict[SendKey, SendKind] = {}
        # messages sent, by index: their group (or OTHER_JOURNEY), channel, customer and time
        self.messages: dict[str, int] = {}
        self.message_group: list[int] = []
        self.message_channel: list[str] = []
        self.message_customer: list[str] = []
        self.message_at: list[str] = []
        self.flags = bytearray()
        self.flag_days: dict[tuple[int, str, int], int] = {}    # (group, day, flags new that day) -> messages
        self.clicks: dict[int, list[datetime]] = {}             # message index -> its clicks, for attribution
        self.entries: dict[tuple[str, str], str] = {}          # (customer, journey) -> first entry, journeys with splits
        self.sent_variants: dict[tuple[str, str], dict[str, str]] = {}  # (customer, journey) -> split -> variant
        self.last_touch: dict[str, dict[str, int]] = {}          # journey -> customer -> group of the last message
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
        customer = r.get("customer_id")
        if not customer or not isinstance(customer, str):
            customer = customer_key(r) or ""
        if self.only and journey != self.only:
            if kind == "send" and r.get("status") == "sent" and (mid := r.get("message_id")):
                self._message(mid, OTHER_JOURNEY, str(r.get("channel")), customer, r["at"])
            return
        at = r["at"]
        day = at[:10]
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        if kind == "send":
            self._send(r, journey, customer, day)
            return
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
        elif kind == "converted":
            value = float(r.get("value") or 0.0)
            for f in (self._journey(journey), self._day(journey, day), self.total):
                f.conversions += 1
                f.goal_value += value
            touched = self.last_touch.get(journey, {}).get(customer)
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
        key = (journey, r.get("step"), r.get("variant"), r.get("channel"), r.get("template"), r.get("iteration"))
        kind = self.kinds.get(key)
        if kind is None:
            kind = self.kinds[key] = self._kind(*key)
        status = r.get("status")
        if kind.labelled:
            self._labelled(r, kind, customer, status)
        own = kind.own
        if status == "sent":
            own.sent += 1
            kind.recipients.add(customer)
            day_f = kind.days.get(day)
            if day_f is None:
                day_f = self._day(journey, day)
            day_f.sent += 1
            kind.touches[customer] = kind.group
            if mid := r.get("message_id"):
                self._message(mid, kind.group, kind.channel, customer, r["at"])
            return
        reason = str(r.get("reason") or "unknown")
        by_reason = own.skipped if status == "skipped" else own.suppressed if status == "suppressed" else own.failed
        by_reason[reason] = by_reason.get(reason, 0) + 1

    def _kind(self, journey: str, step: Any, label: Any, channel: Any, template: Any, iteration: Any) -> SendKind:
        """A send record's group, label and the journey's tallies, the first time the combination is read."""
        step_id = str(step)
        variant, test = parse_label(label)
        split = None if variant is None else self.catalog.split_of_step.get((journey, step_id), "")
        index = self._group(journey, step_id, split, variant, str(channel), template,
                            iteration if isinstance(iteration, int) else None)
        group = self.group_list[index]
        return SendKind(index, group.own, group.recipients, self.days.setdefault(journey, {}),
                        self.last_touch.setdefault(journey, {}), journey, step_id, str(channel), label is not None,
                        variant, split, test)

    def _labelled(self, r: Mapping[str, Any], kind: SendKind, customer: str, status: Any) -> None:
        """A send with a variant label: a content test's exposure, a send after a split's winner, an assignment."""
        if kind.test is not None and status == "sent":
            self._tested(r, kind.journey, customer, *kind.test)
        elif kind.variant is not None and status == "sent" and self.winners:
            self._after_split_winner(kind.journey, kind.step)
        if kind.variant is not None and kind.split is not None and kind.journey not in self.catalog.splits:
            # a split the catalog does not know: the send assigns the customer to its variant
            self.sent_variants.setdefault((customer, kind.journey), {}).setdefault(kind.split, kind.variant)
            self.entries.setdefault((customer, kind.journey), r["at"])

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

    def _message(self, mid: str, group: int, channel: str, customer: str, at: str) -> None:
        """A sent message, by index: provider events find it by id, attribution by its customer (in finish())."""
        self.messages[mid] = len(self.message_group)
        self.message_group.append(group)
        self.message_channel.append(channel)
        self.message_customer.append(customer)
        self.message_at.append(at)
        self.flags.append(0)

    def add_event(self, e: Mapping[str, Any]) -> None:
        kind = e.get("type", "")
        if kind in self.order_types:
            self._order(e)
            return
        if self.ledger.experiments:
            self.ledger.event(kind, e.get("properties") or {})
        new = FLAGS_OF.get(kind)
        if new is None:
            return
        index = self.messages.get((e.get("properties") or {}).get("message_id", ""))
        timestamp = e.get("timestamp")
        if index is None or not timestamp:
            self.unattributed[kind] = self.unattributed.get(kind, 0) + 1
            return
        utc = timestamp.endswith("Z")  # the day is then in the text: most events need no parsing
        at = parse_at(timestamp) if not utc or self.period.until is not None or new & CLICKED else None
        if at is not None and self.period.until is not None and at > self.period.until:
            return
        have = self.flags[index]
        fresh = new & ~have
        if at is not None and new & CLICKED:
            self.clicks.setdefault(index, []).append(at)
        if not fresh:
            return
        self.flags[index] = have | fresh
        if (g := self.message_group[index]) == OTHER_JOURNEY:
            return
        # counted into the group by its messages' flags, into the day here, both by finish()
        key = (g, timestamp[:10] if at is None else at.date().isoformat(), fresh)
        self.flag_days[key] = self.flag_days.get(key, 0) + 1

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
        """Folds each group's sends, flags and recipients into its funnels, then credits each order of the period to
        at most one message (SPEC §12)."""
        self._fold_flags()
        for group in self.group_list:
            for f in group.each():
                f.absorb(group.own)
        self._fold_recipients()
        windows = self.catalog.attribution
        orders = [(key, order) for key, order in self.orders.items()
                  if self.period.since is None or order.at >= self.period.since]
        sent_to = self._messages_of({order.customer for _, order in orders})
        for key, order in orders:
            touches = [Touch(i, self.message_channel[i], parse_at(self.message_at[i]),
                             tuple(self.clicks.get(i, ())))
                       for i in sent_to.get(order.customer, ())]
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

    def _fold_flags(self) -> None:
        """Each message's flags into its group's funnel, and each day's new flags into the journey's day."""
        for (g, bits), n in Counter(zip(self.message_group, self.flags)).items():
            if g != OTHER_JOURNEY and bits:
                self.group_list[g].own.add_flags(bits, n)
        for (g, day, bits), n in self.flag_days.items():
            self._day(self.group_list[g].journey_id, day).add_flags(bits, n)

    def _fold_recipients(self) -> None:
        """Each funnel's recipients: the union of its groups' customers, made once for each distinct set of groups
        (a journey and its only channel share one); a funnel of one group shares that group's set. Read-only after."""
        parts: dict[int, tuple[Funnel, list[set[str]]]] = {}
        for group in self.group_list:
            for f in group.each():
                parts.setdefault(id(f), (f, []))[1].append(group.recipients)
        made: dict[tuple[int, ...], set[str]] = {}
        for f, sets in parts.values():
            key = tuple(id(s) for s in sets)
            if key not in made:
                made[key] = sets[0] if len(sets) == 1 else set().union(*sets)
            f.recipients = made[key]

    def _messages_of(self, customers: set[str]) -> dict[str, list[int]]:
        """The messages sent to each of these customers (those with orders), in the order they were read."""
        sent_to: dict[str, list[int]] = {}
        for index, customer in enumerate(self.message_customer):
            if customer in customers:
                sent_to.setdefault(customer, []).append(index)
        return sent_to

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
        memberships = self._memberships(arms)

        def arms_of(customer: str, journey: str) -> Iterator[Arm]:
            return (arms[(journey, split)][variant] for split, variant in memberships.get((customer, journey), ()))

        for customer, journey, value in self.conversions:
            for arm in arms_of(customer, journey):
                arm.converted.add(customer)
                arm.goal_value += value
        for index in self.clicks:
            g = self.message_group[index]
            if g != OTHER_JOURNEY:
                customer = self.message_customer[index]
                for arm in arms_of(customer, self.group_list[g].journey_id):
                    arm.clicked.add(customer)
        orders = self.in_period()
        buyers = {order.customer for order in orders}
        by_customer: dict[str, list[tuple[str, str]]] = {}   # journeys entered by customers with orders, and when
        for (customer, journey), at in self.entries.items():
            if customer in buyers:
                by_customer.setdefault(customer, []).append((journey, at))
        for order in orders:
            for journey, at in by_customer.get(order.customer, ()):
                if parse_at(at) <= order.at:
                    for arm in arms_of(order.customer, journey):
                        arm.spend[order.customer] = arm.spend.get(order.customer, 0.0) + order.value
        for (journey, split, variant), f in self.variants.items():
            _arm(arms, (journey, split), variant).messages = f.sent
        return arms

    def _memberships(self, arms: dict[SplitKey, dict[str, Arm]]) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
        """Assigns each customer who entered to their arms; returns (customer, journey) -> (split, variant) of each.
        Tuples of strings, not lists of arms: the collector stops tracking them, so it does not go over them again."""
        memberships: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        decided = {(j, self.catalog.split_steps.get((j, step), "")): parse_at(w["at"])
                   for (j, step), w in self.winners.items()}
        for (customer, journey), entry in self.entries.items():
            pairs = (self.catalog.variants(customer, journey) if journey in self.catalog.splits else
                     self.sent_variants.get((customer, journey), {}).items())
            # entered once the winner was chosen: assigned by the winner, not the test
            kept = tuple((split, variant) for split, variant in pairs
                         if (winner_at := decided.get((journey, split))) is None or parse_at(entry) < winner_at)
            for split, variant in kept:
                _arm(arms, (journey, split), variant).assigned.add(customer)
            if kept:
                memberships[(customer, journey)] = kept
        return memberships

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
            item["daily"] = [daily_row(f) for _, f in sorted(self.days.get(journey, {}).items())]
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
        days = self.days.get(journey)
        if days is None:
            days = self.days[journey] = {}
        f = days.get(day)
        if f is None:
            f = days[day] = Funnel(day, track_recipients=False)
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
                                         Funnel("group", track_recipients=False), set(), pass_f))
        return index


def _arm(arms: dict[SplitKey, dict[str, Arm]], split: SplitKey, variant: str) -> Arm:
    """The split's arm of this variant, made the first time (not one per customer to throw away)."""
    by_variant = arms.get(split)
    if by_variant is None:
        by_variant = arms[split] = {}
    arm = by_variant.get(variant)
    if arm is None:
        arm = by_variant[variant] = Arm()
    return arm


def _duration(window: timedelta) -> str:
    seconds = window.total_seconds()
    return f"{seconds / 86400:g}d" if seconds % 86400 == 0 else f"{seconds / 3600:g}h"
