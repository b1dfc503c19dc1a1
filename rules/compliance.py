"""The footer every marketing email must carry (SPEC §5, CAN-SPAM, RFC 8058 senders' rules): the
unsubscribe link and the sender's postal address. A template that shows neither (one written without
the layout) gets them added at the end, so no marketing email goes out without them."""

from __future__ import annotations

import re
from html import escape
from typing import Any, Mapping

from engine.model import Channel, Send, Workspace

_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def postal_address(context: Mapping[str, Any]) -> str:
    settings = context.get("settings") or {}
    sender = settings.get("sender") if isinstance(settings, Mapping) else None
    address = sender.get("postal_address") if isinstance(sender, Mapping) else None
    return address if isinstance(address, str) else ""


def missing(html: str, unsubscribe_url: str, address: str) -> tuple[bool, bool]:
    """Whether the link and the address are absent from the HTML (as written, or HTML-escaped)."""
    def shows(text: str) -> bool:
        return not text or text in html or escape(text) in html or escape(text, quote=False) in html
    return not shows(unsubscribe_url), not shows(address)


def add_footer(html: str, text: str | None, unsubscribe_url: str, address: str) -> tuple[str, str | None]:
    """The HTML (and a written plain-text part) with what is missing of the footer added."""
    no_link, no_address = missing(html, unsubscribe_url, address)
    if not (no_link or no_address):
        return html, text
    parts_html = [escape(address)] if no_address else []
    parts_text = [address] if no_address else []
    if no_link:
        parts_html.append(f'<a href="{escape(unsubscribe_url)}">Unsubscribe</a>')
        parts_text.append(f"Unsubscribe: {unsubscribe_url}")
    footer = ('<p style="font-size:12px;line-height:1.5;color:#777777;margin:24px 0 0;">'
              + "<br>".join(parts_html) + "</p>")
    ends = list(_BODY_END.finditer(html))
    html = html[:ends[-1].start()] + footer + html[ends[-1].start():] if ends else html + footer
    if text is not None:
        text = text + "\n\n" + "\n".join(parts_text)
    return html, text


def unaddressed_marketing(workspace: Workspace) -> str | None:
    """A journey and step sending marketing email while no postal address is set; None when fine."""
    if workspace.settings.sender.get("postal_address"):
        return None
    for journey in workspace.journeys:
        for ins in journey.program:
            if isinstance(ins.action, Send) and ins.action.channel is Channel.EMAIL and not ins.action.transactional:
                return f"journey '{journey.id}' step '{ins.step_id}'"
    return None
