"""Choosing connectors from `settings.channels`; secrets and endpoints come from the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from connectors.channels.base import Sender
from connectors.channels.file import FileSender
from engine.model import Settings
from rules.problems import NudgeError

_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)[^/\s'\"]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """`smtp://ann:***@host`: a URL's password never reaches a log or a terminal."""
    return _CREDENTIALS.sub(r"\g<head>***@", text)


class ConfigError(NudgeError):
    """A connector cannot start: names the missing or bad setting (never a password in a URL)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def _need(environ: Mapping[str, str], name: str, why: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {why}")
    return value


def _sender(settings: Settings, channel: str) -> str:
    value = settings.sender.get(channel)
    if not value:
        raise ConfigError(f"settings.sender.{channel} is not set in journeys.yaml: the {channel} provider needs a sender")
    return value


def _timeout(environ: Mapping[str, str]) -> float:
    """NUDGE_PROVIDER_TIMEOUT: seconds an HTTP provider has to answer before the hand-off is in doubt."""
    raw = environ.get("NUDGE_PROVIDER_TIMEOUT", "").strip() or "15"
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"NUDGE_PROVIDER_TIMEOUT must be a positive number of seconds, not '{raw}'")
    return value


def build_senders(settings: Settings, root: Path, environ: Mapping[str, str], public_url: str) -> dict[str, Sender]:
    """One connector per channel (email, sms, webhook); `file` is the default everywhere."""
    channels = settings.channels or {}
    file_sender = FileSender(root / str(channels.get("file_path", "outbox/messages.jsonl")))
    senders: dict[str, Sender] = {"webhook": file_sender}
    email = (channels.get("email") or {}).get("provider", "file")
    if email == "sendgrid":
        from connectors.channels.sendgrid import DEFAULT_BASE_URL, SendGridSender

        senders["email"] = SendGridSender(
            _need(environ, "SENDGRID_API_KEY", "the sendgrid email provider needs an API key"),
            _sender(settings, "email"), settings.sender.get("reply_to"),
            environ.get("NUDGE_SENDGRID_BASE_URL") or DEFAULT_BASE_URL, _timeout(environ))
    elif email == "smtp":
        from connectors.channels.smtp import SmtpSender

        try:
            senders["email"] = SmtpSender(_need(environ, "NUDGE_SMTP_URL", "the smtp email provider needs a server"),
                                          _sender(settings, "email"), settings.sender.get("reply_to"))
        except ValueError as exc:  # its message quotes the URL: no traceback may carry the password
            raise ConfigError(str(exc)) from None
    else:
        senders["email"] = file_sender
    sms = (channels.get("sms") or {}).get("provider", "file")
    if sms == "twilio":
        from connectors.channels.twilio import TwilioSender

        senders["sms"] = TwilioSender(
            _need(environ, "TWILIO_ACCOUNT_SID", "the twilio sms provider needs the account SID"),
            _need(environ, "TWILIO_AUTH_TOKEN", "the twilio sms provider needs the auth token"),
            _sender(settings, "sms"), f"{public_url.rstrip('/')}/v1/providers/twilio/status",
            environ.get("NUDGE_TWILIO_BASE_URL") or None, _timeout(environ))
    else:
        senders["sms"] = file_sender
    return senders
