"""The whole report as plain data (JSON-ready): orders and their attribution, funnels, experiments, customer analytics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from engine.reports import journey_map
from engine.reports.catalog import Catalog
from engine.reports.comparison import compare
from engine.reports.content_experiments import content_experiments, winner_of
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
    previous: Period | None = None    # the period to compare with (engine.reports.period.previous)
    waiting: Mapping[tuple[str, str], int] | None = None   # (journey, step) -> instances there now (a live store)


def build_report(inp: ReportInput, progress: Progress | None = None) -> dict[str, Any]:
    """`progress`, when given, hears how many records have been read so far."""
    catalog = inp.catalog
    tally = Tally(inp.period, inp.journey, catalog)
    before = Tally(inp.previous, inp.journey, catalog) if inp.previous is not None else None
    tallies = (tally,) if before is None else (tally, before)   # one pass over the logs feeds both periods
    add_record = _each(tuple(t.add_record for t in tallies))
    add_event = _each(tuple(t.add_event for t in tallies))
    # one record alive at a time: records held in a list (a chunk) would outlive the garbage collector's young
    # generations and make it go over the whole tally, again and again
    for done, record in enumerate(inp.records, 1):
        add_record(record)
        if done % PROGRESS_EVERY == 0 and progress is not None:
            progress(done)
    for event in inp.events:
        add_event(event)
    for t in tallies:
        t.finish()
    latest = max((o.at for o in tally.orders.values()), default=None)
    if tally.last_at and (latest is None or parse_at(tally.last_at) > latest):
        latest = parse_at(tally.last_at)
    now = inp.period.until or latest
    arms = tally.arms()
    experiments = [e for key, by_variant in arms.items()
                   if (e := experiment(key, by_variant, catalog.variant_order(key), catalog.holdouts.get(key, frozenset())))]
    steps = {(journey, name): step for (journey, step), name in catalog.split_steps.items()}
    for e in experiments:
        step = steps.get((e["journey"], e["split"] or ""))
        e.update(kind="split", step=step, winner=winner_of(tally.winners.get((e["journey"], step or ""))),
                 sent_with_winner=tally.with_winner.get((e["journey"], step or ""), 0))
    experiments += content_experiments(tally.ledger, tally.winners, tally.with_winner)
    journeys = tally.journeys(arms, catalog.order, catalog.names)
    idle = _add_maps(journeys, inp, catalog)
    report = {
        "source": inp.source,
        "period": inp.period.as_dict(),
        "data_from": tally.first_at, "data_until": tally.last_at,
        "currency": catalog.currency,
        "journey_filter": inp.journey,
        "revenue": tally.revenue(),
        "totals": tally.total.as_dict(),
        "channels": tally.channel_totals(),
        "templates": tally.template_totals(),
        "journeys": journeys,
        "idle_journeys": idle,
        "experiments": experiments,
        "customers": customer_analytics(tally.orders.values(), now) if now else {"customers": 0, "note": "no data"},
        "unattributed_provider_events": dict(sorted(tally.unattributed.items())),
        "comparison": None,
    }
    if before is not None and inp.previous is not None:
        report["comparison"] = compare(report, {"period": inp.previous.as_dict(), "revenue": before.revenue(),
                                                "totals": before.total.as_dict(),
                                                "journeys": before.journeys({}, catalog.order, catalog.names)})
    return report


def _each(readers: tuple[Callable[[Mapping[str, Any]], None], ...]) -> Callable[[Mapping[str, Any]], None]:
    """One reader as it is (the usual case, no call in between), several in turn."""
    if len(readers) == 1:
        return readers[0]

    def each(item: Mapping[str, Any]) -> None:
        for read in readers:
            read(item)
    return each


def _add_maps(journeys: list[dict[str, Any]], inp: ReportInput, catalog: Catalog) -> list[dict[str, Any]]:
    """Each journey of the workspace gets its map with the report's counts, `waiting_now` when the store says;
    returns the workspace's journeys the period holds nothing of (id, name, map), so every journey is drawn."""
    models = {j.id: j for j in catalog.workspace.journeys} if catalog.workspace else {}

    def waiting(journey: str) -> dict[str, int] | None:
        return None if inp.waiting is None else {step: n for (j, step), n in inp.waiting.items() if j == journey}

    for item in journeys:
        item["waiting_now"] = waiting(item["id"])
        model = models.get(item["id"])
        item["map"] = (journey_map.with_counts(journey_map.structure(model), item, catalog.currency).as_dict()
                       if model is not None else None)
    active = {j["id"] for j in journeys}
    idle = [m for m in models.values() if m.id not in active and inp.journey in (None, m.id)]
    return [{"id": m.id, "name": m.name, "waiting_now": waiting(m.id),
             "map": journey_map.with_counts(journey_map.structure(m), {**journey_map.no_activity(m.id),
                                                                       "waiting_now": waiting(m.id)},
                                            catalog.currency).as_dict()} for m in idle]
