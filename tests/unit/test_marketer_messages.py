"""Issue #14: the validation messages that misled a marketer, each said in words that tell what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.testing import email, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

TEMPLATES = {"hi.email.html": email("Hi")}
HEAD = "id: j\ntrigger: {event: go}\n"


def problems(root: Path, journey: str) -> list[str]:
    write_workspace(root, journeys={"j": journey}, templates=TEMPLATES)
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.errors]


def test_an_else_indented_under_the_wrong_step_says_where_it_belongs(tmp_path: Path) -> None:
    journey = HEAD + ("steps:\n  - wait_for: {event: x, timeout: 1d}\n    then:\n      - send: email\n"
                      "        template: hi\n        else:\n          - exit\n")
    assert problems(tmp_path, journey) == [
        "journeys/j.yaml:8:9: 'else' does not belong to this step: it goes with 'if' or 'wait_for', "
        "lined up with their 'then:' (check the indentation)"]


def test_a_misspelled_step_kind_gets_a_did_you_mean(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, HEAD + 'steps:\n  - wait_untill: {time: "10:00"}\n')
    assert problem == ("journeys/j.yaml:4:5: unknown step 'wait_untill' (did you mean 'wait_until'?); "
                       "a step needs one of: send, wait, wait_until, wait_for, if, split, repeat, update, exit")


def test_a_wait_without_a_unit_says_to_add_one(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "steps:\n  - wait: 24\n") == [
        "journeys/j.yaml:4:11: 24 has no unit: write a duration such as 24h or 24d (units s m h d w)"]


@pytest.mark.parametrize("step", ["  - wait_until: {time: 10:00}\n", "  - wait_until:\n      time: 10:00\n"])
def test_an_unquoted_time_says_to_quote_it(tmp_path: Path, step: str) -> None:
    [problem] = problems(tmp_path, HEAD + "steps:\n" + step)
    assert problem.endswith(": write the time in quotes, e.g. \"10:00\" (unquoted, YAML reads 10:00 as a number)")


def test_an_unknown_reentry_is_reported_at_its_value_without_a_stray_mapping_error(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "reentry: always\nsteps:\n  - wait: 1h\n") == [
        "journeys/j.yaml:3:10: got 'always'; expected 'never', 'after_exit' or 'restart', or a mapping {cooldown: ...}"]


def test_a_mis_indented_key_says_what_to_do(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, HEAD + "steps:\n  - wait: 1h\n   send: email\n")
    assert problem.startswith("journeys/j.yaml:5:4: the indentation does not match the lines above:")
    assert "<block" not in problem


def test_a_tab_says_to_indent_with_spaces(tmp_path: Path) -> None:
    assert problems(tmp_path, HEAD + "steps:\n\t- wait: 1h\n") == [
        "journeys/j.yaml:4:1: a tab character: indent with spaces, never tabs"]


def test_a_colon_inside_a_value_says_to_quote_it(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "id: j\nname: Welcome: part 1\ntrigger: {event: go}\nsteps:\n  - wait: 1h\n")
    assert problem.startswith("journeys/j.yaml:2:14: a ':' YAML did not expect: put quotes around a value that "
                              "contains ': '")


def test_a_journey_id_with_capitals_says_which_characters_are_allowed(tmp_path: Path) -> None:
    assert problems(tmp_path, "id: Cart-Recovery\ntrigger: {event: go}\nsteps:\n  - wait: 1h\n") == [
        "journeys/j.yaml:1:5: 'Cart-Recovery' is not a valid id: use lower case letters, digits and _, "
        "starting with a letter (e.g. cart_recovery)"]


def test_validate_names_a_workspace_folder_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    result = CliRunner().invoke(app, ["validate", "--workspace", str(missing)], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert f"no folder {missing}" in result.output
