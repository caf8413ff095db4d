"""Starting child processes: forked searches (they share the model's inputs without pickling),
solver children from a fork server (it has imported OR-Tools once, so each starts at once) and
spawned portfolio workers where ``fork`` does not exist."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing import forkserver
from typing import Any

log = logging.getLogger(__name__)

SOLVER_MODULES = ["optimizer.solve", "optimizer.replan", "optimizer.processes"]
"""Imported once by the fork server, so each solver process starts at once."""

WARM_UP_THREAD = "vanplan-warm-up"
"""Name of the thread a service starts :func:`warm_up` in (joined by the shutdown)."""

_FORK_LOCK = threading.Lock()  # portfolio threads fork one at a time


def can_fork_search() -> bool:
    """Whether a search may fork a process of its own: not from a daemonic process (which may
    not have children) and only where ``fork`` exists (it shares the loaded modules and the
    model's inputs without pickling them)."""
    return not mp.current_process().daemon and "fork" in mp.get_all_start_methods()


def server_context() -> Any:
    """The fork-server context whose server preloads :data:`SOLVER_MODULES`."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(SOLVER_MODULES)
    return ctx


def warm_up() -> None:
    """Start the fork server now (it imports OR-Tools once) so the first solve starts at once."""
    server_context()
    forkserver.ensure_running()


def start_forked(target: Callable[..., None], args: tuple[Any, ...], name: str) -> Any:
    """A started daemonic process forked from this one (threads of this process fork one at a
    time)."""
    ctx = mp.get_context("fork")
    with _FORK_LOCK:
        child = ctx.Process(target=target, args=args, name=name, daemon=True)
        child.start()
    return child


def die_with_parent() -> None:
    """On Linux, have the kernel kill this process when its parent dies (a killed solver
    process must not leave its search running to the time limit). Strictly, when the thread
    that forked it ends: that thread waits for the child until it has ended."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not available: a failed send ends the child instead
        log.debug("PR_SET_PDEATHSIG not available")


def end(child: Any, grace: float = 0.0) -> None:
    """Wait up to ``grace`` seconds for ``child`` to end, then kill it; it is joined either
    way."""
    if grace > 0:
        child.join(timeout=grace)
    if child.is_alive():
        child.kill()
    child.join()
