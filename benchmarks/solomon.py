"""Solomon VRPTW quality benchmark: vanplan against its peers, side by side in the same run.

For every instance, each solver gets the same wall-time limit (VROOM excepted: it stops by itself,
its own time is reported) on the same integer data (see :mod:`benchmarks.solomon_io`); the final
routes are evaluated in floating point, checked by a float-exact Solomon check and by vanplan's
independent checker, and compared with the distance-only best-known solution (``bks.csv``).
Instances without one there (e.g. the larger ones of :mod:`benchmarks.synthetic`) are compared
with the best feasible plan of the same run ("best of run").

    python3 benchmarks/solomon.py --time-limit 10 --instances C101,R101 \
        --solvers vanplan,ortools,pyvrp,vroom --jobs 1 --out results.json

Solvers:
- ``vanplan``: ``optimizer.solve.solve`` with ``SolverSettings(time_limit, seed, workers, ...)``;
- ``ortools``: a plain pywrapcp model, PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH (one thread);
- ``ortools-ils`` (on request): the same plain model searched with vanplan's default parameters
  (iterated local search), to measure what vanplan's own model costs that search;
- ``pyvrp``: ``pyvrp.Model`` stopped by ``MaxRuntime`` (one thread);
- ``vroom``: ``pyvroom`` at an exploration level; no time limit (stops by itself).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.solomon_io import (  # noqa: E402
    DEPOT,
    BestKnown,
    Routes,
    SolomonInstance,
    customer_number,
    evaluate,
    gap_percent,
    instance_paths,
    plan_from_routes,
    read_bks,
    read_instance,
    routes_from_plan,
    scale_for,
    to_problem,
)
from optimizer.domain import Problem  # noqa: E402
from optimizer.plan import Plan  # noqa: E402

log = logging.getLogger("benchmarks.solomon")

SOLVERS = ("vanplan", "ortools", "pyvrp", "vroom")
"""The default peers; ``ortools-ils`` (the plain model with vanplan's search) runs on request."""
GAP_LIMIT = 3.0  # percent: the issue's "no instance above 3 %"
DEFAULT_SOLOMON_DIR = ROOT.parent / "shared" / "benchmarks" / "solomon"


@dataclass(frozen=True)
class Config:
    """What every solver is given; picklable so instances can run in worker processes."""

    time_limit: float = 10.0
    seed: int = 1
    solution_limit: int | None = None  # also stop after this many solutions (OR-Tools solvers)
    vanplan_workers: int = 1
    vanplan_settings: dict[str, Any] = field(default_factory=dict)
    vroom_exploration: int = 5
    vroom_threads: int = 1
    scale: int | None = None  # None: x1000 unless the horizon is too short (C2: x500)


@dataclass(frozen=True)
class SolverRun:
    """What a solver produced: routes as customer numbers, its wall time, and optionally a plan."""

    routes: Routes
    wall_time: float
    status: str
    plan: Plan | None = None


@dataclass
class Result:
    """One (instance, solver) row of the benchmark."""

    instance: str
    solver: str
    distance: float | None  # float evaluation of the routes; None when the solver failed
    vehicles: int | None
    bks: float  # the reference distance: the distance-only BKS, or the run's best plan
    gap: float | None  # percent to the reference
    feasible_solomon: bool
    feasible_checker: bool | None  # None: checker not available
    wall_time: float
    time_limit: float | None  # None: the solver has no time limit (VROOM)
    status: str
    scale: int
    violations: list[str] = field(default_factory=list)
    cpu_time: float | None = None  # CPU seconds of this process and its ended children
    reference: str = "bks"  # or "best of run": no BKS known (see compare_with_run_best)

    @property
    def feasible(self) -> bool:
        return self.feasible_solomon and self.feasible_checker is not False


# --- solvers -----------------------------------------------------------------------------------


def _node_data(
    problem: Problem,
) -> tuple[np.ndarray, np.ndarray, list[int], list[tuple[int, int]], list[int]]:
    """Integer data in node order (0 = depot, i = i-th visit): durations, distances, service,
    start-time windows [ready, due] (vanplan windows hold the whole service), demands."""
    m = problem.matrix
    loc = [m.index(DEPOT)] + [m.index(v.location) for v in problem.visits]
    durations = m.durations[np.ix_(loc, loc)]
    distances = m.distances[np.ix_(loc, loc)]
    shift = problem.shifts[0]
    service = [0] + [v.duration for v in problem.visits]
    windows = [(shift.start, shift.end)] + [
        (v.windows[0].start, v.windows[0].end - v.duration) for v in problem.visits
    ]
    demand = [0] + [v.demand for v in problem.visits]
    return durations, distances, service, windows, demand


def _customers(problem: Problem) -> list[int]:
    return [customer_number(v.id) for v in problem.visits]


def run_vanplan(problem: Problem, config: Config) -> SolverRun:
    from optimizer.settings import SolverSettings
    from optimizer.solve import solve

    settings = SolverSettings(
        time_limit=config.time_limit,
        seed=config.seed,
        workers=config.vanplan_workers,
        **{"solution_limit": config.solution_limit, **config.vanplan_settings},
    )
    t0 = time.perf_counter()
    plan = solve(problem, settings)
    wall = time.perf_counter() - t0
    return SolverRun(routes_from_plan(plan), wall, str(plan.stats.status), plan)


def _plain_model(problem: Problem, seed: int = 0) -> tuple[Any, Any, list[int]]:
    """A plain pywrapcp model of the instance: distance arc cost, time and capacity dimensions,
    every customer mandatory. ``seed`` > 0 shuffles the customers' node order as vanplan's seed
    does its visits. Returns the index manager, the model and the customer number per node."""
    import random

    from ortools.constraint_solver import pywrapcp

    durations, distances, service, windows, demand = _node_data(problem)
    order = list(range(len(service)))
    if seed:
        customers = order[1:]
        random.Random(seed).shuffle(customers)
        order = [0, *customers]
    durations, distances = durations[np.ix_(order, order)], distances[np.ix_(order, order)]
    service = [service[i] for i in order]
    windows = [windows[i] for i in order]
    demand = [demand[i] for i in order]
    numbers = _customers(problem)
    n, vehicles = len(service), len(problem.vans)
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    arc = routing.RegisterTransitMatrix(distances.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    # transit i -> j = service at i + travel i -> j; cumul = service start time.
    travel = (durations + np.asarray(service, dtype=np.int64)[:, None]).tolist()
    horizon = max(w[1] for w in windows)
    routing.AddDimension(routing.RegisterTransitMatrix(travel), horizon, horizon, False, "Time")
    time_dim = routing.GetDimensionOrDie("Time")
    for node in range(1, n):
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(*windows[node])
    for v in range(vehicles):
        time_dim.CumulVar(routing.Start(v)).SetRange(*windows[0])
        time_dim.CumulVar(routing.End(v)).SetRange(*windows[0])
    load = routing.RegisterUnaryTransitVector(demand)
    capacities = [van.capacity or 0 for van in problem.vans]
    routing.AddDimensionWithVehicleCapacity(load, 0, capacities, True, "Load")
    return manager, routing, [0, *(numbers[i - 1] for i in order[1:])]


def _plain_run(
    manager: Any, routing: Any, number: list[int], solution: Any, wall: float
) -> SolverRun:
    """The routes of a plain model's solution, as customer numbers."""
    status = routing.status()
    if solution is None:
        return SolverRun([], wall, f"no solution (status {status})")
    routes: Routes = []
    for v in range(routing.vehicles()):
        index, route = solution.Value(routing.NextVar(routing.Start(v))), []
        while not routing.IsEnd(index):
            route.append(number[manager.IndexToNode(index)])
            index = solution.Value(routing.NextVar(index))
        if route:
            routes.append(route)
    return SolverRun(routes, wall, f"status {status}")


def run_ortools(problem: Problem, config: Config) -> SolverRun:
    """Plain OR-Tools baseline straight on pywrapcp (:func:`_plain_model`): PATH_CHEAPEST_ARC
    then GUIDED_LOCAL_SEARCH until the time limit."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    t0 = time.perf_counter()
    manager, routing, number = _plain_model(problem)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(config.time_limit * 1000))
    if config.solution_limit is not None:
        params.solution_limit = config.solution_limit
    solution = routing.SolveWithParameters(params)
    return _plain_run(manager, routing, number, solution, time.perf_counter() - t0)


def run_ortools_ils(problem: Problem, config: Config) -> SolverRun:
    """The plain model (:func:`_plain_model`, customers in the seed's order) searched with
    vanplan's default search parameters (iterated local search, ``optimizer.params``): what
    vanplan's own model (breaks, skills, droppable visits, ...) costs the same search."""
    from optimizer.params import search_parameters
    from optimizer.settings import SolverSettings

    t0 = time.perf_counter()
    manager, routing, number = _plain_model(problem, config.seed)
    params = search_parameters(
        SolverSettings(time_limit=config.time_limit, solution_limit=config.solution_limit)
    )
    solution = routing.SolveWithIteratedLocalSearch(params)
    return _plain_run(manager, routing, number, solution, time.perf_counter() - t0)


def run_pyvrp(problem: Problem, config: Config) -> SolverRun:
    """PyVRP's ``Model`` on the same integer data, stopped by ``MaxRuntime(time_limit)``."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    t0 = time.perf_counter()
    durations, distances, service, windows, demand = _node_data(problem)
    n = len(service)
    model = Model()
    locations = [model.add_location(x=0, y=0, name=str(i)) for i in range(n)]  # matrix given
    depot = model.add_depot(locations[0], tw_early=windows[0][0], tw_late=windows[0][1])
    capacity = problem.vans[0].capacity or 0
    model.add_vehicle_type(
        num_available=len(problem.vans),
        capacity=capacity,
        start_depot=depot,
        end_depot=depot,
        tw_early=windows[0][0],
        tw_late=windows[0][1],
    )
    for i in range(1, n):
        model.add_client(
            locations[i],
            delivery=demand[i],
            service_duration=service[i],
            tw_early=windows[i][0],
            tw_late=windows[i][1],
        )
    for i, a in enumerate(locations):
        for j, b in enumerate(locations):
            model.add_edge(a, b, distance=int(distances[i, j]), duration=int(durations[i, j]))
    result = model.solve(MaxRuntime(config.time_limit), seed=config.seed, display=False)
    wall = time.perf_counter() - t0
    customers = _customers(problem)
    routes = [[customers[a.idx] for a in route if a.is_client()] for route in result.best.routes()]
    status = "feasible" if result.best.is_feasible() else "infeasible"
    return SolverRun([r for r in routes if r], wall, f"{status}, {result.num_iterations} iters")


def run_vroom(problem: Problem, config: Config) -> SolverRun:
    """VROOM (pyvroom) with cost = distance; it has no time limit here and stops by itself."""
    import vroom

    t0 = time.perf_counter()
    durations, distances, service, windows, demand = _node_data(problem)
    inp = vroom.Input()
    inp.set_durations_matrix(profile="car", matrix_input=durations.astype(np.uint32))
    inp.set_costs_matrix(profile="car", matrix_input=distances.astype(np.uint32))
    capacity = problem.vans[0].capacity or 0
    for k in range(len(problem.vans)):
        inp.add_vehicle(
            vroom.Vehicle(
                k,
                start=0,
                end=0,
                capacity=[capacity],
                time_window=vroom.TimeWindow(*windows[0]),
            )
        )
    customers = _customers(problem)
    inp.add_job(
        [
            vroom.Job(
                customers[i - 1],
                location=i,
                default_service=service[i],
                delivery=[demand[i]],
                time_windows=[vroom.TimeWindow(*windows[i])],
            )
            for i in range(1, len(service))
        ]
    )
    solution = inp.solve(
        exploration_level=config.vroom_exploration, nb_threads=config.vroom_threads
    )
    wall = time.perf_counter() - t0
    steps = solution.routes
    routes: Routes = []
    for _, group in steps[steps["type"] == "job"].groupby("vehicle_id", sort=True):
        routes.append([int(j) for j in group["id"]])
    return SolverRun(routes, wall, f"exploration {config.vroom_exploration}")


RUNNERS: dict[str, Callable[[Problem, Config], SolverRun]] = {
    "vanplan": run_vanplan,
    "ortools": run_ortools,
    "ortools-ils": run_ortools_ils,
    "pyvrp": run_pyvrp,
    "vroom": run_vroom,
}


# --- harness -----------------------------------------------------------------------------------


def _check(problem: Problem, plan: Plan) -> tuple[bool | None, list[str]]:
    """vanplan's independent checker, if it exists yet."""
    try:
        from optimizer.checker import check_plan
    except ImportError:
        return None, ["optimizer.checker not available"]
    report = check_plan(problem, plan)
    return bool(report.ok), [str(v) for v in report.violations]


def judge(
    instance: SolomonInstance,
    problem: Problem,
    solver: str,
    run: SolverRun,
    bks: BestKnown | None,
    time_limit: float | None,
    scale: int,
) -> Result:
    """Evaluate one solver's routes (float) and check them (Solomon rules + vanplan checker).
    Without ``bks`` the gap stays open until :func:`compare_with_run_best`."""
    ev = evaluate(instance, run.routes)
    plan = run.plan
    if plan is None:
        plan = plan_from_routes(problem, run.routes, status=run.status, wall_time=run.wall_time)
    checker_ok, checker_msgs = _check(problem, plan)
    violations = list(ev.violations) + [
        f"checker: {m}" for m in checker_msgs if checker_ok is False
    ]
    complete = not any("not served" in v or "served twice" in v for v in ev.violations)
    return Result(
        instance=instance.name,
        solver=solver,
        distance=ev.distance if complete else None,
        vehicles=ev.vehicles,
        bks=bks.distance if bks else float("nan"),
        gap=gap_percent(ev.distance, bks.distance) if complete and bks else None,
        feasible_solomon=ev.feasible,
        feasible_checker=checker_ok,
        wall_time=run.wall_time,
        time_limit=time_limit,
        status=run.status,
        scale=scale,
        violations=violations,
        reference="bks" if bks else "best of run",
    )


def compare_with_run_best(results: Sequence[Result]) -> None:
    """Fill in reference and gap of the instances without a BKS: the shortest feasible complete
    plan any solver found in this run (its gap is 0). An instance where no solver found one
    keeps no gap."""
    for name in dict.fromkeys(r.instance for r in results if r.reference != "bks"):
        rows = [r for r in results if r.instance == name]
        found = [r.distance for r in rows if r.distance is not None and r.feasible]
        if not found:
            continue
        best = min(found)
        for r in rows:
            r.bks = best
            r.gap = gap_percent(r.distance, best) if r.distance is not None else None


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (vanplan's iterated local search
    and every portfolio worker run in forked processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_instance(
    path: Path, bks: BestKnown | None, solvers: Sequence[str], config: Config
) -> list[Result]:
    """Run every solver on one instance, one after the other."""
    instance = read_instance(path)
    scale = config.scale or scale_for(instance)
    problem = to_problem(instance, scale)
    results = []
    for solver in solvers:
        limit = None if solver == "vroom" else config.time_limit
        cpu0 = _cpu_seconds()
        try:
            run = RUNNERS[solver](problem, config)
        except Exception as exc:  # a failing solver is a result, not the end of the run
            log.exception("%s failed on %s", solver, instance.name)
            run = SolverRun([], float("nan"), f"error: {type(exc).__name__}: {exc}")
        cpu = _cpu_seconds() - cpu0
        result = judge(instance, problem, solver, run, bks, limit, scale)
        result.cpu_time = cpu
        results.append(result)
    compare_with_run_best(results)
    return results


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_row(r: Result) -> str:
    checker = {True: "ok", False: "FAIL", None: "n/a"}[r.feasible_checker]
    return (
        f"{r.instance:7} {r.solver:11} {_fmt(r.distance, '10.2f')} {_fmt(r.vehicles, '3d')} "
        f"{r.bks:9.2f} {_fmt(r.gap, '7.2f')}% {'ok' if r.feasible_solomon else 'FAIL':>5} "
        f"{checker:>5} {r.wall_time:7.2f}s {_fmt(r.cpu_time, '6.2f')}s  {r.status}"
    )


HEADER = (
    f"{'inst':7} {'solver':11} {'distance':>10} {'veh':>3} {'bks':>9} {'gap':>8} "
    f"{'float':>5} {'check':>5} {'time':>8} {'cpu':>7}  status"
)


@dataclass(frozen=True)
class Summary:
    solver: str
    runs: int
    solved: int  # complete solutions (every customer served once)
    feasible: int  # passed the float check and the checker (if available)
    mean_gap: float | None  # over complete solutions
    max_gap: float | None
    above_limit: int  # complete solutions with gap > GAP_LIMIT, plus incomplete ones
    mean_time: float
    mean_cpu: float | None = None  # CPU seconds the solver got (less than wall under load)


def summarize(results: Sequence[Result]) -> list[Summary]:
    out = []
    for solver in dict.fromkeys(r.solver for r in results):
        rows = [r for r in results if r.solver == solver]
        gaps = [r.gap for r in rows if r.gap is not None]
        times = [r.wall_time for r in rows if r.wall_time == r.wall_time]
        cpus = [r.cpu_time for r in rows if r.cpu_time is not None]
        out.append(
            Summary(
                solver=solver,
                runs=len(rows),
                solved=len(gaps),
                feasible=sum(r.feasible for r in rows),
                mean_gap=statistics.fmean(gaps) if gaps else None,
                max_gap=max(gaps) if gaps else None,
                above_limit=sum(g > GAP_LIMIT for g in gaps) + (len(rows) - len(gaps)),
                mean_time=statistics.fmean(times) if times else float("nan"),
                mean_cpu=statistics.fmean(cpus) if cpus else None,
            )
        )
    return out


def ratios(results: Sequence[Result], base: str = "vanplan") -> dict[str, tuple[float, float]]:
    """For each peer: (mean gap of ``base`` / mean gap of peer, difference in percentage points),
    over the instances where both have a complete solution."""
    gaps: dict[str, dict[str, float]] = {}
    for r in results:
        if r.gap is not None:
            gaps.setdefault(r.solver, {})[r.instance] = r.gap
    if base not in gaps:
        return {}
    out = {}
    for peer, peer_gaps in gaps.items():
        if peer == base:
            continue
        common = sorted(set(gaps[base]) & set(peer_gaps))
        if not common:
            continue
        mb = statistics.fmean(gaps[base][i] for i in common)
        mp = statistics.fmean(peer_gaps[i] for i in common)
        # a peer at the reference everywhere has a mean gap of 0 up to float noise
        out[peer] = (mb / mp if mp > 1e-9 else float("inf"), mb - mp)
    return out


def _ratio(ratio: float) -> str:
    return f"{ratio:.2f}" if ratio != float("inf") else "n/a (peer's mean gap <= 0)"


def format_summary(results: Sequence[Result]) -> str:
    lines = [
        f"{'solver':11} {'runs':>4} {'solved':>6} {'feasible':>8} {'mean gap':>9} {'max gap':>8} "
        f"{'>3%':>4} {'mean time':>9} {'mean cpu':>9}"
    ]
    for s in summarize(results):
        lines.append(
            f"{s.solver:11} {s.runs:4d} {s.solved:6d} {s.feasible:8d} "
            f"{_fmt(s.mean_gap, '8.2f')}% {_fmt(s.max_gap, '7.2f')}% {s.above_limit:4d} "
            f"{s.mean_time:8.2f}s {_fmt(s.mean_cpu, '8.2f')}s"
        )
    for peer, (ratio, diff) in ratios(results).items():
        lines.append(
            f"mean gap vanplan / {peer}: {_ratio(ratio)} (vanplan {diff:+.2f} pp), common instances"
        )
    run_best = sorted({r.instance for r in results if r.reference != "bks"})
    if run_best:
        lines.append(f"no BKS known, gap to the best plan of this run: {', '.join(run_best)}")
    return "\n".join(lines)


def write_results(path: Path, results: Sequence[Result], meta: dict[str, Any]) -> None:
    """``.csv``: one row per (instance, solver); anything else: JSON with settings and summary."""
    rows = [asdict(r) | {"feasible": r.feasible} for r in results]
    if path.suffix == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["instance"])
            writer.writeheader()
            for row in rows:
                writer.writerow(row | {"violations": "; ".join(row["violations"])})
        return
    doc = {
        "meta": meta,
        "summary": [asdict(s) for s in summarize(results)],
        "ratios": {p: {"ratio": r, "diff_pp": d} for p, (r, d) in ratios(results).items()},
        "results": rows,
    }
    path.write_text(json.dumps(doc, indent=2, default=str))


def load_results(path: Path) -> list[Result]:
    """Read the results of a JSON file written by :func:`write_results`."""
    doc = json.loads(path.read_text())
    names = {f for f in Result.__dataclass_fields__}
    return [Result(**{k: v for k, v in row.items() if k in names}) for row in doc["results"]]


def format_markdown(results: Sequence[Result]) -> str:
    """A markdown table with the solvers side by side (gap %, vehicles; * = infeasible), then the
    summary."""
    solvers = list(dict.fromkeys(r.solver for r in results))
    by_key = {(r.instance, r.solver): r for r in results}
    instances = list(dict.fromkeys(r.instance for r in results))
    head = "| instance | BKS | " + " | ".join(f"{s} dist (veh) gap" for s in solvers) + " |"
    lines = [head, "|" + "---|" * (2 + len(solvers))]
    for inst in instances:
        cells = []
        for solver in solvers:
            r = by_key.get((inst, solver))
            if r is None or r.distance is None or r.gap is None:
                cells.append("-" if r is None else "no solution")
                continue
            mark = "" if r.feasible else " *infeasible*"
            cells.append(f"{r.distance:.2f} ({r.vehicles}) {r.gap:.2f} %{mark}")
        first = next(r for r in results if r.instance == inst)
        lines.append(f"| {inst} | {first.bks:.2f} | " + " | ".join(cells) + " |")
    lines += ["", _markdown_summary(results)]
    return "\n".join(lines)


def _markdown_summary(results: Sequence[Result]) -> str:
    lines = [
        "| solver | runs | complete | feasible | mean gap | max gap | > 3 % | mean time "
        "| mean cpu |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for sm in summarize(results):
        lines.append(
            f"| {sm.solver} | {sm.runs} | {sm.solved} | {sm.feasible} | "
            f"{_fmt(sm.mean_gap, '.2f')} % | {_fmt(sm.max_gap, '.2f')} % | {sm.above_limit} | "
            f"{sm.mean_time:.2f} s | {_fmt(sm.mean_cpu, '.2f')} s |"
        )
    lines.append("")
    for peer, (ratio, diff) in ratios(results).items():
        lines.append(f"- mean gap vanplan / {peer}: {_ratio(ratio)} (vanplan {diff:+.2f} pp)")
    return "\n".join(lines)


def _commit() -> str:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def _parse_setting(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--vanplan-setting {text!r}: expected NAME=VALUE")
    name, raw = text.split("=", 1)
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance and solver")
    p.add_argument("--instances", default="", help="comma list (default: all 56)")
    p.add_argument(
        "--solvers", default=",".join(SOLVERS), help="comma list of " + ",".join(RUNNERS)
    )
    p.add_argument("--jobs", type=int, default=1, help="instances run in parallel processes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=1, help="vanplan SolverSettings.workers")
    p.add_argument(
        "--vanplan-setting",
        action="append",
        default=[],
        type=_parse_setting,
        metavar="NAME=VALUE",
        help="extra SolverSettings field (repeatable), e.g. metaheuristic=GUIDED_LOCAL_SEARCH",
    )
    p.add_argument("--vroom-exploration", type=int, default=5)
    p.add_argument("--vroom-threads", type=int, default=None, help="default: --workers")
    p.add_argument("--scale", type=int, default=None, help="integer scale (default 1000; C2: 500)")
    p.add_argument("--solomon-dir", type=Path, default=None, help="default: $VANPLAN_SHARED_DIR")
    p.add_argument("--out", type=Path, default=None, help="write results (.json or .csv)")
    p.add_argument("--markdown", type=Path, default=None, help="write a markdown table")
    p.add_argument(
        "--render",
        type=Path,
        nargs="+",
        default=None,
        metavar="JSON",
        help="no run: merge saved JSON results (later files win) and print the summary",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.render:
        merged: dict[tuple[str, str], Result] = {}
        for path in args.render:
            merged |= {(r.instance, r.solver): r for r in load_results(path)}
        loaded = list(merged.values())
        print(format_summary(loaded))
        if args.markdown:
            args.markdown.write_text(format_markdown(loaded) + "\n")
        return 0
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = [s for s in solvers if s not in RUNNERS]
    if unknown:
        build_parser().error(f"--solvers: unknown {unknown}; choose from {list(RUNNERS)}")
    if args.time_limit <= 0:
        build_parser().error("--time-limit must be > 0")
    cores = os.cpu_count() or 1
    vroom_threads = args.vroom_threads or args.workers
    threads = max(args.workers, vroom_threads)
    if args.jobs < 1 or args.jobs * threads > cores:
        build_parser().error(
            f"--jobs {args.jobs} x {threads} solver threads oversubscribes {cores} cores"
        )
    shared = Path(os.environ.get("VANPLAN_SHARED_DIR", ROOT.parent / "shared"))
    directory = args.solomon_dir or shared / "benchmarks" / "solomon"
    names = [n for n in args.instances.split(",") if n.strip()] or None
    paths = instance_paths(directory, names)
    bks = read_bks(directory / "bks.csv") if (directory / "bks.csv").is_file() else {}
    config = Config(
        time_limit=args.time_limit,
        seed=args.seed,
        vanplan_workers=args.workers,
        vanplan_settings=dict(args.vanplan_setting),
        vroom_exploration=args.vroom_exploration,
        vroom_threads=vroom_threads,
        scale=args.scale,
    )
    from optimizer.settings import SolverSettings

    # Validated here (a bad --vanplan-setting fails before the run); recorded in full.
    effective = SolverSettings(
        time_limit=args.time_limit,
        seed=args.seed,
        workers=args.workers,
        **config.vanplan_settings,
    )
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "vanplan_settings": asdict(effective),
        "machine": (
            f"{platform.node()} {platform.machine()} {cores} cores, "
            f"Python {platform.python_version()}"
        ),
        "config": asdict(config),
        "jobs": args.jobs,
        "load_average_at_start": os.getloadavg(),
        "solvers": solvers,
        "instances": [p.stem for p in paths],
        "note": "vroom has no time limit (stops by itself; its own time is reported); "
        "ortools baseline and pyvrp are single-threaded",
    }
    print(
        f"Solomon benchmark {meta['date']} on {meta['machine']}, code {meta['commit']}\n"
        f"time limit {args.time_limit:g}s per instance and solver, seed {args.seed}, "
        f"vanplan workers {args.workers} {config.vanplan_settings or ''}, "
        f"vroom exploration {args.vroom_exploration} x{vroom_threads} threads (no time limit), "
        f"jobs {args.jobs}; gap to distance-only BKS (else to the run's best), float distances\n"
    )
    print(HEADER)
    results: list[Result] = []
    t0 = time.perf_counter()
    if args.jobs == 1:
        for path in paths:
            rows = run_instance(path, bks.get(path.stem), solvers, config)
            results += rows
            for r in rows:
                print(format_row(r), flush=True)
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [
                pool.submit(run_instance, p, bks.get(p.stem), solvers, config) for p in paths
            ]
            for fut in futures:
                rows = fut.result()
                results += rows
                for r in rows:
                    print(format_row(r), flush=True)
    meta["load_average_at_end"] = os.getloadavg()
    print(
        f"\n{len(paths)} instances in {time.perf_counter() - t0:.0f}s; load average (1/5/15 min) "
        f"at start {meta['load_average_at_start']}, at end {meta['load_average_at_end']}\n"
    )
    print(format_summary(results))
    for r in results:
        if r.violations:
            print(f"{r.instance} {r.solver}: {'; '.join(r.violations[:3])}")
    if args.out:
        write_results(args.out, results, meta)
        print(f"\nresults written to {args.out}")
    if args.markdown:
        args.markdown.write_text(format_markdown(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
