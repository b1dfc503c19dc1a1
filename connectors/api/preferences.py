"""Pages behind signed tokens: unsubscribe and the preference centre, consent confirmation, tracked links.

GET shows a page (mail scanners prefetch GET links, so a GET never changes anything); POST is
the RFC 8058 one-click endpoint and the target of the pages' forms. Unsubscribing needs only the
signed link; any other change (resubscribe, preferences) also needs the form token of a page we
served and a same-site request. Every change is an event through the runtime's ingestion, so
journeys see it as they see any event. Pages are the workspace's (`templates/pages/`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from connectors.api.deps import Deps, now_rfc3339
from connectors.api.pages import forms, view
from connectors.api.pages.render import Pages
from engine import policies
from engine.confirmation import SUBSCRIPTION_REQUESTED
from engine.model import Channel, Workspace
from engine.runtimes.embedded import queries
from engine.state import ANON

SOURCE = "preference centre"
HEADERS = {  # the token is in the URL: never sent on as a referrer, the page never framed
    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline' https:; img-src https: data:; "
                               "font-src https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_INVALID = "The link may have been altered or cut short. Use the link from your latest message."


def _who(key: str) -> dict[str, str]:
    return {"anonymous_id": key[len(ANON):]} if key.startswith(ANON) else {"customer_id": key}


def _same_site(request: Request) -> bool:
    """A browser names where a form was posted from; a post made by another site is refused. Our pages send
    no referrer, so a browser posts their forms with `Origin: null`: Sec-Fetch-Site decides where it is sent."""
    if (site := request.headers.get("sec-fetch-site")) is not None:
        return site in ("same-origin", "same-site", "none")
    origin = request.headers.get("origin")
    return origin in (None, "null") or urlsplit(origin).netloc == request.headers.get("host", "")


class PageRoutes:
    """The routes' shared work: the workspace's pages, the profile read, events submitted."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._pages: tuple[Workspace, Pages] | None = None

    @property
    def workspace(self) -> Workspace:
        return self.deps.runtime.workspace

    def page(self, name: str, context: Mapping[str, Any], status: int = 200) -> HTMLResponse:
        workspace = self.workspace
        if self._pages is None or self._pages[0] is not workspace:  # a reload brings the edited pages
            self._pages = (workspace, Pages(Path(workspace.root)))
        return HTMLResponse(self._pages[1].render(name, context), status_code=status, headers=HEADERS)

    def error(self, status: int, title: str, message: str, traits: Mapping[str, Any] | None = None,
              channel: str = "email", **extra: Any) -> HTMLResponse:
        context = {**view.base(self.workspace, traits or {}, channel), "title": title, "message": message, **extra}
        return self.page("error.html", context, status)

    async def traits(self, key: str) -> dict[str, Any]:
        """The profile as last processed (empty for a customer not known, or erased)."""
        found = await self.deps.on_db(queries.customer_view, key)
        return dict(found["traits"]) if found else {}

    async def submit(self, key: str, *events: dict[str, Any]) -> None:
        base = {**_who(key), "timestamp": now_rfc3339()}
        await self.deps.submit([{**base, "id": f"page_{uuid.uuid4().hex}", **e} for e in events])

    def token(self, key: str, channel: str) -> str:
        return forms.issue_token(self.deps.runtime.links, key, channel, self.deps.runtime.clock())

    def preferences(self, key: str, channel: str, traits: Mapping[str, Any], status: int = 200,
                    posted: forms.Form | None = None, errors: Mapping[str, str] | None = None) -> HTMLResponse:
        context = view.preferences(self.workspace, traits, channel, posted, errors)
        return self.page("preferences.html", {**context, "form_token": self.token(key, channel)}, status)

    async def save(self, key: str, channel: str, traits: Mapping[str, Any], form: forms.Form) -> HTMLResponse:
        """Topics as (un)subscribe events, reminders and a typed number as traits; texts turned on without
        consent ask for it (a confirmation link by SMS) and count only once confirmed."""
        settings = self.workspace.settings
        phone = policies.address_of(traits, Channel.SMS)
        choice = forms.read_choice(form, settings.topics, phone is not None)
        if choice.errors:
            return self.preferences(key, channel, traits, 422, form, choice.errors)
        left = traits.get("unsubscribed_topics") or []
        events: list[dict[str, Any]] = [
            {"type": "subscribed" if topic in choice.kept else "unsubscribed",
             "properties": {"channel": channel, "topic": topic, "source": SOURCE}}
            for topic in settings.topics if (topic in choice.kept) == (topic in left)]  # only what changed
        new: dict[str, Any] = {"phone": choice.phone} if choice.phone and choice.phone != phone else {}
        pending = None
        if (reminders := choice.reminders) is not None:
            new |= {"reminder_days": list(reminders.days), "sms_reminders_requested": None}
            if reminders.time:
                new["reminder_time"] = reminders.time
            if not reminders.on:
                new["sms_reminders"] = False
            elif view.needs_sms_consent(self.workspace, traits):  # off until consent turns them on (engine)
                new |= {"sms_reminders": False, "sms_reminders_requested": True}
                pending = view.mask(choice.phone or phone, "sms")
            else:
                new["sms_reminders"] = True
        if new:
            events.insert(0, {"type": "identify", "traits": new, "properties": {"source": SOURCE}})
        if pending:  # after the identify event, which may bring the number
            events.append({"type": SUBSCRIPTION_REQUESTED, "properties": {"channel": "sms", "source": SOURCE}})
        if events:
            await self.submit(key, *events)
        context = {**view.base(self.workspace, {**traits, **new}, channel), "pending": pending}
        return self.page("saved.html", context)

    def confirm_fields(self, token: str) -> tuple[str, str, str | None] | None:
        """(customer, channel, address) of a confirmation link; links made before addresses were signed have none."""
        links = self.deps.runtime.links
        fields = links.open("confirm", token, 3) or links.open("confirm", token, 2)
        if fields is None:
            return None
        return fields[0], fields[1], fields[2] if len(fields) == 3 else None

    def expired(self, key: str, channel: str, traits: Mapping[str, Any]) -> HTMLResponse:
        preferences_url = self.deps.runtime.links.unsubscribe_url(key, "email")
        return self.error(410, "This link has expired",
                          "It was sent to an address you have since changed. Ask again from your preferences.",
                          traits, channel, preferences_url=preferences_url)


def preference_routes(deps: Deps) -> APIRouter:
    router = APIRouter(tags=["unsubscribe"])
    pages = PageRoutes(deps)

    @router.get("/u/{token}", response_class=HTMLResponse, summary="Preference centre: unsubscribe, topics, reminders")
    async def show(token: str) -> HTMLResponse:
        found = deps.runtime.links.verify(token)
        if found is None:
            return pages.error(403, "This link is not valid", _INVALID)
        key, channel = found
        return pages.preferences(key, channel, await pages.traits(key))

    @router.post("/u/{token}", response_class=HTMLResponse,
                 summary="One-click unsubscribe (RFC 8058); the page's resubscribe and preferences forms")
    async def act(token: str, request: Request) -> HTMLResponse:
        found = deps.runtime.links.verify(token)
        if found is None:
            return pages.error(403, "This link is not valid", "Nothing was changed. " + _INVALID)
        key, channel = found
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        action = forms.first(form, "action") or ("save" if forms.first(form, "preferences") else "unsubscribe")
        traits = await pages.traits(key)
        if action == "unsubscribe":  # needs nothing but the link: RFC 8058, and the safe direction
            one_click = forms.first(form, "List-Unsubscribe") == "One-Click"
            await pages.submit(key, {"type": "unsubscribed", "properties": {
                "channel": channel, "source": "one-click" if one_click else "unsubscribe page"}})
            context = {**view.base(pages.workspace, traits, channel), "form_token": pages.token(key, channel)}
            return pages.page("unsubscribed.html", context)
        problem = forms.token_problem(deps.runtime.links, forms.first(form, "form_token"), key, channel,
                                      deps.runtime.clock())
        if problem == "expired":
            return pages.preferences(key, channel, traits, 422, form, {
                "form": "This page was open for a long time: check your choices and save again."})
        if problem or not _same_site(request):
            return pages.error(403, "This form is not valid", "Nothing was changed. Open the link from your "
                               "latest message and try again.", traits, channel)
        if action == "resubscribe":
            await pages.submit(key, {"type": "subscribed", "properties": {"channel": channel,
                                                                          "source": "resubscribe page"}})
            return pages.page("resubscribed.html", view.base(pages.workspace, traits, channel))
        return await pages.save(key, channel, traits, form)

    @router.get("/confirm/{token}", response_class=HTMLResponse, summary="Double opt-in: confirmation page")
    async def confirm_page(token: str) -> HTMLResponse:
        if (fields := pages.confirm_fields(token)) is None:
            return pages.error(403, "This link is not valid", "Nothing was changed. " + _INVALID)
        key, channel, address = fields
        traits = await pages.traits(key)
        if address is not None and policies.address_of(traits, Channel(channel)) != address:
            return pages.expired(key, channel, traits)
        return pages.page("confirm.html", view.base(pages.workspace, traits, channel))

    @router.post("/confirm/{token}", response_class=HTMLResponse, summary="Double opt-in: record consent")
    async def confirm(token: str, request: Request) -> HTMLResponse:
        if (fields := pages.confirm_fields(token)) is None or not _same_site(request):
            return pages.error(403, "This link is not valid", "Nothing was changed. " + _INVALID)
        key, channel, address = fields
        traits = await pages.traits(key)
        if address is not None and policies.address_of(traits, Channel(channel)) != address:
            return pages.expired(key, channel, traits)
        reminders = channel == "sms" and traits.get("sms_reminders_requested") is True  # the engine starts them
        await pages.submit(key, {"type": "subscribed", "properties": {"channel": channel, "source": "double opt-in link"}})
        return pages.page("confirmed.html", {**view.base(pages.workspace, traits, channel), "reminders": reminders})

    @router.get("/c/{token}", summary="Tracked link: records the click, then redirects")
    async def click(token: str) -> Response:
        fields = deps.runtime.links.open("click", token, 6)
        if fields is None:
            return pages.error(404, "This link is not valid", "The link may have been altered.")
        key, channel, message_id, journey, step, url = fields
        await deps.submit([{**_who(key), "id": f"click_{uuid.uuid4().hex}", "type": f"{channel}_clicked",
                            "timestamp": now_rfc3339(), "properties": {
                                "url": url, "message_id": message_id, "journey": journey, "step": step,
                                "source": "link tracking"}}])
        return RedirectResponse(url, status_code=302)

    return router
