"""Pages behind signed tokens: unsubscribe and preferences, consent confirmation, tracked links.

GET shows a page to confirm or choose topics (mail scanners prefetch GET links, so a GET
never unsubscribes); POST is the RFC 8058 one-click endpoint and the form's target.
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from connectors.api.deps import Deps, now_rfc3339
from engine.state import ANON

_PAGE = Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>body{font-family:Helvetica,Arial,sans-serif;background:#f4f1ea;color:#2b2b2b;margin:0}
main{max-width:480px;margin:48px auto;background:#fff;border-radius:8px;padding:32px}
h1{font-family:Georgia,serif;font-weight:normal}button{background:#2f4a3a;color:#fff;border:0;border-radius:6px;
padding:12px 20px;font-size:16px;cursor:pointer}label{display:block;margin:8px 0}.muted{color:#7a7468;font-size:14px}</style>
</head><body><main>
<h1>{{ title }}</h1>
{% if state == "ask" %}
  <p>Do you want to stop receiving {{ channel_name }} from {{ sender }}?</p>
  <form method="post"><input type="hidden" name="all" value="1">
    <button type="submit" id="unsubscribe">Unsubscribe from all {{ channel_name }}</button></form>
  {% if topics %}
  <form method="post"><p class="muted">Or keep only what you want:</p>
    {% for t in topics %}<label><input type="checkbox" name="keep" value="{{ t }}" checked> {{ t | replace("_", " ") | capitalize }}</label>{% endfor %}
    <input type="hidden" name="preferences" value="1"><button type="submit" id="save">Save my preferences</button></form>
  {% endif %}
{% elif state == "confirm" %}
  <p>Please confirm that you want to hear from {{ sender }}.</p>
  <form method="post"><button type="submit" id="confirm">Yes, subscribe me</button></form>
{% elif state == "done" %}
  <p id="done">{{ message }}</p>
{% else %}
  <p>{{ message }}</p>
{% endif %}
<p class="muted">{{ postal_address }}</p>
</main></body></html>""")


def _who(key: str) -> dict[str, str]:
    return {"anonymous_id": key[len(ANON):]} if key.startswith(ANON) else {"customer_id": key}


def preference_routes(deps: Deps) -> APIRouter:
    router = APIRouter(tags=["unsubscribe"])

    def page(status: int = 200, **values: Any) -> HTMLResponse:
        settings = deps.runtime.workspace.settings
        name, address = parseaddr(settings.sender.get("email", ""))
        context = {"sender": name or address or "us", "postal_address": settings.sender.get("postal_address", ""),
                   "topics": settings.topics, **values}
        return HTMLResponse(_PAGE.render(**context), status_code=status)

    def verify(token: str) -> tuple[str, str] | None:
        return deps.runtime.links.verify(token)

    @router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe page: confirm or choose topics")
    async def show(token: str) -> HTMLResponse:
        found = verify(token)
        if found is None:
            return page(403, title="This link is not valid", state="error",
                        message="The link may have been altered. Use the link from your latest email.")
        return page(title="Email preferences", state="ask", channel_name="emails" if found[1] == "email" else "texts")

    @router.post("/u/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058) and preferences")
    async def act(token: str, request: Request) -> HTMLResponse:
        found = verify(token)
        if found is None:
            return page(403, title="This link is not valid", state="error", message="Nothing was changed.")
        key, channel = found
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        fields = dict(form)
        base = {**_who(key), "timestamp": now_rfc3339()}
        events: list[dict[str, Any]] = []
        if "preferences" in fields:
            keep = {v for k, v in form if k == "keep"}
            for topic in deps.runtime.workspace.settings.topics:
                kind = "subscribed" if topic in keep else "unsubscribed"
                events.append({**base, "id": f"pref_{uuid.uuid4().hex}", "type": kind,
                               "properties": {"channel": channel, "topic": topic, "source": "preferences page"}})
            message = "Your preferences are saved."
        else:  # the one-click POST (List-Unsubscribe=One-Click) or the page's button
            source = "one-click" if fields.get("List-Unsubscribe") == "One-Click" else "unsubscribe page"
            events.append({**base, "id": f"unsub_{uuid.uuid4().hex}", "type": "unsubscribed",
                           "properties": {"channel": channel, "source": source}})
            message = "You are unsubscribed. You will not get these messages any more."
        await deps.submit(events)
        return page(title="Done", state="done", message=message)

    @router.get("/confirm/{token}", response_class=HTMLResponse, summary="Double opt-in: confirmation page")
    async def confirm_page(token: str) -> HTMLResponse:
        if deps.runtime.links.open("confirm", token, 2) is None:
            return page(403, title="This link is not valid", state="error", message="Nothing was changed.")
        return page(title="Confirm your subscription", state="confirm")

    @router.post("/confirm/{token}", response_class=HTMLResponse, summary="Double opt-in: record consent")
    async def confirm(token: str) -> HTMLResponse:
        fields = deps.runtime.links.open("confirm", token, 2)
        if fields is None:
            return page(403, title="This link is not valid", state="error", message="Nothing was changed.")
        key, channel = fields
        await deps.submit([{**_who(key), "id": f"confirm_{uuid.uuid4().hex}", "type": "subscribed",
                            "timestamp": now_rfc3339(), "properties": {"channel": channel, "source": "double opt-in link"}}])
        return page(title="Thank you", state="done", message="Your subscription is confirmed.")

    @router.get("/c/{token}", summary="Tracked link: records the click, then redirects")
    async def click(token: str) -> Response:
        fields = deps.runtime.links.open("click", token, 6)
        if fields is None:
            return page(404, title="This link is not valid", state="error", message="The link may have been altered.")
        key, channel, message_id, journey, step, url = fields
        await deps.submit([{**_who(key), "id": f"click_{uuid.uuid4().hex}", "type": f"{channel}_clicked",
                            "timestamp": now_rfc3339(), "properties": {
                                "url": url, "message_id": message_id, "journey": journey, "step": step,
                                "source": "link tracking"}}])
        return RedirectResponse(url, status_code=302)

    return router
