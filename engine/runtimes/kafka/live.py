"""The workspace a worker runs, reloaded when its files change; an invalid edit is refused.

The version is a hash of the files' contents, so every worker that has the same files agrees
on it whatever the files' times. Each customer record carries the version its instances were
last placed for; an input for a record of another version first moves its instances to their
steps' new places (or exits them `step_removed`), as `nudge run` does at reload.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.model import Workspace
from engine.runtimes.kernel.serving import content_version, read_edit
from rules.workspace import fingerprint, load_workspace

log = logging.getLogger("nudge.worker")


class LiveWorkspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.workspace: Workspace = load_workspace(root).workspace
        self.version = content_version(root)
        self._seen = fingerprint(root)

    def poll(self) -> bool:
        """Reload if a file changed; True when a new valid version is now running."""
        found = self.edited()
        if found is not None:
            self.adopt(*found)
        return found is not None

    def edited(self) -> tuple[Workspace, str] | None:
        """A new valid version on disk, compiled (slow: run it off the event loop), or None."""
        current = fingerprint(self.root)
        if current == self._seen:
            return None
        self._seen = current
        workspace = read_edit(self.root)
        if isinstance(workspace, list):  # refused
            return None
        version = content_version(self.root)
        return None if version == self.version else (workspace, version)

    def adopt(self, workspace: Workspace, version: str) -> None:
        """Switch on the event loop, so no batch ever sees one version's journeys with another's name."""
        self.workspace, self.version = workspace, version
        log.warning("reloaded the workspace: version %s, %d journeys", version, len(workspace.journeys))
