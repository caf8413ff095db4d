"""Solving in a child process: OR-Tools' routing search holds the GIL, so a caller that must stay
responsive (a web service, a job runner) runs the search in a process of its own.

:func:`run_in_child` runs any module-level solver function there with progress and stop relayed;
children come from a fork server that has imported OR-Tools once, so each starts at once.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing import forkserver
from typing import Any

from optimizer.domain import Problem
from optimizer.errors import Issue, ValidationError
from optimizer.plan import Plan
from optimizer.search import Progress
from optimizer.settings import SolverSettings
from optimizer.solve import solve

TICK_INTERVAL = 0.5
"""Seconds without a better solution after which a solve reports its elapsed time anyway."""


SOLVER_MODULES = ["optimizer.solve", "optimizer.replan", "optimizer.processes"]
"""Imported once by the fork server, so each solver process starts at once."""


class SolverProcessError(RuntimeError):
    """The solver process ended without a plan (crashed or killed)."""


def _context() -> Any:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(SOLVER_MODULES)
    return ctx


def warm_up() -> None:
    """Start the fork server now (it imports OR-Tools once) so the first solve starts at once."""
    _context()
    forkserver.ensure_running()


def _child_main(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    events: Any,
    flag: Any,
) -> None:
    """Body of a solver process: run ``target`` (a solve or a re-plan) with progress and stop
    wired to the parent, and report the outcome through ``events``."""
    stop = threading.Event()
    done = threading.Event()

    def relay() -> None:
        while not done.wait(0.1):
            if flag.value:
                stop.set()
                return

    threading.Thread(target=relay, name="vanplan-stop-relay", daemon=True).start()

    def progress(p: Any) -> None:
        events.put(("progress", float(p.objective), int(p.solutions), float(p.elapsed)))

    try:
        result = target(*args, **kwargs, on_progress=progress, stop=stop)
        events.put(("done", result))
    except ValidationError as exc:
        events.put(("invalid", [(i.field, i.message) for i in exc.issues]))
    except Exception as exc:  # reported to the parent, which fails the job with it
        events.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        done.set()


def run_in_child(
    target: Callable[..., Any],
    *args: Any,
    on_progress: Callable[[Any], None] | None = None,
    stop: threading.Event | None = None,
    **kwargs: Any,
) -> Any:
    """``target(*args, **kwargs, on_progress=..., stop=...)`` in a child process (from a fork
    server); ``target`` is a module-level function (pickled by name), e.g.
    :func:`optimizer.solve.solve` or :func:`optimizer.replan.replan`.

    OR-Tools' routing search holds the GIL, so a solve in a thread would freeze the API; the
    calling thread here only waits on a queue. ``on_progress`` gets objects with ``objective``,
    ``solutions`` and ``elapsed``; setting ``stop`` ends the search early with its best plan.
    """
    ctx = _context()
    events = ctx.Queue()
    # A plain shared byte, not an mp.Event: an Event's set() can block forever when a process
    # that waited on it has exited.
    flag = ctx.RawValue("b", 0)
    proc = ctx.Process(
        target=_child_main,
        args=(target, args, kwargs, events, flag),
        name="vanplan-solver",
    )
    proc.start()
    outcome: tuple[Any, ...] | None = None
    last: tuple[float, int, float, float] | None = None  # objective, solutions, elapsed, when
    try:
        while outcome is None:
            if stop is not None and stop.is_set():
                flag.value = 1
            try:
                message = events.get(timeout=0.1)
            except queue.Empty:
                if last is not None and on_progress is not None:
                    # No better solution for a while: report the time going by (the search
                    # reports only improvements), so a progress bar does not stand still.
                    objective, solutions, elapsed, at = last
                    now = time.monotonic()
                    if now - at >= TICK_INTERVAL:
                        on_progress(Progress(objective, solutions, elapsed + now - at))
                        last = (objective, solutions, elapsed + now - at, now)
                if proc.is_alive():
                    continue
                try:  # the process ended: its last message may still be in the pipe
                    message = events.get(timeout=1.0)
                except queue.Empty:
                    break
            if message[0] == "progress":
                last = (message[1], message[2], message[3], time.monotonic())
                if on_progress is not None:
                    on_progress(Progress(message[1], message[2], message[3]))
            else:
                outcome = message
    finally:
        flag.value = 1
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        events.close()
        events.join_thread()
    if outcome is None:
        raise SolverProcessError(f"solver process ended without a plan (exit {proc.exitcode})")
    if outcome[0] == "done":
        return outcome[1]
    if outcome[0] == "invalid":
        raise ValidationError([Issue(f, m) for f, m in outcome[1]])
    raise SolverProcessError(str(outcome[1]))


def solve_in_child_process(
    problem: Problem,
    settings: SolverSettings,
    *,
    anchors: Mapping[str, tuple[str, int]] | None = None,
    initial: Plan | None = None,
    on_progress: Callable[[Any], None] | None = None,
    stop: threading.Event | None = None,
) -> Plan:
    """:func:`optimizer.solve.solve` in a solver process (:func:`run_in_child`)."""
    plan: Plan = run_in_child(
        solve,
        problem,
        settings,
        anchors=dict(anchors) if anchors else None,
        initial=initial,
        on_progress=on_progress,
        stop=stop,
    )
    return plan
