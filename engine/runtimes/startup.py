"""Why a server cannot start, in one line and a sysexits(3) status a supervisor can act on."""

from __future__ import annotations

import os

from rules.problems import NudgeError

EX_NOINPUT = 66  # the workspace cannot be read
EX_CANTCREAT = 73  # the database (or its lock) cannot be opened or created
EX_TEMPFAIL = 75  # another process holds the database: try again once it has stopped
EX_CONFIG = 78  # a setting or secret is missing or wrong


class StartupError(NudgeError):
    """Raised before anything is touched; the command prints `nudge run: <message>` and exits."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def reason(exc: OSError) -> str:
    """"permission denied", "is a directory": the system's words for an errno, without a traceback."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]
