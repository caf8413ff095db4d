"""Statutory breaks placed after the search (optimizer.breaks): the placement into a fixed route
order, the repair of a route where it does not fit, the relaxed span the search plans with,
and the search path on a week with breaks. Oracle: the independent checker."""

from __future__ import annotations

import logging
from dataclasses import replace
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.breaks import (
    _Leg,
    _with_break,
    fit_breaks,
    relaxed_span,
    route_of,
    schedule,
    stop_ranges,
)
from optimizer.checker import check_plan
from optimizer.domain import HOUR, MINUTE, BreakRule, Problem, Shift
from optimizer.errors import ValidationError
from optimizer.extract import extract_routes, solution_cost
from optimizer.model import build_model
from optimizer.params import model_search_parameters
from optimizer.plan import BreakSlot, Plan, Reason, Route, SolverStats, Stop, Unassigned
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.optimizer.conftest import FAST, Tiny, assert_feasible, euclid_matrix
from tests.optimizer.strategies import day_visits

PLACED = replace(FAST, statutory_breaks="placed")


def _plan(problem: Problem, routes: list[Route], dropped: tuple[str, ...] = ()) -> Plan:
    served = {s.visit_id for r in routes for s in r.stops}
    unassigned = tuple(
        Unassigned(v.id, Reason.NO_ROOM, "left out") for v in problem.visits if v.id not in served
    )
    assert {u.visit_id for u in unassigned} >= set(dropped)
    return Plan(tuple(routes), unassigned, SolverStats("TEST", 0.0, 0.0))


def _route(problem: Problem, shift: Shift, starts: list[int]) -> Route:
    """The route of ``shift`` serving every visit in order at ``starts``, no break."""
    m, van = problem.matrix, problem.van(shift.van_id)
    stops, here, clock = [], van.start_location, None
    for v, s in zip(problem.visits, starts, strict=True):
        travel = m.duration(here, v.location)
        clock = s - travel if clock is None else clock
        stops.append(
            Stop(v.id, v.location, clock + travel, s, s + v.duration, s - clock - travel, travel, 0)
        )
        here, clock = v.location, s + v.duration
    assert clock is not None
    back = m.duration(here, van.end)
    return Route(
        shift.van_id,
        shift.day,
        van.start_location,
        van.end,
        stops[0].arrival - stops[0].travel_time,
        clock + back,
        tuple(stops),
        (),
        back,
        0,
    )


def _line(tiny: Tiny, durations: list[float], **kw: object) -> Tiny:
    """Van A with an 8:00-16:30 shift (statutory rule) and visits along a line."""
    tiny.van("A").shift("A", 0, 8, 16.5)
    for i, d in enumerate(durations):
        tiny.visit(f"v{i}", (1.0 + i, 0.0), d, **kw)  # type: ignore[arg-type]
    return tiny


def test_relaxed_span_leaves_room_for_one_break() -> None:
    rule = BreakRule()
    day = Shift("A", 0, 0, 8 * HOUR + 30 * MINUTE)
    assert relaxed_span(day, rule) == 8 * HOUR  # the shift less the 30-minute break
    assert relaxed_span(replace(day, end=11 * HOUR), rule) == rule.after_second  # one break
    assert relaxed_span(replace(day, max_work=7 * HOUR), rule) == 7 * HOUR


def test_a_break_goes_into_waiting_time_without_moving_a_visit(tiny: Tiny) -> None:
    # Two 3-hour visits, the second waiting for its window at 12:30: the break fits the wait.
    _line(tiny, [180, 180])
    tiny.visits[1] = replace(tiny.visits[1], windows=(tiny.window(0, 12.5, 16),))
    p = tiny.build()
    shift = p.shifts[0]
    first = tiny.at(0, 8, 10)
    timing = schedule(
        p, shift, list(p.visits), [(shift.start, shift.end), (tiny.at(0, 12, 30),) * 2]
    )
    assert timing is not None and timing.break_start is not None
    assert timing.starts[1] == tiny.at(0, 12, 30)
    route = route_of(p, shift, list(p.visits), timing)
    assert route.stops[0].start <= first + 30 * MINUTE
    assert route.breaks == (BreakSlot(timing.break_start, timing.break_start + 30 * MINUTE),)
    assert route.stops[1].waiting + 30 * MINUTE == route.stops[1].start - route.stops[1].arrival
    assert_feasible(p, _plan(p, [route]))


def test_a_break_without_waiting_delays_the_later_visits(tiny: Tiny) -> None:
    _line(tiny, [120, 120, 120])  # 6 h of service: the break goes between two of them
    p = tiny.build()
    shift = p.shifts[0]
    route = _route(p, shift, [tiny.at(0, 8, 2), tiny.at(0, 10, 4), tiny.at(0, 12, 6)])
    fitted = fit_breaks(p, shift, route)
    assert fitted.dropped == () and fitted.route is not None
    (b,) = fitted.route.breaks
    assert b.duration == 30 * MINUTE
    assert fitted.route.end - fitted.route.start > route.end - route.start
    assert_feasible(p, _plan(p, [fitted.route]))


def test_a_short_route_needs_no_break_even_if_planned_with_a_late_return(tiny: Tiny) -> None:
    _line(tiny, [60, 60])
    p = tiny.build()
    shift = p.shifts[0]
    # Planned with hours of waiting in between; the placement serves it without them.
    route = _route(p, shift, [tiny.at(0, 8, 2), tiny.at(0, 15, 0)])
    fitted = fit_breaks(p, shift, route)
    assert fitted.route is not None and fitted.route.breaks == ()
    assert fitted.route.working_time <= p.break_rule.after_first
    assert_feasible(p, _plan(p, [fitted.route]))


def test_a_route_the_break_does_not_fit_loses_its_cheapest_visit(tiny: Tiny) -> None:
    # Three visits fill 8:00-15:30 back to back, each held to its window: no room for a
    # break anywhere; the optional visit goes.
    tiny.van("A").shift("A", 0, 8, 16.5)
    tiny.visit("must", (0.5, 0), 150, windows=(tiny.window(0, 8, 10.6),))
    tiny.visit("opt", (0.5, 0), 150, windows=(tiny.window(0, 10.6, 13.2),), priority=3)
    tiny.visit("late", (0.5, 0), 150, windows=(tiny.window(0, 13.2, 15.8),))
    p = tiny.build()
    shift = p.shifts[0]
    starts = [v.windows[0].start for v in p.visits]
    route = _route(p, shift, starts)
    assert schedule(p, shift, list(p.visits), stop_ranges(p, shift, route)) is None
    fitted = fit_breaks(p, shift, route)
    assert fitted.dropped == ("opt",)
    assert fitted.route is not None
    assert_feasible(p, _plan(p, [fitted.route], fitted.dropped))


@st.composite
def _days(draw: st.DrawFn) -> tuple[Problem, list[int]]:
    """One van-day under the statutory rule (6-11 h) and up to 7 visits in a random order,
    some with a window; their starts back to back from the shift start (possibly too long)."""
    hours = draw(st.integers(12, 22)) / 2
    n = draw(st.integers(1, 7))
    start = 8 * HOUR
    points, visits = day_visits(draw, n, start, reach=20, max_tens=18, max_slot=16)
    tiny = Tiny()
    problem = Problem(
        tiny.horizon,
        (tiny.van("A").vans[0],),
        (Shift("A", 0, start, start + round(hours * HOUR)),),
        tuple(visits),
        euclid_matrix(points),
    ).validate()
    order = draw(st.permutations(list(range(n))))
    return problem, order


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_days())
def test_every_fitted_route_passes_the_checker(case: tuple[Problem, list[int]]) -> None:
    problem, order = case
    shift = problem.shifts[0]
    visits = [problem.visits[i] for i in order]
    windows = [
        (
            max(shift.start, v.windows[0].start) if v.windows else shift.start,
            min(shift.end, v.windows[0].end) - v.duration if v.windows else shift.end - v.duration,
        )
        for v in visits
    ]
    timing = schedule(problem, shift, visits, windows)
    if timing is not None:
        route = route_of(problem, shift, visits, timing)
        assert [s.visit_id for s in route.stops] == [v.id for v in visits]
        assert_feasible(problem, _plan(problem, [route]))
        work = route.working_time
        assert (timing.break_start is not None) == (route.end - route.start > 6 * HOUR)
        assert work <= max(problem.break_rule.after_second, 6 * HOUR)
    # The repair always ends with a plan the checker accepts, the lost visits listed.
    if all(lo <= hi for lo, hi in windows) and timing is not None:
        fitted = fit_breaks(problem, shift, route_of(problem, shift, visits, timing))
        assert fitted.dropped == ()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_days())
def test_the_schedule_has_the_shortest_span_of_every_break_placement(
    case: tuple[Problem, list[int]],
) -> None:
    """``schedule`` stops at a placement without waiting; its span is still the least of
    all placements ``_with_break`` finds (every gap, on arrival or before the drive)."""
    problem, order = case
    shift = problem.shifts[0]
    visits = [problem.visits[i] for i in order]
    windows = [
        (
            max(shift.start, v.windows[0].start) if v.windows else shift.start,
            min(shift.end, v.windows[0].end) - v.duration if v.windows else shift.end - v.duration,
        )
        for v in visits
    ]
    timing = schedule(problem, shift, visits, windows)
    if timing is None or timing.break_start is None:
        return
    m, van = problem.matrix, problem.van(shift.van_id)
    locs = [van.start_location, *(v.location for v in visits), van.end]
    travel = [m.duration(a, b) for a, b in pairwise(locs)]
    legs = [
        _Leg(lo, hi, v.duration, t) for v, (lo, hi), t in zip(visits, windows, travel, strict=False)
    ]
    spans = [
        found.end - found.depart
        for gap in range(len(legs) + 1)
        for on_arrival in (True, False)
        if (found := _with_break(problem, shift, legs, travel[-1], gap, on_arrival)) is not None
    ]
    assert timing.end - timing.depart == min(spans)
    assert_feasible(problem, _plan(problem, [route_of(problem, shift, visits, timing)]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_days())
def test_the_repair_keeps_a_checked_plan(case: tuple[Problem, list[int]]) -> None:
    problem, order = case
    shift = problem.shifts[0]
    ordered = replace(problem, visits=tuple(problem.visits[i] for i in order))
    starts, clock, here = [], shift.start, "base"
    for v in ordered.visits:
        s = clock + problem.matrix.duration(here, v.location)
        if v.windows:
            s = max(s, v.windows[0].start)
        starts.append(s)
        clock, here = s + v.duration, v.location
    route = _route(ordered, shift, starts)
    fitted = fit_breaks(problem, shift, route)
    routes = [] if fitted.route is None else [fitted.route]
    kept = {s.visit_id for r in routes for s in r.stops}
    assert kept | set(fitted.dropped) == {v.id for v in problem.visits}
    assert check_plan(problem, _plan(problem, routes, fitted.dropped)).ok or any(
        # A visit served outside its window keeps that time (never from the search).
        not any(w.start <= s.start and s.end <= w.end for w in problem.visit(s.visit_id).windows)
        and problem.visit(s.visit_id).windows
        for s in route.stops
    )


def _week(tiny: Tiny) -> Problem:
    """Two vans, three 8:00-16:30 days under the statutory rule, long visits with windows."""
    tiny.van("A").van("B")
    for day in range(3):
        tiny.shift("A", day, 8, 16.5).shift("B", day, 8, 16.5)
    for i in range(14):
        window = (tiny.window(i % 3, 8 + (i % 2) * 4, 12.5 + (i % 2) * 4),) if i % 3 else ()
        tiny.visit(f"v{i}", (2.0 * (i % 5) - 4, 1.5 * (i % 4) - 2), 75, windows=window)
    return tiny.build()


def test_the_search_plans_without_break_intervals_and_places_them(tiny: Tiny) -> None:
    problem = _week(tiny)
    model = build_model(problem, PLACED)
    assert model.placed == frozenset(range(6))
    assert all(model.breaks[k] == [] for k in range(6))
    modelled = build_model(problem, FAST)  # the default: break intervals
    assert modelled.placed == frozenset() and all(modelled.breaks[k] for k in range(6))


def test_a_week_with_breaks_does_not_stall(tiny: Tiny, caplog: pytest.LogCaptureFixture) -> None:
    # Structure, not speed: the search without break intervals reports its solutions and is
    # never ended as stalled; every long route has its break; the checker accepts the plan.
    problem = _week(tiny)
    with caplog.at_level(logging.INFO):
        plan = solve(
            problem,
            SolverSettings(time_limit=20.0, solution_limit=300, seed=1, statutory_breaks="placed"),
        )
    assert_feasible(problem, plan)
    assert "the search stalled" not in caplog.text
    assert plan.stats.solutions > 0
    for r in plan.routes:
        if r.working_time > 6 * HOUR:
            assert r.break_time >= 30 * MINUTE


def test_the_objective_of_an_extracted_plan_is_the_models(tiny: Tiny) -> None:
    # solution_cost (used when the placement changed a plan) equals OR-Tools' objective.
    tiny.van("A", fixed_cost_per_day=40.0).van("B")
    for day in range(2):
        tiny.shift("A", day, 8, 16.5).shift("B", day, 8, 16.5)
    for i in range(8):
        tiny.visit(f"v{i}", (1.5 * i - 5, 1.0), 60, preferred_van="A" if i % 2 else None)
    problem = tiny.build()
    model = build_model(problem, PLACED)
    solution = model.routing.SolveWithParameters(model_search_parameters(model, PLACED, 5.0))
    routes, dropped = extract_routes(model, solution)
    assert_feasible(problem, _plan(problem, routes, tuple(dropped)))
    assert solution_cost(model, routes, dropped) == solution.ObjectiveValue()


def test_statutory_breaks_setting_is_validated() -> None:
    with pytest.raises(ValidationError, match=r"settings\.statutory_breaks"):
        SolverSettings(statutory_breaks="ignored")
