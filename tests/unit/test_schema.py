"""`nudge schema` agrees with the loader, so an editor flags what `validate` would."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from rules.schema import journey_file_schema, workspace_file_schema

ROOT = Path(__file__).resolve().parents[2]
JOURNEY_FILES = sorted([*ROOT.glob("journeys/*.yaml"), *(ROOT.parent / "shared" / "conformance").glob("*/journeys/*.yaml")])
WORKSPACE_FILES = sorted([*ROOT.glob("journeys.yaml"), *(ROOT.parent / "shared" / "conformance").glob("*/journeys.yaml")])


@pytest.mark.parametrize("path", JOURNEY_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_real_journey_files_satisfy_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), journey_file_schema())


@pytest.mark.parametrize("path", WORKSPACE_FILES, ids=lambda p: p.parent.name)
def test_real_workspace_files_satisfy_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), workspace_file_schema())


@pytest.mark.parametrize(
    "journey",
    [
        {"id": "x", "trigger": {"event": "a"}, "steps": [{"send": "email", "tempalte": "t"}]},
        {"id": "x", "trigger": {"event": "a"}, "steps": [{"sleep": "1h"}]},
        {"id": "Bad-Id", "trigger": {"event": "a"}, "steps": ["exit"]},
        {"id": "x", "trigger": {"event": "a"}, "steps": ["exit"], "reentry": "sometimes"},
        {"id": "x", "trigger": {"event": "a"}, "steps": [{"wait_until": {"time": "9am"}}]},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(journey: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(journey, journey_file_schema())


def test_the_exit_shorthand_is_accepted() -> None:
    jsonschema.validate({"id": "x", "trigger": {"event": "a"}, "steps": ["exit", {"exit": True}]}, journey_file_schema())
