"""What a customer posts on the preferences page, checked; and the anti-forgery token of its forms.

A signed page link proves who the customer is; the form token (signed, dated) proves that a
change other than unsubscribing was posted from a page we served, recently: a forged form on
another site, or a mail scanner replaying a POST, cannot resubscribe anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from engine.links import SignedLinks
from engine.policies import E164

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
FORM_TTL = 7 * 86400  # seconds a served form can be posted back (a tab left open over a weekend)
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")

Form = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Reminders:
    """SMS reminders as chosen: on or off, the local time (HH:MM) and days (mon..sun, in week order)."""

    on: bool
    time: str | None
    days: tuple[str, ...]


@dataclass(frozen=True)
class Choice:
    kept: frozenset[str]                 # the topics left ticked
    reminders: Reminders | None = None   # None: the form had no reminders section
    phone: str | None = None             # a number typed in, E.164
    errors: dict[str, str] = field(default_factory=dict)  # field -> what to fix, in the customer's words


def values(form: Form, name: str) -> list[str]:
    return [v for k, v in form if k == name]


def first(form: Form, name: str) -> str:
    found = values(form, name)
    return found[0].strip() if found else ""


def read_choice(form: Form, topics: Sequence[str], has_phone: bool) -> Choice:
    """The posted choice; `errors` is empty when it can be saved."""
    errors: dict[str, str] = {}
    kept = frozenset(values(form, "keep")) & frozenset(topics)
    phone = _PHONE_PUNCTUATION.sub("", first(form, "phone")) or None
    if phone is not None and not E164.match(phone):
        errors["phone"] = "Enter a mobile number with its country code, like +1 555 010 0000 (E.164)."
    reminders = None
    if any(k in ("reminders_form", "sms_reminders", "reminder_time", "reminder_days") for k, _ in form):
        on = bool(first(form, "sms_reminders"))
        time = first(form, "reminder_time")
        days = values(form, "reminder_days")
        if (time or on) and not TIME.match(time):
            errors["reminder_time"] = "Choose a time of day, a time like 18:30."
        if any(d not in DAYS for d in days):
            errors["reminder_days"] = "Choose days of the week."
        elif on and not days:
            errors["reminder_days"] = "Choose at least one day for your reminders."
        if on and not has_phone and phone is None and "phone" not in errors:
            errors["phone"] = "Add your mobile number to get text reminders."
        reminders = Reminders(on, time or None, tuple(d for d in DAYS if d in days))
    return Choice(kept, reminders, phone, errors)


def issue_token(links: SignedLinks, key: str, channel: str, now: float) -> str:
    return links.sign("form", key, channel, str(int(now)))


def token_problem(links: SignedLinks, token: str, key: str, channel: str, now: float) -> str | None:
    """None for a genuine form token of this customer and channel, served within FORM_TTL; else why not."""
    fields = links.open("form", token, 3)
    if fields is None or fields[:2] != [key, channel] or not fields[2].isdigit():
        return "forged"
    return "expired" if not 0 <= now - int(fields[2]) <= FORM_TTL else None
