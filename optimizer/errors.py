"""Errors raised by the optimizer.

Every error derives from ``ValueError`` so callers that only know the standard library can still
catch bad input. A validation error carries *all* problems found, each naming the offending field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem with the input: ``field`` is a dotted path such as ``visits[3].windows[0]``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class VanplanError(ValueError):
    """Base class of every vanplan error."""


class ValidationError(VanplanError):
    """Input that cannot be planned; lists every problem found, not just the first."""

    def __init__(self, issues: list[Issue] | tuple[Issue, ...] | Issue):
        self.issues: tuple[Issue, ...] = (issues,) if isinstance(issues, Issue) else tuple(issues)
        if not self.issues:
            raise ValueError("ValidationError needs at least one issue")
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        count = len(self.issues)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the input:\n{lines}")

    def __reduce__(self) -> tuple[type[ValidationError], tuple[tuple[Issue, ...]]]:
        # Rebuild from the issues (not the message) when crossing a process boundary.
        return (type(self), (self.issues,))


class Collector:
    """Collects issues and raises them together (collect-then-raise validation)."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, field: str, message: str) -> None:
        self.issues.append(Issue(field, message))

    def check(self, condition: bool, field: str, message: str) -> bool:
        """Record an issue unless ``condition`` holds; returns ``condition``."""
        if not condition:
            self.add(field, message)
        return condition

    def raise_if_any(self) -> None:
        if self.issues:
            raise ValidationError(self.issues)


class SolveStoppedError(Exception):
    """A stop request ended a phase before the search (the diagnosis or the model build).
    Internal: :func:`optimizer.solve.solve` turns it into a plan that reports every visit as
    not planned; it never reaches the caller."""


StopCheck = Callable[[], bool]
"""Asked between the steps of a long phase: True once the caller wants the solve to end."""


def check_stop(should_stop: StopCheck | None) -> None:
    """Raise :class:`SolveStoppedError` when ``should_stop`` says so."""
    if should_stop is not None and should_stop():
        raise SolveStoppedError
