"""A declared enum (SPEC §9) holds its choices' JSON types: `true` is not the choice 1, nor 0 the choice false."""

from __future__ import annotations

import pytest

from engine.declared import FieldType
from rules.data import value_problem


@pytest.mark.parametrize(("value", "choices"), [(True, (1, 2, 3)), (False, (0, 1)), (1, (True, False)), (0, ("a", False)),
                                                (1.0, (True,))])
def test_a_boolean_is_not_a_numeric_choice_nor_a_number_a_boolean_one(value: object, choices: tuple[object, ...]) -> None:
    problem = value_problem(value, FieldType("enum", choices))
    assert problem is not None and problem.startswith(f"expected {FieldType('enum', choices).describe()}, got ")


@pytest.mark.parametrize(("value", "choices"), [(1, (1, 2)), (True, (True, "x")), (False, (1, False)), (2.0, (1, 2)),
                                                ("pro", ("free", "pro")), (None, (1,))])
def test_a_value_of_a_choice_s_type_is_still_that_choice(value: object, choices: tuple[object, ...]) -> None:
    assert value_problem(value, FieldType("enum", choices)) is None
