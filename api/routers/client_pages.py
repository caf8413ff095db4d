"""The dispatcher's clients and visits pages: lists with forms to add, change and delete, over
the JSON API's own handlers (:mod:`api.routers.resources`) and schemas (:mod:`api.client_forms`),
the same way as the vans-and-shifts forms (:mod:`api.routers.page_forms`). A success redirects
to the list naming what was saved or deleted; a refusal shows the list again with the form as
sent and every problem, naming the field, in the page's language (422, 404 or 409 as the API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from babel import Locale
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.client_forms import (
    ClientForm,
    VisitForm,
    client_choices,
    clients,
    week_visits,
    window_label,
)
from api.db.core_models import VanRow
from api.deps import SessionDep, SettingsDep
from api.routers import pages, resources
from api.routers.page_forms import dispatcher_principal, submit

router = APIRouter(include_in_schema=False)

WEEK = r"^\d{4}-W\d{2}$"
LANGUAGES = ("de", "en", "ar", "uk", "ru", "tr", "fa", "ps", "ti", "so", "fr", "pl", "ro")
"""Languages the client form offers (any BCP 47 tag is accepted by the API)."""


def _languages(code: str) -> list[tuple[str, str]]:
    """(tag, name in the page's language) of :data:`LANGUAGES`."""
    names = Locale.parse(code).languages
    return [(tag, f"{names.get(tag, tag)} ({tag})") for tag in LANGUAGES]


def _vans(session: Session) -> list[tuple[str, str]]:
    return [(v.id, v.name) for v in session.scalars(select(VanRow).order_by(VanRow.id))]


def _clients_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    draft: ClientForm | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rows = clients(session)
    return pages._page(
        request,
        "clients.html",
        status_code=status_code,
        principal=principal,
        forms=[ClientForm.of(c) for c in rows],
        erased={c.id for c in rows if c.erased_at is not None},
        draft=draft,
        errors=errors or [],
        vans=_vans(session),
        language_options=_languages(pages._language(request).code),
        blank=ClientForm(),
        saved=request.query_params.get("saved"),
        deleted=request.query_params.get("deleted"),
    )


def _visits_page(
    request: Request,
    session: Session,
    principal: Principal,
    week: str | None,
    timezone: str,
    *,
    draft: VisitForm | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tz = ZoneInfo(timezone)
    rows = week_visits(session, week, tz)
    names = dict(client_choices(session))
    return pages._page(
        request,
        "visits.html",
        status_code=status_code,
        principal=principal,
        week=week,
        visits=[
            {
                "form": VisitForm.of(v, tz),
                "client": names.get(v.client_id, v.client_id),
                "windows": [window_label(w, tz) for w in v.windows],
            }
            for v in rows
        ],
        draft=draft,
        errors=errors or [],
        clients=list(names.items()),
        vans=_vans(session),
        new=VisitForm(),
        saved=request.query_params.get("saved"),
        deleted=request.query_params.get("deleted"),
    )


Refused = Callable[[Principal, list[str], int], Response]
"""How a form answers a refusal (:func:`api.routers.page_forms.submit`)."""


def _clients_refused(
    request: Request, session: Session, draft: ClientForm | None = None
) -> Refused:
    """A refused clients form: the clients page again with the problems (and the form as sent)."""

    def refused(principal: Principal, found: list[str], status: int) -> Response:
        return _clients_page(
            request, session, principal, draft=draft, errors=found, status_code=status
        )

    return refused


def _visits_refused(
    request: Request,
    session: Session,
    week: str | None,
    timezone: str,
    draft: VisitForm | None = None,
) -> Refused:
    """A refused visits form: the week's visits page again with the problems (and the form as
    sent)."""

    def refused(principal: Principal, found: list[str], status: int) -> Response:
        return _visits_page(
            request,
            session,
            principal,
            week,
            timezone,
            draft=draft,
            errors=found,
            status_code=status,
        )

    return refused


def _back(path: str, week: str | None = None, **done: str) -> str:
    query = {k: v for k, v in (("week", week or ""), *done.items()) if v}
    return f"{path}?{urlencode(query)}" if query else path


# --------------------------------------------------------------------------- clients


@router.get("/dispatcher/clients", response_class=HTMLResponse, response_model=None)
def clients_page(request: Request, session: SessionDep) -> Response:
    """Every client: add one, change or delete it (erased clients are listed, not editable)."""
    principal = dispatcher_principal(request, session)
    if isinstance(principal, Response):
        return principal
    return _clients_page(request, session, principal)


@router.post("/dispatcher/clients", response_model=None)
def save_client(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    lon: Annotated[str, Form()] = "",
    lat: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "de",
    notes: Annotated[str, Form()] = "",
    preferred_van_id: Annotated[str, Form()] = "",
    existing: Annotated[str, Form()] = "",
) -> Response:
    """Add a client (``existing`` empty) or change one: every field as the form shows it."""
    form = ClientForm(
        existing, client_id, name, phone, address, lon, lat, language, notes, preferred_van_id
    )

    def action(principal: Principal) -> str:
        if existing:
            resources.update_client(request, existing, form.patch(), session, settings, principal)
            return existing
        return resources.create_client(request, form.create(), session, settings, principal).id

    refused = _clients_refused(request, session, draft=form)
    return submit(request, session, action, _saved("/dispatcher/clients", "client"), refused)


@router.post("/dispatcher/clients/{client_id}/delete", response_model=None)
def remove_client(request: Request, session: SessionDep, client_id: str) -> Response:
    """Delete a client without visits (the API refuses one with visits: 409 and why)."""

    def action(principal: Principal) -> None:
        resources.delete_client(client_id, session, principal)

    target = _back("/dispatcher/clients", deleted=client_id)
    return submit(request, session, action, target, _clients_refused(request, session))


# --------------------------------------------------------------------------- visits


@router.get("/dispatcher/visits", response_class=HTMLResponse, response_model=None)
def visits_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    week: Annotated[str | None, Query(pattern=WEEK)] = None,
) -> Response:
    """The visits of a week (with a window in it, or none), or all: add, change, delete."""
    principal = dispatcher_principal(request, session)
    if isinstance(principal, Response):
        return principal
    return _visits_page(request, session, principal, week, settings.timezone)


@router.post("/dispatcher/visits", response_model=None)
def save_visit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client_id: Annotated[str, Form()] = "",
    duration_minutes: Annotated[str, Form()] = "",
    window_day: Annotated[list[str] | None, Form()] = None,
    window_start: Annotated[list[str] | None, Form()] = None,
    window_end: Annotated[list[str] | None, Form()] = None,
    window_end_day: Annotated[list[str] | None, Form()] = None,
    skills: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "1",
    preferred_van_id: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "open",
    pinned_van_id: Annotated[str, Form()] = "",
    pinned_date: Annotated[str, Form()] = "",
    visit_id: Annotated[str, Form()] = "",
    existing: Annotated[str, Form()] = "",
    week: Annotated[str, Form(pattern=f"{WEEK}|^$")] = "",
) -> Response:
    """Add a visit (``existing`` empty) or change one: client, duration, time windows (day,
    local times, end day when not the same), skills, priority, preferred van, status and pin."""
    tz = ZoneInfo(settings.timezone)
    form = VisitForm.sent(
        window_day,
        window_start,
        window_end,
        window_end_day,
        existing=existing,
        visit_id=visit_id,
        client_id=client_id,
        duration_minutes=duration_minutes,
        skills=skills,
        priority=priority,
        preferred_van_id=preferred_van_id,
        status=status,
        pinned_van_id=pinned_van_id,
        pinned_date=pinned_date,
    )

    def action(principal: Principal) -> str:
        if existing:
            resources.update_visit(existing, form.patch(tz), session, settings, principal)
            return existing
        return resources.create_visit(form.create(tz), session, settings, principal).id

    refused = _visits_refused(request, session, week or None, settings.timezone, draft=form)
    return submit(request, session, action, _saved("/dispatcher/visits", "visit", week), refused)


@router.post("/dispatcher/visits/{visit_id}/delete", response_model=None)
def remove_visit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visit_id: str,
    week: Annotated[str, Form(pattern=f"{WEEK}|^$")] = "",
) -> Response:
    def action(principal: Principal) -> None:
        resources.delete_visit(visit_id, session, principal)

    target = _back("/dispatcher/visits", week, deleted=visit_id)
    refused = _visits_refused(request, session, week or None, settings.timezone)
    return submit(request, session, action, target, refused)


def _saved(path: str, anchor: str, week: str | None = None) -> Callable[[str], str]:
    """The list after saving: the saved id named and scrolled to."""

    def target(ident: str) -> str:
        return _back(path, week, saved=ident) + f"#{anchor}-{quote(ident)}"

    return target
