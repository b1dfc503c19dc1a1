"""A readable plain-text part derived from an email's HTML.

Regular expressions rather than an HTML parser: every marketing email is converted, and
the stdlib parser made this the most expensive step of a send. Email HTML is machine-made
from our own templates, so the forms below cover it.

Patterns that run over the whole email start with a literal where they can (`<`, two
spaces, a newline): the regex engine then skips ahead with a fast string search instead of
trying a match at every character, which made whitespace and line passes the costliest.
"""

from __future__ import annotations

import html
import re

_FLAGS = re.I | re.S
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_INVISIBLE = re.compile(r"<(head|style|script|title|template)\b[^>]*>.*?</\1\s*>", _FLAGS)
# display:none only: mso-hide:all hides from Outlook alone, and bulletproof buttons carry it.
_HIDDEN = re.compile(
    r"<(\w+)\b[^>]*\sstyle\s*=\s*(?:\"[^\"]*display\s*:\s*none[^\"]*\"|'[^']*display\s*:\s*none[^']*')"
    r"[^>]*>", re.I)
# Every `_HIDDEN` match holds a match of this in lower case (none of these letters has a
# non-ASCII case variant), so a miss in the lower-cased rest of the email rules out any
# further hidden element, cheaply: `_HIDDEN` is slow to fail across a whole email.
_HIDDEN_HINT = re.compile(r"play\s*:\s*none")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"})
_SPACES = re.compile("  +")
_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", _FLAGS)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_CHARREF = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")
_IMG = re.compile(r"<img\b[^>]*?\salt\s*=\s*(?:\"([^\"]*)\"|'([^']*)')[^>]*>", re.I)
_BR = re.compile(r"<br\b[^>]*>", re.I)
_LI = re.compile(r"<li\b[^>]*>", re.I)
_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_PARAGRAPH = re.compile(r"</?(?:p|h[1-6]|table|hr)\b[^>]*>", re.I)
_BLOCK = re.compile(r"</?(?:div|tr|ul|ol|blockquote|section|article|header|footer|center|pre)\b[^>]*>", re.I)
# A block edge asks for a line break, a paragraph edge for a blank line; runs of them merge.
_LINE, _PARAGRAPH_BREAK = "\x00", "\x01"
_EDGES = re.compile(r"[\x00\x01][\x00\x01 \n]*")
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>")  # "a < b" in text is not a tag
_BLANKS = re.compile("\n\n\n+")


def _element_end(source: str, opening: re.Match[str]) -> int:
    """Where the element opened by `opening` closes, counting nested tags of the same name."""
    tag = opening[1].lower()
    if tag in _VOID or opening[0].endswith("/>"):
        return opening.end()
    depth = 1
    for match in re.compile(rf"<(/?){tag}\b[^>]*?(/?)>", re.I).finditer(source, opening.end()):
        if match[2]:
            continue
        depth += -1 if match[1] else 1
        if depth == 0:
            return match.end()
    # Unclosed: drop the tag alone, rather than lose the rest of the email.
    return opening.end()


def _drop_hidden(source: str) -> str:
    """Hidden preheaders and mobile-only copies would read as stray text in the plain part."""
    kept: list[str] = []
    position = 0
    while _HIDDEN_HINT.search(source[position:].lower()) and (opening := _HIDDEN.search(source, position)):
        kept.append(source[position:opening.start()])
        position = _element_end(source, opening)
    kept.append(source[position:])
    return "".join(kept)


def _attribute(value: str) -> str:
    """Only `;`-terminated references: browsers keep `&region=eu` in a URL as written."""
    return _CHARREF.sub(lambda match: html.unescape(match[0]), value)


def _link(match: re.Match[str]) -> str:
    href_match = _HREF.search(match[1])
    label = " ".join(_TAG.sub("", match[2]).split())
    href = _attribute(next((g for g in href_match.groups() if g is not None), "")) if href_match else ""
    if not href or href.startswith(("#", "mailto:", "tel:")) or html.unescape(label) == href:
        return label or html.escape(href, quote=False)
    # Escaped again because the whole text is unescaped once at the end.
    escaped = html.escape(href, quote=False)
    return f"{label} ({escaped})" if label else escaped


def _collapse_space(text: str) -> str:
    """Each run of HTML white space becomes one space (source line breaks are indentation, not text)."""
    for char in "\t\r\n\f":
        text = text.replace(char, " ")
    return _SPACES.sub(" ", text)


def _break_edges(text: str) -> str:
    """Each run of edge marks, with the spaces and line breaks around it, becomes its line break."""
    kept: list[str] = []
    position = 0
    for edges in _EDGES.finditer(text):
        # The previous run took the white space after it, so this strips only what precedes the run.
        kept.append(text[position:edges.start()].rstrip(" \n"))
        kept.append("\n\n" if _PARAGRAPH_BREAK in edges[0] else "\n")
        position = edges.end()
    kept.append(text[position:])
    return "".join(kept)


def html_to_text(source: str) -> str:
    """Blocks become lines, links `text (url)`, lists `- item`; hidden preheaders and styles vanish."""
    text = source.replace(_LINE, "").replace(_PARAGRAPH_BREAK, "")
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _drop_hidden(text)
    text = _collapse_space(text)
    text = _IMG.sub(lambda m: m[1] if m[1] is not None else m[2], text)
    text = _LINK.sub(_link, text)
    text = _BR.sub("\n", text)
    text = _LI.sub(_LINE + "- ", text)
    text = _CELL_END.sub(" ", text)
    text = _PARAGRAPH.sub(_PARAGRAPH_BREAK, text)
    text = _BLOCK.sub(_LINE, text)
    text = _break_edges(_TAG.sub("", text))
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
