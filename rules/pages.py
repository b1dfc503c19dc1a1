"""The workspace's customer-facing pages (`templates/pages/`): checked when the workspace loads.

They are not message templates: they extend `layout.html` of their own folder and see the page's
names (brand, address, topics...), so they are compiled apart; the API renders them.
"""

from __future__ import annotations

from typing import Mapping

from jinja2 import TemplateSyntaxError

from rules.expressions import did_you_mean, make_environment
from rules.problems import Problem, Severity

FOLDER = "pages/"  # under templates/
NAMES = ("layout.html", "preferences.html", "unsubscribed.html", "resubscribed.html", "saved.html",
         "confirm.html", "confirmed.html", "error.html")


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
        if name not in NAMES and not included:
            problems.append(Problem(where, 1, 1, f"not a page Nudge shows{did_you_mean(name, NAMES)}; pages are "
                                                 + ", ".join(NAMES), Severity.WARNING))
            continue
        try:
            env.parse(text)
        except TemplateSyntaxError as exc:
            problems.append(Problem(where, exc.lineno, 1, exc.message or "invalid template"))
    return problems
