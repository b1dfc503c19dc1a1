"""The whole report as plain data (JSON-ready): orders and their attribution, funnels, experiments, customer analytics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from engine.reports.catalog import Catalog
from engine.reports.customers import customer_analytics
from engine.reports.experiments import experiment
from engine.reports.metrics import Tally
from engine.reports.period import Period, parse_at

Progress = Callable[[int], None]
PROGRESS_EVERY = 50_000


@dataclass(frozen=True)
class ReportInput:
    """Records (as simulate prints them) and events (SPEC §2) in the order they happened."""

    records: Iterable[Mapping[str, Any]]
    events: Iterable[Mapping[str, Any]] = ()
    period: Period = field(default_factory=Period)
    journey: str | None = None
    catalog: Catalog = field(default_factory=Catalog)
    source: str = ""


def build_report(inp: ReportInput, progress: Progress | None = None) -> dict[str, Any]:
    """`progress`, when given, hears how many records have been read so far."""
    catalog = inp.catalog
    tally = Tally(inp.period, inp.journey, catalog)
    done = 0
    for record in inp.records:
        tally.add_record(record)
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    for event in inp.events:
        tally.add_event(event)
    tally.finish()
    latest = max((o.at for o in tally.orders.values()), default=None)
    if tally.last_at and (latest is None or parse_at(tally.last_at) > latest):
        latest = parse_at(tally.last_at)
    now = inp.period.until or latest
    arms = tally.arms()
    experiments = [e for key, by_variant in arms.items()
                   if (e := experiment(key, by_variant, catalog.variant_order(key), catalog.holdouts.get(key, frozenset())))]
    return {
        "source": inp.source,
        "period": inp.period.as_dict(),
        "data_from": tally.first_at, "data_until": tally.last_at,
        "currency": catalog.currency,
        "journey_filter": inp.journey,
        "revenue": tally.revenue(),
        "totals": tally.total.as_dict(),
        "channels": tally.channel_totals(),
        "journeys": tally.journeys(arms, catalog.order, catalog.names),
        "experiments": experiments,
        "customers": customer_analytics(tally.orders.values(), now) if now else {"customers": 0, "note": "no data"},
        "unattributed_provider_events": dict(sorted(tally.unattributed.items())),
    }
