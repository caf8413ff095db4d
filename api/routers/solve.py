"""``POST /v1/solve``: stateless, synchronous solving for small problems."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.deps import BearerDep, SettingsDep, SolveCaller
from api.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    check_sync_time_limit,
    error_responses,
)
from api.planner import Planner
from api.schemas.planning import PlanOut, SolveRequest
from api.solve_slots import SolveSlots, get_solve_slots
from optimizer.errors import ValidationError

log = logging.getLogger(__name__)

router = APIRouter(tags=["solve"])


def get_planner(request: Request, caller: BearerDep) -> Planner:
    """Route dependency: the planner of the caller's tenant (its service area; set up by
    ``api.service.start_planning``)."""
    planners = getattr(request.app.state, "planners", None)
    planner: Planner = request.app.state.planner
    if caller is not None and planners is not None:
        planner = planners(caller.tenant_id)
    return planner


PlannerDep = Annotated[Planner, Depends(get_planner)]
SolveSlotsDep = Annotated[SolveSlots, Depends(get_solve_slots)]


def invalid_input(exc: ValidationError, prefix: str = "body") -> InvalidInputError:
    """A 422 listing every problem of a request, with field paths under ``prefix``."""
    count = len(exc.issues)
    return InvalidInputError(
        f"{count} problem{'s' if count != 1 else ''} in the input",
        [(f"{prefix}.{i.field}" if prefix else i.field, i.message) for i in exc.issues],
    )


@router.post(
    "/solve",
    response_model=PlanOut,
    summary="Solve a small problem synchronously",
    responses=error_responses(401, 403, 413, 422, 429),
)
def solve(
    body: SolveRequest,
    _caller: SolveCaller,
    settings: SettingsDep,
    planner: PlannerDep,
    slots: SolveSlotsDep,
) -> PlanOut:
    """Plan the given vans, shifts and visits and return the plan at once.

    Problems above the configured size (``VANPLAN_SYNC_SOLVE_MAX_VISITS``) or asking for a longer
    time limit than ``VANPLAN_SYNC_SOLVE_TIME_LIMIT`` are refused: submit them to ``/v1/jobs``.
    While ``VANPLAN_MAX_CONCURRENT_SOLVES`` synchronous solves run, another gets 429
    ``too_many_solves`` with ``Retry-After``.
    """
    if len(body.visits) > settings.sync_solve_max_visits:
        raise PayloadTooLargeError(
            f"{len(body.visits)} visits are more than the {settings.sync_solve_max_visits} "
            "solved synchronously; submit the problem to POST /v1/jobs instead",
            [("body.visits", f"at most {settings.sync_solve_max_visits} visits here")],
            code="too_large_for_sync_solve",
        )
    check_sync_time_limit(
        body.options.time_limit_seconds,
        settings.sync_solve_time_limit,
        "body.options.time_limit_seconds",
        "POST /v1/jobs",
    )
    try:
        with slots.hold("POST /v1/jobs", settings.sync_solve_time_limit):
            return planner.solve(
                body,
                time_limit=settings.sync_solve_time_limit,
                max_time_limit=settings.sync_solve_time_limit,
            )
    except ValidationError as exc:
        raise invalid_input(exc) from exc
