"""The planner of the service: maps a request, solves it (in a solver process) and maps the plan
back. One per app; it holds the matrix providers, the address lookup and the time limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from api.mapping import MappedProblem, build_problem, plan_to_out
from api.schemas.planning import PlanOut, SolveRequest
from api.settings import Settings
from geo.providers import (
    AddressResolver,
    LonLat,
    MatrixProvider,
    approximate_provider,
    default_address_resolver,
    placeholder_provider,
    road_provider,
)
from geo.service_area import ServiceArea, configured_area, default_service_area
from optimizer.diff import Placement
from optimizer.domain import Problem
from optimizer.plan import Plan
from optimizer.processes import run_in_child
from optimizer.replan import ReplanResult, replan
from optimizer.settings import SolverSettings
from optimizer.solve import solve

ProgressFn = Callable[[float, float | None, int], None]
"""Progress report: (share of the time limit used 0..1, best cost so far, solutions found)."""


def _progress_fields(report: Any) -> tuple[float | None, int | None]:
    """(cost, solutions) from whatever the optimizer's ``on_progress`` hands over."""
    if isinstance(report, int | float):
        return float(report), None
    cost = None
    for name in ("best_cost", "objective", "cost"):
        value = getattr(report, name, None)
        if isinstance(value, int | float):
            cost = float(value)
            break
    solutions = getattr(report, "solutions", None)
    return cost, solutions if isinstance(solutions, int) else None


class Planner:
    """Maps requests and solves them; one per app (holds the matrix provider)."""

    def __init__(
        self,
        provider: MatrixProvider,
        *,
        resolve_address: AddressResolver | None = None,
        base: LonLat | None = None,
        time_limit: float = 10.0,
        road_provider: MatrixProvider | None = None,
        isolate: bool = True,
        solver_workers: int = 1,
        area: ServiceArea | None = None,
    ) -> None:
        # the service area (default: the shipped one): its first base is the start of vans
        # without one unless ``base`` says otherwise; its places name stops
        self.area = area or default_service_area()
        self.provider = provider
        self.solver_workers = solver_workers  # search processes per solve (a portfolio)
        self.isolate = isolate  # solve in a separate process (keeps the API responsive)
        self.road_provider = road_provider
        self.resolve_address = resolve_address
        self.base = base or self.area.base
        self.time_limit = time_limit

    def validate(self, request: SolveRequest) -> None:
        """Every check that needs no travel matrix (cheap: for 422s before queueing a job)."""
        build_problem(
            request,
            placeholder_provider,
            resolve_address=self.resolve_address,
            base=self.base,
            area=self.area,
        )

    def map(self, request: SolveRequest) -> MappedProblem:
        use_roads = request.options.use_road_network and self.road_provider is not None
        provider = self.road_provider if use_roads and self.road_provider else self.provider
        return build_problem(
            request, provider, resolve_address=self.resolve_address, base=self.base, area=self.area
        )

    def solver_settings(
        self, request: SolveRequest, default: float | None = None, cap: float | None = None
    ) -> SolverSettings:
        """Solver settings: the request's time limit, else ``default``; never above ``cap``;
        the service's ``solver_workers`` search processes."""
        limit = request.options.time_limit_seconds or default or self.time_limit
        if cap is not None:
            limit = min(limit, cap)
        return SolverSettings(
            time_limit=limit,
            seed=request.options.seed or 0,
            solution_limit=request.options.solution_limit,
            workers=self.solver_workers,
            engines=request.options.engines or "auto",
        )

    @staticmethod
    def _progress(settings: Any, on_progress: ProgressFn | None) -> Callable[..., None]:
        """The optimizer's progress reports as (share of the time limit, cost, solutions)."""
        started = time.monotonic()
        state: dict[str, Any] = {"solutions": 0}

        def progress(report: Any = None, *_: Any) -> None:
            cost, solutions = _progress_fields(report)
            state["solutions"] = solutions if solutions is not None else state["solutions"] + 1
            if on_progress is not None:
                elapsed = getattr(report, "elapsed", None)
                if not isinstance(elapsed, int | float):
                    elapsed = time.monotonic() - started
                on_progress(min(elapsed / settings.time_limit, 1.0), cost, state["solutions"])

        return progress

    def run(
        self,
        problem: Problem,
        settings: Any,
        *,
        anchors: Mapping[str, tuple[str, int]] | None = None,
        initial: Plan | None = None,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
    ) -> Plan:
        """Solve a domain problem; in a solver process unless ``isolate`` is off."""
        progress = self._progress(settings, on_progress)
        kwargs: dict[str, Any] = {
            "anchors": dict(anchors) if anchors else None,
            "initial": initial,
            "on_progress": progress,
            "stop": stop,
        }
        plan: Plan = (
            run_in_child(solve, problem, settings, **kwargs)
            if self.isolate
            else solve(problem, settings, **kwargs)
        )
        return plan

    def replan(
        self,
        problem: Problem,
        previous: Plan,
        changes: Any,
        settings: Any,
        *,
        confirmed: Collection[str],
        pin_confirmed: bool = True,
        hold: Mapping[str, Placement] | None = None,
        time_slack: int | None = None,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
    ) -> ReplanResult:
        """:func:`optimizer.replan.replan` (confirmed visits pinned unless ``pin_confirmed`` is
        off; held at ``hold`` with ``time_slack``), in a solver process unless ``isolate`` is
        off; returns its ``ReplanResult``. Progress and stop as in :meth:`run`."""
        kwargs: dict[str, Any] = {
            "confirmed": frozenset(confirmed),
            "pin_confirmed": pin_confirmed,
            "hold": dict(hold) if hold else None,
            "time_slack": time_slack,
        }
        progress = self._progress(settings, on_progress)
        if not self.isolate:
            return replan(
                problem, previous, changes, settings, **kwargs, on_progress=progress, stop=stop
            )
        return run_in_child(
            replan, problem, previous, changes, settings, **kwargs, on_progress=progress, stop=stop
        )

    def solve_mapped(
        self,
        mapped: MappedProblem,
        settings: Any,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
    ) -> Plan:
        return self.run(mapped.problem, settings, on_progress=on_progress, stop=stop)

    def solve(
        self,
        request: SolveRequest,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
        *,
        time_limit: float | None = None,
        max_time_limit: float | None = None,
    ) -> PlanOut:
        """Map, solve (until done or ``stop`` is set) and map the plan back.

        ``time_limit`` applies when the request sets none; ``max_time_limit`` caps both.
        """
        mapped = self.map(request)
        settings = self.solver_settings(request, time_limit, max_time_limit)
        plan = self.solve_mapped(mapped, settings, on_progress, stop)
        return plan_to_out(plan, mapped)


def planner_from_settings(settings: Settings) -> Planner:
    """The planner the service uses: road matrix when an OSM file is configured (network built
    with ``settings.geo``), else approximate (``settings.geo.approximate``); the service area of
    ``settings.geo.service_area`` (default: the shipped one)."""
    return Planner(
        approximate_provider(settings.geo.approximate),
        resolve_address=default_address_resolver(settings.osm_file),
        area=configured_area(settings.geo.service_area),
        time_limit=settings.sync_solve_time_limit,
        road_provider=road_provider(settings.osm_file, settings.geo),
        solver_workers=settings.solver_workers,
    )
