"""Ruin and recreate (:mod:`optimizer.lns`) on several cores: one run in this process and one in
each forked process, each with its own seed, the best plan kept.

The children share the problem and the plan without pickling (``fork``) and send back only
their result. They end at the same deadline as the run here, or soon after a stop (a shared
flag, raised by the run here as it watches the caller's stop); one that has not answered
:data:`ANSWER_GRACE` seconds after that is killed and its plan is lost.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from typing import Any

from optimizer.domain import Problem
from optimizer.ejection import Served
from optimizer.lns import improve
from optimizer.plan import Route
from optimizer.processes.messages import Done, Failed
from optimizer.processes.start import die_with_parent, end, start_forked
from optimizer.processes.stop import StopFlag

log = logging.getLogger(__name__)

SEED_STEP = 7919
"""Run ``w`` (0: the one in this process) searches with the seed plus ``w`` times this."""

ANSWER_GRACE = 0.5
"""Seconds a child may take after the deadline (or a stop) to send its plan."""


def _child(
    problem: Problem,
    routes: Sequence[Route],
    dropped: Sequence[str],
    deadline: float,
    seed: int,
    iterations: int | None,
    flag: StopFlag,
    sender: Any,
) -> None:
    """Body of a forked run: ruin and recreate until the deadline or the flag, its result sent
    to the parent."""
    die_with_parent()
    try:
        found = improve(problem, routes, dropped, deadline, flag.is_set, seed, iterations)
        sender.send(Done(found))
    except Exception as exc:  # reported to the parent, which keeps the other runs' plans
        sender.send(Failed.of(exc))
    finally:
        sender.close()


def improve_forked(
    problem: Problem,
    routes: Sequence[Route],
    dropped: Sequence[str],
    deadline: float,
    should_stop: Callable[[], bool],
    seed: int,
    workers: int,
    iterations: int | None = None,
) -> Served:
    """The best of ``workers`` runs of :func:`optimizer.lns.improve` (seeds ``seed``,
    ``seed + SEED_STEP``, ...): ``workers - 1`` in forked processes, one here. The lowest
    ``delta`` wins, ties to the lowest run; a run that failed or did not answer in time is left
    out. ``should_stop`` is watched by the run here, which passes a stop on to the others."""
    ctx = mp.get_context("fork")
    flag = StopFlag(ctx)
    children: list[tuple[Any, Any]] = []
    try:
        for w in range(1, workers):
            receiver, sender = ctx.Pipe(duplex=False)
            args = (problem, routes, dropped, deadline, seed + w * SEED_STEP, iterations)
            child = start_forked(_child, (*args, flag, sender), f"vanplan-lns-{w}")
            sender.close()
            children.append((child, receiver))

        def stop_here() -> bool:
            if should_stop():
                flag.set()
                return True
            return False

        results = [improve(problem, routes, dropped, deadline, stop_here, seed, iterations)]
        give_up = time.monotonic() if flag.is_set() else max(deadline, time.monotonic())
        give_up += ANSWER_GRACE
        for w, (child, receiver) in enumerate(children, start=1):
            message = _answer(child, receiver, give_up, stop_here)
            if isinstance(message, Done):
                results.append(message.value)
            elif isinstance(message, Failed):
                log.warning("ruin and recreate run %d failed: %s", w, message.error)
            else:
                log.warning("ruin and recreate run %d did not answer in time", w)
    finally:
        flag.set()
        for child, receiver in children:
            end(child, grace=0.2)
            receiver.close()
    # the lowest delta, then the lowest run (min keeps the first of equals)
    return min(results, key=lambda r: r.delta)


def _answer(child: Any, receiver: Any, give_up: float, stop_here: Callable[[], bool]) -> Any:
    """The message ``child`` sends, or None when it ends without one or not by ``give_up``
    (a stop meanwhile cuts the wait to :data:`ANSWER_GRACE` from now)."""
    while True:
        if stop_here():
            give_up = min(give_up, time.monotonic() + ANSWER_GRACE)
        if receiver.poll(0.02):
            try:
                return receiver.recv()
            except EOFError:
                return None
        if not child.is_alive() and not receiver.poll(0):
            return None
        if time.monotonic() > give_up:
            return None


__all__ = ["improve_forked"]
