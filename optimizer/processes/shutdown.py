"""Ending the helper processes that solves in this process started."""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
from multiprocessing import forkserver, resource_tracker

from optimizer.processes.start import WARM_UP_THREAD, end

log = logging.getLogger(__name__)


def stop_helper_processes(timeout: float = 30.0) -> None:
    """End every helper process the solves of this process started: leftover solver processes
    (terminated, then killed), the fork server and the resource tracker. Both servers start
    again on the next solve. Call only when no solve is running (at a service's shutdown, or
    after tests that started solver children)."""
    for thread in threading.enumerate():
        if thread.name == WARM_UP_THREAD and thread is not threading.current_thread():
            thread.join(timeout)  # a fork server still starting would outlive the stop
    for child in mp.active_children():
        log.warning("solver process %s still running at shutdown: terminated", child.pid)
        child.terminate()
        end(child, grace=5.0)
    # Private but stable helpers (CPython's own tests use them); without them both servers
    # live until the interpreter exits.
    stop_server = getattr(forkserver._forkserver, "_stop", None)
    if stop_server is not None:
        stop_server()
    _stop_own_resource_tracker()
    log.info("solver helper processes stopped")


def _stop_own_resource_tracker() -> None:
    """Stop the resource tracker if this process started it. A process started by another
    Python process with ``spawn`` (each server process of ``uvicorn --workers N``) inherits its
    parent's tracker: only the descriptor, no process id, and the private stop would close the
    descriptor and then fail on ``os.waitpid(None)``. That tracker is the parent's to end (it
    ends when the last process holding its descriptor exits)."""
    tracker = resource_tracker._resource_tracker
    stop_tracker = getattr(tracker, "_stop", None)
    if stop_tracker is not None and getattr(tracker, "_pid", None) is not None:
        stop_tracker()
