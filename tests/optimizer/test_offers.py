"""Slot offers: every offer, applied to the plan, passes the independent checker; on break-free
instances the offered positions are exactly those a brute-force replay finds feasible, and none
is cheaper than the best offer."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.checker import check_plan
from optimizer.diagnose import static_reason
from optimizer.domain import UNREACHABLE, Pin, Problem, TimeWindow, Visit
from optimizer.errors import ValidationError
from optimizer.offers import apply_offer, find_offers
from optimizer.plan import Plan, Reason, SolverStats, Unassigned
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.optimizer.conftest import Tiny
from tests.optimizer.strategies import problems

FAST = SolverSettings(time_limit=0.5, solution_limit=20, seed=1)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EMPTY = Plan((), (), SolverStats("empty", 0.0, 0.0))


def _with(problem: Problem, visits: tuple[Visit, ...]) -> Problem:
    return replace(problem, visits=visits)


def _greedy(problem: Problem, fixed: Collection[str] = (), granularity: int = 1) -> Plan:
    """Book the visits one by one at their best offer, checking the plan after every booking."""
    plan = EMPTY
    for k, visit in enumerate(problem.visits):
        before = _with(problem, problem.visits[:k])
        after = _with(problem, problem.visits[: k + 1])
        result = find_offers(
            before, plan, visit, limit=3, per_van_day=2, fixed_times=fixed, granularity=granularity
        )
        assert len(result.offers) <= 3
        if visit.pin is None or visit.pin.start is None:
            assert all(o.start % granularity == 0 for o in result.offers)
        assert (result.reason is None) == bool(result.offers)
        for offer in result.offers:
            booked = apply_offer(plan, offer)
            check_plan(after, booked).assert_ok()
            _assert_kept(plan, booked, set(fixed))
        if result.offers:
            plan = apply_offer(plan, result.offers[0])
        else:
            assert result.reason is not None and result.reason.visit_id == visit.id
            plan = replace(plan, unassigned=(*plan.unassigned, result.reason))
    return plan


def _assert_kept(before: Plan, after: Plan, fixed: set[str]) -> None:
    """No stop moves earlier or to another van-day; fixed ones keep their start."""
    old = {s.visit_id: (r.van_id, r.day, s.start) for r in before.routes for s in r.stops}
    new = {s.visit_id: (r.van_id, r.day, s.start) for r in after.routes for s in r.stops}
    for vid, (van, day, start) in old.items():
        assert new[vid][:2] == (van, day)
        assert new[vid][2] >= start
        if vid in fixed:
            assert new[vid][2] == start


@SETTINGS
@given(problems(), st.data())
def test_every_offer_applied_passes_the_checker(problem: Problem, data: st.DataObject) -> None:
    ids = [v.id for v in problem.visits]
    fixed = data.draw(st.sets(st.sampled_from(ids)) if ids else st.just(set[str]()))
    _greedy(problem, fixed, data.draw(st.sampled_from((1, 300, 900))))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_visits=10))
def test_offers_into_a_solved_plan_pass_the_checker(problem: Problem) -> None:
    if not problem.visits:
        return
    *rest, new = problem.visits
    base = _with(problem, tuple(rest))
    plan = solve(base, FAST)
    served = set(plan.assigned)
    result = find_offers(base, plan, new, limit=10, fixed_times=served)
    for offer in result.offers:
        booked = apply_offer(plan, offer)
        check_plan(problem, booked).assert_ok()
        _assert_kept(plan, booked, served)
        assert booked.drive_time - plan.drive_time == offer.added_drive_time
        assert booked.distance - plan.distance == offer.added_distance


# --- brute force on break-free instances -------------------------------------------------------


def _replay(
    problem: Problem, plan: Plan, visit: Visit, fixed: set[str]
) -> dict[tuple[str, int, int], int]:
    """Every feasible insertion (van, day, position) -> added drive time, by plain replay: no
    breaks, earliest start at or after the planned one, fixed starts kept."""
    out: dict[tuple[str, int, int], int] = {}
    for shift in problem.shifts:
        van = problem.van(shift.van_id)
        pin = visit.pin
        if not visit.skills <= van.skills:
            continue
        if visit.days is not None and shift.day not in visit.days:
            continue
        if pin is not None and pin.van_id not in (None, van.id):
            continue
        if pin is not None and pin.day not in (None, shift.day):
            continue
        route = plan.route(van.id, shift.day)
        stops = list(route.stops) if route is not None else []
        demand = sum(problem.visit(s.visit_id).demand for s in stops) + visit.demand
        if van.capacity is not None and demand > van.capacity:
            continue
        old = route.drive_time if route is not None else 0
        for pos in range(len(stops) + 1):
            seq: list[tuple[Visit, int | None]] = [
                (problem.visit(s.visit_id), s.start) for s in stops
            ]
            seq.insert(pos, (visit, None))
            leave = shift.start if pos == 0 or route is None else route.start
            drive = _drive_if_feasible(
                problem, shift.window, van.start_location, van.end, leave, seq, fixed
            )
            if drive is not None:
                out[(van.id, shift.day, pos)] = drive - old
    return out


def _drive_if_feasible(
    problem: Problem,
    shift: TimeWindow,
    start_loc: str,
    end_loc: str,
    leave: int,
    seq: list[tuple[Visit, int | None]],
    fixed: set[str],
) -> int | None:
    m = problem.matrix
    t, loc, drive = leave, start_loc, 0
    for visit, floor in seq:
        travel = m.duration(loc, visit.location)
        if travel == UNREACHABLE:
            return None
        drive += travel
        ready = t + travel if floor is None else max(t + travel, floor)
        windows = list(visit.windows) or [shift]
        if visit.pin is not None and visit.pin.start is not None:
            starts = [visit.pin.start]
        else:
            starts = [max(ready, w.start) for w in windows]
        ok = [
            s
            for s in starts
            if s >= ready and any(w.start <= s and s + visit.duration <= w.end for w in windows)
        ]
        if not ok:
            return None
        start = min(ok)
        if (visit.id in fixed or (visit.pin is not None and visit.pin.start is not None)) and (
            floor is not None and start != floor
        ):
            return None
        t, loc = start + visit.duration, visit.location
    back = m.duration(loc, end_loc)
    if back == UNREACHABLE or t + back > shift.end:
        return None
    return drive + back


def _break_free(problem: Problem) -> Problem:
    shifts = tuple(replace(s, breaks=(), max_work=None) for s in problem.shifts)
    return replace(problem, shifts=shifts)


@SETTINGS
@given(problems(), st.data())
def test_offers_are_exactly_the_feasible_insertions(problem: Problem, data: st.DataObject) -> None:
    problem = _break_free(problem)
    if not problem.visits:
        return
    *rest, new = problem.visits
    base = _with(problem, tuple(rest))
    plan = _greedy(base)
    ids = list(plan.assigned)
    fixed = data.draw(st.sets(st.sampled_from(ids)) if ids else st.just(set[str]()))
    result = find_offers(base, plan, new, limit=1000, per_van_day=1000, fixed_times=fixed)
    got = {(o.van_id, o.day, o.position): o.added_drive_time for o in result.offers}
    expected = _replay(base, plan, new, fixed) if static_reason(base, new) is None else {}
    assert got == expected
    if expected:
        best = find_offers(base, plan, new, limit=1, fixed_times=fixed).offers[0]
        assert best.added_drive_time == min(expected.values())
    else:
        assert result.reason is not None


# --- named cases ---------------------------------------------------------------------------------


def _line(tiny: Tiny) -> tuple[Problem, Plan, Visit]:
    """Van A, Monday 8-16; stops a (10 km east) and c (30 km east); the new b at 20 km."""
    tiny.van("A").shift("A", 0)
    tiny.visit("a", (10.0, 0.0)).visit("c", (30.0, 0.0))
    tiny.points["loc-b"] = (20.0, 0.0)
    tiny.points["loc-far"] = (0.0, 40.0)
    problem = tiny.build()
    plan = _greedy(problem)
    return problem, plan, Visit("b", "loc-b", 30 * 60)


def test_the_visit_on_the_way_is_offered_first(tiny: Tiny) -> None:
    problem, plan, visit = _line(tiny)
    result = find_offers(problem, plan, visit, per_van_day=3)
    best = result.offers[0]
    # The route runs base -> c -> a -> base: b lies on the way out (before or after c, a tie
    # broken by the earlier start); after a it costs the detour 10 km -> 20 km and back.
    assert [(o.previous, o.next) for o in result.offers] == [(None, "c"), ("c", "a"), ("a", None)]
    assert [o.added_distance for o in result.offers] == [0, 0, 20_000]
    assert best.start < result.offers[1].start
    assert [o.added_drive_time for o in result.offers] == sorted(
        o.added_drive_time for o in result.offers
    )
    assert result.evaluated == 3 and result.feasible == 3
    check_plan(_with(problem, (*problem.visits, visit)), apply_offer(plan, best)).assert_ok()


def test_a_fixed_start_is_kept(tiny: Tiny) -> None:
    problem, plan, visit = _line(tiny)
    route = plan.route("A", 0)
    assert route is not None
    starts = {s.visit_id: s.start for s in route.stops}
    free = find_offers(problem, plan, visit, per_van_day=3)
    assert sorted(o.position for o in free.offers) == [0, 1, 2]
    # Before the first stop or between the two pushes a fixed stop: only the end remains.
    held = find_offers(problem, plan, visit, per_van_day=3, fixed_times={"a", "c"})
    assert [o.position for o in held.offers] == [2]
    assert {s.visit_id: s.start for s in held.offers[0].route.stops if s.visit_id != "b"} == starts


def test_no_room_and_static_reasons(tiny: Tiny) -> None:
    problem, plan, visit = _line(tiny)
    whole_day = replace(visit, duration=8 * 3600)
    none = find_offers(problem, plan, whole_day)
    assert not none.offers and none.reason is not None
    assert none.reason.reason is Reason.SERVICE_TOO_LONG
    crowded = replace(visit, duration=330 * 60)  # alone 6 h 18 min; with a and c over 8 h
    result = find_offers(problem, plan, crowded)
    assert not result.offers and result.reason is not None
    assert result.reason.reason is Reason.NO_ROOM and "A/0" in result.reason.conflicts
    skilled = find_offers(problem, plan, replace(visit, skills=frozenset({"lang:ar"})))
    assert skilled.reason is not None and skilled.reason.reason is Reason.NO_SKILLED_VAN


def test_pinned_start_is_offered_only_at_that_time(tiny: Tiny) -> None:
    problem, plan, visit = _line(tiny)
    at = problem.horizon.at(0, 14)
    result = find_offers(problem, plan, replace(visit, pin=Pin("A", 0, at)), per_van_day=3)
    assert result.offers and all(o.start == at for o in result.offers)


def test_a_statutory_break_is_added_when_the_day_grows_past_six_hours(tiny: Tiny) -> None:
    tiny.van("A").shift("A", 0, 7, 17)
    tiny.visit("a", (10.0, 0.0), 5 * 60, windows=(tiny.window(0, 8, 13.5),))
    problem = tiny.build()
    plan = _greedy(problem)
    route = plan.route("A", 0)
    assert route is not None and not route.breaks  # 5 h 24 min of work: no break needed
    tiny.points["loc-b"] = (12.0, 0.0)
    problem = replace(problem, matrix=tiny.build().matrix)
    visit = Visit("b", "loc-b", 60 * 60)
    result = find_offers(problem, plan, visit)
    assert result.offers
    booked = apply_offer(plan, result.offers[0])
    new_route = booked.route("A", 0)
    assert new_route is not None and new_route.working_time > 6 * 3600
    assert sum(b.duration for b in new_route.breaks) >= 30 * 60
    check_plan(_with(problem, (*problem.visits, visit)), booked).assert_ok()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": "nowhere"}, "visit.location"),
        ({"id": "a"}, "visit.id"),
    ],
)
def test_bad_input_names_the_field(tiny: Tiny, change: dict[str, str], field: str) -> None:
    problem, plan, visit = _line(tiny)
    with pytest.raises(ValidationError) as err:
        find_offers(problem, plan, replace(visit, **change))  # type: ignore[arg-type]
    assert [i.field for i in err.value.issues] == [field]


def test_limit_must_be_positive(tiny: Tiny) -> None:
    problem, plan, visit = _line(tiny)
    with pytest.raises(ValidationError) as err:
        find_offers(problem, plan, visit, limit=0)
    assert err.value.issues[0].field == "limit"


def test_unassigned_listing_is_dropped_when_booked(tiny: Tiny) -> None:
    problem, plan, visit = _line(tiny)
    listed = replace(plan, unassigned=(Unassigned("b", Reason.NO_ROOM, "was full"),))
    offer = find_offers(problem, listed, visit).offers[0]
    assert not apply_offer(listed, offer).unassigned
