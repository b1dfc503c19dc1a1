"""Email over SMTP (aiosmtplib): self-hosted mail servers and local tools such as Mailpit."""

from __future__ import annotations

import contextlib
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from aiosmtplib.email import flatten_message

from connectors.channels.base import Delivery, PermanentError, TransientError, UnknownOutcome
from connectors.channels.recipients import email_address


def build_message(message: dict[str, Any], sender: str, reply_to: str | None) -> EmailMessage:
    """Text and HTML alternatives; the same unsubscribe headers as the SendGrid connector."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message["to"]
    email["Subject"] = message["subject"] or ""
    email["Message-ID"] = f"<{message['id']}@nudge>"
    email["X-Nudge-Message-Id"] = message["id"]
    if reply_to:
        email["Reply-To"] = reply_to
    for key, value in (message.get("headers") or {}).items():
        email[key] = value
    email.set_content(message["text"])
    if message.get("html"):
        email.add_alternative(message["html"], subtype="html")
    return email


def _by_code(exc: aiosmtplib.SMTPResponseException) -> Exception:
    """4xx replies are worth retrying; 5xx replies are final."""
    if 400 <= exc.code < 500:
        return TransientError(f"SMTP {exc.code}: {exc.message}")
    return PermanentError(f"SMTP {exc.code}: {exc.message}")


class SmtpSender:
    name = "smtp"

    def __init__(self, url: str, sender: str, reply_to: str | None = None) -> None:
        """`url` is smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps:// (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"NUDGE_SMTP_URL must look like smtp://user:password@host:587, not '{url}'")
        self.options: dict[str, Any] = {
            "hostname": parts.hostname,
            "port": parts.port or (465 if parts.scheme == "smtps" else 25),
            "use_tls": parts.scheme == "smtps",
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "timeout": 30,
        }
        self.sender = sender
        self.reply_to = reply_to

    async def send(self, message: dict[str, Any]) -> Delivery:
        """One envelope, one recipient: MAIL FROM, a single RCPT TO, then DATA, whose failures are classed apart."""
        recipient = email_address(message.get("to"))
        email = build_message({**message, "to": recipient}, self.sender, self.reply_to)
        client = aiosmtplib.SMTP(**self.options)
        try:
            try:
                await client.connect()
                if client.last_ehlo_response is None:
                    await client.ehlo()
                eight_bit = client.supports_extension("8bitmime")
                await client.mail(parseaddr(self.sender)[1] or self.sender, options=["BODY=8BITMIME"] if eight_bit else [])
                await client.rcpt(recipient)
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(exc) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:  # nothing was handed over yet: safe to retry
                raise TransientError(f"SMTP server unreachable: {exc}") from exc
            try:
                await client.data(flatten_message(email, cte_type="8bit" if eight_bit else "7bit"))
            except aiosmtplib.SMTPResponseException as exc:
                raise _by_code(exc) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:  # the server may have queued it without replying
                raise UnknownOutcome(f"SMTP server gave no answer to DATA: {exc}") from exc
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        finally:
            client.close()
        return Delivery(provider_id=f"<{message['id']}@nudge>")

    async def confirm(self, message_id: str) -> bool | None:
        return None

    async def close(self) -> None:
        return None
