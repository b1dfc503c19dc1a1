"""An integer literal beyond 64 bits is still an integer: refused by SPEC §8, not read as a rounded float."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.runtimes.jsonl import read_event_lines
from rules.limits import json_value

EVENT = '{"type": "signed_up", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z", "traits": {"points": %s}}'


@pytest.mark.parametrize("literal", ["18446744073709551616", "-9223372036854775809", "99999999999999999999999999",
                                     "-18446744073709551616"])
def test_an_integer_beyond_64_bits_is_read_exactly_and_the_line_refused(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(EVENT % literal + "\n" + EVENT % "1" + "\n")
    accepted, refused = read_event_lines(path)
    assert [e.traits["points"] for e in accepted] == [1]
    assert [(r.line, r.reason.split(":")[0]) for r in refused] == [(1, "traits.points")]
    assert "2^53" in refused[0].reason


@pytest.mark.parametrize("text", [
    '{"n": 18446744073709551616, "f": 1.8446744073709552e19, "s": "18446744073709551616"}',
    '[12345678901234567890123, -12345678901234567890123.5, 0.0000000000000000000001, {"k": [9223372036854775807]}]',
    '{"a": 1, "a": 2, "b": "\\u00e9\\ud83d\\ude00", "c": -0.0, "d": 1E+2}',
    '[ -12345678901234567890123 ,\n\t 12345678901234567890123]', '{"n":\r\n12345678901234567890, "m":-98765432109876543210}',
    '{"id": "1234567890123456789012", "s": "a,12345678901234567890", "t": "[-12345678901234567890]"}',
    '12345678901234567890',
])
def test_json_values_are_the_standard_reader_s_when_a_literal_is_too_long_for_the_fast_one(text: str) -> None:
    expected = json.loads(text)
    got = json_value(text.encode())
    assert got == expected and json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("text", ["NaN", "[1e400, 123456789012345678901]", '{"n": Infinity}', '[-Infinity, 123456789012345678901]', "{bad", '"\\ud800"'])
def test_what_is_not_json_is_refused_as_before(text: str) -> None:
    with pytest.raises(ValueError):
        json_value(text.encode())
