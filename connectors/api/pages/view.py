"""What page templates see: the brand, the address concerned (masked), the customer's current choices."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any, Mapping

from connectors.api.pages.forms import DAY_NAMES, DAYS, Form, first, values
from engine import policies
from engine.model import Channel, Consent, Workspace
from engine.scheduling import chosen_days, chosen_time, customer_zone

Traits = Mapping[str, Any]


def mask(address: str | None, channel: str) -> str | None:
    """Enough for the customer to recognise the address, not enough to learn it from a forwarded link."""
    if not address:
        return None
    if channel == Channel.EMAIL:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return "•••" + address[-4:]


def base(workspace: Workspace, traits: Traits, channel: str) -> dict[str, Any]:
    """Every page's names: `brand`, `postal_address`, `settings`, `channel`, `channel_name`, `address`,
    `first_name`, `locale` (which also picks `NAME.<locale>.html` where the workspace has one)."""
    settings = workspace.settings
    name, sender = parseaddr(settings.sender.get("email", ""))
    first_name = traits.get("first_name")
    return {"brand": name or sender or "us", "postal_address": settings.sender.get("postal_address", ""),
            "settings": settings.raw, "channel": channel, "channel_name": "emails" if channel == "email" else "texts",
            "address": mask(policies.address_of(traits, Channel(channel)), channel),
            "first_name": first_name if isinstance(first_name, str) else None,
            "locale": traits.get("locale") if isinstance(traits.get("locale"), str) else None}


def needs_sms_consent(workspace: Workspace, traits: Traits) -> bool:
    """Texts without standing consent: on an opt-in or double opt-in channel, or after a STOP."""
    subscribed = traits.get("sms_subscribed")
    settings = workspace.settings
    return subscribed is False or (subscribed is None and (settings.consent.get("sms") is Consent.OPT_IN
                                                           or "sms" in settings.double_opt_in))


def reminders_offered(workspace: Workspace, traits: Traits) -> bool:
    """The page offers SMS reminders where the workspace declares the `sms_reminders` trait (SPEC §9), or
    where the customer already has it (set by the site)."""
    declared = workspace.data is not None and "sms_reminders" in workspace.data.traits
    return declared or "sms_reminders" in traits or "sms_reminders_requested" in traits


def _shown_time(value: Any) -> str:
    """HH:MM, which a time field can show (`7:30` is 07:30 to the engine); a time the engine cannot read, empty."""
    read = chosen_time(value)
    return f"{read:%H:%M}" if read else ""


def _shown_days(value: Any) -> list[str]:
    """The days as the engine reads them: `Thursday`, `THU` and `thu` are one day."""
    read = chosen_days(value)
    return [DAYS[d] for d in sorted(read)] if read else []


def preferences(workspace: Workspace, traits: Traits, channel: str, posted: Form | None = None,
                errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The preferences page: `subscribed`, `topics`, `reminders`, `days`, `errors` (what was posted, when refused).

    `reminders.zone` is the zone the chosen time is read in (the customer's, else the workspace's), and
    `reminders.quiet` the quiet hours that hold a text ({start, end}, or None): the customer should know both;
    `reminders.needs_consent` when reminders are on (set by a site) but no text may go out without consent."""
    left = traits.get("unsubscribed_topics")
    left = left if isinstance(left, list) else []
    kept = set(values(posted, "keep")) if posted is not None else {t for t in workspace.settings.topics if t not in left}
    on = bool(first(posted, "sms_reminders")) if posted is not None else traits.get("sms_reminders") is True
    time = first(posted, "reminder_time") if posted is not None else _shown_time(traits.get("reminder_time"))
    days = values(posted, "reminder_days") if posted is not None else _shown_days(traits.get("reminder_days"))
    phone = policies.address_of(traits, Channel.SMS)
    quiet = workspace.settings.quiet_hours
    return {
        **base(workspace, traits, channel),
        "subscribed": traits.get(f"{channel}_subscribed"),
        "topics": [{"name": t, "label": t.replace("_", " ").capitalize(), "kept": t in kept}
                   for t in workspace.settings.topics],
        "reminders": {"offered": reminders_offered(workspace, traits), "on": on,
                      "pending": traits.get("sms_reminders_requested") is True and not on,
                      "needs_consent": on and posted is None and needs_sms_consent(workspace, traits),
                      "time": time, "phone": mask(phone, "sms"),
                      "typed_phone": first(posted, "phone") if posted is not None else "",
                      "zone": customer_zone(traits.get("timezone"), workspace.settings.timezone).key,
                      "quiet": quiet and {"start": f"{quiet.start:%H:%M}", "end": f"{quiet.end:%H:%M}"}},
        "days": [{"value": d, "label": DAY_NAMES[d], "checked": d in days} for d in DAYS],
        "errors": dict(errors or {}),
    }
