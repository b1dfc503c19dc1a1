"""The workspace versions a worker runs: one per partition of the events topic, switched by an apply.

A worker starts on the files it has on disk. `nudge apply` (through `nudge api --kafka`) puts an
`apply` envelope on every partition; each partition switches at that offset, so every input
before it runs the old version and every input after it the new one, on whichever worker owns
the partition (SPEC §10: never because a file changed). The version is a hash of the files'
contents: every worker must have the applied files on disk. Each customer record carries the
version its instances were last placed for; an input for a record of another version first
moves its instances (stay, move by `was:`, exit `step_removed`), as `nudge run` does at apply.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.migration import Edit
from engine.model import Workspace
from engine.runtimes.kernel.serving import content_version, read_edit
from rules.workspace import load_workspace

log = logging.getLogger("nudge.worker")


class LiveWorkspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.started = content_version(root)
        self.loaded: dict[str, Workspace] = {self.started: load_workspace(root).workspace}
        self._reschedule: dict[str, bool] = {}  # per version: whether its apply re-plans changed waits
        self._at: dict[int, str] = {}
        self.switched: list[tuple[int, str]] = []  # partitions switched since the worker last moved their customers

    def version(self, partition: int) -> str:
        return self._at.get(partition, self.started)

    def workspace(self, partition: int) -> Workspace:
        return self.loaded[self.version(partition)]

    def edit(self, placed_for: str | None, partition: int) -> Edit:
        """From the version a record was placed for (when this worker knows it) to its partition's."""
        to = self.version(partition)
        return Edit(self.loaded.get(placed_for or ""), self.loaded[to], self._reschedule.get(to, False))

    def switch(self, partition: int, version: str, reschedule: bool) -> bool:
        """At an apply's offset: `partition` runs `version` from here on (compiled from this worker's files,
        which must be that version; otherwise it keeps its version and says why)."""
        if version == self.version(partition):
            return False
        if version not in self.loaded:
            found = content_version(self.root)
            edit = read_edit(self.root) if found == version else None
            if not isinstance(edit, Workspace):
                log.error("partition %d cannot switch to the applied version %s: this worker's files in %s are "
                          "version %s%s; it keeps running version %s (give every worker the applied files, then "
                          "apply again)", partition, version, self.root, found,
                          " and have problems" if isinstance(edit, list) else "", self.version(partition))
                return False
            self.loaded[version] = edit
        self._reschedule[version] = reschedule
        self._at[partition] = version
        self.switched.append((partition, version))
        log.warning("partition %d runs version %s of the workspace from here (%d journeys)", partition, version,
                    len(self.loaded[version].journeys))
        return True
