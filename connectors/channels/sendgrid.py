"""Email through SendGrid's v3 Mail Send API, on the official `sendgrid` library."""

from __future__ import annotations

import time
from email.utils import parseaddr
from http.client import HTTPException
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, CustomArg, Header, Mail

from connectors.channels.base import Delivery, PermanentError, Threads, TransientError, UnknownOutcome
from connectors.channels.recipients import email_address

DEFAULT_BASE_URL = "https://api.sendgrid.com"
TIMEOUT = 15.0


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Retry-After, else SendGrid's X-RateLimit-Reset (a Unix time) turned into seconds."""
    if headers is None:
        return None
    try:
        if headers.get("Retry-After") is not None:
            return float(headers["Retry-After"])
        if headers.get("X-RateLimit-Reset") is not None:
            return max(0.0, float(headers["X-RateLimit-Reset"]) - (time.time() if now is None else now))
    except ValueError:
        return None
    return None


def build_mail(message: dict[str, Any], sender: str, reply_to: str | None) -> Mail:
    """One personalised message; custom args map every provider event back to it."""
    name, address = parseaddr(sender)
    mail = Mail(from_email=(address, name) if name else address, to_emails=message["to"],
                subject=message["subject"], plain_text_content=message["text"], html_content=message.get("html"))
    if reply_to:
        mail.reply_to = reply_to
    args = {"message_id": message["id"], "customer_id": message.get("customer_id"), "journey": message.get("journey"),
            "step": message.get("step"), "variant": message.get("variant")}
    for key, value in args.items():
        if value is not None:
            mail.add_custom_arg(CustomArg(key, str(value)))
    for category in (message.get("journey"), message.get("step")):
        if category:
            mail.add_category(Category(str(category)[:255]))
    for key, value in (message.get("headers") or {}).items():
        mail.add_header(Header(key, value))
    return mail


class SendGridSender:
    """No idempotency key exists at SendGrid: a request that may have landed is left in doubt, never repeated."""

    name = "sendgrid"

    def __init__(self, api_key: str, sender: str, reply_to: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, timeout: float = TIMEOUT) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=base_url)
        self.client.client.timeout = timeout
        self.sender = sender
        self.reply_to = reply_to
        self.threads = Threads("sendgrid")

    async def send(self, message: dict[str, Any]) -> Delivery:
        mail = build_mail({**message, "to": email_address(message.get("to"))}, self.sender, self.reply_to)
        try:
            response = await self.threads.run(self.client.send, mail)
        except HTTPError as exc:
            status = int(exc.status_code)
            detail = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body)
            if status == 429 or status >= 500:
                raise TransientError(f"SendGrid {status}", retry_after(exc.headers), rate_limited=status == 429) from exc
            raise PermanentError(f"SendGrid {status}: {detail[:500]}") from exc
        except URLError as exc:  # urllib wraps what fails before the request is out: refused, DNS, connect time-out
            raise TransientError(f"SendGrid unreachable: {exc.reason}") from exc
        except (OSError, HTTPException) as exc:  # after the request went out: a read time-out, a reset
            raise UnknownOutcome(f"SendGrid gave no answer: {type(exc).__name__}: {exc}") from exc
        return Delivery(provider_id=response.headers.get("X-Message-Id"))

    async def confirm(self, message_id: str) -> bool | None:
        """SendGrid cannot be asked whether a send landed: the message stays in doubt."""
        return None

    async def close(self) -> None:
        self.threads.close()
