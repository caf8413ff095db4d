"""The recurrence rule of consultation hours, in one place for every caller.

A session recurs on one ISO ``weekday``: the first session is the first such weekday on or after
``valid_from``, then one every ``every_weeks`` weeks, up to ``valid_until`` (inclusive, None:
open-ended). Planning a week and listing the sessions of a period both use :func:`session_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Recurrence:
    """Every ``every_weeks`` weeks on ``weekday`` (ISO, 1 = Monday) from ``valid_from``."""

    weekday: int
    every_weeks: int
    valid_from: date
    valid_until: date | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.weekday <= 7:
            raise ValueError(f"weekday: {self.weekday} is not an ISO weekday (1 = Monday .. 7)")
        if self.every_weeks < 1:
            raise ValueError(f"every_weeks: must be at least 1, got {self.every_weeks}")

    @property
    def first(self) -> date:
        """The first session: the first ``weekday`` on or after ``valid_from``."""
        ahead = (self.weekday - self.valid_from.isoweekday()) % 7
        return self.valid_from + timedelta(days=ahead)


def session_days(rule: Recurrence, first: date, last: date) -> list[date]:
    """The days of ``rule``'s sessions from ``first`` to ``last`` (both inclusive), in order."""
    end = last if rule.valid_until is None else min(last, rule.valid_until)
    step = 7 * rule.every_weeks
    day = rule.first
    if day < first:
        skipped = -(-(first - day).days // step)  # sessions before ``first`` (rounded up)
        day += timedelta(days=skipped * step)
    days: list[date] = []
    while day <= end:
        days.append(day)
        day += timedelta(days=step)
    return days
