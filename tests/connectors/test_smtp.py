"""The SMTP connector against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
from email.message import Message
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller

from connectors.channels.base import PermanentError
from connectors.channels.smtp import SmtpSender
from tests.e2e.server import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


MESSAGE = {"id": "msg_1", "to": "ann@example.com", "subject": "Hi Ann", "text": "Hello", "html": "<p>Hello</p>",
           "headers": {"List-Unsubscribe": "<https://n.example/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}


def test_an_email_arrives_with_both_parts_and_the_unsubscribe_headers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    sender = SmtpSender(f"smtp://127.0.0.1:{port}", "Shop <hi@shop.example>", reply_to="help@shop.example")
    asyncio.run(sender.send(MESSAGE))
    [got] = inbox.messages
    assert got["To"] == "ann@example.com" and got["Subject"] == "Hi Ann" and got["Reply-To"] == "help@shop.example"
    assert got["List-Unsubscribe"] == "<https://n.example/u/t>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got["Message-ID"] == "<msg_1@nudge>"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in got.walk() if not p.is_multipart()}
    assert parts["text/plain"].strip() == b"Hello" and b"<p>Hello</p>" in parts["text/html"]


def test_a_refused_recipient_is_a_permanent_error(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.refuse = "550 No such user"
    with pytest.raises(PermanentError, match="550"):
        asyncio.run(SmtpSender(f"smtp://127.0.0.1:{port}", "hi@shop.example").send(MESSAGE))
