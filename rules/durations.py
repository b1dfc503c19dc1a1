"""Durations as marketers write them: digits and units `s m h d w`, combinable (`1d12h`)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`1d12h` -> 36 hours; a day is always 24 hours (SPEC §4: absolute time)."""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError(
            f"'{text}' is not a duration: use digits and units s, m, h, d, w, e.g. 30m, 1d12h"
        )
    return timedelta(seconds=sum(int(n) * _SECONDS[u] for n, u in _PART.findall(text)))
