"""Solving in a child process: OR-Tools' routing search holds the GIL, so a caller that must stay
responsive (a web service, a job runner) runs the search in a process of its own.

:func:`run_in_child` runs any module-level solver function there with progress and stop relayed;
children come from a fork server that has imported OR-Tools once, so each starts at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from optimizer.errors import ValidationError
from optimizer.processes.messages import Done, Failed, Invalid, Message
from optimizer.processes.start import end, server_context
from optimizer.processes.stop import StopFlag
from optimizer.search import Progress

TICK_INTERVAL = 0.5
"""Seconds without a better solution after which a solve reports its elapsed time anyway."""


class SolverProcessError(RuntimeError):
    """The solver process ended without a plan (crashed or killed) or raised: the message names
    the exit code or the exception."""


def _child_main(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    events: Any,
    flag: StopFlag,
) -> None:
    """Body of a solver process: run ``target`` (a solve or a re-plan) with progress and stop
    wired to the parent, and report the outcome through ``events``."""

    def progress(p: Any) -> None:
        events.put(Progress(float(p.objective), int(p.solutions), float(p.elapsed)))

    with flag.relayed() as stop:
        outcome: Message
        try:
            outcome = Done(target(*args, **kwargs, on_progress=progress, stop=stop))
        except ValidationError as exc:
            outcome = Invalid(exc.issues)
        except Exception as exc:  # reported to the parent, which fails the job with it
            outcome = Failed.of(exc)
        events.put(outcome)


def _wait_for_outcome(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_progress: Callable[[Progress], None] | None,
    stop: threading.Event | None,
) -> tuple[Done | Invalid | Failed | None, int | None]:
    """Run the solver process, relaying progress and stop, until it reports its outcome or
    ends: (its outcome, its exit code). The queue is disposed of here, before the caller raises
    anything: a traceback that kept it alive would have its semaphores unlinked twice once the
    helper processes are stopped."""
    ctx = server_context()
    events = ctx.Queue()
    flag = StopFlag(ctx)
    proc = ctx.Process(
        target=_child_main,
        args=(target, args, kwargs, events, flag),
        name="vanplan-solver",
    )
    proc.start()
    outcome: Done | Invalid | Failed | None = None
    last: Progress | None = None  # the last progress reported, and when
    last_at = 0.0
    try:
        while outcome is None:
            flag.follow(stop)
            try:
                message = events.get(timeout=0.1)
            except queue.Empty:
                now = time.monotonic()
                if last is not None and on_progress is not None and now - last_at >= TICK_INTERVAL:
                    # No better solution for a while: report the time going by (the search
                    # reports only improvements), so a progress bar does not stand still.
                    last = Progress(last.objective, last.solutions, last.elapsed + now - last_at)
                    last_at = now
                    on_progress(last)
                if proc.is_alive():
                    continue
                try:  # the process ended: its last message may still be in the pipe
                    message = events.get(timeout=1.0)
                except queue.Empty:
                    break
            if isinstance(message, Progress):
                last, last_at = message, time.monotonic()
                if on_progress is not None:
                    on_progress(message)
            else:
                outcome = message
    finally:
        flag.set()
        end(proc, grace=10.0)
        events.close()
        events.join_thread()
    return outcome, proc.exitcode


def run_in_child(
    target: Callable[..., Any],
    *args: Any,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    **kwargs: Any,
) -> Any:
    """``target(*args, **kwargs, on_progress=..., stop=...)`` in a child process (from a fork
    server); ``target`` is a module-level function (pickled by name), e.g.
    :func:`optimizer.solve.solve` or :func:`optimizer.replan.replan`.

    OR-Tools' routing search holds the GIL, so a solve in a thread would freeze the API; the
    calling thread here only waits on a queue. ``on_progress`` gets
    :class:`~optimizer.search.Progress` (also every :data:`TICK_INTERVAL` seconds without a
    better solution, with the time gone by); setting ``stop`` ends the search early with its
    best plan. A :class:`ValidationError` in the child is raised here as such; any other
    failure, or a child that ends without an outcome, raises :class:`SolverProcessError`.
    """
    outcome, exitcode = _wait_for_outcome(target, args, kwargs, on_progress, stop)
    if outcome is None:
        raise SolverProcessError(f"solver process ended without a plan (exit {exitcode})")
    if isinstance(outcome, Invalid):
        raise outcome.error()
    if isinstance(outcome, Failed):
        raise SolverProcessError(outcome.error)
    return outcome.value
