"""The dispatcher page's vans-and-shifts forms (:mod:`api.fleet`): server-side forms over the
JSON API's own handlers. A success redirects back to the week (post/redirect/get); a refusal
shows the week again with every problem, naming the field (422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from api.auth import Principal, Role
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError
from api.fleet import FormError, copy_week, form_model, items, local_moment, next_week, problems
from api.routers import pages, resources
from api.schemas.core import ShiftCreate, ShiftPatch, VanCreate, VanPatch

router = APIRouter(include_in_schema=False)

WEEK = r"^\d{4}-W\d{2}$"


def _dispatcher(request: Request, session: Session) -> Principal | Response:
    principal = pages._principal(request, session)
    if principal is None:
        return pages._login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        message = pages._language(request).gettext("Only dispatchers edit vans and shifts.")
        return pages._error(request, 403, message)
    return principal


def _act(
    request: Request, session: Session, week: str, action: Callable[[Principal], object]
) -> Response:
    """Run ``action`` as the logged-in dispatcher; back to the week, or the week with the
    problems (422)."""
    principal = _dispatcher(request, session)
    if isinstance(principal, Response):
        return principal
    try:
        action(principal)
    except (ApiError, FormError) as exc:
        session.rollback()
        found = problems(exc) if isinstance(exc, ApiError) else exc.problems
        return pages._dispatcher(
            request, session, principal, week, None, fleet_errors=found, status_code=422
        )
    return RedirectResponse(f"/dispatcher?week={quote(week)}#fleet", status_code=303)


@router.post("/dispatcher/vans", response_model=None)
def save_van(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    week: Annotated[str, Form(pattern=WEEK)],
    name: Annotated[str, Form()],
    van_id: Annotated[str, Form()] = "",
    skills: Annotated[str, Form()] = "",
    existing: Annotated[str, Form()] = "",
) -> Response:
    """Create a van (``existing`` empty) or change an existing van's name and skills."""

    def action(principal: Principal) -> None:
        if existing:
            body = form_model(VanPatch, {"name": name.strip(), "skills": items(skills)})
            resources.update_van(existing, body, session, settings, principal)
        else:
            data = {"id": van_id.strip() or None, "name": name.strip(), "skills": items(skills)}
            resources.create_van(form_model(VanCreate, data), session, settings, principal)

    return _act(request, session, week, action)


@router.post("/dispatcher/shifts", response_model=None)
def save_shift(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    week: Annotated[str, Form(pattern=WEEK)],
    van_id: Annotated[str, Form()],
    day: Annotated[str, Form()],
    start: Annotated[str, Form()],
    end: Annotated[str, Form()],
    crew: Annotated[str, Form()] = "",
    shift_id: Annotated[str, Form()] = "",
) -> Response:
    """Add a shift to a van, or change one (``shift_id``): its day, times and crew."""
    tz = ZoneInfo(settings.timezone)

    def action(principal: Principal) -> None:
        data = {
            "start": local_moment(day, start, "start", tz),
            "end": local_moment(day, end, "end", tz),
            "crew": items(crew),
        }
        if shift_id:
            body = form_model(ShiftPatch, data)
            resources.update_shift(van_id, shift_id, body, session, settings, principal)
        else:
            resources.create_shift(
                van_id, form_model(ShiftCreate, data), session, settings, principal
            )

    return _act(request, session, week, action)


@router.post("/dispatcher/shifts/{shift_id}/delete", response_model=None)
def remove_shift(
    request: Request,
    session: SessionDep,
    shift_id: str,
    week: Annotated[str, Form(pattern=WEEK)],
    van_id: Annotated[str, Form()],
) -> Response:
    def action(principal: Principal) -> None:
        resources.delete_shift(van_id, shift_id, session, principal)

    return _act(request, session, week, action)


@router.post("/dispatcher/week/copy", response_model=None)
def copy_to_next_week(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    week: Annotated[str, Form(pattern=WEEK)],
) -> Response:
    """Copy the shown week's shifts to the next week and show the next week."""
    principal = _dispatcher(request, session)
    if isinstance(principal, Response):
        return principal
    created, skipped = copy_week(session, settings, principal, week)
    return pages._dispatcher(
        request,
        session,
        principal,
        next_week(week),
        None,
        fleet_copied={"from": week, "created": created, "skipped": skipped},
    )
