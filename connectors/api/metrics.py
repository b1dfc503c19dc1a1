"""Prometheus metrics of a running Nudge, event-to-send latency per journey included."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from rules.data import DataTally

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class LatencyWindow:
    """The latest latencies per journey, for p50/p99 without a query language."""

    def __init__(self, size: int = 2000) -> None:
        self.samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=size))

    def add(self, journey: str, seconds: float) -> None:
        self.samples[journey].append(seconds)

    def quantile(self, journey: str, q: float) -> float:
        ordered = sorted(self.samples[journey])
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Metrics:
    def __init__(self, counters: Any, read_counts: Callable[[], dict[str, Any]], clock: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.window = LatencyWindow()
        self.data = DataTally()  # fed by the event parser at the API (SPEC §9)
        self.histogram = Histogram("nudge_event_to_send_seconds", "From the event (or timer) to the provider hand-off",
                                   ["journey"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Collector(counters, read_counts, clock, self.window))
        self.registry.register(_DataCollector(self.data))

    def observe(self, message: dict[str, Any], status: str, latency: float) -> None:
        journey = str(message.get("journey"))
        self.histogram.labels(journey).observe(latency)
        self.window.add(journey, latency)


class _Collector(Collector):
    def __init__(self, counters: Any, read_counts: Callable[[], dict[str, Any]], clock: Callable[[], float],
                 window: LatencyWindow) -> None:
        self.counters, self.read_counts, self.clock, self.window = counters, read_counts, clock, window

    def collect(self) -> Iterator[Any]:
        c = self.counters
        events = CounterMetricFamily("nudge_events", "Events by outcome at the API and the engine", labels=["outcome"])
        for outcome in ("accepted", "duplicates", "rejected", "late", "processed"):
            events.add_metric([outcome], getattr(c, outcome))
        yield events
        yield CounterMetricFamily("nudge_timers_fired", "Timers fired", value=c.timers_fired)
        yield CounterMetricFamily("nudge_failed_inputs", "Events and timers the engine failed on, set aside",
                                  value=c.failed)
        yield CounterMetricFamily("nudge_expression_failures", "Run-time expression and template failures", value=c.diagnostics)
        now = self.read_counts()
        messages = GaugeMetricFamily("nudge_messages", "Outbox messages by status", labels=["status"])
        for status, n in sorted(now["messages"].items()):
            messages.add_metric([status], n)
        yield messages
        yield GaugeMetricFamily("nudge_events_pending", "Accepted events not yet processed", value=now["events_pending"])
        oldest = now["oldest_pending_received_at"]
        yield GaugeMetricFamily("nudge_lag_seconds", "Age of the oldest unprocessed event",
                                value=max(0.0, self.clock() - oldest) if oldest else 0.0)
        yield GaugeMetricFamily("nudge_timers_pending", "Timers waiting to fire", value=now["timers_pending"])
        quantiles = GaugeMetricFamily("nudge_event_to_send_quantile_seconds",
                                      "Event-to-send latency of recent messages", labels=["journey", "quantile"])
        for journey in sorted(self.window.samples):
            for q in (0.5, 0.99):
                quantiles.add_metric([journey, str(q)], self.window.quantile(journey, q))
        yield quantiles


class _DataCollector(Collector):
    """Data quality: events received per type, nonconforming ones per type and problem (SPEC §9)."""

    def __init__(self, tally: DataTally) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Any]:
        received = CounterMetricFamily("nudge_data_events_received", "Events received at the API, by type",
                                       labels=["type"])
        for kind, n in sorted(self.tally.received.items()):
            received.add_metric([kind], n)
        yield received
        problems = CounterMetricFamily("nudge_data_nonconforming", "Events that do not match data:, by type and problem",
                                       labels=["type", "problem"])
        for (kind, problem), n in sorted(self.tally.problems.items()):
            problems.add_metric([kind, problem], n)
        yield problems
