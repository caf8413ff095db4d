"""Whether a problem can be modelled within its time limit at all.

OR-Tools takes its travel matrices as Python lists, one entry per pair of model nodes (a node
per visit window, plus the depots): on thousands of visits the diagnosis and the model build
alone take longer than a short time limit (``benchmarks/limits.py``: 5,000 visits took 21-32 s
to diagnose and model on a 2-core machine at load 7-9, longer under more load).
:func:`size_issue` says so up front, so that a service can refuse such a request (422 naming the
size) instead of answering late, and :func:`optimizer.budget.model_verdict` uses the same
estimate inside a solve: a model that would not be built in the time left is not built at all,
and the plan is the greedy one made before it.
"""

from __future__ import annotations

SECONDS_PER_MILLION_ENTRIES = 2.0
"""Diagnosis and model build per million node pairs, on a loaded 2-core machine (measured
0.8-1.3 s at load 7-9; twice that leaves room for more load)."""

MODEL_SHARE = 0.5
"""A problem is too large when modelling it would take more than this share of the limit."""


def model_nodes(windows_per_visit: list[int]) -> int:
    """Nodes of the model: one per time window of each visit (at least one per visit)."""
    return sum(max(1, w) for w in windows_per_visit)


def model_seconds(nodes: int) -> float:
    """Estimated seconds to diagnose and model ``nodes`` visit nodes (see the constants)."""
    return (nodes / 1000.0) ** 2 * SECONDS_PER_MILLION_ENTRIES


def size_issue(visits: int, nodes: int, time_limit: float) -> str | None:
    """Why ``visits`` visits (``nodes`` model nodes) are too many for ``time_limit`` seconds,
    or None when they are not."""
    need = model_seconds(nodes)
    if need <= MODEL_SHARE * time_limit:
        return None
    return (
        f"{visits} visits ({nodes} model nodes) take about {need:.0f} s to model before any "
        f"search, more than half of the {time_limit:g} s time limit: raise the time limit to "
        f"at least {need / MODEL_SHARE:.0f} s or plan fewer visits at once"
    )


FIRST_PLAN_SECONDS_PER_UNIT = 1.5e-7
"""OR-Tools' first plan (savings, then the first local search) per model node squared times
vehicle, on the loaded 2-core machine (``benchmarks/limits.py``: 7-19 s on 1,000 visits and 125
van-days, 24 s on 1,000 visits and 200 van-days, none within 120 s on 2,000 visits and 250
van-days)."""


def first_plan_seconds(nodes: int, vehicles: int) -> float:
    """Estimated seconds of OR-Tools' first plan on ``nodes`` visit nodes and ``vehicles``
    van-days (see :data:`FIRST_PLAN_SECONDS_PER_UNIT`)."""
    return float(nodes) ** 2 * vehicles * FIRST_PLAN_SECONDS_PER_UNIT
