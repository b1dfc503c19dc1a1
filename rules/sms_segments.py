"""SMS segment counting (GSM-7 or UCS-2), as carriers bill it: Twilio's SDK has no helper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# 3GPP TS 23.038 default alphabet, and the extension table whose characters take two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsSegments:
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int  # billing units: septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int    # 0 for an empty text, which cannot be sent


def _units(text: str) -> tuple[Literal["GSM-7", "UCS-2"], list[int]]:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        return "GSM-7", [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SmsSegments:
    """Pack characters into parts; a two-unit character (escape pair, surrogate pair) never straddles."""
    encoding, units = _units(text)
    total = sum(units)
    single, part = LIMITS[encoding]
    if total == 0:
        return SmsSegments(encoding, 0, 0)
    if total <= single:
        return SmsSegments(encoding, total, 1)
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return SmsSegments(encoding, total, segments)
