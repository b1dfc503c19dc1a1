"""Reserved traits (SPEC §2, §8): the values that reach mail headers, SMS numbers and clocks."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Callable
from zoneinfo import available_timezones

from engine.policies import E164
from rules.problems import EventError

# addr-spec as a dot-atom (RFC 5322 §3.4.1) with UTF-8 allowed (RFC 6532); quoted local parts and
# domain literals are refused: they are where commas, spaces and header injection hide
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010FFFF]"
_LABEL = r"[A-Za-z0-9\u0080-\U0010FFFF](?:[A-Za-z0-9\-\u0080-\U0010FFFF]{0,61}[A-Za-z0-9\u0080-\U0010FFFF])?"
_EMAIL = re.compile(rf"(?P<local>{_ATEXT}+(?:\.{_ATEXT}+)*)@{_LABEL}(?:\.{_LABEL})*")

# a well-formed BCP 47 language tag (RFC 5646 §2.1), without the grandfathered irregular tags
_LANGTAG = (r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?"
            r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?")
_BCP47 = re.compile(rf"{_LANGTAG}|x(?:-[a-z0-9]{{1,8}})+", re.ASCII | re.IGNORECASE)

_NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})  # files of the tz folder that name no zone


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_IANA


def _email(value: str) -> str:
    address = value.strip(" ")
    if not address.isprintable():
        raise ValueError("must be one address (no CR, LF or other control characters)")
    match = _EMAIL.fullmatch(address)
    if match is None:
        raise ValueError(f"'{_cut(address)}' is not one address like ann@example.com "
                         "(no display name, no comma, no quotes)")
    if len(match["local"]) > 64 or len(address) > 254:
        raise ValueError("longer than an address can be (64 characters before @, 254 in all)")
    return address


def _phone(value: str) -> str:
    if E164.fullmatch(value) is None:  # the same rule the SMS sending rule applies
        raise ValueError(f"'{_cut(value)}' is not E.164, e.g. +15550100000")
    return value


def _timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"unknown time zone '{_cut(value)}' (an IANA name such as Europe/Paris)")
    return value


def _locale(value: str) -> str:
    if _BCP47.fullmatch(value) is None:
        raise ValueError(f"'{_cut(value)}' is not a BCP 47 language tag, e.g. fr or pt-BR")
    return value


def _cut(value: str) -> str:
    return value if len(value) <= 80 else value[:77] + "..."


_STRINGS: dict[str, Callable[[str], str]] = {"email": _email, "phone": _phone, "timezone": _timezone, "locale": _locale}
BOOLEANS = ("email_subscribed", "sms_subscribed")


def check_reserved(traits: dict[str, Any]) -> dict[str, Any]:
    """The traits with reserved ones checked (null still unsets one) and the email trimmed."""
    cleaned = dict(traits)
    for key, check in _STRINGS.items():
        value = traits.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise EventError(f"traits.{key}", "must be a string (or null to remove it)")
        try:
            cleaned[key] = check(value)
        except ValueError as exc:
            raise EventError(f"traits.{key}", str(exc)) from None
    for key in BOOLEANS:
        if not isinstance(traits.get(key), bool | None):
            raise EventError(f"traits.{key}", "must be true or false (or null to remove it)")
    return cleaned
