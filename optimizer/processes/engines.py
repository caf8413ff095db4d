"""The PyVRP worker: PyVRP, then OR-Tools polishing its plan, in a forked process of its own
(:func:`optimizer.engines.pyvrp_search.hybrid_search`).

The process watches a :class:`~optimizer.processes.stop.StopFlag` every PyVRP iteration and
through OR-Tools' cancellable metaheuristic, so a stop ends it within moments; it then sends
the best plan it has. It is killed only when it does not answer within :data:`STOP_GRACE`
seconds of a stop or of its deadline.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from typing import Any

from optimizer.engines.exchange import SolutionPool
from optimizer.engines.pyvrp_model import PyvrpMapping, express
from optimizer.engines.pyvrp_search import hybrid_search, setup_clients, setup_seconds
from optimizer.processes.messages import Done, Failed
from optimizer.processes.searches import Searched, outcome, search_deadline
from optimizer.processes.start import die_with_parent, end, start_forked
from optimizer.processes.stop import StopFlag
from optimizer.search import (
    Progress,
    ProgressCallback,
    SearchResult,
    Task,
    cancelled,
)
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)

SHARE_ALONE = 0.8
"""With one worker, PyVRP's share of the time limit; OR-Tools polishes for the rest."""

SHARE_IN_PORTFOLIO = 0.9
"""The first PyVRP worker's share of the time in a portfolio; OR-Tools polishes the best
solution of the portfolio's pool for the rest. The other workers run PyVRP until the deadline
(every worker with its own seed, trading solutions through the pool:
:mod:`optimizer.engines.exchange`)."""


def portfolio_share(worker: int) -> float:
    """PyVRP's share of the time on portfolio worker ``worker`` (see
    :data:`SHARE_IN_PORTFOLIO`)."""
    return SHARE_IN_PORTFOLIO if worker == 0 else 1.0


STOP_GRACE = 5.0
"""Seconds the PyVRP process may take to send its plan after a stop or its deadline (PyVRP's
first local search and the OR-Tools model of a large problem are not interruptible)."""


SETUP_SHARE = 0.5
"""PyVRP is not asked when its set-up alone (:func:`optimizer.engines.pyvrp_search.
setup_seconds`, on at least one client per visit) would take more than this share of the time
left: the mapping of so many visits takes seconds as well."""


def pyvrp_mapping(
    task: Task, settings: SolverSettings, stop: threading.Event | None = None
) -> PyvrpMapping | None:
    """PyVRP's data for the task when ``settings.engines`` allows PyVRP, it can express the
    problem and its set-up fits in the time left (:data:`SETUP_SHARE`, on the visits and then
    on the clients of the mapping); None otherwise (the reason is logged; also when ``stop`` is
    set while the mapping is made)."""
    if settings.engines == "ortools":
        return None
    left = task.budget.left() if task.budget is not None else settings.time_limit
    visits = len(task.problem.visits) - len(task.excluded)
    if setup_seconds(visits) > SETUP_SHARE * left:
        log.info("PyVRP's set-up on %d visits does not fit in %.0f s; OR-Tools plans", visits, left)
        return None
    # Visits of any day become a client per day: PyVRP's set-up grows with the clients.
    most = setup_clients(SETUP_SHARE * left)
    found = express(
        task.problem, settings, task.excluded, task.anchors, lambda: cancelled(stop), most
    )
    if isinstance(found, PyvrpMapping):
        return found
    log.info("PyVRP declines this problem: %s; OR-Tools plans alone", found.reason)
    return None


def _hybrid_child(
    task: Task,
    settings: SolverSettings,
    mapping: PyvrpMapping,
    deadline: float,
    share: float,
    flag: StopFlag,
    stoppable: bool,
    sender: Any,
    pool: SolutionPool | None,
) -> None:
    """Body of the PyVRP process: the hybrid search, its progress and result sent to the
    parent."""
    die_with_parent()

    def progress(p: Progress) -> None:
        sender.send(p)

    try:
        with flag.relayed() as stop:
            result = hybrid_search(
                task,
                settings,
                mapping,
                deadline,
                share,
                stop if stoppable else None,
                progress,
                pool,
            )
        sender.send(Done(result))
    except Exception as exc:  # reported to the parent, which decides
        sender.send(Failed.of(exc))
    finally:
        sender.close()


def hybrid_in_child(
    task: Task,
    settings: SolverSettings,
    mapping: PyvrpMapping,
    on_progress: ProgressCallback,
    stop: threading.Event | None,
    deadline: float,
    share: float,
    pool: SolutionPool | None = None,
) -> Searched:
    """The PyVRP worker in a forked process until it sends its result (see the module
    docstring), trading solutions through ``pool`` with the other workers of a portfolio.
    Without a result (killed, or it failed) the returned ``Searched`` is empty."""
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    flag = StopFlag(ctx)
    # A solve without a stop event is not stoppable: the polish may then use ILS.
    args = (task, settings, mapping, deadline, share, flag, stop is not None, sender, pool)
    child = start_forked(_hybrid_child, args, "vanplan-pyvrp")
    sender.close()
    result: SearchResult | None = None
    failed: str | None = None
    give_up: float | None = None
    try:
        while True:
            flag.follow(stop)
            now = time.monotonic()
            if give_up is None and (flag.is_set() or now > deadline):
                give_up = now + STOP_GRACE
            if give_up is not None and now > give_up:
                log.warning("the PyVRP process did not answer in time; its plan is lost")
                break
            if not receiver.poll(0.05):
                if not child.is_alive() and not receiver.poll(0):
                    break
                continue
            try:
                message = receiver.recv()
            except EOFError:
                break
            if isinstance(message, Progress):
                on_progress(message)
            elif isinstance(message, Done):
                result = message.value
                break
            elif isinstance(message, Failed):
                failed = message.error
                break
    finally:
        flag.set()
        end(child, grace=0.0 if result is None else 1.0)
        receiver.close()
    if failed is not None:
        raise RuntimeError(f"PyVRP process failed: {failed}")
    searched = Searched()
    if result is not None:
        searched.result = result
        searched.solutions = result.stats.solutions
    return searched


def solve_hybrid(
    task: Task,
    settings: SolverSettings,
    mapping: PyvrpMapping,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> SearchResult:
    """One worker, in this process: PyVRP for :data:`SHARE_ALONE` of the time limit, then
    OR-Tools polishing its plan (stoppable between PyVRP iterations and through OR-Tools'
    metaheuristic)."""
    deadline = task.t0 + settings.time_limit
    return hybrid_search(task, settings, mapping, deadline, SHARE_ALONE, stop, on_progress)


def solve_hybrid_forked(
    task: Task,
    settings: SolverSettings,
    mapping: PyvrpMapping,
    on_progress: ProgressCallback | None,
    stop: threading.Event,
) -> SearchResult:
    """One stoppable worker: :func:`solve_hybrid`'s search in a forked process
    (:func:`hybrid_in_child`), so that a stop is answered within :data:`STOP_GRACE` also while
    PyVRP sets up (seconds on thousands of clients, not interruptible); without its plan (killed)
    the result is the task's greedy plan."""
    searched = hybrid_in_child(
        task,
        settings,
        mapping,
        on_progress or (lambda _: None),
        stop,
        search_deadline(task, settings),
        SHARE_ALONE,
    )
    return outcome(task, settings, searched, stop)
