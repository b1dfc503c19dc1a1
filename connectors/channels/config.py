"""Choosing connectors from `settings.channels`; secrets and endpoints come from `ProviderSettings`."""

from __future__ import annotations

import re
from pathlib import Path
from connectors.channels.base import Sender
from connectors.channels.file import FileSender
from engine.model import Settings
from engine.runtimes.settings import ProviderSettings
from rules.problems import NudgeError

_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)[^/\s'\"]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """`smtp://ann:***@host`: a URL's password never reaches a log or a terminal."""
    return _CREDENTIALS.sub(r"\g<head>***@", text)


class ConfigError(NudgeError):
    """A connector cannot start: names the missing or bad setting (never a password in a URL)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def _need(value: str | None, name: str, why: str) -> str:
    if not value:
        raise ConfigError(f"{name} is not set: {why}")
    return value


def _sender(settings: Settings, channel: str) -> str:
    value = settings.sender.get(channel)
    if not value:
        raise ConfigError(f"settings.sender.{channel} is not set in journeys.yaml: the {channel} provider needs a sender")
    return value


def build_senders(settings: Settings, root: Path, env: ProviderSettings, public_url: str) -> dict[str, Sender]:
    """One connector per channel (email, sms, webhook); `file` is the default everywhere."""
    channels = settings.channels or {}
    file_sender = FileSender(root / str(channels.get("file_path", "outbox/messages.jsonl")))
    senders: dict[str, Sender] = {"webhook": file_sender}
    if (channels.get("webhook") or {}).get("provider", "file") == "http":
        from connectors.channels.webhook import WebhookSender

        senders["webhook"] = WebhookSender(
            _need(env.webhook_signing_secret, "NUDGE_WEBHOOK_SIGNING_SECRET",
                  "the http webhook provider signs every post (Nudge-Signature)"),
            env.timeout)
    email = (channels.get("email") or {}).get("provider", "file")
    if email == "sendgrid":
        from connectors.channels.sendgrid import DEFAULT_BASE_URL, SendGridSender

        senders["email"] = SendGridSender(
            _need(env.sendgrid_api_key, "SENDGRID_API_KEY", "the sendgrid email provider needs an API key"),
            _sender(settings, "email"), settings.sender.get("reply_to"),
            env.sendgrid_base_url or DEFAULT_BASE_URL, env.timeout)
    elif email == "smtp":
        from connectors.channels.smtp import SmtpSender

        try:
            senders["email"] = SmtpSender(_need(env.smtp_url, "NUDGE_SMTP_URL", "the smtp email provider needs a server"),
                                          _sender(settings, "email"), settings.sender.get("reply_to"))
        except ValueError as exc:  # its message quotes the URL: no traceback may carry the password
            raise ConfigError(str(exc)) from None
    else:
        senders["email"] = file_sender
    sms = (channels.get("sms") or {}).get("provider", "file")
    if sms == "twilio":
        from connectors.channels.twilio import TwilioSender

        senders["sms"] = TwilioSender(
            _need(env.twilio_account_sid, "TWILIO_ACCOUNT_SID", "the twilio sms provider needs the account SID"),
            _need(env.twilio_auth_token, "TWILIO_AUTH_TOKEN", "the twilio sms provider needs the auth token"),
            _sender(settings, "sms"), f"{public_url.rstrip('/')}/v1/providers/twilio/status",
            env.twilio_base_url, env.timeout)
    else:
        senders["sms"] = file_sender
    return senders
