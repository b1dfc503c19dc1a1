"""Events files read by `nudge data` and `nudge data infer`: JSON read as the API reads it."""

from __future__ import annotations

from pathlib import Path

from engine.cli.common import event_dicts


def test_an_integer_beyond_64_bits_in_an_events_file_is_read_exactly_not_as_a_rounded_float(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"type": "order_completed", "properties": {"total": 18446744073709551616}}\n'
                       b'not json\n[1, 2]\n\n{"type": "page_viewed"}\n')
    found = event_dicts(events)
    assert found == [{"type": "order_completed", "properties": {"total": 2**64}}, {"type": "page_viewed"}]
    assert isinstance(found[0]["properties"]["total"], int)
