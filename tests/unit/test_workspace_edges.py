"""Hostile workspace files: includes reaching outside the workspace, YAML alias bombs, deep nesting."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import email, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

HELLO = "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - send: email\n    template: hi\n"
TEMPLATES = {"hi.email.html": email("Hi")}


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


def test_an_absolute_include_is_an_error_at_the_pattern(tmp_path: Path) -> None:
    write_workspace(tmp_path, extra='include: ["journeys/*.yaml", "/etc/*.yaml"]\n', journeys={"hello": HELLO},
                    templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys.yaml:2:30: include '/etc/*.yaml' reaches outside the workspace: "
                                  "only files in its folder can be included"]


def test_an_include_into_a_sibling_folder_reads_nothing_there(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "secret.yaml").write_text("database_password: hunter2\n")
    write_workspace(tmp_path / "ws", extra='include: ["../x/*.yaml"]\n', templates=TEMPLATES)
    found = problems(tmp_path / "ws")
    assert found == ["journeys.yaml:2:11: include '../x/*.yaml' reaches outside the workspace: "
                     "only files in its folder can be included"]


def test_a_symbolic_link_out_of_the_workspace_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("database_password: hunter2\n")
    root = write_workspace(tmp_path / "ws", journeys={"hello": HELLO}, templates=TEMPLATES)
    (root / "journeys" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    found = problems(root)
    assert len(found) == 1 and "reaches outside the workspace" in found[0] and "database_password" not in found[0]


def test_an_include_inside_the_workspace_through_a_symbolic_link_still_works(tmp_path: Path) -> None:
    root = write_workspace(tmp_path, templates=TEMPLATES)
    (root / "shared").mkdir()
    (root / "shared" / "hello.yaml").write_text(HELLO)
    (root / "journeys" / "hello.yaml").symlink_to(root / "shared" / "hello.yaml")
    assert [j.id for j in load_workspace(root).workspace.journeys] == ["hello"]


def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    levels = "".join(f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n" for a, b in zip("abcdefghijk", "bcdefghijkl"))
    bomb = HELLO + "lol:\n  a: &a [lol]\n" + "".join("  " + line + "\n" for line in levels.splitlines())
    write_workspace(tmp_path, journeys={"bomb": bomb}, templates=TEMPLATES)  # 10**11 values once expanded
    assert problems(tmp_path) == ["journeys/bomb.yaml:12:6: invalid YAML: over 100000 values once aliases are "
                                  "expanded (an alias bomb?)"]


def test_an_alias_inside_its_own_anchor_is_an_error_not_a_crash(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"loop": HELLO + "loop: &loop [*loop]\n"}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/loop.yaml:6:7: invalid YAML: an alias refers to the value that contains it"]


def test_nesting_deeper_than_the_parser_can_follow_is_an_error_not_a_crash(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"deep": "[" * 5000 + "]" * 5000}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/deep.yaml:1:1: invalid YAML: nested too deeply"]


def test_merge_keys_and_aliases_of_ordinary_size_still_load(tmp_path: Path) -> None:
    journey = HELLO.replace("  - send: email\n    template: hi\n",
                            "  - &mail {send: email, template: hi}\n  - <<: *mail\n")
    write_workspace(tmp_path, journeys={"hello": journey}, templates=TEMPLATES)
    assert len(load_workspace(tmp_path).workspace.journeys[0].program) >= 2


def test_a_template_that_is_not_text_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    root = write_workspace(tmp_path, journeys={"hello": HELLO}, templates=TEMPLATES)
    (root / "templates" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    [found] = problems(root)
    assert found.startswith("templates/logo.png:1:1: cannot read as UTF-8 text")


def test_a_template_linked_from_outside_the_workspace_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("database_password: hunter2\n")
    root = write_workspace(tmp_path / "ws", journeys={"hello": HELLO}, templates=TEMPLATES)
    (root / "templates" / "leak.sms.txt").symlink_to(tmp_path / "secret.txt")
    assert problems(root) == ["templates/leak.sms.txt:1:1: a symbolic link out of the workspace: "
                              "templates must be inside it"]
