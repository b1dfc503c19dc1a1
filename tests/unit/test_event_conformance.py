"""SPEC §9 at the boundary: events checked against `data:`, refused when strict, counted always."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.declared import DeclaredData, EventSpec, FieldType
from engine.runtimes.jsonl import read_event_lines
from engine.testing import write_workspace
from rules.data import DataTally, conformance_problems, infer
from rules.events import parse_event
from rules.problems import EventError

ORDER = EventSpec({"order_id": FieldType("string", required=True), "total": FieldType("number")})
DATA = DeclaredData(False, {"plan": FieldType("enum", ("free", "pro"))}, {"order_completed": ORDER})
STRICT = DeclaredData(True, DATA.traits, DATA.events)


def event(kind: str = "order_completed", **properties: object) -> dict[str, object]:
    return {"type": kind, "customer_id": "c1", "timestamp": "2026-03-01T12:00:00Z", "properties": properties}


@pytest.mark.parametrize(("kind", "properties", "traits", "expected"), [
    ("order_completed", {"order_id": "o1", "total": 59.0}, {}, []),
    ("order_complete", {}, {}, ["type: 'order_complete' is not declared in data.events"]),
    ("order_completed", {"order_id": "o1", "total": "59"}, {}, ["properties.total: expected number, got '59'"]),
    ("order_completed", {"total": 1}, {}, ["properties.order_id: missing (required for order_completed)"]),
    ("order_completed", {"order_id": "o1", "totl": 1}, {}, ["properties.totl: not declared for order_completed"]),
    ("order_completed", {"order_id": "o1"}, {"plan": "gold"}, ["traits.plan: expected one of 'free', 'pro', got 'gold'"]),
    ("email_opened", {"message_id": "m1"}, {}, []),
])
def test_conformance_problems_name_the_field_and_the_reason(
        kind: str, properties: dict[str, object], traits: dict[str, object], expected: list[str]) -> None:
    assert conformance_problems(kind, properties, traits, DATA) == expected


def test_a_strict_workspace_refuses_a_nonconforming_event_naming_the_field() -> None:
    with pytest.raises(EventError) as info:
        parse_event(event(total="59", order_id="o1"), declared=STRICT)
    assert (info.value.field, info.value.reason) == ("properties.total", "expected number, got '59' (data.strict: true)")


def test_a_lenient_workspace_accepts_and_counts_per_type_and_problem() -> None:
    tally = DataTally()
    parse_event(event(order_id="o1", total="59"), declared=DATA, tally=tally)
    parse_event(event(order_id="o2", total="61"), declared=DATA, tally=tally)
    parse_event(event("order_complete"), declared=DATA, tally=tally)
    assert tally.received == {"order_completed": 2, "order_complete": 1}
    assert tally.problems == {("order_completed", "properties.total: expected number"): 2,
                              ("order_complete", "type: 'order_complete' is not declared in data.events"): 1}


def test_simulate_writes_a_rejected_record_for_a_nonconforming_line_when_strict(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event(order_id="o1", total=1.0)) + "\n" + json.dumps(event("order_complete")) + "\n")
    accepted, refused = read_event_lines(path, declared=STRICT)
    assert len(accepted) == 1
    assert [(r.line, r.reason) for r in refused] == [
        (2, "type: 'order_complete' is not declared in data.events (data.strict: true)")]


def test_infer_writes_types_and_marks_properties_every_event_has_as_required() -> None:
    events = [{"type": "purchase", "properties": {"order_id": "o1", "total": 5, "coupon": "X"}, "traits": {"plan": "pro"}},
              {"type": "purchase", "properties": {"order_id": "o2", "total": 5.5}, "traits": {"email": "a@b.c"}},
              {"type": "email_opened", "properties": {"message_id": "m"}}]
    assert infer(events) == {"strict": False, "traits": {"plan": "string"}, "events": {"purchase": {"properties": {
        "coupon": "string", "order_id": {"type": "string", "required": True},
        "total": {"type": "number", "required": True}}}}}


DATA_YAML = """\
data:
  traits: {plan: {enum: [free, pro]}}
  events:
    order_completed:
      properties: {order_id: {type: string, required: true}, total: number}
"""


def test_nudge_data_counts_the_events_of_a_file_per_type_and_problem(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"j": "id: j\ntrigger: {event: order_completed}\nsteps:\n  - wait: 1h\n"},
                    extra=DATA_YAML)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [event(order_id="o1", total="x"), event("order_complete")]))
    result = CliRunner().invoke(app, ["data", "--workspace", str(tmp_path), "--events", str(events)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "properties.total: expected number" in result.output
    assert "type: 'order_complete' is not declared in data.events" in result.output


def test_nudge_data_infer_writes_a_block_that_validates(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event(order_id="o1", total=3.5)) + "\n")
    result = CliRunner().invoke(app, ["data", "infer", "--events", str(events)])
    assert result.exit_code == 0, result.output
    write_workspace(tmp_path / "ws", journeys={"j": "id: j\ntrigger: {event: order_completed}\nsteps:\n  - wait: 1h\n"},
                    extra=result.output)
    assert CliRunner().invoke(app, ["validate", "--workspace", str(tmp_path / "ws")]).exit_code == 0


def test_simulate_warns_about_events_that_do_not_match_a_lenient_data_block(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"j": "id: j\ntrigger: {event: order_completed}\nsteps:\n  - wait: 1h\n"},
                    extra=DATA_YAML)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event(order_id="o1", total="x")) + "\n")
    result = CliRunner().invoke(app, ["simulate", "--workspace", str(tmp_path), "--events", str(events)],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert ("warning: 1 event(s) do not match data:, the first one, order_completed: properties.total: expected number, "
            "got 'x'") in result.output
