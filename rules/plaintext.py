"""A readable plain-text part derived from an email's HTML (stdlib parser, no new dependency)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
                     "blockquote", "section", "article", "header", "footer", "hr", "center", "pre"})
_SKIP = frozenset({"head", "style", "script", "title", "template"})
_HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.I)
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0           # depth inside head/style/script or hidden elements
        self.stack: list[tuple[str, bool]] = []
        self.links: list[tuple[str | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        hidden = tag in _SKIP or bool(_HIDDEN.search(a.get("style") or "")) or "hidden" in a
        if tag not in _VOID:
            self.stack.append((tag, hidden))
            if hidden:
                self.skip += 1
        if self.skip:
            return
        if tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.out.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr") else "\n")
            if tag == "li":
                self.out.append("- ")
        elif tag == "img" and a.get("alt"):
            self.out.append(a["alt"] or "")
        elif tag == "a":
            self.links.append((a.get("href"), len(self.out)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self.stack:
            open_tag, hidden = self.stack.pop()
            if hidden:
                self.skip -= 1
            if open_tag == tag:
                break
        if self.skip:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = " ".join("".join(self.out[start:]).split())
            if href and not href.startswith(("#", "mailto:", "tel:")) and href != label:
                self.out.append(f" ({href})" if label else href)
        elif tag in _BLOCKS and tag != "li":
            self.out.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table") else "\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Blocks become lines, links `text (url)`, hidden preheaders and styles vanish."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out).replace("\u00a0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return result.strip()
