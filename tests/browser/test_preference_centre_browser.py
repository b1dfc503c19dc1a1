"""A customer sets up text reminders in the preference centre in a real browser, in the demo's brand,
fixes a mistake the page points out, and confirms the number from the text they get."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.pages_kit import links_of, traits
from tests.e2e.server import ROOT, NudgeServer, workspace_server

SETTINGS = 'sender: {email: "Juniper & Pine <hello@juniperandpine.example>", postal_address: "40 Orchard Lane"}\n' \
           "topics: [newsletter, promotions]"
DATA = "data:\n  traits:\n    sms_reminders: boolean\n    reminder_time: string\n    reminder_days: list\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, settings=SETTINGS, extra=DATA)
    (srv.workspace / "templates" / "pages").mkdir(parents=True)
    shutil.copy(ROOT / "templates" / "pages" / "layout.html", srv.workspace / "templates" / "pages")  # the demo's brand
    srv.env = {"NUDGE_PUBLIC_URL": srv.url}
    yield srv.start()
    srv.stop()


def test_reminders_chosen_in_a_browser_start_once_the_texted_link_is_confirmed(server: NudgeServer, browser: Any,
                                                                               tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server.post({"type": "identify", "customer_id": "c1",
                 "traits": {"email": "ann@example.com", "first_name": "Ann", "phone": "+15551234567"}})
    server.wait_for(lambda: traits(server, "c1").get("phone") is not None, what="the profile")
    browser.get(links_of(server).unsubscribe_url("c1", "email"))
    main = browser.find_element(By.TAG_NAME, "body").text
    assert "Juniper & Pine" in main and "a•••@example.com" in main and "Hi Ann" in main
    browser.save_screenshot(str(tmp_path / "preferences.png"))

    browser.find_element(By.ID, "sms_reminders").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=keep][value=promotions]").click()  # promotions: no more
    browser.find_element(By.ID, "save").click()  # no time, no day yet
    errors = [e.text for e in WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CLASS_NAME, "error"))]
    assert errors == ["Choose a time of day, a time like 18:30.", "Choose at least one day for your reminders."]
    browser.save_screenshot(str(tmp_path / "preferences-errors.png"))

    browser.execute_script("document.getElementById('reminder_time').value = '07:30'")
    for day in ("mon", "thu"):
        browser.find_element(By.CSS_SELECTOR, f"input[name=reminder_days][value={day}]").click()
    browser.find_element(By.ID, "save").click()  # the page after the post: waited for, not raced
    pending = WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "pending"))
    assert "we sent a text to •••4567" in pending.text
    browser.save_screenshot(str(tmp_path / "saved.png"))

    server.wait_for(lambda: any(m["channel"] == "sms" for m in server.messages()), what="the confirmation text")
    link = re.search(r"(http://\S+/confirm/\S+)", next(m["text"] for m in server.messages() if m["channel"] == "sms"))
    assert link is not None
    browser.get(link[1])
    browser.find_element(By.ID, "confirm").click()
    done = WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "done"))
    assert "Your text reminders start now" in done.text
    browser.save_screenshot(str(tmp_path / "confirmed.png"))
    server.wait_for(lambda: traits(server, "c1").get("sms_reminders") is True, what="the reminders on")
    chosen = traits(server, "c1")
    assert (chosen["reminder_time"], chosen["reminder_days"], chosen["unsubscribed_topics"]) == (
        "07:30", ["mon", "thu"], ["promotions"])
