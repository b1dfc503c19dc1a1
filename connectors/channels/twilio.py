"""Texts through Twilio's Messages API, on the official `twilio` library."""

from __future__ import annotations

from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from connectors.channels.base import Delivery, PermanentError, Threads, TransientError, UnknownOutcome
from connectors.channels.recipients import phone_number

TIMEOUT = 15.0


def _before_request(exc: requests.RequestException) -> bool:
    """A connection never made (refused, DNS, connect time-out): Twilio cannot have the message."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class TwilioSender:
    """From a number or a messaging service; a status callback reports delivery."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, sender: str, status_callback: str | None = None,
                 base_url: str | None = None, timeout: float = TIMEOUT) -> None:
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")
        self.sender = sender
        self.status_callback = status_callback
        self.threads = Threads("twilio")

    def _params(self, message: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"to": phone_number(message.get("to")), "body": message["text"]}
        if self.sender.startswith("MG"):
            params["messaging_service_sid"] = self.sender
        else:
            params["from_"] = self.sender
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return params

    async def send(self, message: dict[str, Any]) -> Delivery:
        params = self._params(message)
        try:
            created = await self.threads.run(self.client.messages.create, **params)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise TransientError(f"Twilio {exc.status}: {exc.msg}", rate_limited=exc.status == 429) from exc
            raise PermanentError(f"Twilio {exc.status} (code {exc.code}): {exc.msg}") from exc
        except requests.RequestException as exc:
            if _before_request(exc):
                raise TransientError(f"Twilio unreachable: {exc}") from exc
            raise UnknownOutcome(f"Twilio gave no answer: {type(exc).__name__}: {exc}") from exc
        except TwilioException as exc:
            raise UnknownOutcome(f"Twilio's answer was unreadable: {exc}") from exc
        return Delivery(provider_id=created.sid)

    async def confirm(self, message_id: str) -> bool | None:
        return None  # the Messages API has no idempotency key, and a message carries none of our ids

    async def close(self) -> None:
        self.threads.close()
