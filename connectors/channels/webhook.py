"""Webhook sends over HTTP (httpx): signed like the posts Nudge takes in, keyed so a receiver can drop a repeat."""

from __future__ import annotations

import time
from typing import Callable

import httpx
import orjson

from connectors.signing import sign
from connectors.channels.base import Delivery, PermanentError, TransientError, UnknownOutcome
from engine.effects import Message

TIMEOUT = 15.0
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def request_of(message: Message, secret: str, now: int) -> tuple[str, str, bytes, dict[str, str]]:
    """Method, URL, body and headers of a webhook message: `Nudge-Signature` over the exact body sent,
    `Idempotency-Key` its message id (the same on every attempt)."""
    method = message.method or "POST"
    body = orjson.dumps(message.body or {}, option=orjson.OPT_SORT_KEYS) if method in WITH_BODY else b""
    headers = {"Idempotency-Key": message.id, "Nudge-Signature": sign(secret, body, now),
               "User-Agent": "Nudge-Webhook/1"}
    if body:
        headers["Content-Type"] = "application/json"
    return method, message.to, body, headers


class WebhookSender:
    """A 2xx is delivered; 429 and 5xx are retried by the dispatcher; no answer after the request went out
    is in doubt (the receiver may have it: its Idempotency-Key makes an operator's resend safe)."""

    name = "http"

    def __init__(self, secret: str, timeout: float = TIMEOUT, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.clock = clock
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport)

    async def send(self, message: Message) -> Delivery:
        method, url, body, headers = request_of(message, self.secret, int(self.clock()))
        try:
            response = await self.client.request(method, url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # nothing went out
            raise TransientError(f"webhook {url} unreachable: {type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:  # a read time-out, a reset: the receiver may have acted
            raise UnknownOutcome(f"webhook {url} gave no answer: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return Delivery(provider_id=response.headers.get("x-request-id"))
        if status == 429 or status == 408 or status >= 500:
            raise TransientError(f"webhook {url} answered {status}", _retry_after(response), rate_limited=status == 429)
        raise PermanentError(f"webhook {url} answered {status}: {response.text[:500]}")

    async def confirm(self, message_id: str) -> bool | None:
        """A receiver cannot be asked whether a post landed: the message stays in doubt for an operator."""
        return None

    async def close(self) -> None:
        await self.client.aclose()


__all__ = ["WebhookSender", "request_of"]
