"""Weekly plans from the stored data: versions (draft -> published), re-planning, outputs.

A published version is never changed: confirming visits on it answers 409, and a re-plan always
makes a new draft version that starts from the newest version and keeps confirmed visits at their
published times. Publishing a draft that changes published visits needs ``accept_changes=true``.
Crews read published versions only, and only their own van's maps and itineraries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from api import weeks
from api.auth import Principal, Role
from api.db.planning_models import PlanRow
from api.db.tenancy import session_tenant
from api.deps import Dispatcher, Reader, SessionDep, SettingsDep, ensure_van_visible
from api.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    check_sync_time_limit,
    error_responses,
    not_found,
)
from api.jobs import JobRunner
from api.plan_diff import describe, version_diff
from api.renders import (
    PlanHead,
    RenderCache,
    Rendered,
    RenderKey,
    RenderKind,
    get_cache,
    plan_head,
    render_context,
    render_key,
)
from api.routers.jobs import RunnerDep
from api.routers.solve import PlannerDep, SolveSlotsDep
from api.schemas.planning import (
    ConfirmIn,
    ItineraryOut,
    ItineraryStop,
    JobKind,
    JobOut,
    PlanChanges,
    PlanDiffOut,
    PlanOut,
    PlanVersionOut,
    PlanVersionSummary,
    PlanWeekIn,
    SolveRequest,
    StepType,
)
from api.settings import Settings
from api.storage import plans as store
from api.tenants import network_of, planner_of
from api.views import StoredVersion, area_places, clients_by_id, version_view, visit_labels
from geo.render import RenderOptions, Selection, renderer
from geo.view import PlanView

log = logging.getLogger(__name__)

router = APIRouter(tags=["plans"])

RenderCacheDep = Annotated[RenderCache, Depends(get_cache)]
WeekPath = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W48")]


def _version_out(row: PlanRow, session: Session | None = None) -> PlanVersionOut:
    """The version as the API answers it; with ``session``, with its ``published_diff``."""
    return PlanVersionOut(
        id=row.id,
        week=row.week,
        version=row.version,
        status=row.status,
        parent_id=row.parent_id,
        confirmed=list(row.confirmed or []),
        created_at=row.created_at,
        published_at=row.published_at,
        changes=PlanChanges.model_validate(row.changes) if row.changes else None,
        published_diff=version_diff(session, row) if session is not None else None,
        plan=PlanOut.model_validate(row.payload),
    )


def version_summary(row: PlanRow) -> PlanVersionSummary:
    summary = row.payload.get("summary", {})
    return PlanVersionSummary(
        id=row.id,
        week=row.week,
        version=row.version,
        status=row.status,
        parent_id=row.parent_id,
        created_at=row.created_at,
        published_at=row.published_at,
        cost=summary.get("cost"),
        assigned=summary.get("assigned", 0),
        unassigned=summary.get("unassigned", 0),
    )


def _plan_row(session: Session, plan_id: str, principal: Principal) -> PlanRow:
    row = store.get(session, plan_id)
    if row is None or (principal.role is Role.CREW and row.status != store.PUBLISHED):
        raise not_found("plan", plan_id, "path.plan_id")
    return row


@router.post(
    "/weeks/{iso_week}/plan",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanVersionOut,
    summary="Plan a week from the stored data (new draft version)",
    responses=error_responses(401, 403, 422, 429),
)
def plan_week(
    iso_week: WeekPath,
    _caller: Dispatcher,
    session: SessionDep,
    settings: SettingsDep,
    planner: PlannerDep,
    slots: SolveSlotsDep,
    options: Annotated[PlanWeekIn | None, Body()] = None,
) -> PlanVersionOut:
    """Plan the week from the stored vans, shifts, open visits and consultation hours; the new
    version is a draft. Time limit: ``time_limit_seconds`` (default
    ``VANPLAN_SYNC_SOLVE_TIME_LIMIT``), at most that (422 above: use the job); the answer
    comes when the search ends. ``POST /v1/weeks/{iso_week}/plan/jobs`` does the same as a job
    (429 ``too_many_solves`` while ``VANPLAN_MAX_CONCURRENT_SOLVES`` synchronous solves run)."""
    options = options or PlanWeekIn()
    job_endpoint = f"POST /v1/weeks/{iso_week}/plan/jobs"
    _check_sync_limit(options, settings, job_endpoint)
    request = weeks.week_request_for(session, planner, iso_week, settings.timezone, options)
    solver_settings = planner.solver_settings(
        request, settings.sync_solve_time_limit, settings.sync_solve_time_limit
    )
    with slots.hold(job_endpoint, settings.sync_solve_time_limit):
        outcome = weeks.compute_plan(planner, iso_week, request, solver_settings)
    row = weeks.store_outcome(session, iso_week, outcome)
    session.commit()
    log.info("week %s planned: version %d", iso_week, row.version)
    return _version_out(row, session)


@router.post(
    "/weeks/{iso_week}/replan",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanVersionOut,
    summary="Re-plan a week after changes (new draft version; confirmed visits kept)",
    responses=error_responses(401, 403, 404, 422, 429),
)
def replan_week(
    iso_week: WeekPath,
    _caller: Dispatcher,
    session: SessionDep,
    settings: SettingsDep,
    planner: PlannerDep,
    slots: SolveSlotsDep,
    options: Annotated[PlanWeekIn | None, Body()] = None,
) -> PlanVersionOut:
    """Time limit: ``time_limit_seconds`` (default ``VANPLAN_SYNC_SOLVE_TIME_LIMIT``), at most
    that (422 above: use the job); the answer comes when the search ends
    (``POST /v1/weeks/{iso_week}/replan/jobs`` does the same as a job; 429 ``too_many_solves``
    while ``VANPLAN_MAX_CONCURRENT_SOLVES`` synchronous solves run).

    Start from the newest version of the week, rebuild the problem from the stored data (new,
    changed or cancelled visits, shifts) and re-plan with ``optimizer.replan``: confirmed visits
    keep the van, day and start (within +/- 5 minutes) of the week's published version where
    that is still possible (else their van and day: ``changes.times_released``; else they are
    anchored there: ``changes.pins_dropped``); with ``allow_moving_confirmed`` they are only
    anchored (a cost per moved visit). The search starts from the previous routes;
    ``changes.visits`` reports per visit what happened against the version re-planned from
    (unchanged, time_changed, moved, newly_assigned, newly_unassigned, still_unassigned,
    cancelled) and ``published_diff`` what publishing the new version would change for the
    published one (moved, retimed, added, dropped)."""
    options = options or PlanWeekIn()
    job_endpoint = f"POST /v1/weeks/{iso_week}/replan/jobs"
    _check_sync_limit(options, settings, job_endpoint)
    base = store.latest(session, iso_week)
    if base is None:
        raise not_found("plan of week", iso_week, "path.iso_week")
    request = weeks.week_request_for(session, planner, iso_week, settings.timezone, options)
    solver_settings = planner.solver_settings(
        request, settings.sync_solve_time_limit, settings.sync_solve_time_limit
    )
    base_version = weeks.BaseVersion.read(session, base)
    with slots.hold(job_endpoint, settings.sync_solve_time_limit):
        outcome = weeks.compute_replan(
            planner,
            iso_week,
            request,
            base_version,
            solver_settings,
            allow_moving_confirmed=options.allow_moving_confirmed,
        )
    row = weeks.store_outcome(session, iso_week, outcome)
    session.commit()
    report = outcome.changes
    log.info(
        "week %s re-planned: version %d from %d, %d moved",
        iso_week,
        row.version,
        base.version,
        len(report.moved) if report else 0,
    )
    return _version_out(row, session)


def _check_sync_limit(options: PlanWeekIn, settings: Any, job_endpoint: str) -> None:
    check_sync_time_limit(
        options.time_limit_seconds,
        settings.sync_solve_time_limit,
        "body.time_limit_seconds",
        job_endpoint,
    )


def _submit_week_job(
    kind: JobKind,
    iso_week: WeekPath,
    session: Session,
    settings: Any,
    planner: Any,
    runner: JobRunner,
    options: PlanWeekIn | None,
    response: Response,
) -> JobOut:
    options = options or PlanWeekIn()
    base_id: str | None = None
    if kind is JobKind.WEEK_REPLAN:
        base = store.latest(session, iso_week)
        if base is None:
            raise not_found("plan of week", iso_week, "path.iso_week")
        base_id = base.id
    request = weeks.week_request_for(session, planner, iso_week, settings.timezone, options)
    task = weeks.week_task(
        kind, iso_week, base_id, allow_moving_confirmed=options.allow_moving_confirmed
    )
    job = runner.submit(request, task, tenant_id=session_tenant(session))
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.post(
    "/weeks/{iso_week}/plan/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Plan a week as a job (progress, stop; the plan becomes a new draft version)",
    responses=error_responses(401, 403, 422),
)
def plan_week_job(
    iso_week: WeekPath,
    _caller: Dispatcher,
    session: SessionDep,
    settings: SettingsDep,
    planner: PlannerDep,
    runner: RunnerDep,
    response: Response,
    options: Annotated[PlanWeekIn | None, Body()] = None,
) -> JobOut:
    """Like ``POST /v1/weeks/{iso_week}/plan`` but answers at once (202) with a job: poll
    ``GET /v1/jobs/{id}`` for progress and the best cost so far; when it has ended, its
    ``plan_id`` is the new draft version. ``DELETE /v1/jobs/{id}`` stops the search early and
    still stores the best plan found. The request is built from the stored data now (422 for
    bad stored data); later changes to the data go into the next plan. Time limit:
    ``time_limit_seconds`` (default ``VANPLAN_WEEK_TIME_LIMIT``), at most
    ``VANPLAN_JOB_TIME_LIMIT``."""
    return _submit_week_job(
        JobKind.WEEK_PLAN, iso_week, session, settings, planner, runner, options, response
    )


@router.post(
    "/weeks/{iso_week}/replan/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Re-plan a week as a job (progress, stop; the plan becomes a new draft version)",
    responses=error_responses(401, 403, 404, 422),
)
def replan_week_job(
    iso_week: WeekPath,
    _caller: Dispatcher,
    session: SessionDep,
    settings: SettingsDep,
    planner: PlannerDep,
    runner: RunnerDep,
    response: Response,
    options: Annotated[PlanWeekIn | None, Body()] = None,
) -> JobOut:
    """Like ``POST /v1/weeks/{iso_week}/replan`` but as a job (see
    ``POST /v1/weeks/{iso_week}/plan/jobs``); it re-plans from the newest version at the time
    of this call, and the version it stores has that one as its parent."""
    return _submit_week_job(
        JobKind.WEEK_REPLAN, iso_week, session, settings, planner, runner, options, response
    )


@router.get(
    "/weeks/{iso_week}/plans",
    response_model=list[PlanVersionSummary],
    summary="Versions of a week's plan",
    responses=error_responses(401, 403),
)
def list_week_plans(
    iso_week: WeekPath, _caller: Dispatcher, session: SessionDep
) -> list[PlanVersionSummary]:
    return [version_summary(r) for r in store.versions(session, iso_week)]


@router.get(
    "/plans/{plan_id}",
    response_model=PlanVersionOut,
    summary="One plan version",
    responses=error_responses(401, 403, 404),
)
def get_plan(plan_id: str, caller: Dispatcher, session: SessionDep) -> PlanVersionOut:
    return _version_out(_plan_row(session, plan_id, caller), session)


@router.get(
    "/plans/{plan_id}/changes",
    response_model=PlanDiffOut,
    summary="What this version changes against the week's published version",
    responses=error_responses(401, 403, 404),
)
def plan_changes(plan_id: str, caller: Dispatcher, session: SessionDep) -> PlanDiffOut:
    """Per visit, against the week's newest published version (for a published version: the
    one published before it): ``moved`` (another van or day), ``retimed`` (same van-day, start
    changed by at least a minute), ``added`` (planned only here) and ``dropped`` (planned there,
    not here: ``reason`` says why, ``removed`` when the visit left the week). Publishing a
    version whose ``published_changed`` is not 0 needs ``accept_changes=true``."""
    return version_diff(session, _plan_row(session, plan_id, caller))


@router.post(
    "/plans/{plan_id}/publish",
    response_model=PlanVersionOut,
    summary="Publish a draft (it is never changed afterwards)",
    responses=error_responses(401, 403, 404, 409),
)
def publish_plan(
    plan_id: str,
    caller: Dispatcher,
    session: SessionDep,
    accept_changes: Annotated[
        bool,
        Query(
            description="Publish although published visits move, change their time or drop "
            "out (see `GET /v1/plans/{id}/changes`)."
        ),
    ] = False,
) -> PlanVersionOut:
    """Publish a draft. When it changes visits of the week's published version (moved,
    retimed by a minute or more, dropped), the answer is 409 ``confirmation_required`` listing
    each change (``details``: ``visits.<id>``) unless ``accept_changes=true``: crews and clients
    were told the published times. Added visits need no confirmation."""
    row = _plan_row(session, plan_id, caller)
    if row.status != store.PUBLISHED and not accept_changes:
        diff = version_diff(session, row)
        touched = sorted([*diff.moved, *diff.retimed, *diff.dropped], key=lambda c: c.visit_id)
        if touched:
            raise ConflictError(
                f"publishing version {row.version} changes {len(touched)} visit(s) of the "
                f"published version {diff.published_version}; confirm with accept_changes=true",
                [(f"visits.{c.visit_id}", describe(c)) for c in touched],
                code="confirmation_required",
            )
    try:
        store.publish(session, row)
    except store.PublishedPlanError as exc:
        raise ConflictError(str(exc), [("path.plan_id", "already published")]) from None
    session.commit()
    return _version_out(row, session)


@router.put(
    "/plans/{plan_id}/confirmed",
    response_model=PlanVersionOut,
    summary="Set the confirmed visits of a draft",
    responses=error_responses(401, 403, 404, 409, 422),
)
def confirm_visits(
    plan_id: str, body: ConfirmIn, caller: Dispatcher, session: SessionDep
) -> PlanVersionOut:
    """Confirmed visits (agreed with the client) stay on their van and day in a re-plan.
    A published plan is not edited: 409 (re-plan to get a new draft)."""
    row = _plan_row(session, plan_id, caller)
    planned = set(store.plan_from_json(row.domain_plan).assigned)
    unknown = [(i, v) for i, v in enumerate(body.visit_ids) if v not in planned]
    if row.status != store.PUBLISHED and unknown:
        raise InvalidInputError(
            f"{len(unknown)} visit(s) are not planned in this version",
            [(f"body.visit_ids[{i}]", f"{v!r} is not planned here") for i, v in unknown],
        )
    try:
        store.set_confirmed(session, row, body.visit_ids)
    except store.PublishedPlanError as exc:
        raise ConflictError(str(exc), [("path.plan_id", "published plans are final")]) from None
    session.commit()
    return _version_out(row, session)


def _reader_head(
    session: Session,
    principal: Principal,
    key: RenderKey,
    *,
    plan_id: str | None = None,
    week: str | None = None,
) -> PlanHead:
    """The version a reader asks for (crews: published ones only) with the etag of ``key``, in
    one query; 404 otherwise."""
    if plan_id is not None:
        head = plan_head(session, key, plan_id=plan_id)
        if head is None or (principal.role is Role.CREW and not head.published):
            raise not_found("plan", plan_id, "path.plan_id")
        return head
    assert week is not None
    head = plan_head(session, key, week=week, published_only=True)
    if head is None:
        raise not_found("published plan of week", week, "path.iso_week")
    return head


def _full_row(session: Session, head: PlanHead) -> PlanRow:
    row = store.get(session, head.id)
    if row is None:  # plans are never deleted
        raise not_found("plan", head.id, "path.plan_id")
    return row


@router.get(
    "/plans/{plan_id}/geojson",
    summary="The plan as GeoJSON ([lon, lat]); crews get their own van only",
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "FeatureCollection"},
        304: {"description": "Not modified (If-None-Match names the ETag)"},
        **error_responses(401, 403, 404),
    },
)
async def plan_geojson_route(
    plan_id: str,
    http: Request,
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
    van_id: Annotated[str | None, Query()] = None,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """Published versions are rendered once (``ETag``, ``X-Render-Cache: hit|miss``)."""
    if caller.role is Role.CREW:
        van_id = van_id or caller.van_id
    if van_id is not None:
        ensure_van_visible(caller, van_id)
    fmt = renderer("geojson")
    key = render_key(
        RenderKind.GEOJSON,
        fmt="geojson",
        context=render_context(http.app, settings),
        van_id=van_id,
        day=day,
    )

    def render(row: PlanRow) -> Rendered:
        body = fmt.render(_view(http, session, row), Selection(van_id, day), RenderOptions())
        return Rendered(body, fmt.media_type)

    return await _published_answer(http, session, cache, caller, key, render, plan_id=plan_id)


def _view(http: Request, session: Session, row: PlanRow) -> PlanView:
    """The stored version's view (:func:`api.views.version_view`): road-following legs when the
    service has its road network loaded and the version was planned on it, else straight legs
    flagged approximate."""
    request = SolveRequest.model_validate(row.request)
    version = StoredVersion(row.id, row.domain_plan, request, PlanOut.model_validate(row.payload))
    return version_view(
        version,
        network=network_of(http.app.state, session),
        planner=planner_of(http.app.state, session),
        labels=visit_labels(
            session, request, villages=area_places(planner_of(http.app.state, session))
        ),
    )


@router.get(
    "/plans/{plan_id}/map",
    response_class=HTMLResponse,
    summary="Map preview (folium HTML): the week, or one van's day for crews",
    responses={
        304: {"description": "Not modified (If-None-Match names the ETag)"},
        **error_responses(401, 403, 404),
    },
)
async def plan_map(
    plan_id: str,
    http: Request,
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
    van_id: Annotated[str | None, Query()] = None,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """Without ``van_id`` and ``date``: the week overview (dispatchers). With both: the crew map
    of that van's day. Crews must name their own van and a day. Published versions are
    rendered once (``ETag``, ``X-Render-Cache: hit|miss``)."""
    if caller.role is Role.CREW and (van_id is None or day is None):
        raise ForbiddenError(
            "crews may see their own van's day map only",
            [("query.van_id", "required for crews"), ("query.date", "required for crews")],
        )
    if (van_id is None) != (day is None):
        raise InvalidInputError(
            "give both van_id and date, or neither",
            [("query.van_id" if van_id is None else "query.date", "missing")],
        )
    if van_id is not None:
        ensure_van_visible(caller, van_id)
    key = render_key(
        RenderKind.MAP,
        fmt="html",
        context=render_context(http.app, settings),
        van_id=van_id,
        day=day,
    )

    def render(row: PlanRow) -> Rendered:
        if van_id is not None:
            plan = PlanOut.model_validate(row.payload)
            if not any(r.van_id == van_id and r.date == day for r in plan.routes):
                raise not_found("route", f"{van_id}@{day}", "query.van_id")
        view = _view(http, session, row)
        page = renderer("html").render(view, Selection(van_id, day), RenderOptions())
        return Rendered(page, "text/html; charset=utf-8")

    return await _published_answer(http, session, cache, caller, key, render, plan_id=plan_id)


_ITINERARY_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match names the ETag)"},
    **error_responses(401, 403, 404),
}


@router.get(
    "/plans/{plan_id}/itinerary/{van_id}/{day}",
    response_model=ItineraryOut,
    summary="A crew's itinerary for one van and day",
    responses=_ITINERARY_RESPONSES,
)
async def itinerary(
    plan_id: str,
    van_id: str,
    day: date,
    http: Request,
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
) -> Response:
    """Published versions are rendered once (``ETag``, ``X-Render-Cache: hit|miss``)."""
    ensure_van_visible(caller, van_id)
    key = _itinerary_key(http, settings, van_id, day)
    return await _itinerary_answer(http, session, cache, caller, key, van_id, day, plan_id=plan_id)


@router.get(
    "/weeks/{iso_week}/itinerary/{van_id}/{day}",
    response_model=ItineraryOut,
    summary="A crew's itinerary from the week's newest published plan",
    responses=_ITINERARY_RESPONSES,
)
async def week_itinerary(
    iso_week: WeekPath,
    van_id: str,
    day: date,
    http: Request,
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
) -> Response:
    """Rendered once per published version (``ETag``, ``X-Render-Cache: hit|miss``)."""
    ensure_van_visible(caller, van_id)
    key = _itinerary_key(http, settings, van_id, day)
    return await _itinerary_answer(http, session, cache, caller, key, van_id, day, week=iso_week)


async def _itinerary_answer(
    http: Request,
    session: Session,
    cache: RenderCache,
    caller: Principal,
    key: RenderKey,
    van_id: str,
    day: date,
    *,
    plan_id: str | None = None,
    week: str | None = None,
) -> Response:
    """The itinerary of version ``plan_id`` (else the newest published of ``week``)."""

    def render(row: PlanRow) -> Rendered:
        out = _itinerary(session, row, van_id, day)
        return Rendered(out.model_dump_json().encode("utf-8"), "application/json")

    return await _published_answer(
        http, session, cache, caller, key, render, plan_id=plan_id, week=week
    )


async def _published_answer(
    http: Request,
    session: Session,
    cache: RenderCache,
    caller: Principal,
    key: RenderKey,
    render: Callable[[PlanRow], Rendered],
    *,
    plan_id: str | None = None,
    week: str | None = None,
) -> Response:
    """Output ``key`` of version ``plan_id`` (else the newest published of ``week``): from
    memory when this process served it moments ago, else in a worker thread through the render
    cache, ``render`` getting the full stored version when it must be rendered."""
    lookup = ("plan", plan_id) if plan_id is not None else ("week", str(week), "published")
    hit = await cache.hit(http, http.app.state.db, caller.tenant_id, lookup, key)
    if hit is not None:
        return hit

    def read() -> Response:
        head = _reader_head(session, caller, key, plan_id=plan_id, week=week)
        return cache.respond(
            http, session, head, key, lambda: render(_full_row(session, head)), lookup=lookup
        )

    return await run_in_threadpool(read)


def _itinerary_key(http: Request, settings: Settings, van_id: str, day: date) -> RenderKey:
    return render_key(
        RenderKind.ITINERARY,
        fmt="json",
        context=render_context(http.app, settings),
        van_id=van_id,
        day=day,
    )


def _itinerary(session: Session, row: PlanRow, van_id: str, day: date) -> ItineraryOut:
    plan = PlanOut.model_validate(row.payload)
    route = next((r for r in plan.routes if r.van_id == van_id and r.date == day), None)
    if route is None:
        raise not_found("route", f"{van_id}@{day.isoformat()}", "path.van_id")
    visits = {v["id"]: v for v in row.request.get("visits", [])}
    refs = {
        visits[s.visit_id]["client_ref"]
        for s in route.steps
        if s.visit_id in visits and visits[s.visit_id].get("client_ref")
    }
    clients = clients_by_id(session, refs)
    stops = []
    for s in route.steps:
        visit = visits.get(s.visit_id or "", {})
        client = clients.get(visit.get("client_ref") or "")
        erased = client is not None and client.erased_at is not None
        stops.append(
            ItineraryStop(
                type=s.type,
                visit_id=s.visit_id,
                kind=visit.get("kind") if s.type is StepType.VISIT else None,
                location=s.location,
                arrival=s.arrival,
                start=s.start,
                end=s.end,
                client_name=client.name if client is not None and not erased else None,
                address=client.address if client is not None and not erased else None,
            )
        )
    return ItineraryOut(
        plan_id=row.id,
        week=row.week,
        version=row.version,
        van_id=van_id,
        date=day,
        timezone=plan.timezone,
        stops=stops,
        drive_seconds=route.drive_seconds,
        distance_m=route.distance_m,
    )
