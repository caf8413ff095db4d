"""Ruin and recreate on the plan's fixed routes: a large neighbourhood search after the search.

On an over-full week the plan's quality is first the number of must visits it serves, then its
cost. The pass of :mod:`optimizer.ejection` stops where no single insertion, move or exchange
helps; this search takes several stops out at once and puts the left-out visits back in, so a
must visit can win room that only a rearrangement of several stops frees. Each iteration:

1. **ruin** (one operator, drawn at random): a few stops at random; a stop and the stops
   nearest it (by travel time, any van-day); about half the stops of one van-day, those whose
   removal saves the most travel; a whole van-day;
2. **recreate**: the left-out visits, highest penalty first (the shortest first, near ties in
   a random order), each inserted where it fits at the least cost, else let in by taking out a
   stop of a lower penalty (:func:`optimizer.ejection.serve_round` without its costly
   relocations);
3. **accept** by record-to-record travel on a guide (:func:`_guided`): the cost (travel, fixed
   costs, penalties of the optional visits left out), a must visit left out at
   :data:`MUST_GUIDE` and the service served at :data:`SERVICE_WEIGHT`, at most a threshold
   above the best guide seen, the threshold falling to zero as the time runs out.

The best plan by the objective (must visits left out first, then cost) is kept and returned.
Routes are rescheduled with the exact statutory break placement (:func:`optimizer.breaks.
schedule`, the checker's rule) and the same exclusions as the ejection pass hold: only routes
on shifts under the statutory rule (no explicit breaks) change; plans of a re-plan (anchors)
and of ``charge_waiting`` are not given to it (see :mod:`optimizer.solve`). A run is
deterministic for a seed and an iteration count; with a deadline, how far it gets depends on
the machine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from optimizer.domain import Problem, Visit, is_must_priority
from optimizer.ejection import Pass, Served, serve_round, shortest
from optimizer.plan import Route

RUIN_MIN, RUIN_MAX = 2, 12
"""Stops taken out per iteration (random and related ruins), drawn between these."""

NOISE = 900.0
"""Seconds of random noise added to a visit's length when the left-out visits of one penalty
are ordered for the recreate (the shortest first, near ties broken at random)."""

MUST_GUIDE = 1000.0
"""Euros a must visit left out costs in the acceptance (not in the objective, where it costs
the must penalty, nor for the best plan kept): a plan with one more must visit out but much
more room may be accepted, and the next iterations may fit two where one was."""

SERVICE_WEIGHT = 50.0
"""Euros per hour of service served that the acceptance adds to a plan's cost (not the
objective's): of two plans serving as many must visits, the one with more time left on its
routes is preferred, so the next iterations can fit one more."""

THRESHOLD = 0.02
"""Record-to-record travel: the share above the best plan's cost a plan may cost and still be
accepted at the start; it falls linearly to zero at the deadline (or the last iteration)."""


@dataclass(frozen=True)
class Score:
    """What the search compares, lowest first: must visits left out, then the rest of the
    objective (euros: travel, fixed costs, penalties of the optional visits left out; for the
    guide of the acceptance, everything is in ``cost``)."""

    must_out: int
    cost: float

    def total(self, must_penalty: float) -> float:
        return self.must_out * must_penalty + self.cost


def improve(
    problem: Problem,
    routes: Sequence[Route],
    dropped: Sequence[str],
    deadline: float,
    should_stop: Callable[[], bool] = lambda: False,
    seed: int = 0,
    iterations: int | None = None,
) -> Served:
    """The best plan found from ``routes`` (``dropped``: the modelled visits left out) by ruin
    and recreate (see the module docstring) until ``deadline`` (``time.monotonic()``),
    ``should_stop()`` or ``iterations``. Never worse than the input: ``delta`` (the change of
    the objective in euros) is zero when nothing better is found, and the routes are the
    input's then."""
    work = Pass(problem, routes, deadline, should_stop)
    rng = random.Random(seed)
    must_penalty = problem.objective.must_penalty
    left = [problem.visit(v) for v in dropped]
    start = _score(work, left)
    # The left-out visits offered once without a ruin (insertions and exchanges that lower
    # the objective only): what fits in as the plan is.
    left = serve_round(work, left, relocate=False)
    best_state, best_left, best = work.state(), list(left), _score(work, left)
    record = _guided(work, best)  # the best plan by the guide
    current_left = list(left)
    began = time.monotonic()
    done = 0
    while not work.over() and (iterations is None or done < iterations):
        if not any(line.visits for line in work.lines):
            break  # nothing to take out (no route this search may change serves a stop)
        done += 1
        saved_state, saved_left = work.state(), current_left
        removed = _ruin(work, rng)
        if removed is None:
            work.restore(saved_state)
            continue
        work.order = _noisy(rng)
        still = serve_round(work, [*current_left, *removed], relocate=False)
        if work.over():
            # Cut off: an unfinished recreate may have left visits out it would have placed.
            work.restore(saved_state)
            break
        score = _score(work, still)
        if _better(score, best):
            best_state, best_left, best = work.state(), list(still), score
        guided = _guided(work, score)
        if _better(guided, record):
            record = guided
        if _accepted(guided, record, _threshold(began, deadline, done, iterations)):
            current_left = still
        else:
            work.restore(saved_state)
            current_left = saved_left
    work.restore(best_state)
    delta = best.total(must_penalty) - start.total(must_penalty)
    if not _better(best, start):
        return Served(list(routes), list(dropped), 0.0)
    position = {v.id: i for i, v in enumerate(problem.visits)}
    ids = sorted((v.id for v in best_left), key=position.__getitem__)
    return Served(work.routes(), ids, delta)


def _guided(work: Pass, score: Score) -> Score:
    """What the acceptance compares: ``score`` with each must visit out at
    :data:`MUST_GUIDE` and the service time served at :data:`SERVICE_WEIGHT` (a plan serving
    shorter visits keeps more room for the next)."""
    served = sum(v.duration for line in work.lines for v in line.visits)
    cost = score.cost + SERVICE_WEIGHT * served / 3600
    return Score(0, cost + MUST_GUIDE * score.must_out)


def _score(work: Pass, left: Sequence[Visit]) -> Score:
    must = [v for v in left if is_must_priority(v.priority)]
    optional = sum(work.penalty(v) for v in left if not is_must_priority(v.priority))
    return Score(len(must), work.travel_cost() + optional)


def _better(a: Score, b: Score) -> bool:
    return (a.must_out, a.cost) < (b.must_out, b.cost - 1e-6)


def _accepted(score: Score, best: Score, threshold: float) -> bool:
    """Record-to-record travel around the best plan."""
    if score.must_out != best.must_out:
        return score.must_out < best.must_out
    return score.cost <= best.cost + threshold * abs(best.cost)


def _threshold(began: float, deadline: float, done: int, iterations: int | None) -> float:
    """:data:`THRESHOLD` falling linearly to zero over the iterations, or the time."""
    if iterations is not None:
        share = done / iterations
    else:
        span = deadline - began
        share = 1.0 if span <= 0 else (time.monotonic() - began) / span
    return THRESHOLD * max(0.0, 1.0 - share)


def _noisy(rng: random.Random) -> Callable[[Visit], float]:
    """The order of the left-out visits of one penalty: the shortest first, ties and near
    ties (within a quarter of an hour) broken at random."""
    noise: dict[str, float] = {}

    def key(visit: Visit) -> float:
        if visit.id not in noise:
            noise[visit.id] = rng.random() * NOISE
        return shortest(visit) + noise[visit.id]

    return key


Ruin = Callable[[Pass, random.Random], dict[int, set[int]]]
"""Stops to take out: line index -> positions in the line."""


def _ruin(work: Pass, rng: random.Random) -> list[Visit] | None:
    """Take out the stops one ruin operator chooses; the visits taken out, or None when a
    line's remaining stops no longer fit (the caller restores the state)."""
    ruin = rng.choice(_RUINS)
    chosen = ruin(work, rng)
    removed: list[Visit] = []
    for i in sorted(chosen):
        line = work.lines[i]
        positions = chosen[i]
        removed += [line.visits[j] for j in sorted(positions)]
        if not work.take_out(line, positions):
            return None
    return removed or None


def _stops(work: Pass) -> list[tuple[int, int]]:
    return [(i, j) for i, line in enumerate(work.lines) for j in range(len(line.visits))]


def _count(rng: random.Random, available: int) -> int:
    return min(available, rng.randint(RUIN_MIN, RUIN_MAX))


def _random_stops(work: Pass, rng: random.Random) -> dict[int, set[int]]:
    stops = _stops(work)
    out: dict[int, set[int]] = {}
    for i, j in rng.sample(stops, _count(rng, len(stops))):
        out.setdefault(i, set()).add(j)
    return out


def _related_stops(work: Pass, rng: random.Random) -> dict[int, set[int]]:
    """A stop at random and the stops nearest it (travel time either way), on any line."""
    stops = _stops(work)
    i0, j0 = rng.choice(stops)
    here = work.lines[i0].visits[j0].location
    m = work.problem.matrix

    def near(stop: tuple[int, int]) -> float:
        there = work.lines[stop[0]].visits[stop[1]].location
        return min(m.duration(here, there), m.duration(there, here))

    out: dict[int, set[int]] = {}
    for i, j in sorted(stops, key=near)[: _count(rng, len(stops))]:
        out.setdefault(i, set()).add(j)
    return out


def _worst_stops(work: Pass, rng: random.Random) -> dict[int, set[int]]:
    """The stops of one line whose removal saves the most travel (about half of them)."""
    i = _some_line(work, rng)
    line = work.lines[i]
    base = work.route_cost(line, line.visits)

    def saving(j: int) -> float:
        return base - work.route_cost(line, line.visits[:j] + line.visits[j + 1 :])

    n = len(line.visits)
    ranked = sorted(range(n), key=saving, reverse=True)
    return {i: set(ranked[: max(1, (n + 1) // 2)])}


def _whole_line(work: Pass, rng: random.Random) -> dict[int, set[int]]:
    i = _some_line(work, rng)
    return {i: set(range(len(work.lines[i].visits)))}


def _some_line(work: Pass, rng: random.Random) -> int:
    return rng.choice([i for i, line in enumerate(work.lines) if line.visits])


_RUINS: tuple[Ruin, ...] = (
    _random_stops,
    _related_stops,
    _related_stops,
    _worst_stops,
    _whole_line,
)


__all__ = ["Score", "improve"]
