"""The dispatcher page's vans-and-shifts forms (:mod:`api.fleet`): server-side forms over the
JSON API's own handlers (:mod:`api.routers.page_forms`). A success redirects back to the week
(post/redirect/get); a refusal shows the week again with every problem, naming the field, in the
page's language (422, or the API's status)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import SessionDep, SettingsDep
from api.fleet import copy_week, next_week
from api.forms import form_model, form_patch, items, local_moment
from api.routers import pages, resources
from api.routers.page_forms import dispatcher_principal, submit
from api.schemas.core import ShiftCreate, ShiftPatch, VanCreate, VanPatch

router = APIRouter(include_in_schema=False)

WEEK = r"^\d{4}-W\d{2}$"


def _act(
    request: Request, session: Session, week: str, action: Callable[[Principal], None]
) -> Response:
    """Run ``action`` as the logged-in dispatcher; back to the week, or the week with the
    problems."""

    def refused(principal: Principal, found: list[str], status: int) -> Response:
        return pages._dispatcher(
            request, session, principal, week, None, fleet_errors=found, status_code=status
        )

    return submit(request, session, action, f"/dispatcher?week={quote(week)}#fleet", refused)


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
        shift = form_model(ShiftCreate, data)  # the whole shift's rules, also for a change
        if shift_id:
            body = form_patch(ShiftPatch, shift, data)
            resources.update_shift(van_id, shift_id, body, session, settings, principal)
        else:
            resources.create_shift(van_id, shift, session, settings, principal)

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
    principal = dispatcher_principal(request, session)
    if isinstance(principal, Response):
        return principal
    created, skipped = copy_week(session, settings, principal, week, pages._language(request))
    return pages._dispatcher(
        request,
        session,
        principal,
        next_week(week),
        None,
        fleet_copied={"from": week, "created": created, "skipped": skipped},
    )
