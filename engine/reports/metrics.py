"""Funnels per journey, step, variant and channel, with daily series, from send records and provider events.

Attribution: provider events carry `properties.message_id`, the send record's `message_id`.
A flag (delivered, opened, ...) counts once per message; an open or click of a message
with no delivery event also counts it delivered. Conversions (`converted` records) count
for their journey, for the variant the customer was assigned there, and for the last step
that sent the customer a message in that journey before the conversion (last touch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from engine.reports.funnel import CLICKED, DELIVERED, OPENED, PROVIDER_EVENTS, Funnel, daily_row
from engine.reports.period import Period, parse_at

Assign = Callable[[str, str], "str | None"]  # (customer, journey) -> variant, from the workspace's splits
ENGAGED = OPENED | CLICKED


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
    revenue: float = 0.0
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
    journey_id: str

    def each(self) -> tuple[Funnel, ...]:
        parts = (self.journey, self.step, self.channel, self.total, self.total_channel)
        return parts if self.variant is None else (*parts, self.variant)


class Tally:
    """Reads records, then provider events, in one pass each; `journeys()` gives the result."""

    def __init__(self, period: Period = Period(), journey: str | None = None, assign: Assign | None = None) -> None:
        self.period, self.only, self.assign = period, journey, assign
        self.bounded = period.since is not None or period.until is not None
        self.total = Funnel("all")
        self.channels: dict[str, Funnel] = {}
        self.journey_funnels: dict[str, Funnel] = {}
        self.steps: dict[tuple[str, str], Funnel] = {}
        self.variants: dict[tuple[str, str], Funnel] = {}
        self.journey_channels: dict[tuple[str, str], Funnel] = {}
        self.days: dict[tuple[str, str], Funnel] = {}
        self.groups: dict[tuple[str, str, str | None, str], int] = {}
        self.group_list: list[Group] = []
        self.messages: dict[str, int] = {}       # message id -> its index in the two lists below
        self.message_group: list[int] = []
        self.flags = bytearray()
        self.variant_customers: dict[int, str] = {}  # message index -> customer, for experiments' click rates
        self.assigned: dict[tuple[str, str], str] = {}
        self.last_touch: dict[tuple[str, str], Funnel] = {}
        self.conversions: list[tuple[str, str, float]] = []
        self.clicks: set[tuple[str, str]] = set()   # (customer, journey) who clicked a variant's message
        self.unattributed: dict[str, int] = {}
        self.first_at: str | None = None
        self.last_at: str | None = None

    # ---- reading -------------------------------------------------------------------
    def add_record(self, r: Mapping[str, Any]) -> None:
        journey = r.get("journey")
        if not journey or (self.only and journey != self.only):
            return
        if self.bounded and not self.period.contains(parse_at(r["at"])):
            return
        kind = r.get("type")
        day = r["at"][:10]
        self._seen(r["at"])
        customer = customer_key(r) or ""
        if kind == "entered":
            self._journey(journey).entered += 1
            self._day(journey, day).entered += 1
            self.total.entered += 1
            if self.assign is not None and (variant := self.assign(customer, journey)) is not None:
                self.assigned.setdefault((customer, journey), variant)
        elif kind == "send":
            self._send(r, journey, customer, day)
        elif kind == "converted":
            value = float(r.get("value") or 0.0)
            for f in (self._journey(journey), self._day(journey, day), self.total):
                f.conversions += 1
                f.revenue += value
            touched = self.last_touch.get((customer, journey))
            if touched is not None:
                touched.conversions += 1
                touched.revenue += value
            self.conversions.append((customer, journey, value))

    def _send(self, r: Mapping[str, Any], journey: str, customer: str, day: str) -> None:
        variant = r.get("variant")
        if variant is not None:
            self.assigned.setdefault((customer, journey), str(variant))
        index = self._group(journey, str(r.get("step")), variant, str(r.get("channel")))
        group = self.group_list[index]
        status = r.get("status")
        if status == "sent":
            for f in group.each():
                f.sent += 1
                if f.recipients is not None:
                    f.recipients.add(customer)
            self._day(journey, day).sent += 1
            self.last_touch[(customer, journey)] = group.step
            mid = r.get("message_id")
            if mid:
                self.messages[mid] = len(self.message_group)
                if variant is not None:
                    self.variant_customers[len(self.message_group)] = customer
                self.message_group.append(index)
                self.flags.append(0)
            return
        reason = str(r.get("reason") or "unknown")
        for f in group.each():
            by_reason = f.skipped if status == "skipped" else f.suppressed if status == "suppressed" else f.failed
            by_reason[reason] = by_reason.get(reason, 0) + 1

    def add_event(self, e: Mapping[str, Any]) -> None:
        flag = PROVIDER_EVENTS.get(e.get("type", ""))
        if flag is None:
            return
        properties = e.get("properties") or {}
        index = self.messages.get(properties.get("message_id", ""))
        timestamp = e.get("timestamp")
        if index is None or not timestamp:
            self.unattributed[e["type"]] = self.unattributed.get(e["type"], 0) + 1
            return
        at = parse_at(timestamp)
        if self.period.until is not None and at > self.period.until:
            return
        have = self.flags[index]
        new = flag | (DELIVERED if flag & ENGAGED else 0)
        fresh = new & ~have
        if not fresh:
            return
        self.flags[index] = have | fresh
        group = self.group_list[self.message_group[index]]
        day = self._day(group.journey_id, at.date().isoformat())
        for bit in (b for b in (1, 2, 4, 8, 16, 32) if fresh & b):
            for f in (*group.each(), day):
                f.flag(bit)
        if fresh & CLICKED and (customer := self.variant_customers.get(index)) is not None:
            self.clicks.add((customer, group.journey_id))

    # ---- results -------------------------------------------------------------------
    def arms(self) -> dict[str, dict[str, Arm]]:
        """Per journey, per variant: customers assigned, converted and clicking (for experiments)."""
        arms: dict[str, dict[str, Arm]] = {}
        for (customer, journey), variant in self.assigned.items():
            arms.setdefault(journey, {}).setdefault(variant, Arm()).assigned.add(customer)
        for customer, journey, value in self.conversions:
            if (assigned := self.assigned.get((customer, journey))) is not None:
                arm = arms[journey][assigned]
                arm.converted.add(customer)
                arm.revenue += value
        for customer, journey in self.clicks:
            if (assigned := self.assigned.get((customer, journey))) is not None:
                arms[journey][assigned].clicked.add(customer)
        for (journey, variant), f in self.variants.items():
            arms.setdefault(journey, {}).setdefault(variant, Arm()).messages = f.sent
        return arms

    def journeys(self, arms: Mapping[str, Mapping[str, Arm]], order: Iterable[str] = (),
                 names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Each journey with its steps, variants (customers as `entered`), channels and daily series."""
        for journey, by_variant in arms.items():
            for variant, arm in by_variant.items():
                f = self._variant(journey, variant)
                f.entered = len(arm.assigned)
                f.conversions, f.revenue = len(arm.converted), arm.revenue
        known = list(dict.fromkeys(j for j in order if j in self.journey_funnels))
        ids = known + sorted(set(self.journey_funnels) - set(known))
        result = []
        for journey in ids:
            item = self.journey_funnels[journey].as_dict()
            item["name"] = (names or {}).get(journey, journey)
            item["steps"] = [f.as_dict() for (j, _), f in self.steps.items() if j == journey]
            item["variants"] = [f.as_dict() for (j, _), f in sorted(self.variants.items()) if j == journey]
            item["channels"] = [f.as_dict() for (j, _), f in sorted(self.journey_channels.items()) if j == journey]
            item["daily"] = [daily_row(f) for (j, _), f in sorted(self.days.items()) if j == journey]
            result.append(item)
        return result

    def channel_totals(self) -> list[dict[str, Any]]:
        return [f.as_dict() for _, f in sorted(self.channels.items())]

    # ---- funnels by key ------------------------------------------------------------
    def _seen(self, at: str) -> None:
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at

    def _journey(self, journey: str) -> Funnel:
        f = self.journey_funnels.get(journey)
        if f is None:
            f = self.journey_funnels[journey] = Funnel(journey)
        return f

    def _variant(self, journey: str, variant: str) -> Funnel:
        f = self.variants.get((journey, variant))
        if f is None:
            f = self.variants[(journey, variant)] = Funnel(variant)
        return f

    def _day(self, journey: str, day: str) -> Funnel:
        f = self.days.get((journey, day))
        if f is None:
            f = self.days[(journey, day)] = Funnel(day, track_recipients=False)
        return f

    def _group(self, journey: str, step: str, variant: str | None, channel: str) -> int:
        key = (journey, step, variant, channel)
        index = self.groups.get(key)
        if index is None:
            step_f = self.steps.get((journey, step))
            if step_f is None:
                step_f = self.steps[(journey, step)] = Funnel(step, channel=channel, variant=variant)
            jc = self.journey_channels.get((journey, channel))
            if jc is None:
                jc = self.journey_channels[(journey, channel)] = Funnel(channel)
            tc = self.channels.get(channel)
            if tc is None:
                tc = self.channels[channel] = Funnel(channel)
            variant_f = self._variant(journey, variant) if variant is not None else None
            index = self.groups[key] = len(self.group_list)
            self.group_list.append(Group(self._journey(journey), step_f, variant_f, jc, self.total, tc, journey))
        return index
