"""The SMTP connector against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
from email.message import Message
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller

from connectors.channels.base import PermanentError, TransientError, UnknownOutcome
from connectors.channels.smtp import SmtpSender
from tests.e2e.server import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.rcpts: list[str] = []  # every RCPT TO the server was given
        self.refuse: str | None = None
        self.stall = 0.0  # seconds to wait before answering the end of DATA

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.rcpts.append(address)
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        await asyncio.sleep(self.stall)
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


@pytest.mark.parametrize("address", ["attacker@x.example, v1@y.example, v2@z.example", "a@b.example\r\nBcc: x@y.example",
                                     "Ann <ann@example.com>", "@"])
def test_anything_but_one_bare_address_is_refused_before_any_rcpt(smtp: tuple[Inbox, int], address: str) -> None:
    inbox, port = smtp
    with pytest.raises(PermanentError, match="not one email address"):
        asyncio.run(SmtpSender(f"smtp://127.0.0.1:{port}", "hi@shop.example").send({**MESSAGE, "to": address}))
    assert inbox.rcpts == [] and inbox.messages == []


def test_one_message_has_exactly_one_rcpt_to(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    asyncio.run(SmtpSender(f"smtp://127.0.0.1:{port}", "Shop <hi@shop.example>").send(MESSAGE))
    assert inbox.rcpts == ["ann@example.com"] and len(inbox.messages) == 1


def test_no_answer_to_data_is_an_unknown_outcome_though_the_server_has_the_message(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.stall = 2.0
    sender = SmtpSender(f"smtp://127.0.0.1:{port}", "hi@shop.example")
    sender.options["timeout"] = 0.3
    with pytest.raises(UnknownOutcome):
        asyncio.run(sender.send(MESSAGE))
    assert len(inbox.messages) == 1


def test_a_server_that_cannot_be_reached_is_worth_retrying() -> None:
    with pytest.raises(TransientError, match="unreachable"):
        asyncio.run(SmtpSender(f"smtp://127.0.0.1:{free_port()}", "hi@shop.example").send(MESSAGE))
