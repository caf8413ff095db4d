"""Time limits and stops at any size: how late a solve answers, and how much memory it takes.

For each size, a synthetic week (:func:`sized_problem`: visits spread over a 60 x 60 km square
around one depot, half with a two-hour window; vans enough for about eight visits a van-day, up
to the API's 50 vans, beyond which there are more visits than they can serve; default shifts
8-17 h under the statutory break rule; a straight-line matrix) is solved in a fresh process, as
a job does (with a stop event, so the search runs in a process of its own):

- ``first``: seconds from the call to the first plan reported by ``on_progress``;
- ``wall`` / ``overrun``: seconds until ``solve`` returned, and how far past the time limit;
- ``stop_latency``: in a second run the stop is set after ``--stop-after`` seconds: seconds
  from then until ``solve`` returned;
- ``peak_rss_mb``: the largest resident set of the solving process or any of its children;
- ``assigned`` / ``unassigned`` / ``status`` / ``engine`` / ``warnings`` of the plan.

With ``--phases`` it times the phases before the search instead, one JSON line per size, in
a fresh process each: ``precheck`` (diagnosis), ``greedy`` (the model's nodes and the greedy
plan), ``build`` (the OR-Tools model), ``peak_rss_mb``.

With ``--no-breaks`` every shift's work is capped at six hours (the statutory rule's
``after_first``: no break needed) and the fleet is not capped (five visits a van-day), so that
PyVRP can express the week and plan it where OR-Tools' model would not be built in time.

It prints one JSON line per run. Figures depend on the machine and its load; they are for
comparing versions side by side, not for tests.

    python3 benchmarks/limits.py --sizes 200,1000,2000,5000 --time-limit 30 --stop-after 10
    python3 benchmarks/limits.py --sizes 1000,2000,5000 --phases
    python3 benchmarks/limits.py --sizes 1000,2000,5000 --time-limit 30 --stop-after 10 --no-breaks
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import resource
import threading
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from optimizer.diagnose import precheck
from optimizer.domain import (
    BreakRule,
    Horizon,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
)
from optimizer.greedy import greedy_plan
from optimizer.model import build_model, node_graph
from optimizer.settings import SolverSettings
from optimizer.solve import solve

VISITS_PER_VAN_DAY = 8
VISITS_PER_SHORT_DAY = 5  # --no-breaks: six hours of work a van-day
MAX_VANS = 50  # the API's limit (api.schemas.planning.SolveRequest.vans)
SPEED_KMH = 40.0
DETOUR = 1.3


def sized_problem(visits: int, seed: int = 0, no_breaks: bool = False) -> Problem:
    """A week of ``visits`` visits for a fleet sized to them (see the module docstring). With
    ``no_breaks`` every shift's work is capped at the statutory rule's ``after_first`` (no break
    needed, so PyVRP can express the week) and the fleet is not capped: vans enough for
    :data:`VISITS_PER_SHORT_DAY` visits a van-day."""
    rng = random.Random(seed)
    horizon = Horizon(date(2026, 3, 2), 5)
    names = ["base", *(f"p{i}" for i in range(visits))]
    xy = np.array([(0.0, 0.0)] + [(rng.uniform(-30, 30), rng.uniform(-30, 30)) for _ in names[1:]])
    km = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)) * DETOUR
    matrix = TravelMatrix(
        tuple(names),
        np.ceil(km * 3600 / SPEED_KMH).astype(np.int64),
        np.rint(km * 1000).astype(np.int64),
        approximate=True,
    )
    if no_breaks:
        fleet = max(1, math.ceil(visits / (horizon.days * VISITS_PER_SHORT_DAY)))
        max_work: int | None = BreakRule().after_first
    else:
        fleet = min(MAX_VANS, max(1, math.ceil(visits / (horizon.days * VISITS_PER_VAN_DAY))))
        max_work = None
    vans = tuple(Van(f"van-{k}", start_location="base") for k in range(fleet))
    shifts = tuple(
        Shift(v.id, d, horizon.at(d, 8), horizon.at(d, 17), max_work=max_work)
        for v in vans
        for d in range(5)
    )
    out = []
    for i in range(visits):
        windows: tuple[TimeWindow, ...] = ()
        if rng.random() < 0.5:
            day, hour = rng.randrange(horizon.days), rng.randint(8, 14)
            windows = (TimeWindow(horizon.at(day, hour), horizon.at(day, hour + 2)),)
        priority = 1 if rng.random() < 0.7 else 2
        out.append(Visit(f"c{i}", f"p{i}", 1800, windows=windows, priority=priority))
    return Problem(horizon, vans, shifts, tuple(out), matrix)


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # KiB on Linux


def measure(
    size: int, time_limit: float, stop_after: float | None, seed: int, no_breaks: bool = False
) -> dict[str, Any]:
    """One solve of ``sized_problem(size, seed, no_breaks)``; see the module docstring."""
    problem = sized_problem(size, seed, no_breaks)
    stop = threading.Event()
    first: list[float] = []
    stopped_at: list[float] = []
    t0 = time.monotonic()

    def progress(_: Any) -> None:
        if not first:
            first.append(time.monotonic() - t0)

    def stop_now() -> None:
        stopped_at.append(time.monotonic())
        stop.set()

    timer = threading.Timer(stop_after, stop_now) if stop_after is not None else None
    if timer is not None:
        timer.start()
    plan = solve(problem, SolverSettings(time_limit=time_limit), stop=stop, on_progress=progress)
    done = time.monotonic()
    if timer is not None:
        timer.cancel()
    wall = done - t0
    return {
        "size": size,
        "no_breaks": no_breaks,
        "van_days": len(problem.shifts),
        "time_limit": time_limit,
        "stop_after": stop_after,
        "first": round(first[0], 2) if first else None,
        "wall": round(wall, 2),
        "overrun": round(wall - time_limit, 2),
        "stop_latency": round(done - stopped_at[0], 2) if stopped_at else None,
        "peak_rss_mb": round(_peak_rss_mb()),
        "status": plan.stats.status,
        "engine": plan.stats.engine,
        "assigned": len(plan.assigned),
        "unassigned": len(plan.unassigned),
        "warnings": list(plan.warnings),
    }


def phases(size: int, seed: int) -> dict[str, Any]:
    """Seconds of the phases before the search on ``sized_problem(size, seed)`` (see the
    module docstring)."""
    problem = sized_problem(size, seed)
    settings = SolverSettings()
    t0 = time.monotonic()
    excluded = precheck(problem)
    t1 = time.monotonic()
    routes = greedy_plan(node_graph(problem, settings, excluded)).routes
    t2 = time.monotonic()
    build_model(problem, settings, excluded=excluded)
    t3 = time.monotonic()
    return {
        "size": size,
        "precheck": round(t1 - t0, 2),
        "greedy": round(t2 - t1, 2),
        "greedy_assigned": sum(len(r.stops) for r in routes),
        "build": round(t3 - t2, 2),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def _child(args: tuple[int, float, float | None, int, bool], out: Any) -> None:
    size, time_limit, _, seed, _ = args
    out.put(phases(size, seed) if time_limit < 0 else measure(*args))


def run_fresh(
    size: int, time_limit: float, stop_after: float | None, seed: int, no_breaks: bool = False
) -> dict[str, Any]:
    """:func:`measure` in a fresh (spawned) process, so its peak memory is its own (with a
    negative ``time_limit``: :func:`phases`)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=((size, time_limit, stop_after, seed, no_breaks), out))
    proc.start()
    result: dict[str, Any] = out.get()
    proc.join()
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,1000,2000,5000", help="visit counts (comma list)")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument(
        "--stop-after", type=float, default=10.0, help="seconds before the stop (0: no stop run)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--phases", action="store_true", help="time the phases before the search instead"
    )
    parser.add_argument(
        "--no-breaks",
        action="store_true",
        help="six hours of work a van-day (no break: PyVRP can express the week), fleet uncapped",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        if args.phases:
            print(json.dumps(run_fresh(size, -1.0, None, args.seed)), flush=True)
            continue
        full = run_fresh(size, args.time_limit, None, args.seed, args.no_breaks)
        print(json.dumps(full), flush=True)
        if args.stop_after > 0:
            stopped = run_fresh(size, args.time_limit, args.stop_after, args.seed, args.no_breaks)
            print(json.dumps(stopped), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
