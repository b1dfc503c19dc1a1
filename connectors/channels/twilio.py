"""Texts through Twilio's Messages API, on the official `twilio` library."""

from __future__ import annotations

import asyncio
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from connectors.channels.base import Delivery, PermanentError, TransientError
from engine.policies import E164


class TwilioSender:
    """From a number or a messaging service; a status callback reports delivery."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, sender: str, status_callback: str | None = None,
                 base_url: str | None = None) -> None:
        self.client = Client(account_sid, auth_token)
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")
        self.sender = sender
        self.status_callback = status_callback

    def _params(self, message: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"to": message["to"], "body": message["text"]}
        if self.sender.startswith("MG"):
            params["messaging_service_sid"] = self.sender
        else:
            params["from_"] = self.sender
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return params

    async def send(self, message: dict[str, Any]) -> Delivery:
        if not E164.match(str(message.get("to", ""))):
            raise PermanentError(f"'{message.get('to')}' is not an E.164 number")
        try:
            created = await asyncio.to_thread(self.client.messages.create, **self._params(message))
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise TransientError(f"Twilio {exc.status}: {exc.msg}") from exc
            raise PermanentError(f"Twilio {exc.status} (code {exc.code}): {exc.msg}") from exc
        except (TwilioException, OSError) as exc:
            raise TransientError(f"Twilio unreachable: {exc}") from exc
        return Delivery(provider_id=created.sid)

    async def confirm(self, message_id: str) -> bool | None:
        return None  # the Messages API has no idempotency key either

    async def close(self) -> None:
        return None
