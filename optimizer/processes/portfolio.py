"""Portfolios: several differently configured searches at once, the best plan wins. Each
worker runs in a forked process of its own (:mod:`optimizer.processes.searches`); where ``fork``
does not exist, in spawned processes that cannot run a stoppable iterated local search."""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
from dataclasses import replace
from typing import Any

from optimizer.engines.exchange import SolutionPool
from optimizer.engines.pyvrp_model import PyvrpMapping
from optimizer.processes.engines import hybrid_in_child, portfolio_share
from optimizer.processes.messages import Done, Failed
from optimizer.processes.searches import Searched, outcome, search_deadline, search_in_child
from optimizer.processes.start import end
from optimizer.processes.stop import StopFlag
from optimizer.search import Progress, ProgressCallback, SearchResult, Task, solve_one
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)

WORKER_SEED_STEP = 7919
"""Worker ``w`` searches with the seed plus ``w`` times this."""


def portfolio(settings: SolverSettings) -> list[SolverSettings]:
    """The differently configured searches run for ``settings.workers`` workers. Worker 0 runs
    ``settings`` as given; every other worker starts from another first solution and another
    seed (visit order), so that it follows its own trajectory. Workers 1, 3, 4, 6, ... run the
    same search as worker 0; every third one (2, 5, ...) switches between iterated local search
    and the metaheuristic as a hedge, and workers 2-3, 6-7, ... flip the operator selection.
    Two independent ILS runs are the better pair: on vanplan's weakest Solomon instances the
    best of two ILS workers beat ILS plus guided local search clearly (benchmarks/RESULTS.md)."""
    others = (
        "LOCAL_CHEAPEST_INSERTION",
        "PARALLEL_CHEAPEST_INSERTION",
        "SAVINGS",
        "PATH_CHEAPEST_ARC",
    )
    first = [settings.first_solution, *(f for f in others if f != settings.first_solution)][:4]
    out = []
    for w in range(settings.workers):
        hedge = w % 3 == 2
        out.append(
            replace(
                settings,
                workers=1,
                first_solution=first[w % len(first)],
                iterated_local_search=settings.iterated_local_search != hedge,
                operator_bandit=settings.operator_bandit
                if w // 2 % 2 == 0
                else not settings.operator_bandit,
                seed=settings.seed + w * WORKER_SEED_STEP,
            )
        )
    return out


def solve_portfolio_forked(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    mapping: PyvrpMapping | None = None,
) -> SearchResult:
    """The portfolio in forked processes, one per worker, each watched by a thread of this
    process as a single forked search is (:func:`search_in_child`): stoppable with iterated
    local search, stalls ended and searched again. With a PyVRP ``mapping`` (a problem PyVRP
    expresses: no breaks) every worker runs PyVRP with its own seed, the workers trading their
    best solutions through a shared pool (:mod:`optimizer.engines.exchange`); worker 0 stops
    PyVRP a little early and polishes the pool's best with OR-Tools (when its model fits in the
    time left), the others run PyVRP until the deadline (:func:`hybrid_in_child`,
    :func:`~optimizer.processes.engines.portfolio_share`): on such problems PyVRP's search is
    the stronger one (``benchmarks/RESULTS.md``). The winner is the
    lowest objective (then the lowest worker); a killed worker's plan is rebuilt here from its
    last routes."""
    configs = portfolio(settings)
    deadline = search_deadline(task, settings)
    lock = threading.Lock()
    best: float | None = None
    searched: list[Searched] = [Searched() for _ in configs]
    errors: dict[int, str] = {}
    # The PyVRP workers trade their best solutions (created before they are forked); not in a
    # reproducible run (a solution limit), whose trades would depend on the workers' timing.
    pool = None
    if mapping is not None and settings.solution_limit is None:
        pool = SolutionPool(mp.get_context("fork"), mapping.data)

    def run(worker: int, cfg: SolverSettings) -> None:
        def progress(p: Progress) -> None:
            nonlocal best
            with lock:
                if best is not None and p.objective >= best:
                    return
                best = p.objective
                if on_progress is not None:
                    on_progress(replace(p, worker=worker))

        try:
            if mapping is not None:
                searched[worker] = hybrid_in_child(
                    task, cfg, mapping, progress, stop, deadline, portfolio_share(worker), pool
                )
            else:
                searched[worker] = search_in_child(task, cfg, progress, stop, deadline)
        except Exception as exc:  # reported below; the other workers decide
            errors[worker] = str(exc)

    threads = [
        threading.Thread(target=run, args=(w, cfg), name=f"vanplan-worker-{w}", daemon=True)
        for w, cfg in enumerate(configs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w, err in errors.items():
        log.warning("portfolio worker %d failed: %s", w, err)
    found = [w for w in range(len(configs)) if w not in errors]
    if not found:
        raise RuntimeError(f"every portfolio worker failed: {errors}")
    # Deterministic winner: lowest objective, then lowest worker index.
    winner = min(found, key=lambda w: (searched[w].objective, w))
    result = outcome(task, configs[winner], searched[winner], stop)
    stats = replace(
        result.stats,
        wall_time=time.monotonic() - task.t0,
        workers=len(configs),
        solutions=sum(searched[w].solutions for w in found),
        strategy=f"worker {winner}: {result.stats.strategy}",
    )
    return replace(result, stats=stats)


def _spawned_worker(
    task: Task,
    settings: SolverSettings,
    worker: int,
    wall_deadline: float,
    events: Any,
    flag: StopFlag,
) -> None:
    """Entry point of a spawned portfolio process: solve, sending progress and the outcome."""
    t0 = time.monotonic()
    task = replace(task, t0=t0)  # this process's clock

    def progress(p: Progress) -> None:
        events.put(replace(p, worker=worker))

    with flag.relayed() as stop:
        try:
            result = solve_one(
                task,
                settings,
                progress,
                stop,
                worker,
                # The wall clock is shared between processes; the import time is already spent.
                deadline=t0 + max(wall_deadline - time.time(), 0.05),
            )
            events.put(Done(result, worker))
        except Exception as exc:  # reported to the parent, which decides
            events.put(Failed.of(exc, worker))


def solve_portfolio_spawned(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> SearchResult:
    """The portfolio in spawned processes (where ``fork`` does not exist): each worker imports
    OR-Tools first, and a stoppable one searches with the metaheuristic."""
    t0 = task.t0
    configs = portfolio(settings)
    if stop is not None:  # see solve(): a stoppable search cannot use ILS
        configs = [replace(c, iterated_local_search=False) for c in configs]
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    flag = StopFlag(ctx)
    # Spawned processes need time to import OR-Tools; they search until a common wall-clock
    # deadline, leaving a little time to send the plans back.
    wall_deadline = time.time() + max(settings.time_limit - (time.monotonic() - t0) - 0.2, 0.1)
    procs = [
        ctx.Process(
            target=_spawned_worker,
            args=(task, cfg, w, wall_deadline, events, flag),
            name=f"vanplan-worker-{w}",
            daemon=True,
        )
        for w, cfg in enumerate(configs)
    ]
    for p in procs:
        p.start()
    results: dict[int, SearchResult] = {}
    errors: dict[int, str] = {}
    best: float | None = None
    try:
        while len(results) + len(errors) < len(procs):
            flag.follow(stop)
            try:
                message = events.get(timeout=0.05)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and events.empty():
                    break
                continue
            if isinstance(message, Progress):
                if best is None or message.objective < best:
                    best = message.objective
                    if on_progress is not None:
                        on_progress(replace(message, elapsed=time.monotonic() - t0))
            elif isinstance(message, Done):
                results[message.worker] = message.value
            elif isinstance(message, Failed):
                errors[message.worker] = message.error
    finally:
        flag.set()
        for p in procs:
            end(p, grace=5.0)
        events.close()
    if not results:
        raise RuntimeError(f"every portfolio worker failed: {errors}")
    for w, err in errors.items():
        log.warning("portfolio worker %d failed: %s", w, err)
    # Deterministic winner: lowest objective, then lowest worker index.
    winner = min(results, key=lambda w: (results[w].stats.objective, w))
    result = results[winner]
    stats = replace(
        result.stats,
        wall_time=time.monotonic() - t0,
        workers=len(procs),
        solutions=sum(r.stats.solutions for r in results.values()),
        strategy=f"worker {winner}: {result.stats.strategy}",
    )
    return replace(result, stats=stats)
