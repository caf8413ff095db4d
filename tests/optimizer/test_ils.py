"""Iterated local search (OR-Tools' ruin and recreate): settings, search parameters, solves on
models with vanplan's features, reproducibility, stop, warm start, fallback, portfolio."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import random
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ortools.constraint_solver import routing_enums_pb2, routing_ils_pb2
from ortools.util import optional_boolean_pb2

import optimizer.budget as budget_module
import optimizer.params as params_module
import optimizer.processes.stall as stall_module
import optimizer.processes.start as start_module
import optimizer.search as search_module
from optimizer.checker import check_plan
from optimizer.domain import UNREACHABLE, Horizon, Problem, TravelMatrix
from optimizer.errors import ValidationError
from optimizer.model import build_model
from optimizer.plan import Plan
from optimizer.search import Task
from optimizer.settings import SolverSettings
from optimizer.solve import (
    Progress,
    annealing_temperatures,
    model_search_parameters,
    portfolio,
    search_parameters,
    solve,
)
from tests.optimizer.conftest import MONDAY, Tiny, assert_feasible, solve_stopped_after
from tests.optimizer.test_solve import _no_first_solution_problem, _signature, _week


@pytest.fixture(scope="module")
def week() -> Problem:
    return _week()


@pytest.fixture(scope="module")
def first_plan(week: Problem) -> Plan:
    """A plan of 30 solutions of the plain search, made once for the warm-start tests
    (read-only: plans are frozen)."""
    return solve(week, SolverSettings(time_limit=30, solution_limit=30))


@pytest.fixture(scope="module")
def with_breaks() -> Problem:
    """Breaks, max_work, split windows, a capacity, skills, priorities (see test_solve)."""
    return _no_first_solution_problem()


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ruin": "SHAW"}, "settings.ruin"),
        ({"ruin_visits": 0}, "settings.ruin_visits"),
        ({"ruin_sequence": 0}, "settings.ruin_sequence"),
        ({"recreate": "CHRISTOFIDES"}, "settings.recreate"),
        ({"acceptance": "LATE_ACCEPTANCE"}, "settings.acceptance"),
    ],
)
def test_bad_ils_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        SolverSettings(**kwargs)  # type: ignore[arg-type]
    assert [i.field for i in err.value.issues] == [field]


def test_ils_settings_from_dict_and_toml(tmp_path: Path) -> None:
    s = SolverSettings.from_dict({"iterated_local_search": True, "ruin": "RANDOM_WALK"})
    assert s.iterated_local_search and s.ruin == "RANDOM_WALK"
    with pytest.raises(ValidationError) as err:
        SolverSettings.from_dict({"iterated_local_search": "yes", "ruin_visits": 2.5})
    assert {i.field for i in err.value.issues} == {
        "settings.iterated_local_search",
        "settings.ruin_visits",
    }
    path = tmp_path / "solver.toml"
    path.write_text(
        "[solver]\niterated_local_search = true\nruin_visits = 15\nacceptance = 'GREEDY_DESCENT'\n"
    )
    s = SolverSettings.from_toml(path)
    assert (s.iterated_local_search, s.ruin_visits, s.acceptance) == (True, 15, "GREEDY_DESCENT")


# --- search parameters ---------------------------------------------------------------------------


def test_ils_search_parameters_sisr_with_annealing() -> None:
    params = search_parameters(
        SolverSettings(iterated_local_search=True, ruin_visits=12, ruin_sequence=8)
    )
    assert params.use_iterated_local_search
    # The local search inside each ILS iteration must end at a local optimum.
    assert (
        params.local_search_metaheuristic
        == routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    )
    ils = params.iterated_local_search_parameters
    assert ils.perturbation_strategy == routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
    assert ils.improve_perturbed_solution
    (ruin,) = ils.ruin_recreate_parameters.ruin_strategies
    assert ruin.WhichOneof("strategy") == "sisr"
    assert (ruin.sisr.avg_num_removed_visits, ruin.sisr.max_removed_sequence_size) == (12, 8)
    assert 0 <= ruin.sisr.bypass_factor <= 1
    recreate = ils.ruin_recreate_parameters.recreate_strategy
    assert recreate.heuristic == routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
    accept = ils.reference_solution_acceptance_strategy
    assert accept.WhichOneof("strategy") == "simulated_annealing"
    assert accept.simulated_annealing.automatic_temperatures
    assert ils.best_solution_acceptance_strategy.WhichOneof("strategy") == "greedy_descent"


def test_default_search_is_ils_with_large_sisr_ruins() -> None:
    """The default is the configuration benchmarks/RESULTS.md measured: SISR removing 30 visits
    on average in strings of up to 30, one ruin per iteration."""
    ils = search_parameters(SolverSettings()).iterated_local_search_parameters
    (ruin,) = ils.ruin_recreate_parameters.ruin_strategies
    assert (ruin.sisr.avg_num_removed_visits, ruin.sisr.max_removed_sequence_size) == (30, 30)


@pytest.mark.parametrize(
    ("ruin", "field", "value"),
    [("RANDOM_WALK", "num_removed_visits", 10), ("SPATIALLY_CLOSE_ROUTES", "num_ruined_routes", 2)],
)
def test_ils_search_parameters_other_ruins(ruin: str, field: str, value: int) -> None:
    params = search_parameters(
        SolverSettings(
            iterated_local_search=True,
            ruin=ruin,
            ruin_visits=10,
            recreate="PARALLEL_CHEAPEST_INSERTION",
            acceptance="GREEDY_DESCENT",
        )
    )
    ils = params.iterated_local_search_parameters
    (strategy,) = ils.ruin_recreate_parameters.ruin_strategies
    kind = strategy.WhichOneof("strategy")
    assert kind == ruin.lower()
    assert getattr(getattr(strategy, kind), field) == value
    assert (
        ils.ruin_recreate_parameters.recreate_strategy.heuristic
        == routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    assert ils.reference_solution_acceptance_strategy.WhichOneof("strategy") == "greedy_descent"


def test_without_ils_the_metaheuristic_is_kept() -> None:
    params = search_parameters(SolverSettings(iterated_local_search=False))
    assert not params.use_iterated_local_search
    assert (
        params.local_search_metaheuristic
        == routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )


def test_annealing_temperatures_follow_the_arc_costs_not_unreachable_pairs(week: Problem) -> None:
    first, last = annealing_temperatures(build_model(week))
    assert first == pytest.approx(100 * last) and first > 0
    # The same places with one pair unreachable (a forbidden arc of cost 1e9 inside the model):
    # the temperatures stay on the scale of the real arcs.
    m = week.matrix
    durations, distances = m.durations.copy(), m.distances.copy()
    i, j = m.index(week.visits[0].location), m.index(week.visits[1].location)
    durations[i, j] = distances[i, j] = UNREACHABLE
    cut = replace(week, matrix=TravelMatrix(m.locations, durations, distances))
    cut_first, _ = annealing_temperatures(build_model(cut))
    assert cut_first == pytest.approx(first, rel=0.05)
    # Dearer vans, hotter annealing: the temperatures are in the objective's units.
    dear = replace(week, vans=tuple(replace(v, cost_per_km=2 * v.cost_per_km) for v in week.vans))
    assert annealing_temperatures(build_model(dear))[0] > first


def test_model_search_parameters_carry_the_models_temperatures(week: Problem) -> None:
    model = build_model(week)
    params = model_search_parameters(model, SolverSettings(), 7.0)
    sa = params.iterated_local_search_parameters.reference_solution_acceptance_strategy
    assert sa.WhichOneof("strategy") == "simulated_annealing"
    assert not sa.simulated_annealing.automatic_temperatures
    first, last = annealing_temperatures(model)
    assert sa.simulated_annealing.initial_temperature == pytest.approx(first)
    assert sa.simulated_annealing.final_temperature == pytest.approx(last)
    assert params.time_limit.seconds == 7
    # Greedy acceptance and plain searches have no temperatures to set.
    greedy = model_search_parameters(model, SolverSettings(acceptance="GREEDY_DESCENT"))
    accept = greedy.iterated_local_search_parameters.reference_solution_acceptance_strategy
    assert accept.WhichOneof("strategy") == "greedy_descent"
    plain = SolverSettings(iterated_local_search=False)
    assert model_search_parameters(model, plain) == search_parameters(plain)


def test_ils_leaves_out_optional_visit_operators_only_when_every_visit_is_a_must(
    week: Problem,
) -> None:
    """The operators that drop chains of visits or work on left-out ones serve optional visits
    and the choice between a visit's window nodes; with only must visits of one window each ILS
    switches them off, with an optional visit or a visit of several windows they stay as
    OR-Tools sets them, and the plain search never loses them."""
    off = optional_boolean_pb2.BOOL_FALSE
    names = params_module._OPTIONAL_VISIT_OPERATORS
    assert any(v.priority > 1 for v in week.visits)
    mixed = model_search_parameters(build_model(week), SolverSettings())
    assert all(getattr(mixed.local_search_operators, n) != off for n in names)

    assert any(len(v.windows) > 1 for v in week.visits)
    alternatives = replace(week, visits=tuple(replace(v, priority=1) for v in week.visits))
    alt = model_search_parameters(build_model(alternatives), SolverSettings())
    assert all(getattr(alt.local_search_operators, n) != off for n in names)

    musts = replace(
        week, visits=tuple(replace(v, priority=1, windows=v.windows[:1]) for v in week.visits)
    )
    model = build_model(musts)
    assert not model.has_window_alternatives
    ils = model_search_parameters(model, SolverSettings())
    assert all(getattr(ils.local_search_operators, n) == off for n in names)
    assert ils.local_search_operators.use_make_active != off  # left-out musts still go back in
    plain = model_search_parameters(model, SolverSettings(iterated_local_search=False))
    assert all(getattr(plain.local_search_operators, n) != off for n in names)
    plan = solve(musts, SolverSettings(time_limit=20, solution_limit=60))
    assert_feasible(musts, plan)


def test_the_ils_search_anneals_at_the_models_temperatures(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[tuple[float, float]] = []
    expected: list[tuple[float, float]] = []
    real = search_module.model_search_parameters

    def spy(model, settings, time_limit=None):  # type: ignore[no-untyped-def]
        params = real(model, settings, time_limit)
        if not settings.iterated_local_search:
            return params  # the polish with break intervals searches without ILS
        sa = params.iterated_local_search_parameters.reference_solution_acceptance_strategy
        sa = sa.simulated_annealing
        searched.append((sa.initial_temperature, sa.final_temperature))
        expected.append(annealing_temperatures(model))
        return params

    monkeypatch.setattr(search_module, "model_search_parameters", spy)
    plan = solve(week, SolverSettings(time_limit=20, solution_limit=20))
    assert_feasible(week, plan)
    assert searched and searched == pytest.approx(expected)
    assert all(first > last > 0 for first, last in searched)


# --- solving -------------------------------------------------------------------------------------


def test_ils_solve_is_feasible_and_complete(week: Problem) -> None:
    plan = solve(
        week, SolverSettings(time_limit=30, solution_limit=150, iterated_local_search=True)
    )
    assert check_plan(week, plan).ok
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert len(served) + len(plan.unassigned) == len(week.visits)
    assert len(served) >= 25
    assert plan.stats.status == "SUCCESS" and plan.stats.solutions > 0


def test_ils_on_a_model_with_breaks(with_breaks: Problem) -> None:
    settings = SolverSettings(time_limit=20, solution_limit=50, seed=1, iterated_local_search=True)
    plan = solve(with_breaks, settings)
    assert_feasible(with_breaks, plan)
    served = sum(len(r.stops) for r in plan.routes)
    assert served == 9  # as with guided local search: v8 has no van, v1 and v3 do not fit
    assert all(u.message for u in plan.unassigned)


@pytest.mark.parametrize("workers", [1, 2])
def test_ils_seed_and_solution_limit_are_reproducible(
    week: Problem, with_breaks: Problem, workers: int
) -> None:
    for problem in (week, with_breaks):
        settings = SolverSettings(
            time_limit=60, solution_limit=80, seed=3, workers=workers, iterated_local_search=True
        )
        a, b = solve(problem, settings), solve(problem, settings)
        assert_feasible(problem, a)
        assert _signature(a) == _signature(b)
        assert [(r.start, r.end, r.breaks) for r in a.routes] == [
            (r.start, r.end, r.breaks) for r in b.routes
        ]
        assert (a.stats.objective, a.stats.solutions) == (b.stats.objective, b.stats.solutions)


def test_a_stoppable_ils_solve_ends_soon_after_the_stop_with_its_best_plan(week: Problem) -> None:
    # OR-Tools' ILS ignores CancelSearch: a stoppable solve runs it in a forked process, kills
    # it on stop and rebuilds the plan of the last routes it reported.
    seen: list[Progress] = []
    settings = SolverSettings(time_limit=60, iterated_local_search=True)
    plan, took = solve_stopped_after(1.5, week, settings, on_progress=seen.append)
    assert took < 20
    assert plan.stats.status == "STOPPED" and "ILS(" in plan.stats.strategy
    assert_feasible(week, plan)
    assert seen and plan.stats.objective == pytest.approx(seen[-1].objective)
    # Counted until the stop (the search reports its count a few times a second), not only
    # until the last improvement.
    assert plan.stats.solutions >= seen[-1].solutions
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert len(served) + len(plan.unassigned) == len(week.visits)


def test_a_stop_from_the_progress_callback_ends_an_ils_solve(week: Problem) -> None:
    stop = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.solutions >= 3:
            stop.set()

    t0 = time.monotonic()
    plan = solve(
        week,
        SolverSettings(time_limit=60, iterated_local_search=True),
        on_progress=on_progress,
        stop=stop,
    )
    assert time.monotonic() - t0 < 20
    assert plan.stats.status == "STOPPED"
    assert_feasible(week, plan)
    assert plan.routes


def test_an_unstopped_stoppable_ils_solve_gives_the_unstoppable_plan(with_breaks: Problem) -> None:
    settings = SolverSettings(time_limit=60, solution_limit=40, seed=2, iterated_local_search=True)
    free = solve(with_breaks, settings)
    stoppable = solve(with_breaks, settings, stop=threading.Event())
    assert_feasible(with_breaks, stoppable)
    assert _signature(stoppable) == _signature(free)
    assert stoppable.stats.status == free.stats.status == "SUCCESS"
    assert stoppable.stats.objective == free.stats.objective


def test_an_ils_solve_stopped_before_its_first_solution_answers_with_the_greedy_plan(
    with_breaks: Problem,
) -> None:
    # The stop's grace lets the greedy plan be made; no search runs after it.
    stop = threading.Event()
    stop.set()
    plan = solve(with_breaks, SolverSettings(time_limit=60, iterated_local_search=True), stop=stop)
    assert plan.stats.status == "GREEDY" and plan.routes
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in with_breaks.visits}
    assert all(u.message for u in plan.unassigned)
    assert_feasible(with_breaks, plan)


def test_an_ils_solve_stopped_with_no_grace_reports_every_visit(
    with_breaks: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget_module, "STOP_GRACE", 0.0)
    stop = threading.Event()
    stop.set()
    plan = solve(with_breaks, SolverSettings(time_limit=60, iterated_local_search=True), stop=stop)
    assert plan.stats.status == "STOPPED" and not plan.routes
    assert {u.visit_id for u in plan.unassigned} == {v.id for v in with_breaks.visits}
    assert all(u.message for u in plan.unassigned)


def test_a_failing_ils_process_raises_in_the_caller(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("model exploded")

    monkeypatch.setattr(search_module, "solve_one", broken)  # the forked child inherits it
    with pytest.raises(RuntimeError, match="ValueError: model exploded"):
        solve(
            week, SolverSettings(time_limit=5, iterated_local_search=True), stop=threading.Event()
        )


def _solve_until_killed(started: Any) -> None:
    """A solver process (spawned by the test below) running a stoppable ILS for minutes."""

    def on_progress(p: Progress) -> None:
        started.put(os.getpid())

    solve(
        _week(),
        SolverSettings(time_limit=300, iterated_local_search=True),
        on_progress=on_progress,
        stop=threading.Event(),
    )


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux's")
def test_a_killed_solver_process_takes_its_ils_search_with_it() -> None:
    ctx = mp.get_context("spawn")
    started = ctx.Queue()
    solver = ctx.Process(target=_solve_until_killed, args=(started,))
    solver.start()
    try:
        pid = started.get(timeout=60)  # a first solution: the ILS process is running
        searches = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and (st := _proc_stat(int(p.name))) and st[1] == pid
        ]
        assert len(searches) == 1
        solver.kill()
        solver.join()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = _proc_stat(searches[0])
            if st is None or st[0] in "ZX":  # gone (or a zombie nobody reaps)
                break
            time.sleep(0.05)
        st = _proc_stat(searches[0])
        assert st is None or st[0] in "ZX", st
    finally:
        if solver.is_alive():
            solver.kill()
            solver.join()
        started.close()


def _stall_the_search_with_seed(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Force a stall, independent of the machine's load: the search with ``seed`` finds 30
    solutions, then hangs without a word (in every forked search process, which inherits the
    patch); the parent counts it stalled after 1 s of silence, and never any other search,
    each of which ends on its own after 40 solutions."""
    real = search_module.solve_one

    def hangs_after_a_while(task: Task, settings: SolverSettings, *a: Any, **k: Any) -> Any:
        if settings.seed == seed:
            real(task, replace(settings, solution_limit=30), *a, **k)
            time.sleep(600)
        return real(task, replace(settings, solution_limit=40), *a, **k)

    def only_that_one_stalls(settings: SolverSettings, longest_gap: float = 0.0) -> float:
        return 1.0 if settings.seed == seed else float("inf")

    monkeypatch.setattr(search_module, "solve_one", hangs_after_a_while)
    monkeypatch.setattr(stall_module, "stall_seconds", only_that_one_stalls)


def test_a_stalled_ils_search_is_ended_and_searched_again(
    week: Problem, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _stall_the_search_with_seed(5, monkeypatch)  # the first search
    with caplog.at_level("WARNING", logger="optimizer.processes.searches"):
        plan = solve(week, SolverSettings(time_limit=120, seed=5, iterated_local_search=True))
    stalls = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
    assert len(stalls) == 1 and "searching again with seed 7924" in stalls[0]
    # The restart ended on its own (40 solutions); the stalled search's count is added.
    assert plan.stats.status == "SUCCESS" and plan.stats.solutions > 40
    assert_feasible(week, plan)
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert len(served) + len(plan.unassigned) == len(week.visits) and len(served) >= 25


def test_a_stoppable_warm_start_searches_with_the_metaheuristic(
    week: Problem, first_plan: Plan
) -> None:
    first = first_plan
    settings = SolverSettings(time_limit=60, iterated_local_search=True)
    plan, _ = solve_stopped_after(1.0, week, settings, initial=first)
    assert "GUIDED_LOCAL_SEARCH" in plan.stats.strategy
    assert_feasible(week, plan)


def test_a_stoppable_portfolio_searches_with_ils_and_ends_soon_after_the_stop(
    week: Problem,
) -> None:
    # Each worker runs in a forked process of its own, killed on stop; the best of the last
    # routes they reported is rebuilt into the plan.
    seen: list[Progress] = []
    settings = SolverSettings(time_limit=60, workers=2, iterated_local_search=True)
    plan, took = solve_stopped_after(2.0, week, settings, on_progress=seen.append)
    assert took < 20
    assert plan.stats.status == "STOPPED" and plan.stats.workers == 2
    assert plan.stats.strategy.startswith("worker ") and "ILS(" in plan.stats.strategy
    assert_feasible(week, plan)
    # Progress is the best over both workers, and the plan is the last one reported.
    objectives = [p.objective for p in seen]
    assert objectives == sorted(objectives, reverse=True) and len(set(objectives)) == len(seen)
    assert {p.worker for p in seen} <= {0, 1}
    assert plan.stats.objective == pytest.approx(seen[-1].objective)
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert len(served) + len(plan.unassigned) == len(week.visits)


def test_a_stoppable_portfolio_with_a_warm_start_searches_from_the_plan(
    week: Problem, first_plan: Plan
) -> None:
    first = first_plan
    settings = SolverSettings(time_limit=60, workers=2)
    plan, _ = solve_stopped_after(2.0, week, settings, initial=first)
    assert plan.stats.status == "STOPPED" and plan.stats.workers == 2
    assert_feasible(week, plan)
    assert plan.stats.objective <= first.stats.objective + 1e-6


def test_an_unstopped_portfolio_gives_the_best_of_its_workers_alone(with_breaks: Problem) -> None:
    settings = SolverSettings(time_limit=60, solution_limit=40, seed=2, workers=2)
    both = solve(with_breaks, settings, stop=threading.Event())
    alone = [solve(with_breaks, cfg) for cfg in portfolio(settings)]
    assert both.stats.status == "SUCCESS"
    assert_feasible(with_breaks, both)
    winner = min(range(2), key=lambda w: (alone[w].stats.objective, w))
    assert both.stats.strategy == f"worker {winner}: {alone[winner].stats.strategy}"
    assert _signature(both) == _signature(alone[winner])
    assert both.stats.solutions == sum(p.stats.solutions for p in alone)


def test_a_stalled_portfolio_worker_is_ended_and_searched_again(
    week: Problem, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _stall_the_search_with_seed(5, monkeypatch)  # worker 0's first search
    with caplog.at_level("WARNING", logger="optimizer.processes.searches"):
        plan = solve(week, SolverSettings(time_limit=120, seed=5, workers=2))
    assert sum("stalled" in r.getMessage() for r in caplog.records) == 1
    assert plan.stats.status == "SUCCESS" and plan.stats.workers == 2
    # Worker 1 and worker 0's restart ended on their own (40 solutions each).
    assert plan.stats.solutions > 80
    assert_feasible(week, plan)


def test_without_fork_a_stoppable_portfolio_spawns_workers_searching_with_the_metaheuristic(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(start_module, "can_fork_search", lambda: False)
    settings = SolverSettings(time_limit=60, workers=2, iterated_local_search=True)
    # Stopped at the first solution a worker reports (a stop before any would leave the greedy
    # plan made before the search, whatever the workers did; spawned workers start slowly).
    stop = threading.Event()
    plan = solve(week, settings, stop=stop, on_progress=lambda _: stop.set())
    assert plan.stats.engine != "greedy" and plan.stats.solutions >= 1
    assert plan.stats.workers == 2 and "GUIDED_LOCAL_SEARCH" in plan.stats.strategy
    assert_feasible(week, plan)


def test_ils_warm_start_searches_from_the_plan(week: Problem) -> None:
    first = solve(week, SolverSettings(time_limit=30, solution_limit=60))
    settings = SolverSettings(time_limit=30, solution_limit=20, iterated_local_search=True)
    again = solve(week, settings, initial=first)
    assert_feasible(week, again)
    assert again.stats.objective <= first.stats.objective


def test_ils_falls_back_when_no_first_solution_is_found(with_breaks: Problem) -> None:
    # CHRISTOFIDES finds no first solution on this model; OR-Tools' ILS then has nothing to
    # perturb and returns the all-unperformed assignment. solve() searches on from there
    # without ILS (the settings' metaheuristic).
    settings = SolverSettings(
        time_limit=20, solution_limit=20, first_solution="CHRISTOFIDES", iterated_local_search=True
    )
    plan = solve(with_breaks, settings)
    assert_feasible(with_breaks, plan)
    assert sum(len(r.stops) for r in plan.routes) == 9
    assert plan.stats.objective < with_breaks.objective.must_penalty


# --- portfolio -----------------------------------------------------------------------------------


def test_portfolio_pairs_independent_searches_and_hedges_with_the_other_one() -> None:
    for base in (SolverSettings(workers=4), SolverSettings(workers=4, iterated_local_search=False)):
        configs = portfolio(base)
        own = base.iterated_local_search
        # Two workers: the same search twice, from another start and another visit order.
        assert configs[0] == replace(base, workers=1)
        assert configs[1].iterated_local_search == own
        assert configs[1].first_solution != configs[0].first_solution
        assert configs[1].seed != configs[0].seed
        # The third switches search as a hedge; the fourth runs the same search again.
        assert configs[2].iterated_local_search != own
        assert configs[3].iterated_local_search == own
        assert len({c.seed for c in configs}) == 4
        assert all(c.workers == 1 for c in configs)


def test_recreate_auto_compares_window_nodes_only_where_there_are_some(week: Problem) -> None:
    """``recreate="AUTO"``: local cheapest insertion takes a visit's first window node that
    fits, so a model with a node per window recreates by parallel cheapest insertion, which
    compares them; without window alternatives, and for an explicit choice, nothing changes."""
    fsm = routing_enums_pb2.FirstSolutionStrategy

    def recreate(problem: Problem, settings: SolverSettings) -> int:
        params = model_search_parameters(build_model(problem), settings)
        rr = params.iterated_local_search_parameters.ruin_recreate_parameters
        return int(rr.recreate_strategy.heuristic)

    assert any(len(v.windows) > 1 for v in week.visits)
    assert recreate(week, SolverSettings()) == fsm.PARALLEL_CHEAPEST_INSERTION
    single = replace(week, visits=tuple(replace(v, windows=v.windows[:1]) for v in week.visits))
    assert recreate(single, SolverSettings()) == fsm.LOCAL_CHEAPEST_INSERTION
    chosen = SolverSettings(recreate="LOCAL_CHEAPEST_INSERTION")
    assert recreate(week, chosen) == fsm.LOCAL_CHEAPEST_INSERTION
    assert recreate(week, SolverSettings(recreate="SAVINGS")) == fsm.SAVINGS


# --- a time limit shorter than the first solution ---------------------------------------------


def _many_visits(visits: int = 400, vans: int = 40, seed: int = 3) -> Problem:
    """One day, ``visits`` short visits spread over 40 km x 40 km, ``vans`` vans without breaks:
    large enough that OR-Tools' savings heuristic needs far more than 0.05 s."""
    rng = random.Random(seed)
    tiny = Tiny(horizon=Horizon(MONDAY, 1))
    for k in range(vans):
        tiny.van(f"v{k:02d}").shift(f"v{k:02d}", 0, 7, 19, breaks=())
    for i in range(visits):
        tiny.visit(f"c{i:03d}", (rng.uniform(-20, 20), rng.uniform(-20, 20)), duration_min=10)
    return tiny.build()


@pytest.fixture(scope="module")
def many() -> Problem:
    return _many_visits()


def test_a_time_limit_shorter_than_the_first_solution_still_serves_every_visit(
    many: Problem, caplog: pytest.LogCaptureFixture
) -> None:
    # In this process (a solution limit): OR-Tools' ILS hands back a partial assignment when
    # its time limit ends the first-solution heuristic; solve() then builds the first solution
    # without ILS instead of reporting most visits unassigned.
    # OR-Tools alone: PyVRP (engines="auto") would build this plan itself, and so would the
    # day-by-day plan (decompose="auto") at this limit.
    settings = SolverSettings(
        time_limit=0.05, solution_limit=1000, engines="ortools", decompose="never"
    )
    with caplog.at_level(logging.INFO, logger="optimizer.search"):
        plan = solve(many, settings)
    assert "searching without it" in caplog.text
    assert_feasible(many, plan)
    assert plan.unassigned == ()
    assert sum(len(r.stops) for r in plan.routes) == len(many.visits)
    assert plan.stats.solutions >= 1


def test_a_forked_ils_solve_with_a_too_short_time_limit_serves_every_visit(many: Problem) -> None:
    # The default path (no solution limit): the search runs in a forked process.
    plan = solve(many, SolverSettings(time_limit=0.05))
    assert_feasible(many, plan)
    assert plan.unassigned == ()
    assert sum(len(r.stops) for r in plan.routes) == len(many.visits)
