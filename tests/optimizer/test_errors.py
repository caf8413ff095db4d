"""Validation errors list every problem and survive a process boundary intact."""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import pytest

from optimizer.domain import Horizon, Problem, Shift, TravelMatrix, Van, Visit
from optimizer.errors import Issue, ValidationError


def test_validation_error_lists_every_problem_and_pickles() -> None:
    matrix = TravelMatrix(("base", "a"), np.zeros((2, 2)), np.zeros((2, 2)))
    problem = Problem(
        horizon=Horizon(date(2026, 11, 23), days=2),
        vans=(Van("v1"), Van("v1")),
        shifts=(Shift("v1", 5, 0, 3600),),
        visits=(Visit("x", "nowhere", 60), Visit("x", "a", 60, preferred_van="ghost")),
        matrix=matrix,
    )
    with pytest.raises(ValidationError) as caught:
        problem.validate()
    fields = {i.field for i in caught.value.issues}
    assert {"vans[1].id", "visits[1].id", "shifts[0].day", "visits[0].location"} <= fields
    assert "visits[1].preferred_van" in fields
    copy = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(copy, ValidationError)
    assert copy.issues == caught.value.issues
    assert str(copy) == str(caught.value)


def test_a_validation_error_needs_an_issue() -> None:
    with pytest.raises(ValueError, match="at least one issue"):
        ValidationError([])
    assert ValidationError(Issue("f", "m")).issues == (Issue("f", "m"),)
