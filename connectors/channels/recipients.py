"""One message, one recipient: an address is checked before any provider sees it (no header or list injection)."""

from __future__ import annotations

import re
from typing import Any

from connectors.channels.base import PermanentError
from engine.policies import E164

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


def email_address(value: Any) -> str:
    """A bare addr-spec (local@domain.tld): no display name, comma, space, CR or LF, so exactly one RCPT TO."""
    if not isinstance(value, str) or len(value) > 254 or not ADDR_SPEC.fullmatch(value):
        raise PermanentError(f"{value!r} is not one email address")
    return value


def phone_number(value: Any) -> str:
    """One E.164 number (+ and up to 15 digits)."""
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise PermanentError(f"{value!r} is not an E.164 number")
    return value
