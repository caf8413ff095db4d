"""PyVRP workers trading solutions through a shared pool, and PyVRP planning where OR-Tools'
model would not be built in time. Oracle: the independent checker."""

from __future__ import annotations

import multiprocessing as mp
import threading
from dataclasses import replace

import pytest
import pyvrp

from optimizer import solve as solve_module
from optimizer.engines import pyvrp_search
from optimizer.engines.exchange import SolutionPool, feasible_cost
from optimizer.engines.pyvrp_model import Declined, PyvrpMapping, express
from optimizer.engines.pyvrp_search import hybrid_search, outcome_of, run_pyvrp
from optimizer.plan import Plan
from optimizer.search import Task
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.optimizer.conftest import Tiny, assert_feasible

# Reproducible: PyVRP stops after solution_limit * 1000 iterations, OR-Tools after the limit.
QUICK = SolverSettings(time_limit=30.0, solution_limit=3, seed=0)


def _spread(t: Tiny, visits: int = 12) -> Tiny:
    """Two vans with 8:00-18:00 shifts without breaks, ``visits`` visits around the depot."""
    for van in "AB":
        t.van(van)
        t.shift(van, 0, 8, 18, breaks=())
    for i in range(visits):
        t.visit(f"v{i}", ((7 * i) % 11 - 5.0, (3 * i) % 7 - 3.0), 15)
    return t


def _mapped(t: Tiny) -> tuple[Task, PyvrpMapping]:
    problem = t.build()
    task = Task.of(problem)
    found = express(problem, QUICK, task.excluded)
    assert isinstance(found, PyvrpMapping), found
    return task, found


def _plan(task: Task, mapping: PyvrpMapping, solution: object) -> Plan:
    found = outcome_of(task, mapping, pyvrp_search.PyvrpRun(solution, 0))  # type: ignore[arg-type]
    assert found.routes is not None
    return Plan(tuple(found.routes), (), task.not_searched(QUICK, "SUCCESS").stats)


def test_the_pool_keeps_the_cheaper_solution_and_hands_it_out(tiny: Tiny) -> None:
    task, mapping = _mapped(_spread(tiny))
    data = mapping.data
    good = run_pyvrp(mapping, 30.0, QUICK).best
    poor = pyvrp.Solution(data, [list(range(data.num_clients))])  # one route in input order
    good_cost, poor_cost = feasible_cost(data, good), feasible_cost(data, poor)
    assert good_cost is not None and poor_cost is not None
    assert good_cost < poor_cost
    pool = SolutionPool(mp.get_context("fork"), data)
    assert pool.best_cost() is None
    assert pool.trade(data, poor, poor_cost) is None  # an empty pool takes any feasible offer
    assert pool.best_cost() == poor_cost
    assert pool.trade(data, good, good_cost) is None  # cheaper: kept, nothing better to hand out
    assert pool.best_cost() == good_cost
    handed = pool.trade(data, poor, poor_cost)  # dearer: the pool's solution comes back
    assert handed is not None
    assert feasible_cost(data, handed) == good_cost
    assert_feasible(task.problem, _plan(task, mapping, handed))
    # An infeasible offer (None) is never kept, and gets the pool's solution.
    assert pool.trade(data, poor, None) is not None
    assert pool.best_cost() == good_cost


def test_a_worker_goes_on_from_the_pools_better_solution(tiny: Tiny) -> None:
    task, mapping = _mapped(_spread(tiny, 30))
    data = mapping.data
    best = run_pyvrp(mapping, 30.0, replace(QUICK, solution_limit=8)).best
    best_cost = feasible_cost(data, best)
    assert best_cost is not None
    pool = SolutionPool(mp.get_context("fork"), data)
    pool.trade(data, best, best_cost)
    # A worker stopped at once (one epoch, ended at PyVRP's first check) returns the pool's
    # cheaper solution; its plan passes the checker.
    alone = run_pyvrp(mapping, 30.0, replace(QUICK, seed=5), lambda: True)
    alone_cost = feasible_cost(data, alone.best)
    assert alone_cost is None or alone_cost > best_cost
    ran = run_pyvrp(mapping, 30.0, replace(QUICK, seed=5), lambda: True, pool=pool)
    assert feasible_cost(data, ran.best) == best_cost
    assert_feasible(task.problem, _plan(task, mapping, ran.best))


def test_without_room_for_the_ortools_model_pyvrp_plans_alone(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    task, mapping = _mapped(_spread(tiny))
    monkeypatch.setattr(pyvrp_search, "model_fits", lambda nodes, seconds: False)
    result = hybrid_search(task, QUICK, mapping, task.t0 + 30.0, 0.5)
    assert result.stats.engine == "pyvrp"  # no OR-Tools polish
    assert not result.dropped
    assert_feasible(task.problem, Plan(tuple(result.routes), (), result.stats))


def test_a_problem_too_large_for_the_ortools_model_is_planned_by_pyvrp(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _spread(tiny).build()
    # As on thousands of visits: the model would not be built in the time limit.
    verdict = "The OR-Tools model takes too long to build."
    monkeypatch.setattr(solve_module, "model_verdict", lambda *args: verdict)
    monkeypatch.setattr(pyvrp_search, "model_fits", lambda nodes, seconds: False)
    plan = solve(problem, QUICK)
    assert plan.stats.engine == "pyvrp"
    assert not plan.unassigned
    assert verdict not in plan.warnings
    assert_feasible(problem, plan)
    # OR-Tools alone cannot plan it: the greedy plan, with the verdict as its warning.
    alone = solve(problem, replace(QUICK, engines="ortools"))
    assert alone.stats.status == "GREEDY"
    assert verdict in alone.warnings
    assert_feasible(problem, alone)


def test_without_a_pyvrp_plan_and_no_room_for_the_model_the_greedy_plan_answers(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four must visits, room for two: PyVRP (must visits are required clients) finds no
    # feasible plan, and OR-Tools' model is taken not to fit: the greedy plan is the answer.
    tiny.van("A")
    tiny.shift("A", 0, 8, 10, breaks=())
    for i in range(4):
        tiny.visit(f"v{i}", (1, i * 0.5), 40)
    problem = tiny.build()
    monkeypatch.setattr(solve_module, "model_verdict", lambda *args: "too large")
    monkeypatch.setattr(pyvrp_search, "model_fits", lambda nodes, seconds: False)
    plan = solve(problem, replace(QUICK, time_limit=3.0, solution_limit=None))
    assert plan.stats.status == "GREEDY"
    assert plan.assigned
    assert_feasible(problem, plan)


def test_a_mapping_stopped_while_it_is_made_declines(tiny: Tiny) -> None:
    problem = _spread(tiny).build()
    task = Task.of(problem)
    found = express(problem, QUICK, task.excluded, should_stop=lambda: True)
    assert isinstance(found, Declined)
    assert "stopped" in found.reason


def test_a_stoppable_solve_runs_pyvrp_in_a_process_of_its_own(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    def in_this_process(*args: object) -> None:
        raise AssertionError("a stoppable solve must not run PyVRP in this process")

    monkeypatch.setattr(solve_module, "solve_hybrid", in_this_process)
    problem = _spread(tiny).build()
    plan = solve(problem, QUICK, stop=threading.Event())
    assert plan.stats.engine in ("pyvrp", "pyvrp+ortools")
    assert not plan.unassigned
    assert_feasible(problem, plan)


def test_when_pyvrps_set_up_would_not_fit_nothing_is_searched(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on thousands of clients: PyVRP's set-up alone would outlast the time. No search runs
    # (the solve answers with its greedy plan, see the tests above).
    task, mapping = _mapped(_spread(tiny))
    monkeypatch.setattr(pyvrp_search, "setup_seconds", lambda clients: 1e6)
    result = hybrid_search(task, QUICK, mapping, task.t0 + 30.0, 0.8)
    assert not result.routes
    assert result.stats.solutions == 0
    assert sorted(result.dropped) == sorted(v.id for v in task.problem.visits)
