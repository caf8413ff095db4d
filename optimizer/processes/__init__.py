"""The one process layer of the optimizer: searches and solves in child processes.

- :mod:`~optimizer.processes.start`: starting children (fork, fork server, spawn).
- :mod:`~optimizer.processes.stop`: the stop relay from a caller's event to a child.
- :mod:`~optimizer.processes.messages`: what children send (small frozen dataclasses).
- :mod:`~optimizer.processes.stall`: when a forked search counts as stalled.
- :mod:`~optimizer.processes.searches`: a forked, killable search, restarted after a stall.
- :mod:`~optimizer.processes.portfolio`: several searches at once, the best plan wins.
- :mod:`~optimizer.processes.child`: :func:`run_in_child`, a whole solve in a solver process.
- :mod:`~optimizer.processes.shutdown`: ending the helper processes.
"""

from optimizer.processes.child import (
    TICK_INTERVAL,
    SolverProcessError,
    run_in_child,
)
from optimizer.processes.shutdown import stop_helper_processes
from optimizer.processes.start import SOLVER_MODULES, WARM_UP_THREAD, can_fork_search, warm_up

__all__ = [
    "SOLVER_MODULES",
    "TICK_INTERVAL",
    "WARM_UP_THREAD",
    "SolverProcessError",
    "can_fork_search",
    "run_in_child",
    "stop_helper_processes",
    "warm_up",
]
