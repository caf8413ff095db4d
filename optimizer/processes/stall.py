"""Stall detection for forked searches: OR-Tools' search can hang in one local-search step (with
break intervals, a move its filters accept can make the CP completion search for the rest of the
time limit), while a healthy search reports solutions many times a second."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.settings import SolverSettings


def stall_seconds(settings: SolverSettings, longest_gap: float = 0.0) -> float:
    """How long a forked ILS may go without any solution before it counts as stalled. On the
    sample weeks a healthy search reports solutions at most 0.04 s apart, stalls last from 1.6 s
    to the rest of the run (benchmarks/RESULTS.md). At least 1 s and 5 % of the time limit, and
    25 times the longest time between two solutions the search has shown so far, for large
    problems whose steps are slow."""
    return max(1.0, 0.05 * settings.time_limit, 25.0 * longest_gap)


@dataclass
class StallWatch:
    """The parent's watch over one forked search. Silence counts only after the child's first
    message (its model may take long to build), and only when ``enabled`` (a run with a
    solution limit must stay reproducible, so it is never ended early). Times are
    ``time.monotonic()`` readings passed in by the caller."""

    settings: SolverSettings
    enabled: bool = True
    heard: float | None = None  # when the child last sent anything
    limit: float = 0.0

    def __post_init__(self) -> None:
        self.limit = stall_seconds(self.settings)

    def hear(self, now: float, longest_gap: float | None = None) -> None:
        """The child sent a message (a sign of life with ``longest_gap``, or a solution)."""
        self.heard = now
        if longest_gap is not None:
            self.limit = stall_seconds(self.settings, longest_gap)

    def stalled(self, now: float) -> bool:
        """Whether the child has been silent for longer than the limit."""
        return self.enabled and self.heard is not None and now - self.heard > self.limit
