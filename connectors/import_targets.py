"""Where `nudge import profiles` can deliver besides a stopped database: a running server over HTTP,
or the Kafka events topic. Rows carry ids made from their content, so a batch sent twice (a retry,
an import run again) is counted once."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

import httpx
import orjson

from connectors.profile_import import Delivered, Profile
from connectors.signing import sign

MAX_EVENTS = 1000          # per request: POST /v1/events takes at most this many
MAX_BYTES = 900 * 1024     # per request: under the API's 1 MiB body limit
ATTEMPTS = 8               # tries of one request that the server could not take (5xx, 429, no connection)
BACKOFF = (0.5, 30.0)      # first wait, longest wait (doubling in between, or the server's Retry-After)


class ImportStopped(Exception):
    """The destination refused the import as a whole (a wrong key) or stayed unreachable; `status` is the exit."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _requests(profiles: list[Profile]) -> list[list[Profile]]:
    """The batch cut into bodies the API accepts: at most MAX_EVENTS events and MAX_BYTES each."""
    chunks: list[list[Profile]] = [[]]
    size = 2
    for profile in profiles:
        length = len(orjson.dumps(profile.body)) + 1
        if chunks[-1] and (len(chunks[-1]) >= MAX_EVENTS or size + length > MAX_BYTES):
            chunks.append([])
            size = 2
        chunks[-1].append(profile)
        size += length
    return [c for c in chunks if c]


class HttpDestination:
    """POST /v1/events of a running Nudge (embedded or Kafka edge): the server holds the database, so the
    import never opens it; each refused item comes back by index and is reported by its line."""

    def __init__(self, url: str, key: str, signing_secret: str | None = None, client: httpx.AsyncClient | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.url = url.rstrip("/") + "/v1/events"
        self.key = key
        self.secret = signing_secret
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self.sleep = sleep

    async def deliver(self, profiles: list[Profile]) -> Delivered:
        accepted = duplicates = 0
        refused: list[tuple[int, str]] = []
        for chunk in _requests(profiles):
            # the server's clock stamps them (a local clock ahead of it would have them refused as future)
            body = orjson.dumps([{k: v for k, v in p.body.items() if k != "timestamp"} for p in chunk])
            answer = await self._post(body)
            accepted += int(answer.get("accepted", 0))
            duplicates += int(answer.get("duplicates", 0))
            refused += [(chunk[r["index"]].line, f"{r['field']}: {r['reason']}") for r in answer.get("rejected", [])]
        return Delivered(accepted, duplicates, refused)

    async def _post(self, body: bytes) -> dict[str, Any]:
        wait, why = BACKOFF[0], ""
        for _ in range(ATTEMPTS):
            headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
            if self.secret:  # a server started with NUDGE_WEBHOOK_SECRET takes only signed posts
                headers["Nudge-Signature"] = sign(self.secret, body, int(time.time()))
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (202, 422):  # 422: every item refused, each named
                    return dict(orjson.loads(response.content))
                if response.status_code in (401, 403):
                    raise ImportStopped(f"{self.url} refused the key ({response.status_code}: "
                                        f"{response.text[:200]})", 77)
                if response.status_code != 429 and response.status_code < 500:
                    raise ImportStopped(f"{self.url} answered {response.status_code}: {response.text[:200]}", 1)
                why = f"{response.status_code}: {response.text[:200]}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait = float(retry_after)
            await self.sleep(min(wait, BACKOFF[1]))
            wait *= 2
        raise ImportStopped(f"{self.url} did not take a batch after {ATTEMPTS} tries (last: {why}); rows before it are "
                            "in: run the same import again, rows already in count as unchanged", 69)

    async def close(self) -> None:
        await self.client.aclose()


class KafkaDestination:
    """The events topic of a Kafka deployment, as `nudge api --kafka` produces to it (acks=all, idempotent).
    Workers drop repeated ids, so duplicates are not known here: an import run again counts as imported."""

    def __init__(self, bootstrap: str, app_id: str) -> None:
        from engine.runtimes.kafka.edge import KafkaIngest
        from engine.runtimes.kafka.worker import KafkaSettings

        self.ingest = KafkaIngest(KafkaSettings(link_secret="", bootstrap=bootstrap, app_id=app_id), time.time)
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        self.task = asyncio.create_task(self.ingest.run())
        deadline = time.monotonic() + timeout
        while self.ingest.producer is None:
            if time.monotonic() > deadline:
                raise ImportStopped(f"the Kafka broker at {self.ingest.bootstrap} is unreachable "
                                    f"({self.ingest.last_error})", 69)
            await asyncio.sleep(0.1)

    async def deliver(self, profiles: list[Profile]) -> Delivered:
        from engine.runtimes.kernel.health import Unavailable

        try:  # stamped received_at by the producer's clock at hand-off, as the API stamps its events
            done = await self.ingest.submit([p.event for p in profiles])
        except Unavailable as exc:
            raise ImportStopped(str(exc), 69) from exc
        return Delivered(done.accepted, done.duplicates)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
