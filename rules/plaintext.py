"""A readable plain-text part derived from an email's HTML.

Regular expressions rather than an HTML parser: every marketing email is converted, and
the stdlib parser made this the most expensive step of a send. Email HTML is machine-made
from our own templates, so the forms below cover it.
"""

from __future__ import annotations

import html
import re

_FLAGS = re.I | re.S
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_INVISIBLE = re.compile(r"<(head|style|script|title|template)\b[^>]*>.*?</\1\s*>", _FLAGS)
_HIDDEN = re.compile(
    r"<(\w+)\b[^>]*style\s*=\s*(?:\"[^\"]*(?:display\s*:\s*none|mso-hide\s*:\s*all)[^\"]*\""
    r"|'[^']*(?:display\s*:\s*none|mso-hide\s*:\s*all)[^']*')[^>]*>.*?</\1\s*>", _FLAGS)
_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", _FLAGS)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_IMG = re.compile(r"<img\b[^>]*?\balt\s*=\s*(?:\"([^\"]*)\"|'([^']*)')[^>]*>", re.I)
_BR = re.compile(r"<br\b[^>]*>", re.I)
_LI = re.compile(r"<li\b[^>]*>", re.I)
_PARAGRAPH = re.compile(r"</?(?:p|h[1-6]|table|hr)\b[^>]*>", re.I)
_BLOCK = re.compile(r"</?(?:div|tr|ul|ol|blockquote|section|article|header|footer|center|pre)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_BLANKS = re.compile(r"\n{3,}")


def _link(match: re.Match[str]) -> str:
    href_match = _HREF.search(match[1])
    label = " ".join(_TAG.sub("", match[2]).split())
    href = html.unescape(next((g for g in href_match.groups() if g is not None), "")) if href_match else ""
    if not href or href.startswith(("#", "mailto:", "tel:")) or html.unescape(label) == href:
        return label or href
    return f"{label} ({href})" if label else href


def html_to_text(source: str) -> str:
    """Blocks become lines, links `text (url)`, lists `- item`; hidden preheaders and styles vanish."""
    text = _COMMENT.sub("", source)
    text = _INVISIBLE.sub("", text)
    text = _HIDDEN.sub("", text)
    text = _LINK.sub(_link, text)
    text = _IMG.sub(lambda m: m[1] if m[1] is not None else m[2], text)
    text = _BR.sub("\n", text)
    text = _LI.sub("\n- ", text)
    text = _PARAGRAPH.sub("\n\n", text)
    text = _BLOCK.sub("\n", text)
    text = html.unescape(_TAG.sub("", text)).replace("\u00a0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
