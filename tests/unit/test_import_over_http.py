"""`nudge import profiles --url`: batches cut to what the API takes, a busy server waited for, a wrong key stops it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx
import orjson
import pytest

from connectors.import_targets import HttpDestination, ImportStopped
from connectors.profile_import import Profile, profile_body, profile_event

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def profiles(count: int) -> list[Profile]:
    rows = [{"customer_id": f"c{n}", "email": f"c{n}@example.com"} for n in range(count)]
    return [Profile(n + 2, profile_body(r, "customer_id", NOW), profile_event(r, "customer_id", NOW))
            for n, r in enumerate(rows)]


def run(destination: HttpDestination, batch: list[Profile]) -> object:
    return asyncio.run(destination.deliver(batch))


def test_a_batch_is_posted_in_requests_of_at_most_1000_events_and_refusals_map_to_lines() -> None:
    sizes: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        items = orjson.loads(request.content)
        sizes.append(len(items))
        assert request.headers["authorization"] == "Bearer k" and "timestamp" not in items[0]
        return httpx.Response(202, json={"accepted": len(items) - 1, "duplicates": 0, "ids": [],
                                         "rejected": [{"index": 1, "field": "traits.email", "reason": "bad"}]})

    waits: list[float] = []
    http = HttpDestination("http://nudge.test", "k", client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
                           sleep=lambda s: asyncio.sleep(0, waits.append(s)))  # type: ignore[func-returns-value]
    done = run(http, profiles(2500))
    assert sizes == [1000, 1000, 500] and waits == []
    assert done.accepted == 2497 and done.refused == [(3, "traits.email: bad"), (1003, "traits.email: bad"),
                                                      (2003, "traits.email: bad")]


def test_a_busy_or_unreachable_server_is_waited_for_with_growing_pauses_then_the_batch_goes_in() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "5"}, json={"error": "busy"}), None,
                    httpx.Response(202, json={"accepted": 3, "duplicates": 0, "rejected": [], "ids": []})])

    def answer(request: httpx.Request) -> httpx.Response:
        found = next(answers)
        if found is None:
            raise httpx.ConnectError("refused", request=request)
        return found

    waits: list[float] = []
    http = HttpDestination("http://nudge.test", "k", client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
                           sleep=lambda s: asyncio.sleep(0, waits.append(s)))  # type: ignore[func-returns-value]
    assert run(http, profiles(3)).accepted == 3
    assert waits == [5.0, 10.0]  # the server's Retry-After, then doubled


def test_a_refused_key_stops_the_import_with_no_retry() -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(403, json={"error": "invalid API key"})

    http = HttpDestination("http://nudge.test", "k", client=httpx.AsyncClient(transport=httpx.MockTransport(answer)))
    with pytest.raises(ImportStopped, match="invalid API key") as stopped:
        run(http, profiles(1))
    assert stopped.value.status == 77 and calls == [1]
