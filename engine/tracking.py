"""Link tracking: links a template's author wrote, rewritten to signed redirects with UTM added.

Only a link whose scheme and host are written in the template's source is wrapped: a URL that
came from traits or event data (`{{ profile.first_name }}` holding `https://evil.example`) is
sent as it is, never turned into a redirect signed by our domain. `{{ base }}/path` is wrapped
only when `base`'s scheme and host also appear literally in the source.
"""

from __future__ import annotations

import html
import re
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_HREF = re.compile(r"""(href\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.I)
_BARE = re.compile(r"""https?://[^\s<>"')\]]+""")
_WRITTEN = re.compile(r"""https?://[^\s"'<>{}/?#\\]+""", re.I)
_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


def origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-cased; None for any other URL."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def written_origins(source: str) -> frozenset[str]:
    """The origins of the URLs written in a template's source (text or string literals)."""
    return frozenset(o for match in _WRITTEN.finditer(source) if (o := origin(match[0])) is not None)


def with_utm(url: str, channel: str, journey: str, step: str) -> str:
    """utm_source=nudge, medium the channel, campaign the journey, content the step, appended
    unless already set; the URL's own query is kept byte for byte (repeated keys, order, encoding)."""
    parts = urlsplit(url)
    present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = urlencode([(k, v) for k, v in zip(_UTM, ("nudge", channel, journey, step)) if k not in present])
    query = "&".join(q for q in (parts.query, added) if q)
    return urlunsplit(parts._replace(query=query))


def rewrite_html(body: str, track: Callable[[str], str], wrap: Callable[[str], bool]) -> str:
    """Each `href` that `wrap` accepts becomes `track(url)`, where url is the one the HTML means
    (entities such as `&amp;` decoded once)."""

    def rewrite(match: re.Match[str]) -> str:
        quote, raw = ('"', match[2]) if match[2] is not None else ("'", match[3])
        url = html.unescape(raw).strip()
        if origin(url) is None or not wrap(url):
            return match[0]
        return f"{match[1]}{quote}{html.escape(track(url))}{quote}"

    return _HREF.sub(rewrite, body)


def rewrite_text(text: str, track: Callable[[str], str], wrap: Callable[[str], bool]) -> str:
    return _BARE.sub(lambda m: track(m[0]) if wrap(m[0]) else m[0], text)
