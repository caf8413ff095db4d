"""PyVRP as a second engine: the mapping (faithful or declined with a reason), its checked
plans, the OR-Tools polish and the portfolio. Oracle: the independent checker."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.breaks import relaxed_span
from optimizer.checker import check_plan
from optimizer.domain import Break, Pin, Problem
from optimizer.engines.pyvrp_model import Declined, PyvrpMapping, express
from optimizer.engines.pyvrp_search import hybrid_search, outcome_of, run_pyvrp
from optimizer.errors import ValidationError
from optimizer.plan import Plan, SolverStats
from optimizer.processes import portfolio
from optimizer.search import Task, solve_one
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.optimizer.conftest import Tiny, assert_feasible
from tests.optimizer.strategies import problems

# Reproducible: PyVRP stops after solution_limit * 1000 iterations, OR-Tools after the limit.
QUICK = SolverSettings(time_limit=30.0, solution_limit=3, seed=0)


def _mapped(problem: Problem, settings: SolverSettings = QUICK) -> tuple[Task, PyvrpMapping]:
    task = Task.of(problem)
    found = express(problem, settings, task.excluded)
    assert isinstance(found, PyvrpMapping), found
    return task, found


def _no_breaks(t: Tiny, vans: str = "A", days: int = 1, h1: float = 14) -> Tiny:
    """Vans with 8:00-``h1`` shifts and no breaks (``breaks=()``), ``days`` days each."""
    for van in vans:
        t.van(van)
        for day in range(days):
            t.shift(van, day, 8, h1, breaks=())
    return t


def _pyvrp_plan(task: Task, mapping: PyvrpMapping) -> Plan:
    found = outcome_of(task, mapping, run_pyvrp(mapping, 10.0, QUICK))
    assert found.routes is not None
    return Plan(tuple(found.routes), (), SolverStats("PYVRP", found.objective, 0.0))


def test_a_problem_pyvrp_expresses_gives_a_checked_plan(tiny: Tiny) -> None:
    _no_breaks(tiny, "AB")
    for i in range(8):
        tiny.visit(f"v{i}", (3.0 * (i % 4) - 4, 2.0 * (i // 4) - 1), 20)
    problem = tiny.build()
    task, mapping = _mapped(problem)
    assert len(mapping.data.vehicle_types()) == 1  # A and B are interchangeable
    result = hybrid_search(task, QUICK, mapping, task.t0 + 30.0, 0.8)
    plan = Plan(tuple(result.routes), (), result.stats)
    assert sorted(s.visit_id for r in plan.routes for s in r.stops) == [f"v{i}" for i in range(8)]
    assert not result.dropped
    assert "PyVRP" in result.stats.strategy
    full = solve(problem, QUICK)
    assert_feasible(problem, full)
    assert not full.unassigned


def test_pyvrp_objective_is_vanplan_objective(tiny: Tiny) -> None:
    """The mapped costs are vanplan's: OR-Tools, started from PyVRP's routes and stopped at its
    first solution, counts the same objective (per-km and per-hour rates, fixed cost)."""
    _no_breaks(tiny, "")
    tiny.van("A", cost_per_km=0.4, cost_per_hour=25.0, fixed_cost_per_day=7.0).shift(
        "A", 0, 8, 14, breaks=()
    )
    for i in range(6):
        tiny.visit(f"v{i}", (5.0 * (i % 3) - 5, 3.0 * (i // 3)), 15)
    problem = tiny.build()
    task, mapping = _mapped(problem)
    initial = _pyvrp_plan(task, mapping)
    assert_feasible(problem, replace(initial, unassigned=()))
    first = SolverSettings(time_limit=30.0, solution_limit=1, iterated_local_search=False)
    same = solve_one(replace(task, initial=initial), first)
    assert same.stats.objective == pytest.approx(initial.stats.objective, abs=1e-6)


def test_several_windows_become_one_group_and_one_is_served(tiny: Tiny) -> None:
    _no_breaks(tiny, "A", h1=16)
    tiny.visit("w", (4, 0), 30, windows=(tiny.window(0, 8, 9), tiny.window(0, 14, 15)))
    tiny.visit("x", (4, 1), 30, windows=(tiny.window(0, 8, 8.75),))
    task, mapping = _mapped(tiny.build())
    assert len(mapping.data.groups()) == 1
    assert [c.visit_id for c in mapping.clients].count("w") == 2
    plan = _pyvrp_plan(task, mapping)
    stops = {s.visit_id: s for r in plan.routes for s in r.stops}
    assert set(stops) == {"w", "x"}
    # x takes the morning, so w must be served in its afternoon window.
    assert stops["w"].start >= tiny.at(0, 14)
    assert_feasible(tiny.build(), plan)


def test_days_and_pins_keep_clients_on_their_van_days(tiny: Tiny) -> None:
    _no_breaks(tiny, "AB", days=3)
    tiny.visit("d", (3, 0), 20, days=frozenset({2}))
    tiny.visit("p", (-3, 0), 20, pin=Pin(van_id="B", day=1))
    tiny.visit("f", (0, 3), 20)
    problem = tiny.build()
    task, mapping = _mapped(problem)
    plan = _pyvrp_plan(task, mapping)
    assigned = plan.assigned
    assert assigned["d"][1] == 2
    assert assigned["p"] == ("B", 1)
    assert len(assigned) == 3


def test_optional_visits_are_prizes(tiny: Tiny) -> None:
    """An optional visit is served when its penalty outweighs the detour, else dropped."""
    _no_breaks(tiny, "A", h1=16)
    tiny.visit("near", (1, 0), 10, priority=2)  # penalty 500 euros
    tiny.visit("far", (100, 0), 10, priority=9)  # penalty 62.5 euros, 200 km detour
    problem = tiny.build()
    problem = replace(problem, vans=tuple(replace(v, cost_per_km=1.0) for v in problem.vans))
    task, mapping = _mapped(problem)
    assert not any(c.required for c in mapping.data.clients())
    assert sorted(c.prize for c in mapping.data.clients()) == [62_500, 500_000]
    found = outcome_of(task, mapping, run_pyvrp(mapping, 10.0, QUICK))
    assert found.dropped == ["far"]
    plan = solve(problem, QUICK)
    assert_feasible(problem, plan)
    assert [u.visit_id for u in plan.unassigned] == ["far"]


def test_skills_bar_the_vans_without_them(tiny: Tiny) -> None:
    tiny.van("A").van("B", skills=frozenset({"lang:ar"}))
    tiny.shift("A", 0, 8, 14, breaks=()).shift("B", 0, 8, 14, breaks=())
    for i in range(4):
        tiny.visit(f"s{i}", (2.0 * i, 1), 20, skills=frozenset({"lang:ar"}))
        tiny.visit(f"o{i}", (-2.0 * i, -1), 20)
    problem = tiny.build()
    task, mapping = _mapped(problem)
    assert len(mapping.data.vehicle_types()) == 2
    plan = _pyvrp_plan(task, mapping)
    assert all(plan.assigned[f"s{i}"][0] == "B" for i in range(4))
    assert_feasible(problem, solve(problem, QUICK))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("explicit_breaks", "explicit breaks"),
        ("statutory", "statutory break rule"),
        ("anchors", "anchors"),
        ("charge_waiting", "charge_waiting"),
    ],
)
def test_what_pyvrp_cannot_express_is_declined_with_the_reason(
    tiny: Tiny, change: str, reason: str
) -> None:
    tiny.van("A")
    if change == "explicit_breaks":
        tiny.shift("A", 0, 8, 16, breaks=(Break(tiny.at(0, 11), tiny.at(0, 13), 1800),))
    elif change == "statutory":
        tiny.shift("A", 0, 8, 16)  # breaks None: the statutory rule on an 8-hour shift
    else:
        tiny.shift("A", 0, 8, 16, breaks=())
    tiny.visit("v", (3, 0), 20)
    problem = tiny.build()
    settings = replace(QUICK, charge_waiting=change == "charge_waiting")
    if change == "statutory":
        settings = replace(settings, statutory_breaks="modelled")
    anchors = {"v": ("A", 0)} if change == "anchors" else None
    found = express(problem, settings, {}, anchors)
    assert isinstance(found, Declined)
    assert reason in found.reason
    if change == "charge_waiting":
        return  # OR-Tools 9.15 aborts on this tiny model with slack costs (not PyVRP's part)
    plan = solve(problem, settings, anchors=anchors)  # OR-Tools alone
    assert_feasible(problem, plan)
    assert "PyVRP" not in plan.stats.strategy


def test_a_statutory_shift_maps_with_room_for_its_break_when_breaks_are_placed(
    tiny: Tiny,
) -> None:
    tiny.van("A").shift("A", 0, 8, 16.5)  # 8 h 30 min: one 30-minute break
    tiny.visit("v", (3, 0), 20)
    problem = tiny.build()
    assert isinstance(express(problem, QUICK, {}), Declined)  # the default: modelled
    found = express(problem, replace(QUICK, statutory_breaks="placed"), {})
    assert isinstance(found, PyvrpMapping)
    (vehicle,) = found.data.vehicle_types()
    assert vehicle.shift_duration == relaxed_span(problem.shifts[0], problem.break_rule)
    assert vehicle.shift_duration == 8 * 3600


def test_a_short_statutory_shift_needs_no_break_and_maps(tiny: Tiny) -> None:
    tiny.van("A").shift("A", 0, 8, 13)  # 5 hours: the break rule never asks for a break
    tiny.visit("v", (3, 0), 20)
    assert isinstance(express(tiny.build(), QUICK, {}), PyvrpMapping)


def test_engines_setting_is_validated_and_ortools_alone_skips_pyvrp(tiny: Tiny) -> None:
    with pytest.raises(ValidationError, match=r"settings\.engines"):
        SolverSettings(engines="pyvrp-only")
    with pytest.raises(ValidationError, match=r"settings\.engines"):
        SolverSettings.from_dict({"engines": 3})
    _no_breaks(tiny, "A")
    tiny.visit("v", (3, 0), 20)
    plan = solve(tiny.build(), replace(QUICK, engines="ortools"))
    assert "PyVRP" not in plan.stats.strategy
    # OR-Tools' polish of PyVRP's plan of one visit finds fewer than QUICK's 3 solutions:
    # stop it at the first instead of at the 30 s time limit.
    assert "PyVRP" in solve(tiny.build(), replace(QUICK, solution_limit=1)).stats.strategy


def test_same_seed_and_solution_limit_give_the_same_plan(tiny: Tiny) -> None:
    _no_breaks(tiny, "AB")
    for i in range(9):
        tiny.visit(f"v{i}", ((7 * i) % 11 - 5.0, (3 * i) % 7 - 3.0), 15)
    problem = tiny.build()
    first, second = solve(problem, QUICK), solve(problem, QUICK)
    assert first.routes == second.routes
    assert first.stats.objective == second.stats.objective


def test_the_portfolio_runs_pyvrp_on_every_worker(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_hybrid, real_search = portfolio.hybrid_in_child, portfolio.search_in_child

    def hybrid(*args: Any) -> Any:
        calls.append("pyvrp")
        return real_hybrid(*args)

    def search(*args: Any) -> Any:
        calls.append("ortools")
        return real_search(*args)

    monkeypatch.setattr(portfolio, "hybrid_in_child", hybrid)
    monkeypatch.setattr(portfolio, "search_in_child", search)
    _no_breaks(tiny, "AB")
    for i in range(6):
        tiny.visit(f"v{i}", (2.0 * i - 5, 1.0), 15)
    problem = tiny.build()
    plan = solve(problem, replace(QUICK, workers=2))
    assert calls == ["pyvrp", "pyvrp"]  # each with its own seed, OR-Tools polishing
    assert_feasible(problem, plan)
    assert plan.stats.workers == 2
    assert plan.stats.engine in ("pyvrp", "pyvrp+ortools")
    # With breaks PyVRP declines: both workers search with OR-Tools.
    calls.clear()
    lunch = tiny.window(0, 11, 13)
    breaks = (Break(lunch.start, lunch.end, 1800),)
    with_breaks = replace(problem, shifts=tuple(replace(s, breaks=breaks) for s in problem.shifts))
    plan = solve(with_breaks, replace(QUICK, workers=2))
    assert calls == ["ortools", "ortools"]
    assert plan.stats.engine == "ortools"
    assert_feasible(with_breaks, plan)


def test_the_plan_records_its_engine(tiny: Tiny) -> None:
    _no_breaks(tiny, "A")
    for i in range(4):
        tiny.visit(f"v{i}", (2.0 * i - 3, 1.0), 15)
    problem = tiny.build()
    alone = solve(problem, replace(QUICK, engines="ortools"))
    assert alone.stats.engine == "ortools"
    hybrid = solve(problem, QUICK)
    assert hybrid.stats.engine in ("pyvrp", "pyvrp+ortools")
    assert "PyVRP" in hybrid.stats.strategy
    task, mapping = _mapped(problem)
    # No time left to polish (under MIN_POLISH_SECONDS): PyVRP's checked plan as it is.
    quick = hybrid_search(task, QUICK, mapping, task.t0 + 0.3, 0.5)
    assert quick.stats.engine == "pyvrp"
    assert_feasible(problem, Plan(tuple(quick.routes), (), quick.stats))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(problems(), st.booleans())
def test_every_plan_with_pyvrp_passes_the_checker(problem: Problem, no_breaks: bool) -> None:
    """Random small problems, half of them without breaks so that PyVRP takes part."""
    if no_breaks:
        problem = replace(problem, shifts=tuple(replace(s, breaks=()) for s in problem.shifts))
    plan = solve(problem, SolverSettings(time_limit=5.0, solution_limit=2, seed=1))
    check_plan(problem, plan).assert_ok()
    served = [s.visit_id for r in plan.routes for s in r.stops]
    listed = [u.visit_id for u in plan.unassigned]
    assert sorted(served + listed) == sorted(v.id for v in problem.visits)


def test_pyvrp_gives_up_when_a_must_visit_fits_nowhere(
    tiny: Tiny, caplog: pytest.LogCaptureFixture
) -> None:
    # Four must visits, room for two: PyVRP (must visits are required clients) never finds a
    # feasible plan; it gives up early and OR-Tools, which leaves two out, plans.
    _no_breaks(tiny, "A", h1=10)
    for i in range(4):
        tiny.visit(f"v{i}", (1, i * 0.5), 40)
    problem = tiny.build()
    _, mapping = _mapped(problem)
    unlimited = replace(QUICK, solution_limit=None, time_limit=5.0)
    with caplog.at_level(logging.INFO, logger="optimizer.engines.pyvrp_search"):
        result = run_pyvrp(mapping, 5.0, unlimited)  # gives up after 1 s
    assert not result.best.is_feasible()
    assert "giving up" in caplog.text
    plan = solve(problem, replace(QUICK, time_limit=5.0))
    assert plan.stats.engine == "ortools"
    assert len(plan.unassigned) == 2
    assert_feasible(problem, plan)


def test_van_days_of_a_week_share_one_restriction_profile(tiny: Tiny) -> None:
    # Visits held to one day by their window, and visits of any day (one client per day): a
    # day's vehicles need no bar on the other days' clients, their windows keep them apart.
    _no_breaks(tiny, "A", days=3)
    for i in range(6):
        day = i % 3
        window = tiny.window(day, 9, 12) if i < 3 else None
        tiny.visit(f"v{i}", (2.0 * i - 5, 1.0), 20, windows=(window,) if window else ())
    problem = tiny.build()
    task, mapping = _mapped(problem)
    assert mapping.data.num_vehicle_types == 3
    assert mapping.data.num_profiles == 1
    plan = _pyvrp_plan(task, mapping)
    assert_feasible(problem, plan)
    served_on = {s.visit_id: r.day for r in plan.routes for s in r.stops}
    assert len(served_on) == 6
    assert [served_on[f"v{i}"] for i in range(3)] == [0, 1, 2]
