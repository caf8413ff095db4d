"""Solve jobs for problems too large or too slow for ``/v1/solve``."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status

from api.deps import SettingsDep, SolveCaller
from api.errors import ConflictError, error_responses, not_found
from api.jobs import JobRunner
from api.routers.solve import PlannerDep, invalid_input
from api.schemas.planning import JobOut, JobStatus, PlanOut, SolveRequest
from api.service import start_planning, stop_planning
from api.storage.jobs import UnknownJobError
from optimizer.errors import Issue, ValidationError
from optimizer.processes import stop_helper_processes
from optimizer.sizing import model_nodes, size_issue

log = logging.getLogger(__name__)

router = APIRouter(prefix="/jobs", tags=["jobs"])


def get_runner(request: Request) -> JobRunner:
    """Route dependency: the app's job runner (set up by :func:`startup`)."""
    runner: JobRunner = request.app.state.job_runner
    return runner


RunnerDep = Annotated[JobRunner, Depends(get_runner)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Submit a solve job",
    responses=error_responses(401, 403, 422),
)
def submit_job(
    body: SolveRequest,
    caller: SolveCaller,
    planner: PlannerDep,
    runner: RunnerDep,
    settings: SettingsDep,
    response: Response,
) -> JobOut:
    """Queue the problem; poll ``GET /v1/jobs/{id}`` and fetch ``GET /v1/jobs/{id}/plan``.
    A problem too large to model within its time limit is refused (422 naming its size,
    :func:`optimizer.sizing.size_issue`)."""
    try:
        planner.validate(body)  # input errors now (422), not later as a failed job
        limit = body.options.time_limit_seconds or settings.job_time_limit
        nodes = model_nodes([len(v.windows) for v in body.visits])
        issue = size_issue(len(body.visits), nodes, limit)
        if issue is not None:
            raise ValidationError(Issue("options.time_limit_seconds", issue))
    except ValidationError as exc:
        raise invalid_input(exc) from exc
    job = runner.submit(body, tenant_id=caller.tenant_id)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="Status, progress and best cost so far",
    responses=error_responses(401, 403, 404),
)
def get_job(job_id: str, caller: SolveCaller, runner: RunnerDep) -> JobOut:
    try:
        return runner.status(job_id, tenant_id=caller.tenant_id)
    except UnknownJobError:
        raise not_found("job", job_id, "path.job_id") from None


@router.get(
    "/{job_id}/plan",
    response_model=PlanOut,
    summary="The job's plan",
    responses=error_responses(401, 403, 404, 409),
)
def get_job_plan(job_id: str, caller: SolveCaller, runner: RunnerDep) -> PlanOut:
    """The plan of a finished job (also of one stopped early). 409 while there is none yet."""
    try:
        plan = runner.result(job_id, tenant_id=caller.tenant_id)
        job = runner.status(job_id, tenant_id=caller.tenant_id)
    except UnknownJobError:
        raise not_found("job", job_id, "path.job_id") from None
    if plan is None:
        why = job.error if job.status is JobStatus.FAILED and job.error else "no plan yet"
        raise ConflictError(
            f"job {job_id} is {job.status.value}: {why}",
            [("path.job_id", f"job is {job.status.value}")],
            code="job_has_no_plan",
        )
    return plan


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Stop a job early (keeps the best plan found)",
    responses=error_responses(401, 403, 404),
)
def cancel_job(job_id: str, caller: SolveCaller, runner: RunnerDep) -> JobOut:
    try:
        return runner.cancel(job_id, tenant_id=caller.tenant_id)
    except UnknownJobError:
        raise not_found("job", job_id, "path.job_id") from None


_apps_lock = threading.Lock()
_running_apps = 0  # apps of this process between startup and shutdown (share one fork server)


def startup(app: FastAPI) -> None:
    """App lifespan hook: planner, job runner, resumption of unfinished jobs."""
    global _running_apps
    start_planning(app, getattr(app.state, "job_runner_override", None))
    with _apps_lock:
        _running_apps += 1


def shutdown(app: FastAPI) -> None:
    """App lifespan hook: stop the job runner (its solver processes end with their jobs); when
    the last app of the process stops, also the solver fork server and its resource tracker."""
    global _running_apps
    try:
        stop_planning(app)
    finally:
        with _apps_lock:
            _running_apps = max(_running_apps - 1, 0)
            if _running_apps == 0:
                stop_solver_processes()


def stop_solver_processes(timeout: float = 30.0) -> None:
    """End the solver helper processes (:func:`optimizer.processes.stop_helper_processes`)."""
    stop_helper_processes(timeout)
