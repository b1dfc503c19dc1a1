"""Every error path of a broken workspace, reported as file:line:column: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import email, write_workspace
from rules.problems import Severity, WorkspaceError
from rules.workspace import load_workspace

GOOD_JOURNEY = """\
id: hello
trigger: {event: signed_up}
steps:
  - send: email
    template: hi
"""
TEMPLATES = {"hi.email.html": email("Hi")}


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


def test_a_valid_workspace_loads(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": GOOD_JOURNEY}, templates=TEMPLATES)
    assert [j.id for j in load_workspace(tmp_path).workspace.journeys] == ["hello"]


def test_bad_yaml_is_reported_with_its_position(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"bad": "id: bad\ntrigger: {event: x\nsteps: []\n"})
    assert problems(tmp_path) == ["journeys/bad.yaml:3:6: invalid YAML: expected ',' or '}', but got ':'"]


def test_an_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    journey = GOOD_JOURNEY.replace("template:", "tempalte:")
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/hello.yaml:5:5: unknown key 'tempalte' (did you mean 'template'?)"]


def test_an_unknown_key_in_settings_is_an_error(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings="timezon: UTC", journeys={"hello": GOOD_JOURNEY}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys.yaml:3:3: unknown key 'timezon' (did you mean 'timezone'?)"]


def test_a_bad_expression_points_at_the_expression(tmp_path: Path) -> None:
    journey = GOOD_JOURNEY.replace("{event: signed_up}", "{event: signed_up, where: \"event.total >\"}")
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES)
    [problem] = problems(tmp_path)
    assert problem.startswith("journeys/hello.yaml:2:36: invalid expression 'event.total >'")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("frobnicate(1)", "unknown function 'frobnicate'; available: ago, in_segment"),
        ("profil.email is defined", "unknown name 'profil' (did you mean 'profile'?)"),
        ("in_segment('vipp')", "unknown segment 'vipp' (did you mean 'vip'?)"),
        ("profile.email | shout", "No filter named 'shout'"),
    ],
)
def test_expression_problems_are_named(tmp_path: Path, expression: str, message: str) -> None:
    journey = GOOD_JOURNEY + f'audience: "{expression}"\n'
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES,
                    extra='segments:\n  vip: "profile.ltv >= 500"\n')
    [problem] = problems(tmp_path)
    assert problem.startswith("journeys/hello.yaml:6:11: ")
    assert message in problem


def test_a_missing_template_names_the_file_it_expected(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": GOOD_JOURNEY})
    assert problems(tmp_path) == [
        "journeys/hello.yaml:5:15: template 'hi' does not exist (expected templates/hi.email.html)"
    ]


def test_a_template_of_the_other_channel_does_not_count(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": GOOD_JOURNEY}, templates={"hi.sms.txt": "Hi"})
    assert "expected templates/hi.email.html" in problems(tmp_path)[0]


def test_a_bad_duration_is_explained(tmp_path: Path) -> None:
    journey = GOOD_JOURNEY + "  - wait: 2 days\n"
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/hello.yaml:6:11: '2 days' is not a duration: use digits and units s, m, h, d, w, e.g. 30m, 1d12h"
    ]


def test_a_duplicate_journey_id_names_both_files(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"a": GOOD_JOURNEY, "b": GOOD_JOURNEY}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/b.yaml:1:5: duplicate journey id 'hello' (also in journeys/a.yaml)"]


def test_a_bad_time_zone_and_clock_time_are_errors(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings='timezone: Mars/Olympus\nquiet_hours: {start: "21:00", end: "8am"}',
                    journeys={"hello": GOOD_JOURNEY}, templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys.yaml:3:13: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Paris)",
        "journeys.yaml:4:38: '8am' is not a time: use 24-hour HH:MM, e.g. 08:00",
    ]


def test_a_step_of_no_known_kind_lists_the_kinds(tmp_path: Path) -> None:
    journey = GOOD_JOURNEY + "  - sleep: 1h\n"
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES)
    [problem] = problems(tmp_path)
    assert problem.startswith("journeys/hello.yaml:6:5: a step needs one of: send, wait, wait_until")


def test_every_problem_of_a_workspace_is_reported_at_once(tmp_path: Path) -> None:
    broken = """\
id: cart
trigger: {event: cart_updated, where: "event.total >"}
steps:
  - wait: 1x
  - send: email
    tempalte: reminder
  - send: email
    template: nope
"""
    write_workspace(tmp_path, settings="timezone: Nowhere/Land",
                    journeys={"a": broken, "b": GOOD_JOURNEY.replace("hello", "cart"), "c": "id: [\n"})
    found = problems(tmp_path)
    assert [p.split(": ")[0] for p in found] == [
        "journeys.yaml:3:13", "journeys/a.yaml:2:39", "journeys/a.yaml:4:11", "journeys/a.yaml:6:5",
        "journeys/a.yaml:8:15", "journeys/b.yaml:1:5", "journeys/c.yaml:2:1",
    ]


def test_repeat_yearly_with_reentry_never_is_a_warning_not_an_error(tmp_path: Path) -> None:
    journey = """\
id: birthday
trigger: {date: birthday, repeat: yearly}
steps:
  - send: email
    template: hi
"""
    write_workspace(tmp_path, journeys={"birthday": journey}, templates=TEMPLATES)
    loaded = load_workspace(tmp_path)
    assert [str(w) for w in loaded.warnings] == [
        "journeys/birthday.yaml:2:35: warning: repeat: yearly never fires again with reentry: never "
        "(the default); use reentry: after_exit"
    ]
    assert loaded.warnings[0].severity is Severity.WARNING


def test_a_template_syntax_error_is_reported_at_its_line(tmp_path: Path) -> None:
    bad = "---\nsubject: Hi\n---\n<p>ok</p>\n<p>{{ profile.name </p>\n"
    write_workspace(tmp_path, journeys={"hello": GOOD_JOURNEY}, templates={"hi.email.html": bad})
    [problem] = problems(tmp_path)
    assert problem.startswith("templates/hi.email.html:5:1: ")


def test_a_missing_layout_is_reported(tmp_path: Path) -> None:
    body = '---\nsubject: Hi\n---\n{% extends "layouts/nope.html" %}\n'
    write_workspace(tmp_path, journeys={"hello": GOOD_JOURNEY}, templates={"hi.email.html": body})
    assert problems(tmp_path) == ["templates/hi.email.html:4:1: template 'layouts/nope.html' does not exist in templates/"]


def test_an_email_template_without_subject_is_an_error(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": GOOD_JOURNEY}, templates={"hi.email.html": "<p>no front matter</p>"})
    assert "front matter" in problems(tmp_path)[0]


def test_duplicate_step_ids_are_errors(tmp_path: Path) -> None:
    journey = GOOD_JOURNEY.replace("  - send: email\n", "  - id: x\n    send: email\n") + "  - id: x\n    wait: 1h\n"
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/hello.yaml:7:9: duplicate step id 'x' in this journey"]


def test_no_journeys_yaml_is_a_clear_error(tmp_path: Path) -> None:
    assert problems(tmp_path) == ["journeys.yaml:1:1: no journeys.yaml here (use --workspace DIR)"]


def test_yaml_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": "!!python/object/apply:os.system ['true']\n"})
    assert "invalid YAML" in problems(tmp_path)[0]
