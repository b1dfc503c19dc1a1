"""Page templates of one workspace version: its own `templates/pages/`, else the defaults shipped here.

Pages are sandboxed and autoescaped like messages. A workspace page that is broken or unsafe is
logged and replaced by the default of that page (still inside the workspace's layout when that
one works): a customer who wants to unsubscribe must always get a working page.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from jinja2 import DictLoader, Environment

from rules.expressions import make_environment
from rules.pages import FOLDER as PAGES
from rules.pages import localized

log = logging.getLogger("nudge.pages")

FOLDER = Path("templates") / PAGES  # inside a workspace
PLAIN_LANGUAGE = "en"  # of pages without a locale in their name: the shipped defaults, the demo's


def language(name: str, chosen: str) -> str:
    """What `<html lang>` says: the locale of `NAME.<locale>.html` when that file was chosen, else the plain pages'."""
    if chosen == name:
        return PLAIN_LANGUAGE
    return chosen.removeprefix(name.removesuffix(".html") + ".").removesuffix(".html")


def _defaults() -> dict[str, str]:
    folder = resources.files("connectors.api.pages") / "templates"
    return {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(".html")}


def _environment(sources: Mapping[str, str]) -> Environment:
    """The sandbox messages render in (no mutation, no private attributes, bounded widths), autoescaped."""
    env = make_environment(autoescape=True)
    env.loader = DictLoader(dict(sources))
    return env


class Pages:
    """Read once per workspace version (as message templates are), so an edit applies with the workspace."""

    def __init__(self, root: Path) -> None:
        self.defaults = _defaults()
        folder = root / FOLDER
        self.own = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.html"))} if folder.is_dir() else {}
        self.chosen = _environment({**self.defaults, **self.own})

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """The workspace's page (in the customer's `locale` when it has one); else the default page in the
        workspace's layout; else the default entirely. Each sees `lang`, the language of the file shown."""
        locale = context.get("locale")
        chosen = localized(name, locale if isinstance(locale, str) else None, self.own)
        if chosen != name:
            try:
                return self.chosen.get_template(chosen).render({**context, "lang": language(name, chosen)})
            except Exception as exc:
                log.warning("page template %s/%s failed (%s: %s): the page in the default language is shown",
                            FOLDER, chosen, type(exc).__name__, exc)
        context = {**context, "lang": PLAIN_LANGUAGE}
        try:
            return self.chosen.get_template(name).render(context)
        except Exception as exc:  # the marketer's template: logged, never shown to the customer
            log.warning("page template %s/%s failed (%s: %s): the default page is shown",
                        FOLDER, name, type(exc).__name__, exc)
        if name in self.own:
            try:
                return _environment({**self.defaults, **self.own, name: self.defaults[name]}).get_template(name).render(context)
            except Exception as exc:
                log.warning("page template %s/layout.html failed (%s: %s)", FOLDER, type(exc).__name__, exc)
        return _environment(self.defaults).get_template(name).render(context)
