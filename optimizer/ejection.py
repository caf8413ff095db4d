"""Serve more of the left-out visits after the search: insertion and ejection on the plan's
fixed routes, the statutory break placed exactly (:func:`optimizer.breaks.schedule`).

On an over-full week a must visit left out costs 100 000 euros, and the plan's quality is the
number of must visits it serves. OR-Tools' local search seldom trades an optional visit for a
left-out must visit: the must visit is often longer, so the swap fits only once the route's
other stops and its break move, a move its break intervals make slow to find (and the search
without them sees only a relaxed span). This pass does it directly, in the fixed order of each
route:

1. each left-out visit (highest penalty first, then the shortest) goes where it fits at the
   least cost (travel, and the fixed cost of a van-day not used yet);
2. where it fits nowhere, one stop of a route moves to another route where it fits, to make
   room for it;
3. else a stop of a lower penalty leaves a route to make room for it there (the exchange that
   lowers the objective most first); the stop taken out is offered again like any left-out
   visit, so penalties only fall and the pass ends.

Only routes on shifts under the statutory break rule (no explicit breaks) change, each
rescheduled with its break where the rule needs one; an unchanged route keeps its times.
Capacities, reachable legs, the vans and days a visit allows (:func:`optimizer.model.
allowed_vehicles`) and each stop's window are kept. Plans of a re-plan (anchors) and of
``charge_waiting`` (waiting has a cost the travel-only comparison here does not see) are left
as they are.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from optimizer.breaks import route_of, schedule, stop_ranges
from optimizer.domain import UNREACHABLE, Problem, Shift, Visit
from optimizer.model import allowed_vehicles, start_domain, vehicle_classes
from optimizer.plan import Route


@dataclass
class Line:
    """One van-day under edit: its visits in order, each with the start range it keeps, and
    whether the route changed."""

    shift: Shift
    visits: list[Visit]
    windows: list[tuple[int, int]]
    route: Route | None
    changed: bool = False
    index: int = 0  # its place in the pass's lines (shift order)


_Home = tuple[float, Line, list[Visit], list[tuple[int, int]], Route]
"""Where a moved stop goes: its cost, the line, the line's visits, their windows, its route."""

LineState = tuple[list[Visit], list[tuple[int, int]], Route | None, bool]
"""A line's visits, their windows, its route and whether it changed (:meth:`Pass.state`)."""

_Slack = tuple[list[int], list[int], list[int], int]
"""What :meth:`Pass._slack` gives: leave times, latest starts, travel times and the work."""

Order = Callable[[Visit], float]
"""The second sort key of the left-out visits, after the highest penalty (lowest first)."""


def shortest(visit: Visit) -> float:
    """The default :data:`Order`: the shortest visit first."""
    return visit.duration


RELOCATE_TRIES = 3
"""Positions of the left-out visit tried with the exact break placement per stop moved out
of the way (the cheapest that pass the quick test): the schedule is the pass's costly step."""


TIMED_CACHE = 20_000
"""Exact schedules kept (by line, visits and windows) before the cache starts afresh: a bound
on its memory on large problems."""


@dataclass(frozen=True)
class Served:
    """The plan after the pass: routes (van-day order kept), visits still left out, and the
    change of the objective in euros (negative: better)."""

    routes: list[Route]
    dropped: list[str]
    delta: float


class Pass:
    """The state of one pass over a plan: the lines (van-days) it may change, each in its
    fixed order, and the routes it leaves alone (also the working state of
    :mod:`optimizer.lns`)."""

    def __init__(
        self,
        problem: Problem,
        routes: Sequence[Route],
        deadline: float,
        should_stop: Callable[[], bool],
        order: Order = shortest,
    ) -> None:
        self.problem = problem
        self.order = order
        self.deadline = deadline
        self.should_stop = should_stop
        self.shifts = list(problem.shifts)
        self.classes = vehicle_classes(problem, self.shifts)
        by_key = {(r.van_id, r.day): r for r in routes}
        self.lines: list[Line] = []
        self.fixed: list[Route] = []  # routes on shifts this pass does not change
        for s in self.shifts:
            route = by_key.pop(s.key, None)
            if s.breaks is not None:
                if route is not None:
                    self.fixed.append(route)
                continue
            visits = [] if route is None else [problem.visit(x.visit_id) for x in route.stops]
            windows = [] if route is None else stop_ranges(problem, s, route)
            self.lines.append(Line(s, visits, windows, route, index=len(self.lines)))
        self.fixed.extend(by_key.values())  # a route on no known shift: left alone
        self.line_of = {line.shift.key: i for i, line in enumerate(self.lines)}
        self.delta = 0.0
        self._legs: dict[str, dict[str, tuple[int, int]]] = {}
        self._arcs: dict[tuple[str, str, str], float] = {}
        # per line index: (its visits list when computed, places, slack, route cost); lists
        # are replaced on every change, never edited, so the same object means the same line
        self._line_facts: dict[int, tuple[list[Visit], list[str], _Slack | None, float]] = {}
        self._ranges: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self._allowed: dict[str, list[Line]] = {}
        self._penalties: dict[int, float] = {}
        # the exact schedules made, by line, visits and windows: ruin and recreate meets the
        # same routes again
        self._timed: dict[tuple[int, tuple[str, ...], tuple[tuple[int, int], ...]], Route | None]
        self._timed = {}
        # (what was tried, visit, line) -> the line's visits when it failed: the same list
        # object means the line is unchanged (lists are replaced on every change, never
        # edited), and the same attempt fails again.
        self._failed: dict[tuple[str, str, int], list[Visit]] = {}

    def over(self) -> bool:
        """Past the deadline, or asked to stop."""
        return time.monotonic() > self.deadline or self.should_stop()

    def leg(self, a: str, b: str) -> tuple[int, int]:
        """Travel time and distance from ``a`` to ``b``, looked up once (the matrix's numpy
        lookups dominate the pass otherwise)."""
        row = self._legs.get(a)
        if row is None:
            row = self._legs[a] = {}
        found = row.get(b)
        if found is None:
            m = self.problem.matrix
            found = row[b] = (m.duration(a, b), m.distance(a, b))
        return found

    def failed(self, kind: str, visit: Visit, line: Line) -> bool:
        """Whether ``kind`` of placing ``visit`` on ``line`` failed on the line as it is."""
        return self._failed.get((kind, visit.id, self.index(line))) is line.visits

    def fail(self, kind: str, visit: Visit, lines: Sequence[Line]) -> None:
        for line in lines:
            self._failed[(kind, visit.id, self.index(line))] = line.visits

    def penalty(self, visit: Visit) -> float:
        found = self._penalties.get(visit.priority)
        if found is None:
            found = self._penalties[visit.priority] = self.problem.objective.penalty(visit.priority)
        return found

    def rank(self, visit: Visit) -> tuple[float, float]:
        """Where ``visit`` comes in the queue of left-out visits (lowest first)."""
        return (-self.penalty(visit), self.order(visit))

    def arc(self, shift: Shift, a: str, b: str, visit: Visit | None) -> float:
        """The model's cost of driving from ``a`` to ``b`` on ``shift`` (euros), with the
        continuity cost of arriving at ``visit`` on another van than its preferred one."""
        key = (shift.van_id, a, b)
        cost = self._arcs.get(key)
        if cost is None:
            van = self.problem.van(shift.van_id)
            duration, distance = self.leg(a, b)
            cost = distance * van.cost_per_km / 1000 + duration * van.cost_per_hour / 3600
            self._arcs[key] = cost
        if visit is not None and visit.preferred_van not in (None, shift.van_id):
            cost += self.problem.objective.continuity_cost
        return cost

    def _places(self, line: Line, visits: Sequence[Visit]) -> list[str]:
        van = self.problem.van(line.shift.van_id)
        return [van.start_location, *(v.location for v in visits), van.end]

    def route_cost(self, line: Line, visits: Sequence[Visit]) -> float:
        """Travel, continuity and the fixed cost of the van-day of ``visits`` on ``line``."""
        if visits is line.visits:
            return self._facts(line)[3]
        return self._route_cost(line, visits)

    def _route_cost(self, line: Line, visits: Sequence[Visit]) -> float:
        if not visits:
            return 0.0
        places = self._places(line, visits)
        arrive: list[Visit | None] = [*visits, None]
        cost = sum(
            self.arc(line.shift, a, b, v)
            for (a, b), v in zip(pairwise(places), arrive, strict=True)
        )
        return cost + self.problem.van(line.shift.van_id).fixed_cost_per_day

    def fits(self, line: Line, visits: list[Visit], windows: list[tuple[int, int]]) -> bool:
        """Capacity, reachable legs and, as a quick necessary test, the earliest service
        starts inside their windows and the return inside the shift (a break only delays),
        and the work without waiting with the break the rule needs for it inside the shift."""
        shift, problem = line.shift, self.problem
        van = problem.van(shift.van_id)
        if van.capacity is not None and sum(v.demand for v in visits) > van.capacity:
            return False
        travel = [self.leg(a, b)[0] for a, b in pairwise(self._places(line, visits))]
        if UNREACHABLE in travel:
            return False
        work = sum(travel) + sum(v.duration for v in visits)
        if work + problem.break_rule.required_break(work) > shift.end - shift.start:
            return False
        t = shift.start
        for v, (lo, hi), leg in zip(visits, windows, travel, strict=False):
            t = max(lo, t + leg)
            if t > hi:
                return False
            t += v.duration
        return t + travel[-1] <= shift.end

    def timed(
        self, line: Line, visits: list[Visit], windows: list[tuple[int, int]]
    ) -> Route | None:
        """The route of ``line`` serving ``visits`` (break placed as the rule needs), or None
        when it does not fit."""
        if not visits or not self.fits(line, visits, windows):
            return None
        key = (self.index(line), tuple(v.id for v in visits), tuple(windows))
        if key in self._timed:
            return self._timed[key]
        timing = schedule(self.problem, line.shift, visits, windows)
        route = None if timing is None else route_of(self.problem, line.shift, visits, timing)
        if len(self._timed) >= TIMED_CACHE:
            self._timed.clear()
        self._timed[key] = route
        return route

    @staticmethod
    def commit(
        line: Line, visits: list[Visit], windows: list[tuple[int, int]], route: Route
    ) -> None:
        line.visits, line.windows, line.route, line.changed = visits, windows, route, True

    def apply(self, line: Line, visits: list[Visit], windows: list[tuple[int, int]]) -> bool:
        """Reschedule ``line`` with ``visits``; whether it fits."""
        route = self.timed(line, visits, windows)
        if route is not None:
            self.commit(line, visits, windows, route)
        return route is not None

    def ranges(self, visit: Visit, line: Line) -> list[tuple[int, int]]:
        key = (visit.id, self.index(line))
        found = self._ranges.get(key)
        if found is None:
            found = [(lo, hi) for lo, hi in start_domain(visit, [line.shift]) if lo <= hi]
            self._ranges[key] = found
        return found

    def insertions(
        self, visit: Visit, line: Line, visits: list[Visit], windows: list[tuple[int, int]]
    ) -> list[tuple[float, list[Visit], list[tuple[int, int]]]]:
        """Every way to put ``visit`` into ``visits`` on ``line`` that passes the quick test of
        :meth:`fits`: its cost change (the two new legs less the one they replace, and the
        van-day's fixed cost when it was empty), the visits and their windows."""
        if visits is line.visits:
            _, places, slack, _ = self._facts(line)
        else:
            places = self._places(line, visits)
            slack = None
        arrive: list[Visit | None] = [*visits, None]
        fixed = 0.0 if visits else self.problem.van(line.shift.van_id).fixed_cost_per_day
        shift = line.shift
        capacity = self.problem.van(shift.van_id).capacity
        if capacity is not None and sum(v.demand for v in visits) + visit.demand > capacity:
            return []
        if visits is not line.visits:
            slack = self._slack(line, visits, windows, places)
        if slack is None:
            return []
        leave, latest, travel, work = slack
        room = shift.end - shift.start
        rule = self.problem.break_rule
        costs: dict[int, float] = {}

        def cost_at(pos: int) -> float:
            if pos not in costs:
                a, b = places[pos], places[pos + 1]
                old = self.arc(shift, a, b, arrive[pos])
                new = self.arc(shift, a, visit.location, visit)
                new += self.arc(shift, visit.location, b, arrive[pos])
                costs[pos] = new - old + fixed
            return costs[pos]

        here = visit.location
        legs: dict[int, tuple[int, int]] = {}
        last = len(places) - 1
        out = []
        for lo, hi in self.ranges(visit, line):
            # leave and latest only grow along the route: positions that leave after the
            # range's end cannot come first, nor can those whose next stop starts too soon
            first = bisect_left(latest, lo + visit.duration)
            for pos in range(first, last):
                if leave[pos] > hi:
                    break
                found = legs.get(pos)
                if found is None:
                    to = self.leg(places[pos], here)[0]
                    back = self.leg(here, places[pos + 1])[0]
                    found = legs[pos] = (to, back)
                to, back = found
                if to == UNREACHABLE or back == UNREACHABLE:
                    continue
                start = max(lo, leave[pos] + to)
                # the next stop (or the return) no earlier than its window and in time
                after = start + visit.duration + back
                if pos < len(visits):
                    after = max(after, windows[pos][0])
                if start > hi or after > latest[pos]:
                    continue
                longer = work + visit.duration + to + back - travel[pos]
                if longer + rule.required_break(longer) > room:
                    continue
                vs = [*visits[:pos], visit, *visits[pos:]]
                ws = [*windows[:pos], (lo, hi), *windows[pos:]]
                out.append((cost_at(pos), vs, ws))
        return out

    def _facts(self, line: Line) -> tuple[list[Visit], list[str], _Slack | None, float]:
        """The places, slack (:meth:`_slack`) and route cost of ``line`` as it is, computed
        once per change of the line."""
        i = self.index(line)
        found = self._line_facts.get(i)
        if found is None or found[0] is not line.visits:
            visits = line.visits
            places = self._places(line, visits)
            slack = self._slack(line, visits, line.windows, places)
            found = (visits, places, slack, self._route_cost(line, visits))
            self._line_facts[i] = found
        return found

    def _slack(
        self,
        line: Line,
        visits: list[Visit],
        windows: list[tuple[int, int]],
        places: list[str],
    ) -> _Slack | None:
        """For the quick test of an insertion into ``visits`` (the test of :meth:`fits`, one
        visit more, in constant time per position): the earliest time the van can leave each
        place but the end (the start, each stop), and the latest time each stop may start
        (the last entry: the return) with every later stop still in its window; the travel
        times and the work without waiting (travel and service: with the break the rule needs
        for it, it must fit the shift); None when the stops themselves fail the test."""
        shift = line.shift
        travel = [self.leg(a, b)[0] for a, b in pairwise(places)]
        if UNREACHABLE in travel:
            return None
        leave = [shift.start]
        t = shift.start
        for v, (lo, hi), leg in zip(visits, windows, travel, strict=False):
            t = max(lo, t + leg)
            if t > hi:
                return None
            t += v.duration
            leave.append(t)
        if t + travel[-1] > shift.end:
            return None
        latest = [0] * len(visits) + [shift.end]
        for k in range(len(visits) - 1, -1, -1):
            lo, hi = windows[k]
            latest[k] = min(hi, latest[k + 1] - travel[k + 1] - visits[k].duration)
        return leave, latest, travel, sum(travel) + sum(v.duration for v in visits)

    def index(self, line: Line) -> int:
        """The line's place in shift order: ties of cost go to the earlier line, the same way
        in every run."""
        return line.index

    def allowed_lines(self, visit: Visit) -> list[Line]:
        found = self._allowed.get(visit.id)
        if found is None:
            ks = allowed_vehicles(self.problem, visit, self.shifts, self.classes)
            keys = [self.shifts[k].key for k in ks]
            found = [self.lines[self.line_of[key]] for key in keys if key in self.line_of]
            self._allowed[visit.id] = found
        return found

    def insert(self, visit: Visit) -> bool:
        """Put ``visit`` where it fits at the least cost, when that costs less than its
        penalty."""
        worth = self.penalty(visit)
        lines = [x for x in self.allowed_lines(visit) if not self.failed("insert", visit, x)]
        options = []
        for line in lines:
            for cost, vs, ws in self.insertions(visit, line, line.visits, line.windows):
                if cost < worth:
                    options.append((cost, self.index(line), line, vs, ws))
        options.sort(key=lambda o: (o[0], o[1]))
        for cost, _, line, vs, ws in options:
            if self.over():
                return False
            if self.apply(line, vs, ws):
                self.delta += cost - worth
                return True
        self.fail("insert", visit, lines)
        return False

    def eject(self, visit: Visit) -> Visit | None:
        """Make room for ``visit`` by taking a stop of a lower penalty out of one route, the
        exchange that lowers the objective most; the stop taken out, or None."""
        worth = self.penalty(visit)
        lines = [x for x in self.allowed_lines(visit) if not self.failed("eject", visit, x)]
        options = []
        for line in lines:
            base = self.route_cost(line, line.visits)
            for j, out in enumerate(line.visits):
                lost = self.penalty(out)
                if lost >= worth:
                    continue
                rest = line.visits[:j] + line.visits[j + 1 :]
                rest_w = line.windows[:j] + line.windows[j + 1 :]
                saved = base - self.route_cost(line, rest)
                for cost, vs, ws in self.insertions(visit, line, rest, rest_w):
                    gain = cost - saved + lost - worth
                    if gain < 0:
                        options.append((gain, self.index(line), j, line, out, vs, ws))
        options.sort(key=lambda o: (o[0], o[1], o[2]))
        for gain, _, _, line, out, vs, ws in options:
            if self.over():
                return None
            if self.apply(line, vs, ws):
                self.delta += gain
                return out
        self.fail("eject", visit, lines)
        return None

    def home(
        self, visit: Visit, skip: Line
    ) -> tuple[float, Line, list[Visit], list[tuple[int, int]], Route] | None:
        """The cheapest place for ``visit`` on another line than ``skip`` where it fits: its
        cost, the line, its visits, their windows and the route."""
        options = []
        for line in self.allowed_lines(visit):
            if line is skip:
                continue
            for cost, vs, ws in self.insertions(visit, line, line.visits, line.windows):
                if self.fits(line, vs, ws):
                    options.append((cost, self.index(line), line, vs, ws))
        options.sort(key=lambda o: (o[0], o[1]))
        for cost, _, line, vs, ws in options:
            if self.over():
                return None
            route = self.timed(line, vs, ws)
            if route is not None:
                return cost, line, vs, ws, route
        return None

    def relocate(self, visit: Visit) -> bool:
        """Make room for ``visit`` by moving one stop of a route to another route where it
        fits, when that lowers the objective (the first such move, cheapest room first)."""
        worth = self.penalty(visit)
        homes: dict[tuple[str, int], _Home | None] = {}
        for line in self.allowed_lines(visit):
            base = self.route_cost(line, line.visits)
            for j, moved in enumerate(line.visits):
                if self.over():
                    return False
                rest = line.visits[:j] + line.visits[j + 1 :]
                rest_w = line.windows[:j] + line.windows[j + 1 :]
                saved = base - self.route_cost(line, rest)
                options = [
                    (cost, vs, ws)
                    for cost, vs, ws in self.insertions(visit, line, rest, rest_w)
                    if cost - saved < worth and self.fits(line, vs, ws)
                ]
                options.sort(key=lambda o: o[0])
                for cost, vs, ws in options[:RELOCATE_TRIES]:
                    route = self.timed(line, vs, ws)
                    if route is None:
                        continue
                    key = (moved.id, id(line))
                    if key not in homes:
                        homes[key] = self.home(moved, line)
                    found = homes[key]
                    if found is None:
                        break  # the moved stop has no other place: the next stop
                    moved_cost, other, ovs, ows, other_route = found
                    gain = cost - saved + moved_cost - worth
                    if gain >= 0:
                        break
                    self.commit(line, vs, ws, route)
                    self.commit(other, ovs, ows, other_route)
                    self.delta += gain
                    return True
        return False

    def state(self) -> list[LineState]:
        """The lines' contents, to :meth:`restore` later (their lists are replaced on every
        change, never edited in place, so this copies no stop)."""
        return [(line.visits, line.windows, line.route, line.changed) for line in self.lines]

    def restore(self, state: Sequence[LineState]) -> None:
        for line, (visits, windows, route, changed) in zip(self.lines, state, strict=True):
            line.visits, line.windows, line.route, line.changed = visits, windows, route, changed

    def travel_cost(self) -> float:
        """Travel, continuity and fixed costs of the lines' routes (euros; the routes this
        pass leaves alone not counted)."""
        return sum(self.route_cost(line, line.visits) for line in self.lines)

    def take_out(self, line: Line, positions: set[int]) -> bool:
        """Remove the stops at ``positions`` from ``line`` and reschedule the rest; whether
        the rest fits (else ``line`` is left as it was)."""
        keep = [j for j in range(len(line.visits)) if j not in positions]
        visits = [line.visits[j] for j in keep]
        windows = [line.windows[j] for j in keep]
        if not visits:
            line.visits, line.windows, line.route, line.changed = [], [], None, True
            return True
        return self.apply(line, visits, windows)

    def routes(self) -> list[Route]:
        out = list(self.fixed)
        out += [line.route for line in self.lines if line.route is not None]
        order = {v.id: i for i, v in enumerate(self.problem.vans)}
        return sorted(out, key=lambda r: (r.day, order.get(r.van_id, len(order))))


def serve_more(
    problem: Problem,
    routes: Sequence[Route],
    dropped: Sequence[str],
    deadline: float,
    should_stop: Callable[[], bool] = lambda: False,
    order: Order = shortest,
) -> Served:
    """The plan of ``routes`` (``dropped``: the modelled visits left out) after insertion and
    ejection (see the module docstring), within ``deadline`` (``time.monotonic()``) and until
    ``should_stop()``: what is not placed by then stays left out. ``order`` ranks the left-out
    visits of the same penalty (the shortest first unless given)."""
    work = Pass(problem, routes, deadline, should_stop, order)
    still = [problem.visit(v) for v in dropped]
    # Rounds until one changes nothing: a move of a later round can open room for a visit an
    # earlier one could not place.
    while still:
        before = work.delta
        still = serve_round(work, still)
        if work.delta >= before or work.over():
            break
    position = {v.id: i for i, v in enumerate(problem.visits)}
    ids = sorted((v.id for v in still), key=position.__getitem__)
    return Served(work.routes(), ids, work.delta)


def serve_round(work: Pass, left: list[Visit], relocate: bool = True) -> list[Visit]:
    """One round over the left-out visits (highest penalty first, then by the pass's order):
    insert, relocate (unless not ``relocate``), eject (see the module docstring); the visits
    still left out."""
    queue = sorted(left, key=work.rank)
    still: list[Visit] = []
    while queue:
        visit = queue.pop(0)
        if work.over():
            still.append(visit)
            continue
        if work.insert(visit) or (relocate and work.relocate(visit)):
            continue
        out = work.eject(visit)
        if out is None:
            still.append(visit)
            continue
        queue.append(out)
        queue.sort(key=work.rank)
    return still
