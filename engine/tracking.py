"""Link tracking: links in a message rewritten to signed redirects, with UTM parameters added."""

from __future__ import annotations

import re
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.I)
_BARE = re.compile(r"""https?://[^\s<>"')\]]+""")


def with_utm(url: str, channel: str, journey: str, step: str) -> str:
    """utm_source=nudge, medium the channel, campaign the journey, content the step; kept if already set."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in (("utm_source", "nudge"), ("utm_medium", channel), ("utm_campaign", journey), ("utm_content", step)):
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def rewrite_html(html: str, track: Callable[[str], str], keep: Callable[[str], bool]) -> str:
    return _HREF.sub(lambda m: m[0] if keep(m[3]) else f"{m[1]}{m[2]}{track(m[3])}{m[2]}", html)


def rewrite_text(text: str, track: Callable[[str], str], keep: Callable[[str], bool]) -> str:
    return _BARE.sub(lambda m: m[0] if keep(m[0]) else track(m[0]), text)
