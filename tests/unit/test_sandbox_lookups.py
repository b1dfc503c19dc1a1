"""`profile.x` on a plain dict is looked up directly (the audience check of a broadcast to a million
profiles spent a sixth of its time in Jinja's AttributeError); the result must be Jinja's own."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from rules.expressions import Missing, make_environment


class Traits(dict[str, Any]):
    """A dict subclass: not a plain dict, so it takes Jinja's path."""


PROFILE = {"email": "a@example.com", "items": "a trait named like a method", "n": 0, "none": None}


@pytest.mark.parametrize("obj", [PROFILE, Traits(PROFILE), {}, "text", 5, None])
@pytest.mark.parametrize("name", ["email", "missing", "items", "keys", "n", "none", "__class__", "_private",
                                  "upper", "mro"])
def test_a_lookup_gives_what_jinjas_sandbox_gives(obj: Any, name: str) -> None:
    ours, jinjas = make_environment(), ImmutableSandboxedEnvironment(undefined=Missing)
    got, expected = ours.getattr(obj, name), jinjas.getattr(obj, name)
    if isinstance(expected, Undefined):
        assert type(got) is type(expected) and got._undefined_name == expected._undefined_name
        assert got._undefined_obj is expected._undefined_obj
    elif callable(expected):
        assert getattr(got, "__name__", None) == getattr(expected, "__name__", None)
    else:
        assert got == expected


def test_expressions_and_templates_read_traits_and_keep_the_sandbox_shut() -> None:
    env = make_environment()
    profile = {"email": "a@example.com", "tags": {"vip": True}}
    assert env.compile_expression("profile.email")(profile=profile) == "a@example.com"
    assert env.compile_expression("profile.tags.vip and profile.phone is not defined")(profile=profile) is True
    assert env.compile_expression("profile['email'] == profile.email")(profile=profile) is True
    assert env.from_string("{{ profile.email }}|{{ profile.items() | list | length }}").render(profile=profile) == \
        "a@example.com|2"
    with pytest.raises(SecurityError):
        env.from_string("{{ profile.__class__.__subclasses__() }}").render(profile=profile)
