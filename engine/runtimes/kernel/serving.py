"""What every long-running runtime does the same way: apply an edit only when asked (SPEC §10),
tell the live version from the files on disk, watch the files, sleep until due."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any, Awaitable, Callable

from engine.migration import Plan
from engine.model import Workspace
from engine.runtimes.kernel.health import Health
from rules.problems import Problem, WorkspaceError
from rules.workspace import fingerprint, load_workspace

log = logging.getLogger("nudge.run")

@dataclass(frozen=True)
class Proceed:
    """Whether a plan is carried out, as data (it may travel to an engine in another process): never for a
    dry run; with exits only when confirmed."""

    confirm: bool = False
    dry_run: bool = False

    def __call__(self, plan: Plan) -> bool:
        return not self.dry_run and (self.confirm or not plan.exits)


Migrate = Callable[[Workspace, str, bool, Proceed], Awaitable[tuple[Plan, bool]]]
"""The runtime's own move to a version (its workspace and hash): plan it over the customers in flight
(rescheduling changed waits or not) and, when `Proceed` agrees with the plan, apply it, with no
input in between."""


def content_version(root: Path) -> str:
    """A hash of the files' contents: the same files are the same version, whatever their times."""
    digest = hashlib.sha256()
    for path, _ in fingerprint(root):
        digest.update(str(Path(path).relative_to(root)).encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def read_edit(root: Path) -> Workspace | list[Problem]:
    """The edited workspace, or the problems that refuse it (logged; the last valid version keeps running)."""
    try:
        return load_workspace(root).workspace
    except WorkspaceError as exc:
        for problem in exc.problems:
            log.error("edit refused: %s", problem)
        return exc.problems


class Status(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # the files on disk are the version running
    PLANNED = "planned"      # a dry run: nothing changed
    REFUSED = "refused"      # it would exit customers and was not confirmed (with --watch: held)
    INVALID = "invalid"      # the files have problems


HTTP_STATUS = {Status.APPLIED: 200, Status.UNCHANGED: 200, Status.PLANNED: 200, Status.REFUSED: 409,
               Status.INVALID: 422}
CONFIRM = ("confirm with `nudge apply --yes` (HTTP: {\"confirm\": true}), or give the step that replaces "
           "theirs `was: OLD_ID` so that they move to it")


@dataclass(frozen=True)
class Outcome:
    status: Status
    version: str       # the version on disk that was considered
    live: str          # the version running after it
    plan: Plan | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def message(self) -> str:
        exits = self.plan.exits if self.plan else 0
        match self.status:
            case Status.APPLIED:
                return f"applied version {self.version}" + (f"; {exits} customer(s) exited step_removed" if exits else "")
            case Status.UNCHANGED:
                return f"version {self.version} is already running"
            case Status.PLANNED:
                return f"dry run: nothing was applied (version {self.live} keeps running)"
            case Status.REFUSED:
                return (f"not applied: version {self.version} would exit {exits} customer(s) with step_removed; "
                        f"version {self.live} keeps running; {CONFIRM}")
            case Status.INVALID:
                return (f"not applied: the files have {len(self.problems)} problem(s); version {self.live} keeps "
                        "running")

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.status.value, "message": self.message, "version": self.version, "live_version": self.live,
                "plan": self.plan.to_json() if self.plan else None, "problems": [str(p) for p in self.problems]}


@dataclass
class Versions:
    """The version a runtime runs, what is on disk, and the edit last refused or held: the runtime
    applies a new version only through `apply` (SPEC §10), whatever the files do meanwhile."""

    root: Path
    workspace: Workspace
    health: Health
    migrate: Migrate
    clock: Callable[[], float]
    version: str = ""
    refused: Outcome | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _seen: tuple[tuple[str, float], ...] = ()
    _disk: str = ""

    def __post_init__(self) -> None:
        self.version = self.version or content_version(self.root)
        self.applied_at = self.clock()

    async def apply(self, *, confirm: bool = False, reschedule: bool = False, dry_run: bool = False,
                    held: bool = False) -> Outcome:
        """Plan the files on disk against the customers in flight; apply unless they have problems, or the
        plan exits customers and `confirm` is not given (`held`: the watcher asked, and holds it)."""
        async with self._lock:
            version = await asyncio.to_thread(content_version, self.root)
            if version == self.version and not dry_run:
                self._forget_refusal()
                return Outcome(Status.UNCHANGED, version, self.version)
            edit = await asyncio.to_thread(read_edit, self.root)
            if isinstance(edit, list):
                outcome = Outcome(Status.INVALID, version, self.version, problems=tuple(edit))
                if not dry_run:
                    self._refuse(outcome, "refused: " + "; ".join(str(p) for p in edit))
                return outcome
            plan, applied = await self.migrate(edit, version, reschedule, Proceed(confirm, dry_run))
            if dry_run:
                return Outcome(Status.PLANNED, version, self.version, plan)
            if not applied:
                outcome = Outcome(Status.REFUSED, version, self.version, plan)
                self._refuse(outcome, f"{'held' if held else 'refused'}: it would exit {plan.exits} customer(s) "
                                      f"with step_removed; {CONFIRM}")
                return outcome
            self.workspace, self.version, self.applied_at = edit, version, self.clock()
            self._forget_refusal()
            log.info("applied version %s: %d journeys; %d customer(s) in flight, %d moved, %d exited step_removed",
                     version, len(edit.journeys), plan.in_flight, plan.moves, plan.exits)
            return Outcome(Status.APPLIED, version, version, plan)

    def _refuse(self, outcome: Outcome, why: str) -> None:
        self.refused = outcome
        log.warning("edit (version %s) %s", outcome.version, why)
        self.health.warn("workspace", f"edit (version {outcome.version}) {why}; version {self.version} keeps running")

    def _forget_refusal(self) -> None:
        self.refused = None
        self.health.warn("workspace", None)

    async def disk_version(self) -> str:
        """The version on disk (hashed again only when a file's time changed); a refusal of a version no
        longer on disk is forgotten."""
        current = await asyncio.to_thread(fingerprint, self.root)
        if current != self._seen or not self._disk:
            self._seen, self._disk = current, await asyncio.to_thread(content_version, self.root)
        if self.refused and self.refused.version != self._disk:
            self._forget_refusal()
        return self._disk

    async def summary(self) -> dict[str, Any]:
        """For /healthz: the live version, whether the files differ, the problems of a refused version."""
        disk = await self.disk_version()
        refused = self.refused
        return {"version": self.version, "disk_version": disk, "disk_differs": disk != self.version,
                "refused": None if refused is None else {"version": refused.version, "outcome": refused.status.value,
                                                         "message": refused.message,
                                                         "problems": [str(p) for p in refused.problems]}}

    async def status(self) -> dict[str, Any]:
        """For GET /v1/workspace: the summary, the journeys running, and what applying the files would do now."""
        body = await self.summary()
        body["applied_at"] = datetime.fromtimestamp(self.applied_at, timezone.utc).isoformat().replace("+00:00", "Z")
        body["journeys"] = [j.id for j in self.workspace.journeys]
        body["pending"] = (await self.apply(dry_run=True)).to_json() if body["disk_differs"] else None
        return body

    async def watch(self, auto: bool, interval: float = 1.0) -> None:
        """Poll the files (mtimes: no extra dependency): `auto` (`--watch`) applies each valid change that
        exits no one; otherwise a change is only logged, and waits for `nudge apply`."""
        seen = fingerprint(self.root)
        while True:
            await asyncio.sleep(interval)
            current = fingerprint(self.root)
            if current == seen:
                continue
            seen = current
            if auto:
                await self.apply(held=True)
            elif await self.disk_version() != self.version:
                log.info("workspace files changed on disk; version %s keeps running until `nudge apply`",
                         self.version)


async def sleep_until(wake: asyncio.Event, due: float | None, clock: Callable[[], float]) -> None:
    """No busy polling: sleep until woken or until the next due time."""
    timeout = None if due is None else max(0.0, due - clock())
    try:
        await asyncio.wait_for(wake.wait(), timeout)
    except TimeoutError:
        pass
