"""SPEC §8 limits on ids and JSON values, so no input can break the encoding of state or stall an engine."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from engine.state import ANON
from rules.problems import EventError

MAX_DEPTH = 32
MAX_INT = 2**53 - 1           # the integers every JSON reader keeps exactly
MAX_STRING_BYTES = 16 * 1024  # UTF-8 bytes, keys included
MAX_ID = 200
ID_RULE = f"ids are 1-{MAX_ID} printable characters, without '/'"


_DIGITS = bytes.maketrans(b"123456789", b"000000000")  # every digit a 0: a run of them is found by bytes.find, in C
_ZEROS = re.compile(b"0*")
_RUN = b"0" * 19  # the shortest integer literal orjson reads as a float: -9223372036854775809


def json_value(raw: bytes) -> Any:
    """JSON as orjson reads it, except that an integer literal beyond 64 bits stays an exact integer (orjson
    makes it a rounded float, which the integer limit would then let through); ValueError for invalid JSON."""
    value = orjson.loads(raw)
    if not _long_integer(raw):
        return value
    try:
        return json.loads(raw)  # valid JSON (orjson said so): the standard reader keeps every integer
    except RecursionError:  # nested deeper than it goes (orjson goes to 1024): orjson's value, as before
        return value


def _long_integer(raw: bytes) -> bool:
    """Whether `raw` may hold an integer literal of 19 digits or more: a run of digits that opens a value (after
    `[`, `:` or `,`) and is not a float's; one inside a string rarely looks so, and then costs only a re-read."""
    digits = raw.translate(_DIGITS)
    at = digits.find(_RUN)
    while at >= 0:
        run = _ZEROS.match(digits, at)  # the whole run of digits
        end = run.end() if run else at
        before = at - 1 if at and digits[at - 1] == 45 else at  # a minus sign
        while before and digits[before - 1] in b" \t\r\n":
            before -= 1
        if (not before or digits[before - 1] in b"[:,") and (end == len(digits) or digits[end] not in b".eE"):
            return True
        at = digits.find(_RUN, end)
    return False


def id_problem(value: str) -> str | None:
    """Why `value` cannot be an id (`id`, `customer_id`, `anonymous_id`), or None."""
    if not value:
        return f"empty; {ID_RULE}"
    if len(value) > MAX_ID:
        return f"{len(value)} characters; {ID_RULE}"
    if value.isprintable() and "/" not in value:  # the usual id, without a loop in Python
        return None
    for char in value:
        if char == "/":
            return f"contains '/'; {ID_RULE}"
        if not char.isprintable():  # C0, DEL, C1, format and separator characters, lone surrogates
            return f"contains the non-printable character U+{ord(char):04X}; {ID_RULE}"
    return None


def usual_id(value: Any) -> bool:
    """None or an id plainly within `id_problem`'s rule, told without building a reason (ingest's hot path)."""
    return value is None or (type(value) is str and 0 < len(value) <= MAX_ID and value.isprintable()
                             and "/" not in value)


def customer_id_problem(value: str) -> str | None:
    """`id_problem`, and a customer id never looks like the key of an anonymous profile."""
    if value.startswith(ANON):
        return f"starts with '{ANON}', which names anonymous profiles; choose customer ids without that prefix"
    return id_problem(value)


def check_object(values: dict[str, Any], field: str) -> None:
    """Every key and value of `properties` / `traits`; the first problem is raised, naming where it is.
    An ASCII key with a null, a boolean, a small integer or a short ASCII string, the usual entry, is
    within every limit without building the path a refusal would name."""
    for key, value in values.items():
        kind = type(value)
        if (type(key) is str and key.isascii() and len(key) <= MAX_STRING_BYTES and (
                value is None or kind is bool or (kind is str and value.isascii() and len(value) <= MAX_STRING_BYTES)
                or (kind is int and -MAX_INT <= value <= MAX_INT))):
            continue
        _check_key(key, field)
        check_value(value, f"{field}.{_shown(key)}")


def check_value(value: Any, field: str, depth: int = 0) -> None:
    """A JSON value within §8: `depth` counts the objects and arrays around it inside the top-level value."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise EventError(field, f"integer outside ±(2^53 − 1) (±{MAX_INT}); send it as a string")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(field, "NaN and infinity are not JSON numbers")
    elif isinstance(value, str):
        _check_string(value, field, "string")
    elif isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise EventError(field, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_key(key, field)
                check_value(item, f"{field}.{_shown(key)}", depth + 1)
        else:
            for index, item in enumerate(value):
                check_value(item, f"{field}.{index}", depth + 1)
    else:
        raise EventError(field, f"not a JSON value ({type(value).__name__})")


def _check_key(key: Any, field: str) -> None:
    if not isinstance(key, str):
        raise EventError(field, f"keys are strings (got {type(key).__name__})")
    _check_string(key, field, "a key")


def _check_string(value: str, field: str, what: str) -> None:
    if value.isascii():
        size = len(value)
    else:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise EventError(field, f"{what} holds a lone surrogate, which is not Unicode text") from None
    if size > MAX_STRING_BYTES:
        raise EventError(field, f"{what} of {size} bytes; at most {MAX_STRING_BYTES} (16 KiB) in UTF-8")


def _shown(key: str) -> str:
    """A key as it appears in a field path: long keys are cut, the error must stay readable."""
    return key if len(key) <= 64 else key[:61] + "..."
