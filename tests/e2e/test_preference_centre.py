"""The preference centre (the signed `/u/…` page): topics, SMS reminders on or off, their time and days,
written as traits through the engine, with double opt-in for texts where SMS consent is `opt_in`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from engine.testing import email, journey_yaml, send_step
from tests.e2e.pages_kit import form_token, links_of, traits
from tests.e2e.server import NudgeServer, workspace_server

SETTINGS = """\
sender: {email: "Test Shop <hi@shop.example>", sms: "+15550100000", postal_address: "1 Main St"}
topics: [newsletter]
"""
DATA = """\
data:
  traits:
    sms_reminders: boolean
    reminder_time: string
    reminder_days: list
  events:
    identify: {properties: {source: string}}
    challenge_chosen: {}
"""
# a journey that reacts to a saved choice at once: it sees the new traits
NOTED = journey_yaml("noted", "{event: identify, where: \"event.properties.source == 'preference centre'\"}",
                     send_step("note", "noted"), reentry="after_exit")
# waiting for the customer's chosen time (SPEC §15): a new time chosen on the page re-plans the wake-up
REMIND = """\
id: remind
trigger: {event: challenge_chosen}
steps:
  - id: chosen_moment
    wait_until: {time: "profile.reminder_time", default: {time: "03:00"}}
  - id: reminder
    send: email
    template: noted
"""
TEMPLATES = {"noted.email.html": email("Reminders at {{ profile.reminder_time | default('none') }} on "
                                       "{{ profile.reminder_days | default([]) | join(',') }}")}
PHONE = "+15551234567"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, settings=SETTINGS, journeys={"noted": NOTED, "remind": REMIND}, templates=TEMPLATES, extra=DATA)
    srv.env = {"NUDGE_PUBLIC_URL": srv.url}
    yield srv.start()
    srv.stop()


def open_page(server: NudgeServer, customer_id: str, **traits_: object) -> tuple[str, str]:
    """The customer exists with these traits; returns their preferences link and the page's form token."""
    server.post({"type": "identify", "customer_id": customer_id,
                 "traits": {"email": f"{customer_id}@example.com", **traits_}})
    server.wait_for(lambda: traits(server, customer_id).get("email") is not None, what="the profile")
    url = links_of(server).unsubscribe_url(customer_id, "email")
    page = httpx.get(url)
    assert page.status_code == 200 and 'name="reminder_time"' in page.text
    return url, form_token(page.text)


def choose(url: str, token: str, **fields: object) -> httpx.Response:
    return httpx.post(url, data={"action": "save", "form_token": token, "keep": "newsletter", **fields})


def test_choosing_reminders_with_consent_writes_the_traits_and_journeys_react_at_once(server: NudgeServer) -> None:
    url, token = open_page(server, "c1", phone=PHONE, sms_subscribed=True)
    saved = choose(url, token, sms_reminders="on", reminder_time="07:30", reminder_days=["mon", "thu"])
    assert saved.status_code == 200 and "saved" in saved.text.lower()
    server.wait_for(lambda: traits(server, "c1").get("sms_reminders") is True, what="the reminder traits")
    assert {k: traits(server, "c1")[k] for k in ("reminder_time", "reminder_days")} == {
        "reminder_time": "07:30", "reminder_days": ["mon", "thu"]}
    server.wait_for(lambda: any(m["journey"] == "noted" for m in server.messages()), what="the journey's email")
    assert [m["subject"] for m in server.messages() if m["journey"] == "noted"] == ["Reminders at 07:30 on mon,thu"]
    [(kind, source)] = server.query("SELECT json_extract(body, '$.type'), json_extract(body, '$.properties.source') "
                                    "FROM events WHERE json_extract(body, '$.properties.source') = 'preference centre'")
    assert kind == "identify"
    again = httpx.get(url).text  # the page shows the choice as saved
    assert 'value="07:30"' in again and re.search(r'value="thu"\s+checked', again) and "•••4567" in again


def test_texts_on_an_opt_in_channel_wait_for_the_confirmation_link_sent_by_sms(server: NudgeServer) -> None:
    url, token = open_page(server, "c2", phone=PHONE)
    saved = choose(url, token, sms_reminders="on", reminder_time="18:00", reminder_days=["sat"])
    assert saved.status_code == 200 and "•••4567" in saved.text and "confirm" in saved.text.lower()
    server.wait_for(lambda: any(m["channel"] == "sms" for m in server.messages()), what="the confirmation text")
    [text] = [m for m in server.messages() if m["channel"] == "sms"]
    assert text["to"] == PHONE and text["journey"] == "double_opt_in"
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", text["text"])
    assert link is not None
    waiting = traits(server, "c2")
    assert waiting["reminder_time"] == "18:00" and waiting["sms_reminders"] is False
    assert waiting["sms_reminders_requested"] is True
    assert "•••4567" in httpx.get(link[1]).text
    assert httpx.post(link[1]).status_code == 200
    server.wait_for(lambda: traits(server, "c2").get("sms_reminders") is True, what="the confirmed reminders")
    confirmed = traits(server, "c2")
    assert confirmed["sms_subscribed"] is True and "sms_reminders_requested" not in confirmed


def test_a_bad_time_or_a_missing_number_is_shown_on_the_page_and_nothing_is_written(server: NudgeServer) -> None:
    url, token = open_page(server, "c3")
    bad = choose(url, token, sms_reminders="on", reminder_time="25:99", reminder_days=["mon"])
    assert bad.status_code == 422
    assert "a time like 18:30" in bad.text and 'value="25:99"' in bad.text
    assert "mobile number" in bad.text  # c3 has no phone yet
    bad_day = choose(url, token, sms_reminders="on", reminder_time="08:00", reminder_days=["someday"], phone="12")
    assert bad_day.status_code == 422 and "E.164" in bad_day.text
    good = choose(url, token, sms_reminders="on", reminder_time="08:00", reminder_days=["tue"], phone="+1 555 123-4567")
    assert good.status_code == 200
    server.wait_for(lambda: traits(server, "c3").get("phone") == PHONE, what="the saved number")
    assert server.query("SELECT json_extract(body, '$.type') FROM events WHERE json_extract(body, "
                        "'$.properties.source') = 'preference centre' ORDER BY seq") == [
        ("identify",), ("subscription_requested",)]  # the refused posts wrote nothing


def test_a_time_chosen_on_the_page_moves_the_reminder_the_customer_is_waiting_for(server: NudgeServer) -> None:
    now = datetime.now(timezone.utc)
    far, near = now + timedelta(hours=5), now + timedelta(hours=3)
    url, token = open_page(server, "c5", phone=PHONE, sms_subscribed=True, reminder_time=f"{far:%H:%M}")
    server.post({"type": "challenge_chosen", "customer_id": "c5"})

    def wake_up() -> str | None:
        with server.client() as c:
            journeys = c.get("/v1/customers/c5").json()["journeys"]
        return next((j["next_wake_up"] for j in journeys if j["journey"] == "remind"), None)

    server.wait_for(lambda: wake_up() is not None, what="the wait")
    assert f"T{far:%H:%M}" in str(wake_up())
    assert choose(url, token, sms_reminders="on", reminder_time=f"{near:%H:%M}", reminder_days=DAYS).status_code == 200
    server.wait_for(lambda: f"T{near:%H:%M}" in str(wake_up()), what="the wake-up moved to the new time")
