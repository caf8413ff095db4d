"""Map a vanplan :class:`~optimizer.domain.Problem` to PyVRP's ``ProblemData``, or decline.

The mapping is faithful or it is not made: PyVRP's objective on the mapped data equals the
objective of vanplan's OR-Tools model (:mod:`optimizer.model`) in the same integer units
(milli-euros), and every PyVRP-feasible solution is a plan vanplan's model accepts.

What maps:

- each shift (van-day) is a vehicle type with the van's start and end depots, the shift as its
  time window and ``max_work`` as its shift duration (without breaks the working time is the
  route span); interchangeable van-days (same day, times, depots, costs, skills and capacity,
  and no visit naming the van) share one type with several vehicles;
- arc costs per van (``cost_per_km``, ``cost_per_hour`` of driving, the continuity cost of a
  visit served by another than its preferred van) are PyVRP's distances in milli-euros, one
  profile per distinct cost matrix, with ``unit_distance_cost = 1``; travel times are the
  profile's durations; ``fixed_cost_per_day`` is the type's fixed cost;
- a visit becomes one client per interval of service starts it allows (one per time window,
  and within a window one per day when it may be served on several); several clients of one
  visit form a mutually exclusive client group; a must visit (priority 1) is required, an
  optional one carries its penalty as prize;
- days, pinned van/day/start, skills, and depots a visit cannot be reached from restrict the
  vehicles: start intervals keep a client on its days, and the vans that may not serve it see
  it at an unreachable distance in their profile;
- capacities and demands as one load dimension.

What declines (OR-Tools then plans alone), with the reason:

- a shift with explicit breaks (PyVRP has no breaks); and with
  ``SolverSettings.statutory_breaks="modelled"`` (default) the statutory rule on a shift that
  allows more work than ``BreakRule.after_first`` (its length, or a smaller ``max_work``). With
  ``"placed"`` such a shift maps with the relaxed span (:func:`optimizer.breaks.relaxed_span`) as
  its shift duration, and the break is placed into PyVRP's routes afterwards;
- a re-plan's anchors (the moved-visit cost depends on the van-day);
- ``SolverSettings.charge_waiting`` (PyVRP's duration cost would also charge service time);
- more restriction profiles than :data:`MAX_PROFILE_ENTRIES` matrix entries allow;
- nothing to plan (no shift, or no visit in the model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyvrp
from numpy.typing import NDArray

from optimizer.breaks import placed_here, relaxed_span
from optimizer.domain import UNREACHABLE, Problem, Shift, Van, Visit
from optimizer.model import (
    COST_SCALE,
    allowed_vehicles,
    fallback_reason,
    merge_intervals,
    start_domain,
    window_alternatives,
)
from optimizer.plan import Unassigned
from optimizer.settings import SolverSettings

MAX_PROFILE_ENTRIES = 40_000_000
"""Matrix entries (over every profile) above which the mapping declines: two int64 matrices
per profile, so about 640 MB at this bound."""

STOP_CHECK_VISITS = 50
"""The mapping asks whether to stop every this many visits."""

_NO_LIMIT = 2**63 - 1  # PyVRP's default for an unbounded shift duration
_FAR_COST = 10**9  # milli-euros of an arc that may not be driven (unreachable, or a barred van)


@dataclass(frozen=True)
class Declined:
    """PyVRP cannot express the problem faithfully: why, for the log and the plan's stats."""

    reason: str


@dataclass(frozen=True)
class ClientRef:
    """What one PyVRP client stands for: a visit, served with a start in ``[early, late]``."""

    visit_id: str
    location: str
    early: int
    late: int


@dataclass(frozen=True)
class TypeRef:
    """The van-days (shifts) behind one PyVRP vehicle type, in the order its routes take them."""

    shifts: tuple[Shift, ...]


@dataclass(frozen=True)
class PyvrpMapping:
    """The PyVRP data of a problem and what its indices mean."""

    data: pyvrp.ProblemData
    clients: tuple[ClientRef, ...]  # by PyVRP client index
    types: tuple[TypeRef, ...]  # by PyVRP vehicle type index
    visit_ids: tuple[str, ...]  # the modelled visits (served or dropped), in problem order
    excluded: dict[str, Unassigned]  # left out: diagnosed impossible, or no vehicle may take it
    depot_locations: tuple[str, ...]  # by PyVRP depot index


def break_reason(problem: Problem, placed: bool = False) -> str | None:
    """Why the shifts need breaks PyVRP cannot model, or None when none does. With ``placed``
    statutory breaks are placed after the search (:mod:`optimizer.breaks`) and need none."""
    rule = problem.break_rule
    for s in problem.shifts:
        if s.breaks:
            return f"shift {s.van_id} day {s.day} has explicit breaks (PyVRP has no breaks)"
        if not placed and s.needs_statutory_break(rule):
            return (
                f"shift {s.van_id} day {s.day} allows more than {rule.after_first} s of work "
                "under the statutory break rule (PyVRP has no breaks)"
            )
    return None


def express(
    problem: Problem,
    settings: SolverSettings,
    excluded: Mapping[str, Unassigned],
    anchors: Mapping[str, tuple[str, int]] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    max_clients: int | None = None,
) -> PyvrpMapping | Declined:
    """PyVRP's data for ``problem`` without the ``excluded`` visits, or why it cannot be made
    (also when ``should_stop()`` while it is made: seconds on thousands of visits, and when it
    would hold more than ``max_clients`` clients: declined before its matrices are made)."""
    if anchors:
        return Declined("re-planning anchors (the moved-visit cost depends on the van-day)")
    if settings.charge_waiting:
        return Declined("charge_waiting (PyVRP would charge service time as well)")
    if not problem.shifts:
        return Declined("no shifts")
    reason = break_reason(problem, settings.statutory_breaks == "placed")
    if reason is not None:
        return Declined(reason)
    return _Builder(problem, dict(excluded), should_stop, max_clients).build()


def _shift_order(problem: Problem) -> tuple[Shift, ...]:
    """The shifts as OR-Tools orders its vehicles: by day, then van order."""
    van_order = {v.id: i for i, v in enumerate(problem.vans)}
    return tuple(sorted(problem.shifts, key=lambda s: (s.day, van_order[s.van_id])))


class _Builder:
    """Builds one mapping; holds the index tables while it does."""

    def __init__(
        self,
        problem: Problem,
        excluded: dict[str, Unassigned],
        should_stop: Callable[[], bool] = lambda: False,
        max_clients: int | None = None,
    ) -> None:
        self.problem = problem
        self.should_stop = should_stop
        self.max_clients = max_clients
        self.excluded = excluded
        self.shifts = _shift_order(problem)

    def build(self) -> PyvrpMapping | Declined:
        problem = self.problem
        type_of_shift, types = self._vehicle_types()
        depot_locs = list(
            dict.fromkeys(loc for s in self.shifts for loc in _depots(problem.van(s.van_id)))
        )
        made = self._clients(type_of_shift, len(depot_locs))
        if made is None:
            return Declined("stopped while the mapping was made")
        clients, modelled, allowed_types = made
        if not clients:
            return Declined("no visit to plan")
        if self.max_clients is not None and len(clients) > self.max_clients:
            return Declined(
                f"{len(clients)} clients (a client per visit and start interval) are more than "
                f"the {self.max_clients} PyVRP can set up in the time"
            )
        locations = depot_locs + [c.location for c, _ in clients]
        refs = [c for c, _ in clients]
        profile_keys = [self._profile_key(i, t, allowed_types, refs) for i, t in enumerate(types)]
        distinct = list(dict.fromkeys(profile_keys))
        n = len(locations)
        if len(distinct) * n * n > MAX_PROFILE_ENTRIES:
            return Declined(
                f"{len(distinct)} vehicle restriction profiles of {n} locations exceed the "
                f"memory bound ({MAX_PROFILE_ENTRIES} matrix entries)"
            )
        durations, costs = self._matrices(locations, distinct, clients, len(depot_locs))
        data = pyvrp.ProblemData(
            locations=[pyvrp.Location(0.0, 0.0, name=loc) for loc in locations],
            clients=[c for _, c in clients],
            depots=[pyvrp.Depot(location=i, name=loc) for i, loc in enumerate(depot_locs)],
            vehicle_types=[
                self._vehicle_type(t, depot_locs, distinct.index(key), modelled)
                for t, key in zip(types, profile_keys, strict=True)
            ],
            distance_matrices=cast(Any, costs),  # PyVRP's stubs type matrices oddly
            duration_matrices=cast(Any, durations),
            groups=self._groups(),
        )
        return PyvrpMapping(
            data=data,
            clients=tuple(ref for ref, _ in clients),
            types=tuple(types),
            visit_ids=tuple(v.id for v in problem.visits if v.id in modelled),
            excluded=self.excluded,
            depot_locations=tuple(depot_locs),
        )

    def _vehicle_types(self) -> tuple[list[int], list[TypeRef]]:
        """The vehicle type of each shift (by OR-Tools' vehicle order) and the types."""
        problem = self.problem
        named = {v.pin.van_id for v in problem.visits if v.pin is not None} | {
            v.preferred_van for v in problem.visits
        }
        keys: dict[object, int] = {}
        members: list[list[Shift]] = []
        type_of: list[int] = []
        for s in self.shifts:
            van = problem.van(s.van_id)
            key: object = (
                ("van", s.van_id, s.day)
                if s.van_id in named
                else (
                    s.day,
                    s.start,
                    s.end,
                    s.max_work,
                    van.start_location,
                    van.end,
                    van.cost_per_km,
                    van.cost_per_hour,
                    van.fixed_cost_per_day,
                    van.capacity,
                    van.skills,
                )
            )
            if key not in keys:
                keys[key] = len(members)
                members.append([])
            members[keys[key]].append(s)
            type_of.append(keys[key])
        return type_of, [TypeRef(tuple(m)) for m in members]

    def _clients(
        self, type_of_shift: list[int], n_depots: int
    ) -> tuple[list[tuple[ClientRef, pyvrp.Client]], set[str], list[frozenset[int]]] | None:
        """The clients (with what they stand for), the modelled visit ids and, per client, the
        vehicle types that may serve it. A visit no vehicle may take joins ``excluded``. None
        when ``should_stop()`` (asked every :data:`STOP_CHECK_VISITS` visits)."""
        problem, shifts = self.problem, self.shifts
        objective = problem.objective
        out: list[tuple[ClientRef, pyvrp.Client]] = []
        allowed_types: list[frozenset[int]] = []
        modelled: set[str] = set()
        self.group_of: list[int | None] = []
        self.group_required: list[bool] = []
        for count, visit in enumerate(problem.visits):
            if count % STOP_CHECK_VISITS == 0 and self.should_stop():
                return None
            if visit.id in self.excluded:
                continue
            ks = allowed_vehicles(problem, visit, shifts)
            if not ks:
                self.excluded[visit.id] = fallback_reason(problem, visit)
                continue
            parts: list[tuple[ClientRef, frozenset[int]]] = []
            for node_visit, node_ks in window_alternatives(visit, [shifts[k] for k in ks], ks):
                # A start domain depends on the shift's times only: once per distinct times.
                by_times: dict[tuple[int, int], list[int]] = {}
                for k in node_ks:
                    by_times.setdefault((shifts[k].start, shifts[k].end), []).append(k)
                domains = {
                    key: start_domain(node_visit, [shifts[same[0]]])
                    for key, same in by_times.items()
                }
                merged = merge_intervals([i for d in domains.values() for i in d])
                for lo, hi in merged:
                    types = frozenset(
                        type_of_shift[k]
                        for key, same in by_times.items()
                        if _overlaps(domains[key], lo, hi)
                        for k in same
                    )
                    parts.append((ClientRef(visit.id, visit.location, lo, hi), types))
            if not parts:
                self.excluded[visit.id] = fallback_reason(problem, visit)
                continue
            modelled.add(visit.id)
            group = len(self.group_required) if len(parts) > 1 else None
            if group is not None:
                self.group_required.append(visit.is_must)
            prize = round(objective.penalty(visit.priority) * COST_SCALE)
            for ref, types in parts:
                alone_required = group is None and visit.is_must
                out.append(
                    (
                        ref,
                        pyvrp.Client(
                            location=n_depots + len(out),  # one location per client
                            delivery=self._demand(visit),
                            service_duration=visit.duration,
                            tw_early=ref.early,
                            tw_late=ref.late,
                            prize=0 if alone_required else prize,
                            required=alone_required,
                            group=group,
                            name=visit.id,
                        ),
                    )
                )
                allowed_types.append(types)
                self.group_of.append(group)
        return out, modelled, allowed_types

    def _uses_load(self) -> bool:
        problem = self.problem
        return any(v.capacity is not None for v in problem.vans) and any(
            v.demand for v in problem.visits if v.id not in self.excluded
        )

    def _demand(self, visit: Visit) -> list[int]:
        return [visit.demand] if self._uses_load() else []

    def _groups(self) -> list[pyvrp.ClientGroup]:
        """One mutually exclusive group per visit with several clients."""
        members: list[list[int]] = [[] for _ in self.group_required]
        for i, g in enumerate(self.group_of):
            if g is not None:
                members[g].append(i)
        return [
            pyvrp.ClientGroup(m, required=req)
            for m, req in zip(members, self.group_required, strict=True)
        ]

    def _profile_key(
        self, index: int, t: TypeRef, allowed_types: list[frozenset[int]], refs: list[ClientRef]
    ) -> tuple[float, float, str | None, frozenset[int]]:
        """What the matrices of type ``index`` depend on: its van's cost rates, its van (when
        some visit prefers a van: the continuity cost) and the clients it may not serve. A
        client whose service starts cannot fall in the type's shift (another day) needs no bar:
        its time window keeps the type away already, so the van-days of a week that differ only
        in their day share one profile (one pair of matrices instead of one per day)."""
        problem = self.problem
        shift = t.shifts[0]  # the type's shifts share their day and times
        van = problem.van(shift.van_id)
        barred = frozenset(
            i
            for i, ok in enumerate(allowed_types)
            if index not in ok and refs[i].early <= shift.end and refs[i].late >= shift.start
        )
        continuity = any(v.preferred_van is not None for v in problem.visits)
        return (van.cost_per_km, van.cost_per_hour, van.id if continuity else None, barred)

    def _matrices(
        self,
        locations: list[str],
        profiles: list[tuple[float, float, str | None, frozenset[int]]],
        clients: list[tuple[ClientRef, pyvrp.Client]],
        n_depots: int,
    ) -> tuple[list[NDArray[np.int64]], list[NDArray[np.int64]]]:
        """Per profile: travel durations and arc costs (milli-euros, rounded per arc as the
        OR-Tools model rounds them); unreachable arcs and arcs into barred clients are far."""
        problem = self.problem
        matrix = problem.matrix
        idx = np.array([matrix.index(loc) for loc in locations], dtype=np.int64)
        dur = matrix.durations[np.ix_(idx, idx)].astype(np.int64)
        dist = matrix.distances[np.ix_(idx, idx)].astype(np.int64)
        unreachable = (dur == UNREACHABLE) | (dist == UNREACHABLE)
        np.fill_diagonal(unreachable, False)
        far_time = 1 + max(
            [problem.horizon.end, *(s.end for s in self.shifts)] + [c.late for c, _ in clients]
        )
        base_dur = np.where(unreachable, far_time, dur)
        obj = problem.objective
        continuity = round(obj.continuity_cost * COST_SCALE)
        durations: list[NDArray[np.int64]] = []
        costs: list[NDArray[np.int64]] = []
        for per_km, per_hour, van_id, barred in profiles:
            cost = np.rint(
                dist * (per_km * COST_SCALE / 1000.0) + dur * (per_hour * COST_SCALE / 3600.0)
            ).astype(np.int64)
            cost[unreachable] = _FAR_COST
            np.fill_diagonal(cost, 0)
            if van_id is not None:
                for i, (ref, _) in enumerate(clients):
                    preferred = problem.visit(ref.visit_id).preferred_van
                    if preferred is not None and preferred != van_id:
                        cost[:, n_depots + i] += continuity
            d = base_dur.copy()
            if barred:
                cols = np.array(sorted(n_depots + i for i in barred), dtype=np.int64)
                d[:, cols] = far_time
                cost[:, cols] = _FAR_COST
                d[cols, cols] = 0
                cost[cols, cols] = 0
            np.fill_diagonal(cost, 0)  # the continuity extra went down whole columns
            durations.append(d)
            costs.append(cost)
        return durations, costs

    def _longest(self, s: Shift) -> int:
        """The longest route of the shift: with a statutory break placed afterwards the
        relaxed span (:func:`optimizer.breaks.relaxed_span`), else ``max_work`` (if any)."""
        if placed_here(s, self.problem.break_rule):
            return relaxed_span(s, self.problem.break_rule)
        return _NO_LIMIT if s.max_work is None else s.max_work

    def _vehicle_type(
        self, t: TypeRef, depot_locs: list[str], profile: int, modelled: set[str]
    ) -> pyvrp.VehicleType:
        s = t.shifts[0]
        van = self.problem.van(s.van_id)
        capacity: list[int] = []
        if self._uses_load():
            total = sum(v.demand for v in self.problem.visits if v.id in modelled)
            capacity = [total if van.capacity is None else van.capacity]
        return pyvrp.VehicleType(
            num_available=len(t.shifts),
            capacity=capacity,
            start_depot=depot_locs.index(van.start_location),
            end_depot=depot_locs.index(van.end),
            fixed_cost=round(van.fixed_cost_per_day * COST_SCALE),
            tw_early=s.start,
            tw_late=s.end,
            unit_distance_cost=1,
            unit_duration_cost=0,
            profile=profile,
            shift_duration=self._longest(s),
            name=f"{s.van_id}/{s.day}",
        )


def _depots(van: Van) -> tuple[str, str]:
    return (van.start_location, van.end)


def _overlaps(ranges: list[tuple[int, int]], lo: int, hi: int) -> bool:
    return any(a <= hi and lo <= b for a, b in ranges)
