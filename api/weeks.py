"""Planning a stored week: the steps shared by the synchronous routes and week jobs.

A week is planned in three steps: build the request from the stored data (:func:`week_request_for`,
cheap, raises 422-style errors), compute the plan or re-plan (:func:`compute_plan`,
:func:`compute_replan`; slow, no database session held) and store it as a new draft version
(:func:`store_outcome`). ``POST /v1/weeks/{week}/plan`` runs the three in the request;
``POST /v1/weeks/{week}/plan/jobs`` runs the first in the request and the other two in a job
(:class:`WeekTasks`), so the dispatcher page can show the search's progress and stop it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db.base import DEFAULT_TENANT
from api.db.database import Database
from api.db.planning_models import PlanRow
from api.errors import ApiError, InvalidInputError, loc_to_path
from api.mapping import MappedProblem, plan_to_out
from api.planner import ProgressFn
from api.schemas.planning import (
    JobKind,
    PlacementOut,
    PlanChanges,
    PlanOut,
    PlanWeekIn,
    SolveRequest,
    VisitChangeOut,
    VisitChangeStatus,
    VisitMove,
)
from api.storage import plans as store
from api.storage.weeks import NothingToPlanError, week_request
from optimizer.diff import placements
from optimizer.errors import ValidationError
from optimizer.plan import Plan
from optimizer.replan import Changes, Placement, ReplanResult, Status, VisitChange

log = logging.getLogger(__name__)

VERSION_ATTEMPTS = 3
"""Tries to store a version when another one of the same week took the version number."""

CONFIRMED_SLACK_SECONDS = 5 * 60
"""A re-plan keeps each confirmed visit's published start within this many seconds."""


@dataclass(frozen=True)
class BaseVersion:
    """What a re-plan needs of the version it starts from (read before the slow search)."""

    id: str
    version: int
    request: dict[str, Any]
    domain_plan: dict[str, Any]
    confirmed: tuple[str, ...]
    published_plan: dict[str, Any] | None = None  # the week's newest published version's plan

    @classmethod
    def of(cls, row: PlanRow, published: PlanRow | None = None) -> BaseVersion:
        """``row`` to re-plan from; ``published``: the week's newest published version, whose
        placements of confirmed visits (the times clients were told) a re-plan holds."""
        confirmed = tuple(row.confirmed or ())
        return cls(
            row.id,
            row.version,
            dict(row.request),
            dict(row.domain_plan),
            confirmed,
            dict(published.domain_plan) if published is not None else None,
        )

    @classmethod
    def read(cls, session: Session, row: PlanRow) -> BaseVersion:
        """``row`` with the week's newest published version read from ``session``."""
        return cls.of(row, store.latest(session, row.week, published_only=True))


@dataclass(frozen=True)
class WeekOutcome:
    """A computed plan of a week, ready to be stored as a draft version."""

    request: SolveRequest
    payload: PlanOut
    plan: Plan
    parent_id: str | None = None
    confirmed: tuple[str, ...] = ()
    changes: PlanChanges | None = None


# --- step 1: the request ------------------------------------------------------------------------


def week_request_for(
    session: Session, planner: Any, week: str, timezone: str, options: PlanWeekIn
) -> SolveRequest:
    """The week's request from the stored data, checked without a travel matrix.

    Raises :class:`~api.errors.InvalidInputError` naming the stored object and field at fault.
    """
    try:
        request = week_request(
            session,
            week,
            timezone,
            time_limit_seconds=options.time_limit_seconds,
            seed=options.seed,
            solution_limit=options.solution_limit,
        )
    except NothingToPlanError as exc:
        raise InvalidInputError(
            f"nothing to plan in week {week}",
            [(i.field, i.message) for i in exc.issues],
            code="nothing_to_plan",
        ) from exc
    except PydanticValidationError as exc:  # stored data outside what a request allows
        raise InvalidInputError(
            f"the stored data of week {week} cannot be planned",
            [(loc_to_path(("stored", *e["loc"])), e["msg"]) for e in exc.errors()],
        ) from exc
    try:
        planner.validate(request)
    except ValidationError as exc:
        raise stored_error(week, exc, [v.id for v in request.visits]) from exc
    return request


def stored_path(field: str, visit_ids: list[str]) -> str:
    """``visits[3].place`` of a generated request -> ``stored.visits[v17].place``."""
    if field.startswith("path."):
        return field
    if field.startswith("visits[") and "]" in field:
        index, rest = field[len("visits[") :].split("]", 1)
        if index.isdigit() and int(index) < len(visit_ids):
            field = f"visits[{visit_ids[int(index)]}]{rest}"
    return f"stored.{field}"


def stored_error(week: str, exc: ValidationError, ids: list[str]) -> InvalidInputError:
    return InvalidInputError(
        f"the stored data of week {week} cannot be planned",
        [(stored_path(i.field, ids), i.message) for i in exc.issues],
    )


def _map(planner: Any, request: SolveRequest, week: str) -> MappedProblem:
    try:
        mapped: MappedProblem = planner.map(request)
    except ValidationError as exc:
        raise stored_error(week, exc, [v.id for v in request.visits]) from exc
    return mapped


# --- step 2: the search -------------------------------------------------------------------------


def compute_plan(
    planner: Any,
    week: str,
    request: SolveRequest,
    settings: Any,
    *,
    on_progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> WeekOutcome:
    """Plan the week from scratch."""
    mapped = _map(planner, request, week)
    plan = planner.solve_mapped(mapped, settings, on_progress, stop)
    return WeekOutcome(request, plan_to_out(plan, mapped), plan)


def compute_replan(
    planner: Any,
    week: str,
    request: SolveRequest,
    base: BaseVersion,
    settings: Any,
    *,
    allow_moving_confirmed: bool = False,
    on_progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> WeekOutcome:
    """Re-plan from ``base`` with ``optimizer.replan``: the week as ``request`` has it now,
    confirmed visits of ``base`` pinned to the van-day of the week's published version (else
    of ``base``) with the start within :data:`CONFIRMED_SLACK_SECONDS` of the published one,
    where still possible. ``allow_moving_confirmed``: only anchored there (they may move)."""
    old_request = SolveRequest.model_validate(base.request)
    new_ids = {v.id for v in request.visits}
    gone = [v for v in old_request.visits if v.id not in new_ids]
    # One mapping (one matrix) holds the week as it is now plus the visits that went away, so
    # the base problem of the re-plan has every visit of the previous plan. The cancelled visits
    # come last: the location ids of ``request`` stay those of mapping it alone.
    combined = request.model_copy(update={"visits": [*request.visits, *gone]})
    mapped = _map(planner, combined, week)
    old_ids = {v.id for v in old_request.visits}
    problem = mapped.problem
    base_problem = dataclasses.replace(
        problem, visits=tuple(v for v in problem.visits if v.id in old_ids)
    )
    changes = Changes(
        added=tuple(v for v in problem.visits if v.id not in old_ids),
        cancelled=frozenset(v.id for v in gone),
    )
    previous = store.plan_from_json(base.domain_plan)
    confirmed = set(base.confirmed) & (set(previous.assigned) | changes.cancelled)
    published = placements(store.plan_from_json(base.published_plan)) if base.published_plan else {}
    hold = {vid: published[vid] for vid in sorted(confirmed) if vid in published}
    try:
        result = planner.replan(
            base_problem,
            previous,
            changes,
            settings,
            confirmed=confirmed,
            pin_confirmed=not allow_moving_confirmed,
            hold=hold,
            time_slack=None if allow_moving_confirmed else CONFIRMED_SLACK_SECONDS,
            on_progress=on_progress,
            stop=stop,
        )
    except ValidationError as exc:
        raise InvalidInputError(
            f"week {week} cannot be re-planned",
            [(stored_path(i.field, []), i.message) for i in exc.issues],
        ) from exc
    plan: Plan = result.plan
    out = plan_to_out(plan, dataclasses.replace(mapped, problem=result.problem))
    return WeekOutcome(
        request,
        out,
        plan,
        parent_id=base.id,
        confirmed=tuple(sorted(confirmed & set(plan.assigned))),
        changes=change_report(base, result, confirmed),
    )


def change_report(base: BaseVersion, result: ReplanResult, confirmed: set[str]) -> PlanChanges:
    """The re-plan's per-visit diff as the API reports it."""
    horizon = result.problem.horizon

    def placement(p: Placement | None) -> PlacementOut | None:
        if p is None:
            return None
        return PlacementOut(
            van_id=p.van_id, date=horizon.date_of(p.day), start=horizon.to_datetime(p.start)
        )

    def label(p: Placement | None) -> str | None:
        return None if p is None else f"{p.van_id}@{horizon.date_of(p.day).isoformat()}"

    def move(c: VisitChange) -> VisitMove:
        return VisitMove(
            visit_id=c.visit_id,
            before=label(c.old),
            after=label(c.new),
            start_before=horizon.to_datetime(c.old.start) if c.old else None,
            start_after=horizon.to_datetime(c.new.start) if c.new else None,
        )

    diff = sorted(result.diff, key=lambda c: c.visit_id)
    visits = [
        VisitChangeOut(
            visit_id=c.visit_id,
            status=VisitChangeStatus(c.status.value),
            before=placement(c.old),
            after=placement(c.new),
            confirmed=c.visit_id in confirmed,
            reason=str(c.reason.reason) if c.reason is not None else None,
            message=c.reason.message if c.reason is not None else None,
        )
        for c in diff
    ]
    kept = sorted(
        c.visit_id
        for c in diff
        if c.visit_id in confirmed and c.status in (Status.UNCHANGED, Status.TIME_CHANGED)
    )
    return PlanChanges(
        base_plan_id=base.id,
        base_version=base.version,
        visits=visits,
        moved=[move(c) for c in diff if c.status is Status.MOVED],
        retimed=[move(c) for c in diff if c.status is Status.TIME_CHANGED],
        added=[c.visit_id for c in diff if c.old is None and c.new is not None],
        dropped=[c.visit_id for c in diff if c.old is not None and c.new is None],
        unchanged=sum(c.status is Status.UNCHANGED for c in diff),
        confirmed_kept=kept,
        confirmed_moved=sorted(confirmed - set(kept)),
        pins_dropped=sorted(result.fallback),
        times_released=sorted(result.released),
    )


# --- step 3: the new version --------------------------------------------------------------------


def store_outcome(
    session: Session, week: str, outcome: WeekOutcome, *, job_id: str | None = None
) -> PlanRow:
    """Store ``outcome`` as the week's next draft version (the caller commits).

    With ``job_id``, a version the job stored before (a resumed job) is returned instead of a
    second one. A version number taken meanwhile by a concurrent plan of the same week is retried.
    """
    if job_id is not None:
        existing = store.by_job(session, job_id)
        if existing is not None:
            return existing
    for attempt in range(1, VERSION_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                return store.create_version(
                    session,
                    week,
                    request=outcome.request.model_dump(mode="json"),
                    payload=outcome.payload.model_dump(mode="json"),
                    plan=outcome.plan,
                    parent_id=outcome.parent_id,
                    confirmed=list(outcome.confirmed),
                    changes=outcome.changes.model_dump(mode="json") if outcome.changes else None,
                    job_id=job_id,
                )
        except IntegrityError:
            if attempt == VERSION_ATTEMPTS:
                raise
            log.info("week %s: version number taken meanwhile; retrying", week)
    raise AssertionError("unreachable")


# --- week jobs ----------------------------------------------------------------------------------


def week_task(
    kind: JobKind,
    week: str,
    base_plan_id: str | None = None,
    *,
    allow_moving_confirmed: bool = False,
) -> dict[str, Any]:
    """The ``task`` of a week job as the job store keeps it."""
    task: dict[str, Any] = {"kind": kind.value, "week": week}
    if base_plan_id is not None:
        task["base_plan_id"] = base_plan_id
    if allow_moving_confirmed:
        task["allow_moving_confirmed"] = True
    return task


class WeekTasks:
    """Runs week jobs (plan or re-plan a stored week, store the draft) for a job runner.

    Called by :func:`api.jobs.execute` with the job's snapshot request; returns the plan and the
    id of the version stored. Input problems found only now (e.g. an address the geocoder does
    not know) raise ``ValueError`` with the message and fields, so the job fails with them.
    """

    def __init__(
        self,
        db: Database,
        planner: Any,
        time_limit: float,
        max_time_limit: float,
        planners: Callable[[str], Any] | None = None,
    ) -> None:
        self.db = db
        self.planner = planner
        # the planner of a tenant (its service area); default: ``planner`` for every tenant
        self.planners: Callable[[str], Any] = planners or (lambda _tenant: planner)
        self.time_limit = time_limit
        self.max_time_limit = max_time_limit

    def __call__(
        self,
        job_id: str,
        task: dict[str, Any],
        request: SolveRequest,
        on_progress: ProgressFn,
        stop: threading.Event,
        tenant_id: str = DEFAULT_TENANT,
    ) -> tuple[PlanOut, str]:
        """Run the week job ``job_id`` of ``tenant_id``: its stored data is read and its version
        stored through sessions bound to that tenant."""
        kind, week = JobKind(task["kind"]), str(task["week"])
        planner = self.planners(tenant_id)
        base: BaseVersion | None = None
        with self.db.session(tenant_id) as s:
            done = store.by_job(s, job_id)
            if done is not None:  # stored before the process stopped: nothing left to do
                return PlanOut.model_validate(done.payload), done.id
            if kind is JobKind.WEEK_REPLAN:
                row = store.get(s, str(task["base_plan_id"]))
                if row is None:
                    raise ValueError(f"the version to re-plan from is gone: {task['base_plan_id']}")
                base = BaseVersion.read(s, row)
        settings = planner.solver_settings(request, self.time_limit, self.max_time_limit)
        try:
            if base is None:
                outcome = compute_plan(
                    planner, week, request, settings, on_progress=on_progress, stop=stop
                )
            else:
                outcome = compute_replan(
                    planner,
                    week,
                    request,
                    base,
                    settings,
                    allow_moving_confirmed=bool(task.get("allow_moving_confirmed")),
                    on_progress=on_progress,
                    stop=stop,
                )
        except ApiError as exc:
            details = "; ".join(f"{d.field}: {d.message}" for d in exc.details)
            raise ValueError(f"{exc.message} ({details})" if details else exc.message) from exc
        with self.db.session(tenant_id) as s:
            row = store_outcome(s, week, outcome, job_id=job_id)
            plan_id = row.id
        log.info("week job %s: week %s stored as version %s", job_id, week, plan_id)
        return outcome.payload, plan_id
