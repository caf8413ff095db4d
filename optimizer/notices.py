"""Warnings a plan carries (:attr:`optimizer.plan.Plan.warnings`), for what a dispatcher or a
library user must not miss: no plan found in time, or most visits left out, with the causes
counted. The API puts them in the plan summary and the CLI prints them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from optimizer.domain import Problem
from optimizer.plan import Reason, SolverStats, Unassigned

log = logging.getLogger(__name__)

MOST = 0.5
"""Share of the visits above which unassigned visits are "most"."""

_CAUSES = {
    Reason.BREAKS_DO_NOT_FIT: "the breaks do not fit (the statutory break rule applies to "
    "shifts without explicit breaks; Shift(breaks=()) plans a shift without any)",
    Reason.NO_ROOM: "no room in the shifts",
    Reason.NO_SHIFT_IN_WINDOW: "no shift in their windows",
    Reason.SERVICE_TOO_LONG: "the service is too long",
    Reason.UNREACHABLE: "out of reach of the depots within the shifts",
    Reason.NO_SKILLED_VAN: "no van with the skills",
    Reason.PIN_IMPOSSIBLE: "their pins cannot be kept",
    Reason.PIN_NOT_HONOURED: "their pinned van-days are full",
    Reason.NOT_PLANNED: "the search ended before it placed them",
}


def plan_warnings(
    problem: Problem,
    stats: SolverStats,
    unassigned: Sequence[Unassigned],
    greedy_notice: str | None = None,
) -> tuple[str, ...]:
    """The warnings of a plan of ``problem`` (empty when nothing needs saying);
    ``greedy_notice`` says why the plan is a fallback (a greedy plan, status ``GREEDY``, or one
    planned day by day), in place of the general reason of a greedy plan (no first plan in
    time), or why there is no plan at all."""
    out: list[str] = []
    total = len(problem.visits)
    planless = stats.solutions == 0 and any(u.reason is Reason.NOT_PLANNED for u in unassigned)
    if planless and greedy_notice is None:  # a notice says why itself
        vehicles = len(problem.shifts)
        if stats.status == "STOPPED":
            out.append("Stopped before the search found a first plan: no visit is planned.")
        else:
            out.append(
                f"No plan found in time: {total} visits on {vehicles} van-days are too many "
                "for the time limit; raise it or plan fewer visits at once."
            )
    if greedy_notice is not None:
        out.append(greedy_notice)
    elif stats.status == "GREEDY":
        out.append(
            f"OR-Tools found no first plan within the time limit on {total} visits (too many "
            "visits for the limit, or breaks and max work that leave little room): this is a "
            "quick greedy plan (routes short enough to need no break); raise the time limit or "
            "check the shifts' breaks and max work for a better one."
        )
    if total and len(unassigned) > MOST * total:
        counts = Counter(u.reason for u in unassigned)
        causes = "; ".join(
            f"{n} because {_CAUSES.get(reason, reason.value)}" for reason, n in counts.most_common()
        )
        out.append(f"{len(unassigned)} of {total} visits are unassigned: {causes}.")
    return tuple(out)


def log_warnings(warnings: Sequence[str]) -> None:
    """Log a plan's warnings (logger ``optimizer.notices``): a library user who never reads
    ``plan.warnings`` still sees them, as Python prints warnings of an unconfigured logger on
    stderr. A client that shows them itself (the CLI) silences this logger."""
    for warning in warnings:
        log.warning("%s", warning)
