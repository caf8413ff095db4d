"""PyVRP as a search engine: run it on a mapping, turn its best solution into vanplan routes,
check them with the independent checker, then let OR-Tools polish them (a warm start).

OR-Tools stays the model of record: a PyVRP plan counts only when the checker accepts it, and
the polish searches vanplan's own model from it. When PyVRP finds no feasible plan, OR-Tools
searches from scratch for the time that is left.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import pyvrp
from pyvrp.exceptions import PenaltyBoundWarning, ScalingWarning
from pyvrp.search import LocalSearch, PerturbationManager
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from optimizer.breaks import fit_breaks, placed_here
from optimizer.budget import model_fits, restore_seconds
from optimizer.checker import check_plan
from optimizer.engines.exchange import SolutionPool, feasible_cost
from optimizer.engines.neighbours import granular_neighbours
from optimizer.engines.pyvrp_model import PyvrpMapping
from optimizer.model import COST_SCALE
from optimizer.plan import Plan, Reason, Route, SolverStats, Stop, Unassigned
from optimizer.search import Progress, ProgressCallback, SearchResult, Task, cancelled, solve_one
from optimizer.settings import SolverSettings
from optimizer.sizing import model_nodes

log = logging.getLogger(__name__)

ITERATIONS_PER_SOLUTION = 1000
"""With ``SolverSettings.solution_limit`` (a reproducible run) PyVRP stops after this many
iterations per solution of the limit (its time limit then only guards)."""

MIN_POLISH_SECONDS = 0.5
"""OR-Tools polishes PyVRP's plan only when at least this much time is left (less is spent
building its model and reading the routes in, on a few hundred visits)."""


@dataclass(frozen=True)
class PyvrpOutcome:
    """PyVRP's best solution as vanplan routes (None when it is infeasible or the checker
    rejects it), its objective in euros as vanplan's model counts it, and its iterations."""

    routes: list[Route] | None
    dropped: list[str]
    objective: float
    iterations: int


GIVE_UP_SHARE = 0.2
"""PyVRP without a feasible plan after this share of its time (at least
:data:`GIVE_UP_SECONDS`) gives up: a must visit that fits nowhere makes its problem infeasible
for good (must visits are required clients), and OR-Tools, which may leave them out, then gets
the rest of the time instead of a fifth of it."""

GIVE_UP_SECONDS = 0.5

INFEASIBLE_COST = 2**62
"""PyVRP's cost evaluator gives an infeasible solution the largest cost; anything above this
is infeasible."""


class _Stop:
    """PyVRP's stopping criterion: its own limit, ``should_stop()`` (checked every iteration,
    so a stop is answered within one iteration), the clock passing ``until``, or no feasible
    plan by ``give_up_at`` (both ``time.monotonic()``). ``until`` is absolute: PyVRP's
    ``MaxRuntime`` counts from its first check, after PyVRP's set-up (seconds on thousands of
    clients), so it would overrun by that."""

    def __init__(
        self,
        limit: Callable[[int], bool],
        should_stop: Callable[[], bool],
        give_up_at: float = float("inf"),
        until: float = float("inf"),
    ) -> None:
        self._limit = limit
        self._should_stop = should_stop
        self._give_up_at = give_up_at
        self._until = until

    def __call__(self, best_cost: int) -> bool:
        now = time.monotonic()
        if best_cost >= INFEASIBLE_COST and now > self._give_up_at:
            log.info("PyVRP has no feasible plan in sight; giving up")
            return True
        return now >= self._until or self._should_stop() or self._limit(best_cost)


RETURN_SECONDS_PER_VISIT = 0.0002
"""Seconds per visit between PyVRP's end and the result reaching the solve: its routes mapped
back and replayed, checked by the checker, sent from a forked process. PyVRP's absolute
deadline keeps that much before the search's (:func:`return_seconds`)."""


def return_seconds(visits: int) -> float:
    """The time kept after PyVRP's run on ``visits`` visits (:data:`RETURN_SECONDS_PER_VISIT`)."""
    return visits * RETURN_SECONDS_PER_VISIT


SETUP_SECONDS_PER_MILLION_PAIRS = 0.5
"""PyVRP's set-up of a run (its granular neighbourhoods, computed on every ``pyvrp.solve``):
seconds per million client pairs, on the loaded 2-core machine (4.3 s on 2,984 clients at load
8)."""


def setup_seconds(clients: int) -> float:
    """The estimated set-up time of one PyVRP run on ``clients`` clients."""
    return (clients / 1000.0) ** 2 * SETUP_SECONDS_PER_MILLION_PAIRS


def setup_clients(seconds: float) -> int:
    """The most clients whose estimated set-up (:func:`setup_seconds`) takes ``seconds``."""
    return int(1000.0 * math.sqrt(max(seconds, 0.0) / SETUP_SECONDS_PER_MILLION_PAIRS))


EPOCHS = 10
"""A PyVRP worker of a portfolio trades with the others' best solution (:mod:`optimizer.engines.
exchange`) this many times, at equal steps of its time (each epoch at least
:data:`MIN_EPOCH_SECONDS`). Ten against five, side by side at 10 s with two workers: synthetic
200/400/1 000-customer instances 0.18 % against 0.51 % above the run's best (PyVRP on one core
0.79 %), 14 hard Solomon instances 0.42 % against 0.55 % (PyVRP 0.53 %); twenty (epochs of at
least 0.5 s) 0.20 % against ten's 0.25 % on the synthetic set, within its noise."""

MIN_EPOCH_SECONDS = 1.0
"""The shortest epoch between two trades."""

EPOCH_SEED_STEP = 104_729
"""Epoch ``e`` of a worker searches with its seed plus ``e`` times this."""


@dataclass(frozen=True)
class PyvrpRun:
    """What PyVRP found over one or more of its runs: the cheapest solution (feasible ones
    first) and the iterations of all runs."""

    best: pyvrp.Solution
    num_iterations: int


class _Searcher:
    """PyVRP's iterated local search as ``pyvrp.solve`` runs it, with its granular
    neighbourhoods computed once (:func:`setup_seconds`) for every run on the same data: a
    worker that restarts from a traded solution each epoch pays the set-up once. The
    neighbourhoods are computed in blocks that ask ``should_stop``
    (:func:`optimizer.engines.neighbours.granular_neighbours`, not PyVRP's uninterruptible
    ``compute_neighbours``): stopped meanwhile, ``neighbours`` is None and nothing is searched."""

    def __init__(self, data: pyvrp.ProblemData, should_stop: Callable[[], bool]) -> None:
        self.data = data
        self.params = pyvrp.SolveParams()
        self.should_stop = should_stop
        self.neighbours = granular_neighbours(data, self.params.neighbourhood, should_stop)

    def run(
        self, stop: StoppingCriterion, seed: int, initial: pyvrp.Solution | None
    ) -> pyvrp.Result:
        data, params = self.data, self.params
        assert self.neighbours is not None, "stopped before the neighbourhoods were computed"
        rng = pyvrp.RandomNumberGenerator(seed=seed)
        ls = LocalSearch(data, rng, self.neighbours, PerturbationManager(params.perturbation))
        for op in params.operators:
            if op.supports(data):
                ls.add_operator(op(data))
        pm = pyvrp.PenaltyManager(params.penalty.midpoint_penalties(data), params.penalty)
        if initial is None:  # as pyvrp.solve: a random solution, improved
            initial = pyvrp.Solution.make_random(data, rng)
            if not self.should_stop():  # a whole local search, which cannot be interrupted
                initial = ls(initial, pm.max_cost_evaluator(), True)
        ils = pyvrp.IteratedLocalSearch(data, pm, ls, initial, params.ils)
        # PyVRP warns when its penalties hit their bound (no feasible plan in sight): the
        # outcome says so already (an infeasible best is not used), so it is only logged.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PenaltyBoundWarning)
            warnings.simplefilter("always", ScalingWarning)
            result = ils.run(stop, False, False, params.display_interval)
        for w in caught:
            log.info("PyVRP: %s", str(w.message).strip().splitlines()[0])
        return result


def run_pyvrp(
    mapping: PyvrpMapping,
    seconds: float,
    settings: SolverSettings,
    should_stop: Callable[[], bool] = lambda: False,
    pool: SolutionPool | None = None,
    initial: pyvrp.Solution | None = None,
) -> PyvrpRun:
    """PyVRP on the mapped data for at most ``seconds`` (with a solution limit also at most
    :data:`ITERATIONS_PER_SOLUTION` per solution: reproducible with the seed); without a
    feasible plan it gives up early (:data:`GIVE_UP_SHARE`). With a ``pool`` it searches in
    up to :data:`EPOCHS` epochs (a solution limit's iterations split between them) and trades
    its best solution with the pool after each: the next epoch starts from the cheaper of the
    two, with another seed; in the end it returns the pool's solution when that is cheaper.
    ``initial``: the solution the first epoch starts from (else a random one, improved)."""
    t_start = time.monotonic()
    end = t_start + max(seconds, 0.0)
    setup = setup_seconds(mapping.data.num_clients)
    give_up_at = t_start + setup + max(GIVE_UP_SECONDS, GIVE_UP_SHARE * seconds)
    epochs = 1 if pool is None else max(1, min(EPOCHS, int(seconds / MIN_EPOCH_SECONDS)))
    data = mapping.data
    searcher = _Searcher(data, should_stop)
    if searcher.neighbours is None:
        log.info("stopped while PyVRP's neighbourhoods were computed: no PyVRP plan")
        stopped = initial if initial is not None else pyvrp.Solution(data, [])
        if pool is not None:
            stopped = pool.trade(data, stopped, feasible_cost(data, stopped)) or stopped
        return PyvrpRun(stopped, 0)
    best: pyvrp.Solution | None = None
    best_cost: int | None = None
    start = initial
    iterations = 0
    for epoch in range(epochs):
        left = end - time.monotonic()
        if epoch > 0 and (left <= 0.0 or should_stop()):
            break
        until = time.monotonic() + left / (epochs - epoch)
        criteria: list[StoppingCriterion] = [MaxRuntime(max(end - time.monotonic(), 0.0))]
        if settings.solution_limit is not None:
            limit = settings.solution_limit * ITERATIONS_PER_SOLUTION
            criteria.append(MaxIterations(max(1, limit // epochs)))
        stop = _Stop(MultipleCriteria(criteria), should_stop, give_up_at, until)
        seed = settings.seed + epoch * EPOCH_SEED_STEP
        result = searcher.run(stop, seed, start)
        iterations += int(result.num_iterations)
        cost = feasible_cost(data, result.best)
        if best is None or (cost is not None and (best_cost is None or cost < best_cost)):
            best, best_cost = result.best, cost
        if best_cost is None and time.monotonic() > give_up_at:
            break  # no feasible plan in sight (see _Stop)
        start = best
        if pool is not None and epoch < epochs - 1:
            better = pool.trade(data, best, best_cost)
            if better is not None:
                start = better
    assert best is not None
    if pool is not None and epochs > 1:
        # The last epoch's best for the others; the pool's when cheaper (a polish then starts
        # from the best solution any worker found).
        better = pool.trade(data, best, best_cost)
        if better is not None:
            best = better
    return PyvrpRun(best, iterations)


def routes_of(
    task: Task, mapping: PyvrpMapping, solution: pyvrp.Solution
) -> tuple[list[Route], int]:
    """The routes of a PyVRP solution and their arc and fixed costs (milli-euros, as PyVRP
    counts them): each vehicle type's routes take its van-days in order; service starts are
    PyVRP's, arrivals, waiting, travel and distances replayed on the problem's matrix. On a
    shift whose statutory break is placed afterwards the break is placed here
    (:func:`optimizer.breaks.fit_breaks`; a stop it leaves no room for is dropped)."""
    problem = task.problem
    matrix = problem.matrix
    data = mapping.data
    taken: dict[int, int] = defaultdict(int)
    routes: list[Route] = []
    cost = 0
    for r in solution.routes():
        t = r.vehicle_type()
        shift = mapping.types[t].shifts[taken[t]]
        taken[t] += 1
        van = problem.van(shift.van_id)
        here, clock = van.start_location, int(r.start_time())
        stops: list[Stop] = []
        for activity in r:
            if not activity.is_client():
                continue
            ref = mapping.clients[activity.idx]
            travel = matrix.duration(here, ref.location)
            arrival = clock + travel
            start = int(activity.start_time)
            visit = problem.visit(ref.visit_id)
            stops.append(
                Stop(
                    visit_id=ref.visit_id,
                    location=ref.location,
                    arrival=arrival,
                    start=start,
                    end=start + visit.duration,
                    waiting=start - arrival,
                    travel_time=travel,
                    distance=matrix.distance(here, ref.location),
                )
            )
            here, clock = ref.location, start + visit.duration
        back = matrix.duration(here, van.end)
        plain = Route(
            van_id=shift.van_id,
            day=shift.day,
            start_location=van.start_location,
            end_location=van.end,
            start=int(r.start_time()),
            end=clock + back,
            stops=tuple(stops),
            breaks=(),
            return_travel_time=back,
            return_distance=matrix.distance(here, van.end),
        )
        kept = [a.idx for a in r if a.is_client()]
        route: Route | None = plain
        if placed_here(shift, problem.break_rule):
            fitted = fit_breaks(problem, shift, plain)
            route = fitted.route
            kept = [i for i in kept if mapping.clients[i].visit_id not in fitted.dropped]
        if route is None:
            continue
        routes.append(route)
        vehicle = data.vehicle_type(t)
        arcs = data.distance_matrix(vehicle.profile)
        # Client i sits at location n_depots + i; the depots first.
        places = [vehicle.start_depot, *(data.num_depots + i for i in kept), vehicle.end_depot]
        cost += vehicle.fixed_cost + sum(int(arcs[a, b]) for a, b in pairwise(places))
    order = {v.id: i for i, v in enumerate(problem.vans)}
    routes.sort(key=lambda route: (route.day, order[route.van_id]))
    return routes, cost


def outcome_of(task: Task, mapping: PyvrpMapping, result: PyvrpRun) -> PyvrpOutcome:
    """PyVRP's best solution as checked vanplan routes (see :class:`PyvrpOutcome`)."""
    best = result.best
    iterations = int(result.num_iterations)
    if not best.is_feasible():
        log.info("PyVRP found no feasible plan in %d iterations", iterations)
        return PyvrpOutcome(None, [], float("inf"), iterations)
    routes, travel = routes_of(task, mapping, best)
    served = {s.visit_id for r in routes for s in r.stops}
    dropped = [v for v in mapping.visit_ids if v not in served]
    problem = task.problem
    penalties = sum(
        round(problem.objective.penalty(problem.visit(v).priority) * COST_SCALE) for v in dropped
    )
    cost = travel + penalties
    # The checker needs every visit accounted for; the reasons of the dropped ones are only
    # placeholders here (solve() asks the diagnosis for the real ones).
    unassigned = [*mapping.excluded.values(), *task.excluded.values()]
    unassigned += [Unassigned(v, Reason.NO_ROOM, "not served by PyVRP") for v in dropped]
    unique = {u.visit_id: u for u in unassigned}
    plan = Plan(tuple(routes), tuple(unique.values()), SolverStats("PYVRP", cost, 0.0))
    report = check_plan(problem, plan)
    if not report.ok:
        log.warning(
            "the checker rejects PyVRP's plan (%s); it is not used",
            "; ".join(str(v) for v in report.violations[:3]),
        )
        return PyvrpOutcome(None, dropped, float("inf"), iterations)
    return PyvrpOutcome(routes, dropped, cost / COST_SCALE, iterations)


def hybrid_search(
    task: Task,
    settings: SolverSettings,
    mapping: PyvrpMapping,
    deadline: float,
    share: float,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    pool: SolutionPool | None = None,
) -> SearchResult:
    """PyVRP for ``share`` of the time to ``deadline``, then OR-Tools warm-started from its
    checked plan (its metaheuristic, which can be cancelled) for the rest; without a PyVRP
    plan, OR-Tools from scratch. The better plan by vanplan's objective wins (ties: OR-Tools',
    whose times the extraction sets). When OR-Tools' model would not be built and PyVRP's
    routes read into it in that rest (:func:`optimizer.budget.model_fits`,
    :func:`~optimizer.budget.restore_seconds`: thousands of visits, or a short rest), PyVRP
    gets the whole time and its plan is not polished. Without a PyVRP plan and no time left to
    build the model, or when PyVRP's set-up alone would not fit (:func:`setup_seconds`), the
    result has no routes (the solve answers with its greedy plan).
    ``pool``: see :func:`run_pyvrp`."""
    t_start = time.monotonic()
    left = max(deadline - t_start, 0.0)
    nodes = model_nodes([len(v.windows) for v in task.problem.visits])
    polish_time = (1.0 - share) * left - restore_seconds(len(task.problem.visits))
    polish = share < 1.0 and model_fits(nodes, polish_time)
    if share < 1.0 and not polish:
        log.info("OR-Tools' model of %d nodes does not fit in the polish: PyVRP plans alone", nodes)
        share = 1.0
    if setup_seconds(mapping.data.num_clients) > share * left:
        # Too large for PyVRP in the time: OR-Tools' first solution on as many visits would
        # not come in it either (benchmarks/RESULTS.md); the solve answers with its greedy plan.
        log.info("PyVRP's set-up on %d clients does not fit in the time", mapping.data.num_clients)
        return task.not_searched(settings, "STOPPED" if cancelled(stop) else "NO_SOLUTION")
    # PyVRP ends early enough for its plan to be mapped back and checked by the deadline.
    seconds = share * left - return_seconds(len(task.problem.visits))
    result = run_pyvrp(mapping, seconds, settings, lambda: cancelled(stop), pool)
    found = outcome_of(task, mapping, result)
    name = f"PyVRP {found.iterations} iterations/seed {settings.seed}"
    engine: SearchResult | None = None
    if found.routes is not None:
        stats = SolverStats(
            "STOPPED" if cancelled(stop) else "SUCCESS",
            found.objective,
            time.monotonic() - task.t0,
            found.iterations,
            1,
            name,
            engine="pyvrp",
        )
        excluded = {**mapping.excluded, **task.excluded}
        engine = SearchResult(found.routes, found.dropped, excluded, stats)
        if on_progress is not None:
            on_progress(Progress(found.objective, found.iterations, stats.wall_time))
    rest = deadline - time.monotonic()
    if engine is not None and (not polish or cancelled(stop) or rest < MIN_POLISH_SECONDS):
        return engine
    if engine is None and (cancelled(stop) or not model_fits(nodes, max(rest, MIN_POLISH_SECONDS))):
        return task.not_searched(settings, "STOPPED" if cancelled(stop) else "NO_SOLUTION")
    initial = None
    if engine is not None:
        initial = Plan(tuple(engine.routes), (), engine.stats)
    # A stoppable search must be cancellable: OR-Tools' ILS is not (see optimizer.solve).
    polish_settings = replace(
        settings,
        iterated_local_search=settings.iterated_local_search and initial is None and stop is None,
    )
    polished = solve_one(
        replace(task, initial=initial),
        polish_settings,
        on_progress,
        stop,
        deadline=max(deadline, time.monotonic() + MIN_POLISH_SECONDS),
    )
    if engine is not None and engine.stats.objective < polished.stats.objective:
        return engine
    strategy = f"{name} + {polished.stats.strategy}" if engine is not None else name
    stats = replace(
        polished.stats,
        solutions=polished.stats.solutions + found.iterations,
        strategy=strategy if engine is not None else polished.stats.strategy,
        engine="pyvrp+ortools" if engine is not None else polished.stats.engine,
    )
    return replace(polished, stats=stats)
