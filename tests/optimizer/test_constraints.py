"""One tiny instance per constraint, built so that the constraint bites; every plan is checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from optimizer.domain import (
    HOUR,
    MINUTE,
    Break,
    BreakRule,
    Horizon,
    Objective,
    Pin,
    Shift,
    TimeWindow,
)
from optimizer.model import build_model, per_index
from optimizer.plan import BreakSlot, Plan, Reason, Route, SolverStats, Stop
from optimizer.search import warm_start
from optimizer.solve import solve
from tests.optimizer.conftest import FAST, Tiny, assert_feasible, order


def test_window_forces_order(one_van_day: Tiny) -> None:
    t = one_van_day
    # Geometry favours near -> far; the windows force far first.
    t.visit("near", (2, 0), 30, windows=(t.window(0, 11, 12),))
    t.visit("far", (10, 0), 30, windows=(t.window(0, 8, 10),))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert order(plan, "A", 0) == ["far", "near"]
    near = plan.route("A", 0).stops[1]  # type: ignore[union-attr]
    assert near.start >= t.at(0, 11) and near.end <= t.at(0, 12)


def test_second_window_on_another_day(tiny: Tiny) -> None:
    t = tiny.van("A").shift("A", 0).shift("A", 2)
    # The Monday window lies before the shift; only the Wednesday window can be used.
    t.visit("x", (3, 3), 45, windows=(t.window(0, 6, 7), t.window(2, 13, 15)))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"x": ("A", 2)}
    stop = plan.route("A", 2).stops[0]  # type: ignore[union-attr]
    assert t.at(2, 13) <= stop.start and stop.end <= t.at(2, 15)


def _alternative_days(tiny: Tiny) -> Tiny:
    t = tiny.van("A", fixed_cost_per_day=50.0).shift("A", 0).shift("A", 1)
    # y can only be served on Tuesday; x may come on Monday (listed first) or Tuesday, or on
    # Wednesday, when there is no shift. Next to y on Tuesday it saves a second day's trip.
    t.visit("y", (20, 0), 30, windows=(t.window(1, 10, 12),))
    t.visit("x", (20, 1), 30, windows=(t.window(0, 9, 15), t.window(1, 9, 15), t.window(2, 9, 15)))
    return t


def test_visit_windows_become_one_node_each(tiny: Tiny) -> None:
    p = _alternative_days(tiny).build()
    model = build_model(p)
    x_nodes = model.nodes_of_visit("x")
    assert [model.visits[n].windows for n in x_nodes] == [(w,) for w in p.visit("x").windows[:2]]
    assert len(model.nodes_of_visit("y")) == 1
    assert model.has_window_alternatives
    # One disjunction for x: at most one of its nodes is served.
    routing = model.routing
    index = model.manager.NodeToIndex(x_nodes[0])
    (disjunction,) = routing.GetDisjunctionIndices(index)
    for n in x_nodes:
        assert list(routing.GetDisjunctionIndices(model.manager.NodeToIndex(n))) == [disjunction]
    assert routing.GetDisjunctionMaxCardinality(disjunction) == 1
    assert routing.GetNumberOfDisjunctions() == 2  # x and y


def test_the_cheaper_later_window_is_chosen(tiny: Tiny) -> None:
    p = _alternative_days(tiny).build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"x": ("A", 1), "y": ("A", 1)}
    x = next(s for s in plan.route("A", 1).stops if s.visit_id == "x")  # type: ignore[union-attr]
    assert _within(x.start, x.end, p.visit("x").windows[1])


def _within(start: int, end: int, window: TimeWindow) -> bool:
    return window.start <= start and end <= window.end


def test_shift_end_forces_second_day(tiny: Tiny) -> None:
    t = tiny.van("A").shift("A", 0, 8, 10).shift("A", 1, 8, 10)
    for i in range(3):
        t.visit(f"v{i}", (1 + i, 0), 45)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert not plan.unassigned
    assert {day for _, day in plan.assigned.values()} == {0, 1}
    for r in plan.routes:
        assert r.end <= t.at(r.day, 10)


def test_shift_end_forces_drop_with_reason(one_van_day: Tiny) -> None:
    t = one_van_day
    t.shifts[0] = type(t.shifts[0])("A", 0, t.at(0, 8), t.at(0, 10))
    for i in range(3):
        t.visit(f"v{i}", (1 + i, 0), 45)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert len(plan.assigned) == 2
    (u,) = plan.unassigned
    assert u.reason is Reason.NO_ROOM


@pytest.mark.parametrize("engines", ["ortools", "auto"])
def test_max_work_limits_the_day(tiny: Tiny, engines: str) -> None:
    # A max_work far below an 8 h shift under the break rule: no route can need a break, so
    # the model has no break intervals (with them OR-Tools found no first solution at all and
    # the plan was a greedy one), and PyVRP may join.
    t = tiny.van("A").shift("A", 0, 8, 16, max_work=2 * HOUR)
    for i in range(4):
        t.visit(f"v{i}", (1, i * 0.5), 40)
    p = t.build()
    plan = solve(p, replace(FAST, engines=engines))
    assert_feasible(p, plan)
    assert plan.stats.status != "GREEDY" and plan.stats.solutions > 0
    route = plan.route("A", 0)
    assert route is not None and route.working_time <= 2 * HOUR
    assert len(route.stops) == 2  # three would need 2 h of service plus driving
    assert len(plan.unassigned) == 2
    # The reason names the cap, not only the competing visits.
    for u in plan.unassigned:
        assert u.reason is Reason.NO_ROOM
        assert "max work 2 h 00 min reached" in u.message


def test_a_max_work_within_the_first_break_threshold_needs_no_break(tiny: Tiny) -> None:
    rule = BreakRule()
    long_day = Shift("A", 0, 0, 10 * HOUR)
    assert long_day.needs_statutory_break(rule)
    assert not replace(long_day, max_work=rule.after_first).needs_statutory_break(rule)
    assert not replace(long_day, breaks=()).needs_statutory_break(rule)
    assert replace(long_day, max_work=rule.after_first + 1).needs_statutory_break(rule)
    t = tiny.van("A").shift("A", 0, 7, 18, max_work=6 * HOUR)
    t.visit("v0", (1, 0), 30)
    model = build_model(t.build(), FAST)
    assert model.breaks[0] == []


def test_no_statutory_break_on_a_short_day(one_van_day: Tiny) -> None:
    t = one_van_day
    for i in range(3):
        t.visit(f"v{i}", (2, i), 60)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and route.working_time <= 6 * HOUR
    assert route.breaks == ()


def test_statutory_break_on_a_long_day(tiny: Tiny) -> None:
    t = tiny.van("A").shift("A", 0, 7, 18)
    for i in range(7):
        t.visit(f"v{i}", (3, i * 0.3), 80)  # 9 h 20 min of service
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and len(route.stops) == 7
    assert route.working_time > 9 * HOUR
    assert route.break_time >= 45 * MINUTE
    for b in route.breaks:
        assert b.start >= t.at(0, 7) + p.break_rule.earliest_after_start
        assert route.start <= b.start and b.end <= route.end


def test_statutory_break_between_six_and_nine_hours(tiny: Tiny) -> None:
    t = tiny.van("A").shift("A", 0, 7, 18)
    for i in range(5):
        t.visit(f"v{i}", (3, i * 0.3), 80)  # 6 h 40 min of service
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and 6 * HOUR < route.working_time <= 9 * HOUR
    assert route.break_time >= 30 * MINUTE


def test_break_visit_transits_are_laid_out_by_routing_index(two_vans_week: Tiny) -> None:
    # Ten van-days share one depot node, so their start and end indices lie beyond the nodes;
    # OR-Tools reads the breaks' visit transits by index, over all of them.
    t = two_vans_week
    t.visit("a", (2, 0), 45).visit("b", (2, 0.5), 20)
    model = build_model(t.build())
    manager, routing = model.manager, model.routing
    per_node = np.array([45, 20, 0], dtype=np.int64)  # a, b, the base
    values = per_index(manager, routing, per_node)
    assert len(values) == routing.Size() + routing.vehicles() == 2 + 2 * 10
    assert values[manager.NodeToIndex(0)] == 45 and values[manager.NodeToIndex(1)] == 20
    for k in range(routing.vehicles()):
        assert values[routing.Start(k)] == values[routing.End(k)] == 0


def test_explicit_break_is_taken_in_its_window(tiny: Tiny) -> None:
    t = tiny.van("A")
    lunch = Break(t.at(0, 12), t.at(0, 13, 30), 45 * MINUTE)
    t.shift("A", 0, 8, 16, breaks=(lunch,))
    for i in range(5):
        t.visit(f"v{i}", (2, i * 0.5), 60)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and len(route.stops) == 5
    (b,) = route.breaks
    assert lunch.earliest_start <= b.start and b.end <= lunch.latest_end
    assert b.duration == 45 * MINUTE
    assert all(s.end <= b.start or b.end <= s.start for s in route.stops)


def test_skills_choose_the_van(tiny: Tiny) -> None:
    t = tiny.van("A").van("B", skills=frozenset({"lang:ar"}))
    t.shift("A", 0).shift("B", 0)
    t.visit("arabic", (2, 2), 30, skills=frozenset({"lang:ar"}))
    t.visit("nobody", (2, 3), 30, skills=frozenset({"lang:uk"}))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"arabic": ("B", 0)}
    (u,) = plan.unassigned
    assert u.visit_id == "nobody" and u.reason is Reason.NO_SKILLED_VAN


def test_allowed_days(two_vans_week: Tiny) -> None:
    t = two_vans_week
    t.visit("thu", (2, 2), 30, days=frozenset({3}))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned["thu"][1] == 3


def test_pin_van_day_and_start(two_vans_week: Tiny) -> None:
    t = two_vans_week
    t.visit("p", (2, 2), 30, pin=Pin(van_id="B", day=1, start=t.at(1, 10)))
    t.visit("q", (2, 2.5), 30)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned["p"] == ("B", 1)
    stop = next(s for s in plan.route("B", 1).stops if s.visit_id == "p")  # type: ignore[union-attr]
    assert stop.start == t.at(1, 10)


def test_impossible_pin_is_reported(two_vans_week: Tiny) -> None:
    t = two_vans_week
    t.visit("p", (2, 2), 30, pin=Pin(day=1, start=t.at(1, 20)))  # after every shift
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    (u,) = plan.unassigned
    assert u.visit_id == "p"
    assert u.reason in (Reason.PIN_IMPOSSIBLE, Reason.NO_SHIFT_IN_WINDOW)


def test_must_visit_beats_optional(one_van_day: Tiny) -> None:
    t = one_van_day
    # Room for one 5-hour visit only; the optional one is nearer (cheaper) but must loses.
    t.visit("optional", (1, 0), 300, priority=2)
    t.visit("must", (8, 0), 300, priority=1)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"must": ("A", 0)}
    assert [u.visit_id for u in plan.unassigned] == ["optional"]


def test_too_many_must_visits_still_give_a_plan(one_van_day: Tiny) -> None:
    t = one_van_day
    for i in range(6):
        t.visit(f"m{i}", (1, i * 0.2), 120)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert 1 <= len(plan.assigned) <= 3
    assert len(plan.assigned) + len(plan.unassigned) == 6
    assert all(u.reason is Reason.NO_ROOM for u in plan.unassigned)


def _two_depots(fixed: float) -> Tiny:
    t = Tiny()
    t.points["west"] = (-10.0, 0.0)
    t.points["east"] = (10.0, 0.0)
    t.van("W", start_location="west", fixed_cost_per_day=fixed)
    t.van("E", start_location="east", fixed_cost_per_day=fixed)
    t.shift("W", 0).shift("E", 0)
    t.visit("w1", (-11, 1), 30).visit("w2", (-9, -1), 30)
    t.visit("e1", (11, 1), 30).visit("e2", (9, -1), 30)
    return t


def test_fixed_cost_reduces_vans_used() -> None:
    cheap = _two_depots(0.0)
    p = cheap.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert len(plan.routes) == 2  # each van serves its own side

    dear = _two_depots(1000.0)
    p = dear.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert len(plan.routes) == 1
    assert not plan.unassigned


def _continuity(cost: float) -> Tiny:
    t = Tiny(objective=Objective(continuity_cost=cost))
    t.van("A", cost_per_km=0.30).van("B", cost_per_km=0.50)
    t.shift("A", 0).shift("B", 0)
    t.visit("client", (5, 0), 30, preferred_van="B")  # 10 km round trip: B costs 2 EUR more
    return t


def test_continuity_prefers_the_known_van() -> None:
    p = _continuity(20.0).build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"client": ("B", 0)}

    p = _continuity(0.5).build()  # cheaper than the detour in cost: the cheap van wins
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"client": ("A", 0)}


def test_anchor_keeps_a_confirmed_visit(two_vans_week: Tiny) -> None:
    t = two_vans_week
    t.visit("a", (2, 0), 30).visit("b", (2, 0.5), 30)
    p = t.build()
    free = solve(p, FAST)
    assert_feasible(p, free)
    assert free.assigned["a"] == free.assigned["b"]  # one van-day serves both when free
    anchors = {"a": ("B", 3), "b": ("A", 1)}
    plan = solve(p, FAST, anchors=anchors)
    assert_feasible(p, plan)
    assert plan.assigned == anchors


def test_unreachable_pair_is_never_driven(one_van_day: Tiny) -> None:
    t = one_van_day
    t.visit("x", (2, 0), 30).visit("y", (2.2, 0), 30).visit("z", (2, 5), 30)
    t.visit("island", (30, 30), 30)
    t.unreachable += [("loc-x", "loc-y"), ("loc-y", "loc-x")]
    t.unreachable += [("base", "loc-island"), ("loc-island", "base")]
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    stops = order(plan, "A", 0)
    assert set(stops) == {"x", "y", "z"}
    assert abs(stops.index("x") - stops.index("y")) == 2  # z goes between them
    (u,) = plan.unassigned
    assert u.visit_id == "island" and u.reason is Reason.UNREACHABLE


def test_capacity(tiny: Tiny) -> None:
    t = tiny.van("A", capacity=2).van("B", capacity=2).shift("A", 0).shift("B", 0)
    for i in range(4):
        t.visit(f"v{i}", (1, i * 0.1), 10, demand=1)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert len(plan.routes) == 2 and not plan.unassigned
    assert all(len(r.stops) == 2 for r in plan.routes)


def test_dst_week() -> None:
    # Summer time starts on Sunday 2026-03-29 in Europe/Berlin: Sunday has 23 hours.
    t = Tiny(horizon=Horizon(date(2026, 3, 27), 4))
    t.van("A").shift("A", 0).shift("A", 3)
    assert t.at(3, 0) - t.at(2, 0) == 23 * HOUR
    t.visit("mon", (3, 3), 30, windows=(t.window(3, 10, 11),))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    assert plan.assigned == {"mon": ("A", 3)}
    stop = plan.route("A", 3).stops[0]  # type: ignore[union-attr]
    local = p.horizon.to_datetime(stop.start)
    assert local.date() == date(2026, 3, 30) and 10 <= local.hour < 11
    assert local.utcoffset() is not None and local.utcoffset().total_seconds() == 2 * HOUR  # type: ignore[union-attr]


def test_departure_is_late_not_early(one_van_day: Tiny) -> None:
    t = one_van_day
    t.visit("late", (5, 0), 30, windows=(t.window(0, 14, 15),))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None
    (stop,) = route.stops
    assert stop.waiting == 0
    assert route.start == stop.start - stop.travel_time
    assert route.end == stop.end + route.return_travel_time


def test_window_shorter_than_service_is_reported(one_van_day: Tiny) -> None:
    t = one_van_day
    t.visit("long", (1, 1), 90, windows=(TimeWindow(t.at(0, 9), t.at(0, 10)),))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    (u,) = plan.unassigned
    assert u.reason is Reason.SERVICE_TOO_LONG


def test_max_work_counts_breaks_inside_the_route_as_rest(tiny: Tiny) -> None:
    t = tiny.van("A")
    lunch = Break(t.at(0, 12), t.at(0, 13), HOUR)
    t.shift("A", 0, 8, 16, max_work=6 * HOUR + 30 * MINUTE, breaks=(lunch,))
    for i in range(5):
        t.visit(f"v{i}", (1, i * 0.2), 66)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and len(route.stops) == 5
    assert route.end - route.start > 6 * HOUR + 30 * MINUTE  # the span alone would exceed it
    assert route.working_time <= 6 * HOUR + 30 * MINUTE
    assert route.breaks == (BreakSlot(lunch.earliest_start, lunch.latest_end),)


def test_working_time_counts_only_breaks_inside_the_route() -> None:
    # A configured break before departure is taken off duty: it does not shorten the work.
    stop = Stop(
        "v",
        "loc",
        arrival=9 * HOUR,
        start=9 * HOUR,
        end=10 * HOUR,
        waiting=0,
        travel_time=600,
        distance=1000,
    )
    route = Route(
        van_id="A",
        day=0,
        start_location="base",
        end_location="base",
        start=9 * HOUR - 600,
        end=10 * HOUR + 600,
        stops=(stop,),
        breaks=(
            BreakSlot(7 * HOUR, 7 * HOUR + 15 * MINUTE),  # before departure
            BreakSlot(8 * HOUR + 50 * MINUTE, 9 * HOUR - 5 * MINUTE),  # straddles departure
            BreakSlot(11 * HOUR, 11 * HOUR + 30 * MINUTE),  # after return
        ),
        return_travel_time=600,
        return_distance=1000,
    )
    assert route.break_time == 5 * MINUTE
    assert route.working_time == (route.end - route.start) - 5 * MINUTE
    assert Plan((route,), (), SolverStats("SUCCESS", 0.0, 0.0)).working_time == route.working_time


def test_off_duty_configured_break_does_not_reduce_working_time(tiny: Tiny) -> None:
    t = tiny.van("A")
    early = Break(t.at(0, 8), t.at(0, 9), 30 * MINUTE)  # before the only (late) visit
    t.shift("A", 0, 8, 16, breaks=(early,))
    t.visit("late", (1, 0), 60, windows=(TimeWindow(t.at(0, 14), t.at(0, 15)),))
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and order(plan, "A", 0) == ["late"]
    assert len(route.breaks) == 1 and route.breaks[0].end <= route.start  # taken off duty
    assert route.break_time == 0
    assert route.working_time == route.end - route.start


def test_max_work_with_lunch_fills_the_day_when_everything_fits(tiny: Tiny) -> None:
    # 6 h of service + a few minutes of driving fit 6.5 h of work around a fixed 12-13 lunch on
    # an 8-17 shift. (On an 8-16 shift only five fit: 6 h + 1 h lunch + driving exceed 8 h.)
    t = tiny.van("A")
    lunch = Break(t.at(0, 12), t.at(0, 13), HOUR)
    t.shift("A", 0, 8, 17, max_work=6 * HOUR + 30 * MINUTE, breaks=(lunch,))
    for i in range(6):
        t.visit(f"v{i}", (1, i * 0.2), 60)
    p = t.build()
    plan = solve(p, FAST)
    assert_feasible(p, plan)
    route = plan.route("A", 0)
    assert route is not None and len(route.stops) == 6 and plan.unassigned == ()
    assert route.working_time <= 6 * HOUR + 30 * MINUTE
    assert route.breaks == (BreakSlot(lunch.earliest_start, lunch.latest_end),)


def test_warm_start_takes_the_window_node_the_plan_used(one_van_day: Tiny) -> None:
    """A warm start puts a visit of several windows on the node of the window its stop lies in
    (both windows here are on the same van-day), so one solution from it keeps the plan."""
    t = one_van_day
    t.visit("y", (20, 0), 30, windows=(t.window(0, 10, 12),))
    t.visit("x", (20, 1), 30, windows=(t.window(0, 8, 9), t.window(0, 12, 14)))
    both = t.build()
    late_only = replace(
        both,
        visits=tuple(replace(v, windows=v.windows[1:]) if v.id == "x" else v for v in both.visits),
    )
    first = solve(late_only, FAST)
    assert order(first, "A", 0) == ["y", "x"]
    model = build_model(both)
    start = warm_start(model, first)
    assert start is not None  # a node of the early window after y would be rejected
    index, nodes = model.routing.Start(0), []
    while not model.routing.IsEnd(index := start.Value(model.routing.NextVar(index))):
        nodes.append(model.manager.IndexToNode(index))
    assert [model.visits[n].windows for n in nodes] == [
        both.visit("y").windows,
        both.visit("x").windows[1:],
    ]
    again = solve(both, replace(FAST, solution_limit=1), initial=first)
    assert_feasible(both, again)
    assert order(again, "A", 0) == ["y", "x"]
    x = again.route("A", 0).stops[1]  # type: ignore[union-attr]
    assert _within(x.start, x.end, both.visit("x").windows[1])
