"""The workspace's customer-facing pages (`templates/pages/`): checked when the workspace loads.

They are not message templates: they extend `layout.html` of their own folder and see the page's
names (brand, address, topics...), so they are compiled apart; the API renders them.
"""

from __future__ import annotations

import re
from typing import Mapping

from jinja2 import TemplateSyntaxError, meta, nodes

from rules.expressions import did_you_mean, make_environment
from rules.problems import Problem, Severity

FOLDER = "pages/"  # under templates/
_LOCALIZED = re.compile(r"^(?P<page>[a-z_]+)\.(?P<locale>[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.html$")
NAMES = ("layout.html", "preferences.html", "unsubscribed.html", "resubscribed.html", "saved.html",
         "confirm.html", "confirmed.html", "error.html")

# what the API gives pages (connectors/api/pages/view.py and the routes): anything else prints nothing
PAGE_NAMES = ("brand", "postal_address", "settings", "channel", "channel_name", "address", "first_name", "locale",
              "lang", "title", "message", "preferences_url", "subscribed", "topics", "reminders", "days", "errors",
              "form_token", "pending")


def page_of(name: str) -> str:
    """The page a file is, for a customer's language or not: `preferences.fr.html` is `preferences.html`."""
    found = _LOCALIZED.match(name)
    return f"{found['page']}.html" if found else name


def localized(name: str, locale: str | None, available: Mapping[str, str]) -> str:
    """The file to show for `name` to a customer with `locale` (exact tag, then its language, as for messages)."""
    if locale:
        tag = locale.replace("_", "-")
        for candidate in (tag, tag.split("-")[0]):
            for file in available:
                if file.lower() == f"{name[:-5]}.{candidate}.html".lower():
                    return file
    return name


def split_pages(files: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Message templates, then pages by file name."""
    messages = {path: text for path, text in files.items() if not path.startswith(FOLDER)}
    pages = {path[len(FOLDER):]: text for path, text in files.items() if path.startswith(FOLDER)}
    return messages, pages


def page_problems(pages: Mapping[str, str]) -> list[Problem]:
    """A syntax error is an error; a file that is no page and that no page includes (a typo in its name) is a
    warning: it would never show."""
    env = make_environment(autoescape=True)
    problems = []
    for name, text in sorted(pages.items()):
        where = f"templates/{FOLDER}{name}"
        included = any(name in other for other_name, other in pages.items() if other_name != name)
        if page_of(name) not in NAMES and not included:
            problems.append(Problem(where, 1, 1, f"not a page Nudge shows{did_you_mean(name, NAMES)}; pages are "
                                                 + ", ".join(NAMES), Severity.WARNING))
            continue
        try:
            tree = env.parse(text)
        except TemplateSyntaxError as exc:
            problems.append(Problem(where, exc.lineno, 1, exc.message or "invalid template"))
            continue
        problems.extend(_unknown_names(tree, where, set(env.globals)))
    return problems


def _unknown_names(tree: nodes.Template, where: str, known: set[str]) -> list[Problem]:
    """Pages are not strict (an unsubscribe page must render): a misspelt name would print as nothing."""
    unknown = meta.find_undeclared_variables(tree) - known - set(PAGE_NAMES)
    first: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in unknown:
            first.setdefault(node.name, node.lineno)
    return [Problem(where, line, 1, f"'{name}' is not a name pages see{did_you_mean(name, PAGE_NAMES)}, so it "
                                    "prints nothing; pages see " + ", ".join(PAGE_NAMES), Severity.WARNING)
            for name, line in sorted(first.items(), key=lambda item: item[1])]
