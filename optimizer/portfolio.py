"""Portfolios: several differently configured searches at once, the best plan wins. Each
worker runs in a forked process of its own (:mod:`optimizer.forked`); where ``fork`` does not
exist, in spawned processes that cannot run a stoppable iterated local search."""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
from dataclasses import replace
from typing import Any

from optimizer.forked import Searched, outcome, search_in_child
from optimizer.search import Progress, ProgressCallback, Result, Task, solve_one
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)


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
                seed=settings.seed + w * 7919,
            )
        )
    return out


def solve_portfolio_forked(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> Result:
    """The portfolio in forked processes, one per worker, each watched by a thread of this
    process as a single forked search is (:func:`search_in_child`): stoppable with iterated
    local search, stalls ended and searched again. The winner is the lowest objective (then the
    lowest worker); a killed worker's plan is rebuilt here from its last routes."""
    configs = portfolio(settings)
    deadline = task.t0 + settings.time_limit
    lock = threading.Lock()
    best: list[float] = []
    searched: list[Searched] = [Searched() for _ in configs]
    errors: dict[int, str] = {}

    def run(worker: int, cfg: SolverSettings) -> None:
        def progress(p: Progress) -> None:
            with lock:
                if best and p.objective >= best[0]:
                    return
                best[:] = [p.objective]
                if on_progress is not None:
                    on_progress(replace(p, worker=worker))

        try:
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
    routes, dropped, excluded_model, stats = outcome(task, configs[winner], searched[winner], stop)
    stats = replace(
        stats,
        wall_time=time.monotonic() - task.t0,
        workers=len(configs),
        solutions=sum(searched[w].solutions for w in found),
        strategy=f"worker {winner}: {stats.strategy}",
    )
    return routes, dropped, excluded_model, stats


def _worker_main(
    task: Task,
    settings: SolverSettings,
    worker: int,
    wall_deadline: float,
    events: Any,
    stop_flag: Any,
) -> None:
    """Entry point of a spawned portfolio process: solve and put ``("done", worker, result)``."""
    t0 = time.monotonic()
    task = replace(task, t0=t0)  # this process's clock
    local_stop = threading.Event()

    finished = threading.Event()

    def relay_stop() -> None:
        # A lock-free shared flag: a process that exits while holding a multiprocessing lock
        # (an Event's condition) would block the parent forever.
        while not finished.wait(0.05):
            if stop_flag.value:
                local_stop.set()
                return

    relay = threading.Thread(target=relay_stop, daemon=True)
    relay.start()

    def progress(p: Progress) -> None:
        events.put(("progress", worker, p))

    try:
        result = solve_one(
            task,
            settings,
            progress,
            local_stop,
            worker,
            # The wall clock is shared between processes; the import time is already spent.
            deadline=t0 + max(wall_deadline - time.time(), 0.05),
        )
        events.put(("done", worker, result))
    except Exception as exc:  # reported to the parent, which decides
        events.put(("error", worker, repr(exc)))
    finally:
        finished.set()
        relay.join()


def solve_portfolio_spawned(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> Result:
    """The portfolio in spawned processes (where ``fork`` does not exist): each worker imports
    OR-Tools first, and a stoppable one searches with the metaheuristic."""
    t0 = task.t0
    configs = portfolio(settings)
    if stop is not None:  # see solve(): a stoppable search cannot use ILS
        configs = [replace(c, iterated_local_search=False) for c in configs]
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    stop_flag = ctx.RawValue("b", 0)
    # Spawned processes need time to import OR-Tools; they search until a common wall-clock
    # deadline, leaving a little time to send the plans back.
    wall_deadline = time.time() + max(settings.time_limit - (time.monotonic() - t0) - 0.2, 0.1)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(task, cfg, w, wall_deadline, events, stop_flag),
            name=f"vanplan-worker-{w}",
            daemon=True,
        )
        for w, cfg in enumerate(configs)
    ]
    for p in procs:
        p.start()
    results: dict[int, Result] = {}
    errors: dict[int, str] = {}
    best: float | None = None
    try:
        while len(results) + len(errors) < len(procs):
            if stop is not None and stop.is_set():
                stop_flag.value = 1
            try:
                kind, worker, payload = events.get(timeout=0.05)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and events.empty():
                    break
                continue
            if kind == "progress":
                if best is None or payload.objective < best:
                    best = payload.objective
                    if on_progress is not None:
                        on_progress(replace(payload, elapsed=time.monotonic() - t0))
            elif kind == "done":
                results[worker] = payload
            else:
                errors[worker] = payload
    finally:
        stop_flag.value = 1
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()
        events.close()
    if not results:
        raise RuntimeError(f"every portfolio worker failed: {errors}")
    for w, err in errors.items():
        log.warning("portfolio worker %d failed: %s", w, err)
    # Deterministic winner: lowest objective, then lowest worker index.
    winner = min(results, key=lambda w: (results[w][3].objective, w))
    routes, dropped, excluded_model, stats = results[winner]
    stats = replace(
        stats,
        wall_time=time.monotonic() - t0,
        workers=len(procs),
        solutions=sum(r[3].solutions for r in results.values()),
        strategy=f"worker {winner}: {stats.strategy}",
    )
    return routes, dropped, excluded_model, stats
