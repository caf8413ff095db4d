"""The independent checker: a hand-made correct plan passes; breaking one rule at a time is caught
with the right code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from optimizer.checker import Code, check_plan
from optimizer.domain import (
    HOUR,
    MINUTE,
    UNREACHABLE,
    Break,
    BreakRule,
    Horizon,
    Pin,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
)
from optimizer.plan import BreakSlot, Plan, Reason, Route, SolverStats, Stop, Unassigned

H = Horizon(date(2026, 11, 23), days=2)  # Monday; no DST change
LOCS = ("base", "a", "b", "c", "far")
LEG = 10 * MINUTE
KM = 6000


def t(day: int, hour: int, minute: int = 0) -> int:
    return H.at(day, hour, minute)


def make_matrix(
    unreachable: tuple[tuple[str, str], ...] = (("base", "far"), ("far", "base")),
) -> TravelMatrix:
    n = len(LOCS)
    dur = np.full((n, n), LEG, dtype=np.int64)
    dist = np.full((n, n), KM, dtype=np.int64)
    np.fill_diagonal(dur, 0)
    np.fill_diagonal(dist, 0)
    for a, b in unreachable:
        i, j = LOCS.index(a), LOCS.index(b)
        dur[i, j] = dist[i, j] = UNREACHABLE
    return TravelMatrix(LOCS, dur, dist)


def make_problem() -> Problem:
    vans = (
        Van("v1", skills=frozenset({"lang:ar", "wheelchair"}), capacity=10),
        Van("v2"),
    )
    shifts = (
        Shift("v1", 0, t(0, 8), t(0, 17), max_work=8 * HOUR),
        Shift("v2", 0, t(0, 8), t(0, 17), breaks=(Break(t(0, 12), t(0, 13, 30), 30 * MINUTE),)),
        Shift("v1", 1, t(1, 8), t(1, 17), max_work=8 * HOUR),
    )
    visits = (
        Visit(
            "a1",
            "a",
            HOUR,
            (TimeWindow(t(0, 9), t(0, 11)),),
            skills=frozenset({"lang:ar"}),
            demand=3,
        ),
        Visit("b1", "b", 30 * MINUTE, days=frozenset({0}), pin=Pin(van_id="v1")),
        Visit("c1", "c", 45 * MINUTE, (TimeWindow(t(0, 8), t(0, 17)),), priority=2),
        Visit("e1", "b", 2 * HOUR, (TimeWindow(t(0, 12), t(0, 16)),)),
        Visit("f1", "a", 3 * HOUR, (TimeWindow(t(1, 8), t(1, 12)),)),
        Visit("g1", "c", 3 * HOUR, days=frozenset({1})),
        Visit("x", "far", 30 * MINUTE),
    )
    return Problem(H, vans, shifts, visits, make_matrix()).validate()


def stop(vid: str, loc: str, arrival: int, start: int, end: int, waiting: int = 0) -> Stop:
    return Stop(vid, loc, arrival, start, end, waiting, LEG, KM)


def make_plan() -> Plan:
    r1 = Route(
        "v1", 0, "base", "base", t(0, 8, 50), t(0, 11, 55),
        (
            stop("a1", "a", t(0, 9), t(0, 9), t(0, 10)),
            stop("b1", "b", t(0, 10, 10), t(0, 10, 10), t(0, 10, 40)),
            stop("c1", "c", t(0, 10, 50), t(0, 11), t(0, 11, 45), waiting=10 * MINUTE),
        ),
        (), LEG, KM,
    )  # fmt: skip
    # Explicit break taken while waiting at the stop.
    r2 = Route(
        "v2", 0, "base", "base", t(0, 12), t(0, 14, 50),
        (stop("e1", "b", t(0, 12, 10), t(0, 12, 40), t(0, 14, 40)),),
        (BreakSlot(t(0, 12, 10), t(0, 12, 40)),), LEG, KM,
    )  # fmt: skip
    # Statutory break (7 h span) taken on the road between two stops.
    r3 = Route(
        "v1", 1, "base", "base", t(1, 8), t(1, 15),
        (
            stop("f1", "a", t(1, 8, 10), t(1, 8, 10), t(1, 11, 10)),
            stop("g1", "c", t(1, 11, 50), t(1, 11, 50), t(1, 14, 50)),
        ),
        (BreakSlot(t(1, 11, 10), t(1, 11, 40)),), LEG, KM,
    )  # fmt: skip
    unassigned = (Unassigned("x", Reason.UNREACHABLE, "no road"),)
    return Plan((r1, r2, r3), unassigned, SolverStats("test", 0.0, 0.0))


def route_of(plan: Plan, i: int, **changes: object) -> Plan:
    routes = list(plan.routes)
    routes[i] = replace(routes[i], **changes)  # type: ignore[arg-type]
    return replace(plan, routes=tuple(routes))


def stop_of(plan: Plan, i: int, j: int, **changes: object) -> Plan:
    stops = list(plan.routes[i].stops)
    stops[j] = replace(stops[j], **changes)  # type: ignore[arg-type]
    return route_of(plan, i, stops=tuple(stops))


def visit_of(problem: Problem, vid: str, **changes: object) -> Problem:
    visits = tuple(replace(v, **changes) if v.id == vid else v for v in problem.visits)  # type: ignore[arg-type]
    return replace(problem, visits=visits)


def shift_of(problem: Problem, key: tuple[str, int], **changes: object) -> Problem:
    shifts = tuple(replace(s, **changes) if s.key == key else s for s in problem.shifts)  # type: ignore[arg-type]
    return replace(problem, shifts=shifts)


def test_correct_plan_passes() -> None:
    report = check_plan(make_problem(), make_plan())
    report.assert_ok()
    assert report.ok and report.violations == ()


Mutation = Callable[[Problem, Plan], tuple[Problem, Plan]]

# (name, mutation, expected codes: exactly these unless marked "at least")
EXACT: list[tuple[str, Mutation, set[Code]]] = [
    (
        "unknown visit",
        lambda pb, pl: (pb, stop_of(pl, 0, 1, visit_id="zz")),
        {Code.UNKNOWN_VISIT, Code.MISSING_VISIT},
    ),
    ("missing visit", lambda pb, pl: (pb, replace(pl, unassigned=())), {Code.MISSING_VISIT}),
    (
        "served and unassigned",
        lambda pb, pl: (
            pb,
            replace(pl, unassigned=(*pl.unassigned, Unassigned("a1", Reason.NO_ROOM, ""))),
        ),
        {Code.SERVED_AND_UNASSIGNED},
    ),
    (
        "unassigned twice",
        lambda pb, pl: (pb, replace(pl, unassigned=pl.unassigned * 2)),
        {Code.UNASSIGNED_TWICE},
    ),
    (
        "unknown unassigned",
        lambda pb, pl: (
            pb,
            replace(pl, unassigned=(*pl.unassigned, Unassigned("zz", Reason.NO_ROOM, ""))),
        ),
        {Code.UNKNOWN_VISIT},
    ),
    (
        "travel time",
        lambda pb, pl: (pb, stop_of(pl, 0, 1, travel_time=LEG - 1)),
        {Code.TRAVEL_TIME},
    ),
    ("distance", lambda pb, pl: (pb, stop_of(pl, 0, 1, distance=KM + 1)), {Code.DISTANCE}),
    (
        "return leg distance",
        lambda pb, pl: (pb, route_of(pl, 0, return_distance=0)),
        {Code.DISTANCE},
    ),
    (
        "unreachable leg",
        lambda pb, pl: (replace(pb, matrix=make_matrix((("a", "b"),))), pl),
        {Code.UNREACHABLE_LEG},
    ),
    (
        "wrong stop location",
        lambda pb, pl: (pb, stop_of(pl, 0, 1, location="c")),
        {Code.WRONG_LOCATION},
    ),
    ("wrong depot", lambda pb, pl: (pb, route_of(pl, 0, end_location="a")), {Code.WRONG_LOCATION}),
    (
        "arrival",
        lambda pb, pl: (pb, stop_of(pl, 0, 2, arrival=t(0, 10, 55), waiting=5 * MINUTE)),
        {Code.ARRIVAL},
    ),
    ("waiting", lambda pb, pl: (pb, stop_of(pl, 0, 2, waiting=0)), {Code.WAITING}),
    ("return time", lambda pb, pl: (pb, route_of(pl, 0, end=t(0, 12))), {Code.ARRIVAL}),
    (
        "service duration",
        lambda pb, pl: (pb, stop_of(pl, 0, 0, end=t(0, 9, 50))),
        {Code.SERVICE_DURATION},
    ),
    (
        "time window",
        lambda pb, pl: (visit_of(pb, "a1", windows=(TimeWindow(t(0, 9, 30), t(0, 11)),)), pl),
        {Code.TIME_WINDOW},
    ),
    (
        "window too short for the whole service",
        lambda pb, pl: (visit_of(pb, "a1", windows=(TimeWindow(t(0, 9), t(0, 9, 59)),)), pl),
        {Code.TIME_WINDOW},
    ),
    (
        "allowed days",
        lambda pb, pl: (visit_of(pb, "b1", days=frozenset({1})), pl),
        {Code.DAY_NOT_ALLOWED},
    ),
    (
        "route without shift",
        lambda pb, pl: (replace(pb, shifts=pb.shifts[:1] + pb.shifts[2:]), pl),
        {Code.NO_SHIFT},
    ),
    (
        "shift start",
        lambda pb, pl: (shift_of(pb, ("v1", 0), start=t(0, 9)), pl),
        {Code.SHIFT_WINDOW},
    ),
    (
        "shift end",
        lambda pb, pl: (shift_of(pb, ("v1", 1), end=t(1, 14, 59)), pl),
        {Code.SHIFT_WINDOW},
    ),
    (
        "skills",
        lambda pb, pl: (
            replace(pb, vans=(replace(pb.vans[0], skills=frozenset()), pb.vans[1])),
            pl,
        ),
        {Code.SKILL},
    ),
    ("pin van", lambda pb, pl: (visit_of(pb, "b1", pin=Pin(van_id="v2")), pl), {Code.PIN}),
    ("pin day", lambda pb, pl: (visit_of(pb, "b1", pin=Pin(day=1)), pl), {Code.PIN}),
    ("pin start", lambda pb, pl: (visit_of(pb, "b1", pin=Pin(start=t(0, 10))), pl), {Code.PIN}),
    ("max work", lambda pb, pl: (shift_of(pb, ("v1", 1), max_work=6 * HOUR), pl), {Code.MAX_WORK}),
    (
        "explicit break not taken in its window",
        lambda pb, pl: (
            shift_of(pb, ("v2", 0), breaks=(Break(t(0, 14, 40), t(0, 16), 30 * MINUTE),)),
            pl,
        ),
        {Code.BREAK_MISSING, Code.BREAK_WINDOW},
    ),
    (
        "explicit break too short",
        lambda pb, pl: (
            shift_of(pb, ("v2", 0), breaks=(Break(t(0, 12), t(0, 13, 30), 40 * MINUTE),)),
            pl,
        ),
        {Code.BREAK_MISSING, Code.BREAK_WINDOW},
    ),
    (
        "break outside the shift",
        lambda pb, pl: (pb, route_of(pl, 0, breaks=(BreakSlot(t(0, 7), t(0, 7, 20)),))),
        {Code.BREAK_OUTSIDE_SHIFT},
    ),
    (
        "statutory break total",
        lambda pb, pl: (replace(pb, break_rule=BreakRule(first=45 * MINUTE)), pl),
        {Code.BREAK_TOO_SHORT},
    ),
    (
        "statutory break missing",
        lambda pb, pl: (
            pb,
            route_of(
                pl,
                2,
                breaks=(),
                stops=(
                    pl.routes[2].stops[0],
                    replace(pl.routes[2].stops[1], arrival=t(1, 11, 20), waiting=30 * MINUTE),
                ),
            ),
        ),
        {Code.BREAK_TOO_SHORT, Code.WORK_STRETCH},
    ),
    (
        "statutory work stretch",
        lambda pb, pl: (replace(pb, break_rule=BreakRule(after_first=3 * HOUR + 15 * MINUTE)), pl),
        {Code.WORK_STRETCH},
    ),
    (
        "capacity",
        lambda pb, pl: (replace(pb, vans=(replace(pb.vans[0], capacity=2), pb.vans[1])), pl),
        {Code.CAPACITY},
    ),
    (
        "unknown van",
        lambda pb, pl: (pb, route_of(pl, 1, van_id="v9")),
        {Code.UNKNOWN_VAN},
    ),
]

AT_LEAST: list[tuple[str, Mutation, set[Code]]] = [
    (
        "served twice",
        lambda pb, pl: (pb, stop_of(pl, 0, 2, visit_id="b1", location="c")),
        {Code.SERVED_TWICE},
    ),
    (
        "duplicate route",
        lambda pb, pl: (pb, replace(pl, routes=(*pl.routes, pl.routes[1]))),
        {Code.DUPLICATE_ROUTE},
    ),
    (
        "overlap with the next stop",
        lambda pb, pl: (
            pb,
            stop_of(pl, 0, 1, arrival=t(0, 10, 5), start=t(0, 10, 5), end=t(0, 10, 35)),
        ),
        {Code.OVERLAP},
    ),
    (
        "start before arrival",
        lambda pb, pl: (pb, stop_of(pl, 0, 2, start=t(0, 10, 45))),
        {Code.START_BEFORE_ARRIVAL},
    ),
    (
        "break overlaps a service",
        lambda pb, pl: (pb, route_of(pl, 1, breaks=(BreakSlot(t(0, 12, 30), t(0, 13)),))),
        {Code.BREAK_OVERLAP},
    ),
    (
        "break spans an arrival (driving during the break)",
        lambda pb, pl: (pb, route_of(pl, 1, breaks=(BreakSlot(t(0, 12, 5), t(0, 12, 35)),))),
        {Code.BREAK_OVERLAP},
    ),
    (
        "overlapping breaks",
        lambda pb, pl: (
            pb,
            route_of(
                pl,
                1,
                breaks=(
                    BreakSlot(t(0, 12, 10), t(0, 12, 40)),
                    BreakSlot(t(0, 12, 20), t(0, 12, 40)),
                ),
            ),
        ),
        {Code.BREAK_OVERLAP},
    ),
]


@pytest.mark.parametrize(("name", "mutate", "codes"), EXACT, ids=[c[0] for c in EXACT])
def test_one_violation_is_caught_with_its_code(
    name: str, mutate: Mutation, codes: set[Code]
) -> None:
    problem, plan = mutate(make_problem(), make_plan())
    report = check_plan(problem, plan)
    assert not report.ok
    assert report.codes() == codes, [str(v) for v in report.violations]


@pytest.mark.parametrize(("name", "mutate", "codes"), AT_LEAST, ids=[c[0] for c in AT_LEAST])
def test_violation_is_caught(name: str, mutate: Mutation, codes: set[Code]) -> None:
    problem, plan = mutate(make_problem(), make_plan())
    report = check_plan(problem, plan)
    assert codes <= report.codes(), [str(v) for v in report.violations]


def test_violation_names_route_and_visit() -> None:
    report = check_plan(make_problem(), stop_of(make_plan(), 0, 1, travel_time=1))
    (v,) = report.violations
    assert v.route == ("v1", 0) and v.visit_id == "b1" and "matrix says 600" in v.message


def test_assert_ok_lists_every_violation() -> None:
    plan = stop_of(stop_of(make_plan(), 0, 1, travel_time=1), 0, 0, distance=2)
    with pytest.raises(AssertionError, match="2 plan violation") as info:
        check_plan(make_problem(), plan).assert_ok()
    assert "travel_time" in str(info.value) and "distance" in str(info.value)


def test_anchors_report_moved_visits_without_violation() -> None:
    report = check_plan(make_problem(), make_plan(), anchors={"a1": ("v1", 0), "e1": ("v1", 0)})
    assert report.ok and report.moved == ("e1",)


def test_breaks_may_interrupt_a_leg_anywhere() -> None:
    # The statutory break split differently (15 + 15 min, one on the road, one while waiting).
    plan = make_plan()
    r3 = plan.routes[2]
    moved = route_of(
        plan,
        2,
        breaks=(BreakSlot(t(1, 11, 12), t(1, 11, 27)), BreakSlot(t(1, 11, 35), t(1, 11, 50))),
        stops=(r3.stops[0], replace(r3.stops[1], arrival=t(1, 11, 35))),
    )
    check_plan(make_problem(), moved).assert_ok()


def test_pieces_shorter_than_15_minutes_do_not_count() -> None:
    plan = make_plan()
    r3 = plan.routes[2]
    split = route_of(
        plan,
        2,
        breaks=(
            BreakSlot(t(1, 11, 10), t(1, 11, 20)),
            BreakSlot(
                t(
                    1,
                    11,
                    20,
                ),
                t(1, 11, 40),
            ),
        ),
        stops=r3.stops,
    )
    # Adjacent 10 + 20 min: the 10-minute piece does not count towards the 30 minutes required.
    assert Code.BREAK_TOO_SHORT in check_plan(make_problem(), split).codes()


def test_configured_breaks_are_matched_not_greedily_assigned() -> None:
    # The first configured break could take either slot; only the matching that gives it the
    # later slot (after the return: off duty, allowed) serves the second one.
    breaks = (
        Break(t(0, 12), t(0, 15, 30), 30 * MINUTE),
        Break(t(0, 12), t(0, 13), 30 * MINUTE),
    )
    problem = shift_of(make_problem(), ("v2", 0), breaks=breaks)
    plan = make_plan()
    slots = (*plan.routes[1].breaks, BreakSlot(t(0, 15), t(0, 15, 30)))
    check_plan(problem, route_of(plan, 1, breaks=slots)).assert_ok()
    # Without the second slot one configured break is missing.
    assert check_plan(problem, plan).codes() == {Code.BREAK_MISSING}
