"""vanplan on its own kind of problem: sample weeks of the Odenwald vans, several seeds.

Each run builds :func:`api.sample_week.sample_week` (week of ``--monday``, ``clients`` clients,
sample seed) on the straight-line travel matrix (offline, as ``vanplan demo``), solves it with
``SolverSettings(time_limit, seed, workers)`` and replays the plan with the independent checker.
It prints one JSON line per run: solver status, objective (euros as the model sees it, lower
is better; a must visit left out costs 100 000), solutions found, unassigned visits (and the
must visits among them), checker
verdict, wall time, the engine that made the plan, ``stalls``: how often a search was ended
as stalled and started again (:mod:`optimizer.processes.stall`), and how statutory breaks
entered the search (``--statutory-breaks``, ``SolverSettings.statutory_breaks``).
``--stoppable`` solves as the service's jobs do (with a stop event), and ``--stop-after S``
stops each solve after S seconds, as a dispatcher would. Runs go to fresh
processes (``--jobs`` at a time, each solve single-threaded unless ``--workers``), so no OR-Tools
state passes from one run to the next.

    python3 benchmarks/weeks.py --weeks 34:7,60:7 --seeds 0,1,2,3 --time-limit 10 --jobs 2

Compare two versions by running it from each checkout (``PYTHONPATH=<checkout>``) on a quiet
machine; results in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from typing import Any


def run_week(
    monday: date,
    clients: int,
    week_seed: int,
    seed: int,
    time_limit: float,
    workers: int,
    stoppable: bool = False,
    stop_after: float | None = None,
    statutory_breaks: str = "modelled",
) -> dict[str, Any]:
    """Solve one sample week and check the plan. ``stoppable`` solves as a job does (with a
    stop event); ``stop_after`` also sets it after that many seconds."""
    from api.mapping import build_problem
    from api.sample_week import sample_week
    from geo.providers import approximate_provider
    from optimizer.checker import check_plan
    from optimizer.domain import is_must_priority
    from optimizer.settings import SolverSettings
    from optimizer.solve import solve

    request = sample_week(monday, clients=clients, seed=week_seed)
    problem = build_problem(request, approximate_provider()).problem
    stalls = _StallCounter()
    logging.getLogger("optimizer.processes.searches").addHandler(stalls)
    settings = SolverSettings(
        time_limit=time_limit, seed=seed, workers=workers, statutory_breaks=statutory_breaks
    )
    stop = threading.Event() if stoppable or stop_after is not None else None
    timer = threading.Timer(stop_after, stop.set) if stop and stop_after is not None else None
    t0 = time.monotonic()
    if timer is not None:
        timer.start()
    plan = solve(problem, settings, stop=stop)
    wall = time.monotonic() - t0
    if timer is not None:
        timer.cancel()
    report = check_plan(problem, plan)
    return {
        "clients": clients,
        "week_seed": week_seed,
        "seed": seed,
        "status": plan.stats.status,
        "objective": round(plan.stats.objective, 2),
        "solutions": plan.stats.solutions,
        "unassigned": len(plan.unassigned),
        "must_out": sum(
            1 for u in plan.unassigned if is_must_priority(problem.visit(u.visit_id).priority)
        ),
        "feasible": report.ok,
        "wall": round(wall, 2),
        "engine": plan.stats.engine,
        "stalls": stalls.count,
        "statutory_breaks": statutory_breaks,
    }


class _StallCounter(logging.Handler):
    """Counts the searches ended as stalled ("the search stalled ... searching again")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("the search stalled"):
            self.count += 1


def _run(
    args: tuple[date, int, int, int, float, int, bool, float | None, str],
) -> dict[str, Any]:
    return run_week(*args)


def _weeks(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        try:
            clients, week_seed = (int(x) for x in part.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--weeks {part!r}: expected CLIENTS:SEED, e.g. 34:7"
            ) from None
        out.append((clients, week_seed))
    return out


def _seeds(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected e.g. 0,1,2,3") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--weeks", type=_weeks, default=_weeks("34:7,60:7"), help="CLIENTS:SEED,...")
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2, 3], help="solver seeds")
    p.add_argument("--monday", type=date.fromisoformat, default=date(2026, 11, 30))
    p.add_argument("--time-limit", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    p.add_argument(
        "--stoppable", action="store_true", help="solve with a stop event, as a job does"
    )
    p.add_argument(
        "--stop-after", type=float, default=None, help="set the stop event after SECONDS"
    )
    p.add_argument(
        "--statutory-breaks",
        choices=("modelled", "placed"),
        default="modelled",
        help="SolverSettings.statutory_breaks: break intervals in the search, or placed after it",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.monday.weekday() != 0:
        raise SystemExit(f"--monday {args.monday}: not a Monday")
    runs = [
        (
            args.monday,
            clients,
            week_seed,
            seed,
            args.time_limit,
            args.workers,
            args.stoppable,
            args.stop_after,
            args.statutory_breaks,
        )
        for clients, week_seed in args.weeks
        for seed in args.seeds
    ]
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
        for result in pool.map(_run, runs):
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
