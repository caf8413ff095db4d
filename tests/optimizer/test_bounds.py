"""The domain's bounds on what the solver scales: horizon dates, costs, priorities, penalties and
pins (each refused with the field named), and the promise behind the cost bounds: a van at the
dearest rates still serves its must visits."""

from __future__ import annotations

import math
from datetime import date

import pytest

from optimizer.domain import (
    MAX_COST_PER_HOUR,
    MAX_COST_PER_KM,
    MAX_FIXED_COST_PER_DAY,
    MAX_PENALTY,
    MAX_PRIORITY,
    Horizon,
    Objective,
    Pin,
    Van,
    Visit,
)
from optimizer.errors import ValidationError
from optimizer.solve import solve
from tests.optimizer.conftest import FAST, Tiny, assert_feasible


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {issue.field for issue in exc.value.issues}


@pytest.mark.parametrize("start", [date(1, 1, 1), date(9999, 12, 31), date(1999, 12, 31)])
def test_a_horizon_far_from_now_is_refused(start: date) -> None:
    with pytest.raises(ValidationError) as caught:
        Horizon(start)
    assert _fields(caught) == {"horizon.start_date"}


def test_a_horizon_at_the_edges_of_the_range_converts_dates() -> None:
    late = Horizon(date(2100, 12, 31), days=31)
    assert late.end > 0 and late.date_of(30) == date(2101, 1, 30)
    assert Horizon(date(2000, 1, 1)).to_datetime(0).date() == date(2000, 1, 1)


@pytest.mark.parametrize(
    ("name", "maximum"),
    [
        ("cost_per_hour", MAX_COST_PER_HOUR),
        ("cost_per_km", MAX_COST_PER_KM),
        ("fixed_cost_per_day", MAX_FIXED_COST_PER_DAY),
    ],
)
@pytest.mark.parametrize("bad", [math.inf, math.nan, 1e300, -1.0, "over"])
def test_van_costs_are_finite_and_bounded(name: str, maximum: float, bad: float | str) -> None:
    value = maximum * 1.5 if bad == "over" else bad
    with pytest.raises(ValidationError) as caught:
        Van("a", **{name: value})
    assert _fields(caught) == {f"van[a].{name}"}
    assert Van("a", **{name: maximum}).id == "a"  # the bound itself is allowed


@pytest.mark.parametrize(
    "name", ["must_penalty", "optional_penalty", "continuity_cost", "moved_visit_cost"]
)
@pytest.mark.parametrize("bad", [math.inf, math.nan, MAX_PENALTY * 2, -1.0])
def test_objective_weights_are_finite_and_bounded(name: str, bad: float) -> None:
    with pytest.raises(ValidationError) as caught:
        Objective(**{name: bad})
    assert _fields(caught) == {f"objective.{name}"}


def test_priority_is_bounded() -> None:
    with pytest.raises(ValidationError) as caught:
        Visit("v", "loc", 60, priority=MAX_PRIORITY + 1)
    assert _fields(caught) == {"visit[v].priority"}
    assert Visit("v", "loc", 60, priority=MAX_PRIORITY).priority == MAX_PRIORITY


def test_the_dearest_van_still_serves_its_must_visits(tiny: Tiny) -> None:
    """Costs are bounded so that no van-day at the maxima outweighs an unserved must visit."""
    tiny.van(
        "A",
        cost_per_hour=MAX_COST_PER_HOUR,
        cost_per_km=MAX_COST_PER_KM,
        fixed_cost_per_day=MAX_FIXED_COST_PER_DAY,
    ).shift("A", 0, 6, 22)
    # Far apart (60 km from the base each): a long, dear day of about 200 km.
    tiny.visit("m1", (60.0, 0.0), 60).visit("m2", (0.0, 60.0), 60)
    problem = tiny.build()
    plan = solve(problem, FAST)
    assert_feasible(problem, plan)
    assert not plan.unassigned
    assert {s.visit_id for r in plan.routes for s in r.stops} == {"m1", "m2"}


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        (Pin(day=5), "day 5"),
        (Pin(day=-1), "day -1"),
        (Pin(van_id="A", day=7), "day 7"),
    ],
)
def test_a_pin_outside_the_horizon_is_refused(tiny: Tiny, pin: Pin, message: str) -> None:
    tiny.van("A").shift("A", 0)
    tiny.visit("v", (1000.0, 0.0), 30, pin=pin)
    with pytest.raises(ValidationError) as caught:
        tiny.build()
    assert _fields(caught) == {"visits[0].pin"}
    assert message in str(caught.value) and "2026-03-02..2026-03-06" in str(caught.value)


def test_a_pinned_start_outside_the_horizon_is_refused(tiny: Tiny) -> None:
    tiny.van("A").shift("A", 0)
    tiny.visit("late", (1000.0, 0.0), 30, pin=Pin(start=tiny.horizon.end + 3600))
    tiny.visit("early", (1000.0, 0.0), 30, pin=Pin(start=-60))
    with pytest.raises(ValidationError) as caught:
        tiny.build()
    assert _fields(caught) == {"visits[0].pin", "visits[1].pin"}
    assert "2026-03-07T01:00:00+01:00" in str(caught.value)


def test_a_pin_inside_the_horizon_is_kept(tiny: Tiny) -> None:
    tiny.van("A").shift("A", 4)
    tiny.visit("v", (1000.0, 0.0), 30, pin=Pin(van_id="A", day=4))
    assert tiny.build().visit("v").pin == Pin(van_id="A", day=4)
