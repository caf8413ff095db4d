"""What child processes send their parent: one small frozen dataclass per kind of message.

A forked search sends :class:`~optimizer.search.ReportedRoutes` for each improving solution and
:class:`Alive` as a sign of life; a solver child (:func:`~optimizer.processes.child.run_in_child`)
and a spawned portfolio worker send :class:`~optimizer.search.Progress`. Every child ends with
:class:`Done`, :class:`Invalid` or :class:`Failed` (or sends nothing more when it crashed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.errors import Issue, ValidationError
from optimizer.search import Progress, ReportedRoutes


@dataclass(frozen=True)
class Alive:
    """A forked search's sign of life for the parent's stall watch: the solutions found so far
    and the longest time between two of them."""

    solutions: int
    longest_gap: float


@dataclass(frozen=True)
class Done:
    """The child's result (a :class:`~optimizer.search.SearchResult` from a search, whatever
    the target returned from :func:`~optimizer.processes.child.run_in_child`)."""

    value: Any
    worker: int = 0


@dataclass(frozen=True)
class Invalid:
    """The child's input failed validation: the issues of its :class:`ValidationError`."""

    issues: tuple[Issue, ...]

    def error(self) -> ValidationError:
        return ValidationError(self.issues)


@dataclass(frozen=True)
class Failed:
    """The child raised: ``error`` names the exception's type and its message."""

    error: str
    worker: int = 0

    @classmethod
    def of(cls, exc: BaseException, worker: int = 0) -> Failed:
        return cls(f"{type(exc).__name__}: {exc}", worker)


Message = ReportedRoutes | Alive | Progress | Done | Invalid | Failed
"""Any message a child sends."""
