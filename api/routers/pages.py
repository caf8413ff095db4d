"""Server-rendered pages (Jinja2, a little vanilla JS): login, the crew day, the dispatcher week.

Browsers cannot send ``Authorization`` headers on navigation, so the pages authenticate with the
same API token kept in an HttpOnly cookie (set by ``POST /login``). The dispatcher page's buttons
call the JSON API with the token, which the login page also keeps in ``sessionStorage``.

Pages live at the root (``/login``, ``/crew/...``, ``/dispatcher``), not under ``/v1``: call
:func:`install` from ``create_app``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth import Principal, Role, authenticate
from api.crew import stop_items
from api.exports import (
    ClientDisplay,
    CrewDay,
    StopDetails,
    crew_day_csv,
    crew_day_from_geojson,
    crew_day_ics,
    export_filename,
)
from geo.gpx import van_day_gpx
from geo.maps import (
    OSM_ATTRIBUTION,
    MapAssets,
    TileSource,
    format_duration,
    to_html,
    van_day_map,
    week_map,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC = HERE / "static"
COOKIE = "vanplan_token"
LEAFLET = MapAssets.linked(
    "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css"
)

router = APIRouter(include_in_schema=False)


class PageSettings(BaseSettings):
    """Settings of the pages (``VANPLAN_PAGES_*``)."""

    model_config = SettingsConfigDict(env_prefix="VANPLAN_PAGES_", extra="ignore", frozen=True)

    client_display: ClientDisplay = Field(
        default=ClientDisplay.PSEUDONYM,
        description="What crews see for a client: name or pseudonym",
    )
    tiles_url: str | None = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="XYZ tile URL template; empty: no background tiles",
    )
    tiles_attribution: str = Field(default=OSM_ATTRIBUTION, description="Credit of the tiles")
    secure_cookie: bool = Field(default=False, description="Send the login cookie over HTTPS only")

    def tiles(self) -> TileSource:
        if not self.tiles_url:
            return TileSource.none()
        return TileSource.custom(self.tiles_url, self.tiles_attribution, name="Map")


def install(app: FastAPI, settings: PageSettings | None = None) -> None:
    """Add the pages to an app (no ``/v1`` prefix)."""
    app.state.page_settings = settings or PageSettings()
    app.include_router(router)


def _settings(request: Request) -> PageSettings:
    s: PageSettings | None = getattr(request.app.state, "page_settings", None)
    return s or PageSettings()


# --------------------------------------------------------------------------- auth


def _principal(request: Request) -> Principal | None:
    secret = request.cookies.get(COOKIE)
    db = getattr(request.app.state, "db", None)
    if not secret or db is None:
        return None
    with db.sessions() as session:
        return authenticate(session, secret)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def _error(request: Request, status_code: int, message: str) -> HTMLResponse:
    return _page(request, "error.html", status_code=status_code, message=message)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _page(request, "login.html", next=next, error=None)


@router.post("/login", response_model=None)
def login(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = ""
) -> Response:
    db = request.app.state.db
    with db.sessions() as session:
        principal = authenticate(session, token.strip())
    if principal is None or principal.role is Role.SYSTEM:
        why = "unknown or revoked token" if principal is None else "system tokens cannot log in"
        return _page(request, "login.html", status_code=401, next=next, error=why)
    if next.startswith("/") and not next.startswith("//"):
        target = next
    elif principal.role is Role.CREW:
        target = f"/crew/{quote(principal.van_id or '')}/{date.today().isoformat()}"
    else:
        target = "/dispatcher"
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=_settings(request).secure_cookie,
        max_age=12 * 3600,
    )
    return resp


@router.post("/logout")
def logout() -> RedirectResponse:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("/", response_model=None)
def home(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if principal.role is Role.CREW:
        return RedirectResponse(
            f"/crew/{quote(principal.van_id or '')}/{date.today().isoformat()}", status_code=303
        )
    return RedirectResponse("/dispatcher", status_code=303)


@router.get("/static/{path:path}", response_model=None)
def static(path: str) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_file() or not target.is_relative_to(STATIC):
        return Response(status_code=404)
    return FileResponse(target)


# --------------------------------------------------------------------------- data


@dataclass
class _Loaded:
    row: Any
    plan: Any  # PlanOut
    request: Any  # SolveRequest


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _load(
    session: Any, principal: Principal, *, plan_id: str | None, week: str | None
) -> _Loaded | None:
    """A stored plan version: by id, else the week's newest (published only for crews)."""
    from api.schemas.planning import PlanOut, SolveRequest
    from api.storage import plans as store

    if plan_id:
        row = store.get(session, plan_id)
    elif week:
        row = store.latest(session, week, published_only=principal.role is Role.CREW)
    else:
        return None
    if row is None or (principal.role is Role.CREW and row.status != store.PUBLISHED):
        return None
    return _Loaded(
        row, PlanOut.model_validate(row.payload), SolveRequest.model_validate(row.request)
    )


def _crew_day(
    request: Request, session: Any, loaded: _Loaded, van_id: str, day: date, van_name: str
) -> CrewDay:
    from api.db.core_models import ClientRow

    details: dict[str, StopDetails] = {}
    place_names = _place_names(loaded)
    for v in loaded.request.visits:
        found = session.get(ClientRow, v.client_ref) if v.client_ref else None
        client = found if found is not None and found.erased_at is None else None
        details[v.id] = StopDetails(
            client=client.name if client else None,
            pseudonym=f"Client {v.client_ref}" if v.client_ref else None,
            notes=(client.notes or "") if client else "",
            address=(client.address or "") if client else "",
            place=v.place.address or (client.address if client else None) or place_names.get(v.id),
        )
    collection = _collection(request, loaded, van_id, day)
    return crew_day_from_geojson(
        collection, van_id, day.isoformat(), van_name=van_name, details=details
    )


def _place_names(loaded: _Loaded) -> dict[str, str]:
    """visit id -> what crews read as the place: the address, else the nearest village."""
    import math

    from geo.places import places

    villages = places()
    names: dict[str, str] = {}
    for v in loaded.request.visits:
        if v.place.address:
            names[v.id] = v.place.address
        elif v.place.coordinates is not None and villages:
            lon, lat = v.place.coordinates
            k = math.cos(math.radians(lat))
            near = min(villages, key=lambda p: ((p.lon - lon) * k) ** 2 + (p.lat - lat) ** 2)
            names[v.id] = f"near {near.name}"
    return names


def _collection(
    request: Request, loaded: _Loaded, van_id: str | None = None, day: date | None = None
) -> dict[str, Any]:
    """The plan's GeoJSON for the maps and files (:func:`api.planning.stored_plan_geojson`): legs
    follow the roads when the server has its road network loaded and the plan was made on it.

    Falls back to straight legs from the stored response (logged) when the stored optimizer plan
    cannot be mapped back (e.g. versions stored without one)."""
    from api.planning import stored_plan_geojson
    from api.storage.plans import plan_from_json

    try:
        plan = plan_from_json(loaded.row.domain_plan)
        if len(plan.routes) != len(loaded.plan.routes):
            raise ValueError("stored optimizer plan does not match the stored response")
        planner = getattr(request.app.state, "planner", None)
        full = stored_plan_geojson(
            plan,
            loaded.request,
            loaded.plan.matrix,
            network=getattr(request.app.state, "road_network", None),
            resolve_address=getattr(planner, "resolve_address", None),
            base=getattr(planner, "base", None),
            van_id=van_id,
            day=day,
        )
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("plan %s: drawing straight legs (%s)", loaded.row.id, exc)
        return _straight_collection(loaded, van_id, day)
    place_names = _place_names(loaded)
    for f in full["features"]:
        props = f["properties"]
        if props.get("feature") == "stop":
            props["place"] = place_names.get(props.get("visit_id", ""), "")
    return full


def _straight_collection(
    loaded: _Loaded, van_id: str | None = None, day: date | None = None
) -> dict[str, Any]:
    """The plan's GeoJSON with straight legs between the steps' places, from the stored response
    alone."""
    kinds = {v.id: v.kind for v in loaded.request.visits}
    place_names = _place_names(loaded)
    features: list[dict[str, Any]] = []
    depots: dict[tuple[float, float], str] = {}

    def add(geometry: str, coordinates: Any, **properties: Any) -> None:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": geometry, "coordinates": coordinates},
                "properties": properties,
            }
        )

    for r in loaded.plan.routes:
        if (van_id is not None and r.van_id != van_id) or (day is not None and r.date != day):
            continue
        key = r.date.isoformat()
        located = [s for s in r.steps if s.location is not None]
        for a, b in pairwise(located):
            add(
                "LineString",
                [list(a.location), list(b.location)],
                feature="leg",
                van_id=r.van_id,
                day=key,
                travel_time=b.travel_seconds,
                distance=b.distance_m,
            )
        order = 0
        for s in r.steps:
            if s.location is None:
                continue
            if s.type.value == "visit":
                order += 1
                add(
                    "Point",
                    list(s.location),
                    feature="stop",
                    van_id=r.van_id,
                    day=key,
                    visit_id=s.visit_id,
                    order=order,
                    kind=kinds.get(s.visit_id or "", "appointment"),
                    arrival=s.arrival.isoformat(),
                    start=s.start.isoformat(),
                    end=s.end.isoformat(),
                    place=place_names.get(s.visit_id or "", ""),
                )
            elif s.type.value in ("start", "end"):
                depots.setdefault(tuple(s.location), f"depot-{len(depots)}")
    for coords, ident in depots.items():
        add("Point", list(coords), feature="depot", id=ident, name="Depot")
    if van_id is None and day is None:
        places = {v.id: v.place.coordinates for v in loaded.request.visits}
        for u in loaded.plan.unassigned:
            at = places.get(u.visit_id)
            if at is not None:
                add(
                    "Point",
                    list(at),
                    feature="unassigned",
                    visit_id=u.visit_id,
                    reason=u.reason,
                    message=u.message,
                )
    return {"type": "FeatureCollection", "features": features}


def _van_name(loaded: _Loaded, van_id: str) -> str:
    return next((v.name for v in loaded.request.vans if v.id == van_id and v.name), van_id)


def _crew_context(
    request: Request, van_id: str, day: date, plan: str | None
) -> tuple[Principal, _Loaded, CrewDay] | Response:
    principal = _principal(request)
    if principal is None:
        return _login_redirect(request)
    if not principal.may_see_van(van_id):
        return _error(request, 403, f"This login may not see van {van_id}.")
    with request.app.state.db.sessions() as session:
        loaded = _load(session, principal, plan_id=plan, week=_iso_week(day))
        if loaded is None:
            return _error(request, 404, f"No published plan for the week of {day.isoformat()}.")
        try:
            crew_day = _crew_day(request, session, loaded, van_id, day, _van_name(loaded, van_id))
        except KeyError:
            return _error(request, 404, f"Van {van_id} has no route on {day.isoformat()}.")
    return principal, loaded, crew_day


# --------------------------------------------------------------------------- crew


@router.get("/crew/{van_id}/{day}", response_class=HTMLResponse, response_model=None)
def crew_page(request: Request, van_id: str, day: date, plan: str | None = None) -> Response:
    ctx = _crew_context(request, van_id, day, plan)
    if isinstance(ctx, Response):
        return ctx
    principal, loaded, crew_day = ctx
    display = _settings(request).client_display
    query = f"?plan={quote(plan)}" if plan else ""
    route = next(r for r in loaded.plan.routes if r.van_id == van_id and r.date == day)
    base = f"/crew/{quote(van_id)}/{day.isoformat()}"
    return _page(
        request,
        "crew.html",
        principal=principal,
        day=crew_day,
        stops=stop_items(crew_day, display),
        version=loaded.row.version,
        draft=loaded.row.status != "published",
        links={ext: f"{base}/download.{ext}{query}" for ext in ("ics", "gpx", "csv")},
        names=None,
        map_src=f"{base}/map{query}",
        drive=format_duration(route.drive_seconds),
        km=f"{route.distance_m / 1000:.1f}",
        approximate=loaded.plan.matrix.approximate,
    )


@router.get("/crew/{van_id}/{day}/map", response_class=HTMLResponse, response_model=None)
def crew_map(request: Request, van_id: str, day: date, plan: str | None = None) -> Response:
    ctx = _crew_context(request, van_id, day, plan)
    if isinstance(ctx, Response):
        return ctx
    _, loaded, crew_day = ctx
    collection = _collection(request, loaded, van_id, day)
    m = van_day_map(
        collection,
        van_id,
        day.isoformat(),
        tiles=_settings(request).tiles(),
        assets=LEAFLET,
        van_name=crew_day.van_name,
    )
    return HTMLResponse(to_html(m))


@router.get("/crew/{van_id}/{day}/download.{ext}", response_model=None)
def crew_download(
    request: Request, van_id: str, day: date, ext: str, plan: str | None = None
) -> Response:
    if ext not in ("ics", "gpx", "csv"):
        return _error(request, 404, f"No download of type .{ext}: use .ics, .gpx or .csv.")
    ctx = _crew_context(request, van_id, day, plan)
    if isinstance(ctx, Response):
        return ctx
    _, loaded, crew_day = ctx
    display = _settings(request).client_display
    name = export_filename(crew_day, ext)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if ext == "ics":
        return Response(
            crew_day_ics(crew_day, display=display), media_type="text/calendar", headers=headers
        )
    if ext == "csv":
        return Response(
            crew_day_csv(crew_day, display=display),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )
    collection = _collection(request, loaded, van_id, day)
    gpx = van_day_gpx(
        collection, van_id, day.isoformat(), name=f"{crew_day.van_name} {day.isoformat()}"
    )
    return Response(gpx, media_type="application/gpx+xml", headers=headers)


# --------------------------------------------------------------------------- dispatcher


def _timeline(loaded: _Loaded) -> list[dict[str, Any]]:
    """Per van and day: the steps as blocks positioned on a 6:00-20:00 scale (percent)."""
    lo, hi = 6 * 60, 20 * 60
    kinds = {v.id: v.kind for v in loaded.request.visits}
    rows = []
    for r in sorted(loaded.plan.routes, key=lambda r: (r.van_id, r.date)):
        blocks = []
        for s in r.steps:
            if s.type.value not in ("visit", "break"):
                continue
            a = s.start.hour * 60 + s.start.minute
            b = s.end.hour * 60 + s.end.minute
            left = max(0.0, (a - lo) / (hi - lo) * 100)
            width = max(0.8, (min(b, hi) - max(a, lo)) / (hi - lo) * 100)
            kind = (
                "break" if s.type.value == "break" else kinds.get(s.visit_id or "", "appointment")
            )
            blocks.append(
                {
                    "left": f"{left:.2f}",
                    "width": f"{width:.2f}",
                    "kind": kind,
                    "label": s.visit_id or "break",
                    "title": f"{s.visit_id or 'break'} {s.start:%H:%M}–{s.end:%H:%M}",
                }
            )
        rows.append(
            {
                "van_id": r.van_id,
                "date": r.date,
                "blocks": blocks,
                "visits": sum(1 for s in r.steps if s.type.value == "visit"),
                "drive": format_duration(r.drive_seconds),
                "km": f"{r.distance_m / 1000:.1f}",
            }
        )
    return rows


def _current_week() -> str:
    return _iso_week(date.today())


@router.get("/dispatcher", response_class=HTMLResponse, response_model=None)
def dispatcher_page(
    request: Request,
    week: Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$")] = None,
    plan: str | None = None,
) -> Response:
    principal = _principal(request)
    if principal is None:
        return _login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        return _error(request, 403, "The week view is for dispatchers.")
    return _dispatcher(request, principal, week or _current_week(), plan)


def _visit_pins(session: Any, loaded: _Loaded) -> dict[str, str]:
    """Stored visits of the shown plan -> their pin as ``"van|date"`` (``"|"`` parts may be empty,
    ``""``: not pinned). Consultation hours are not stored visits and have no entry."""
    from sqlalchemy import select

    from api.db.core_models import VisitRow

    ids = [v.id for v in loaded.request.visits]
    rows = session.scalars(select(VisitRow).where(VisitRow.id.in_(ids))) if ids else []
    return {
        r.id: (
            f"{r.pinned_van_id or ''}|{r.pinned_date.isoformat() if r.pinned_date else ''}"
            if r.pinned_van_id or r.pinned_date
            else ""
        )
        for r in rows
    }


def _dispatcher(
    request: Request,
    principal: Principal,
    week: str,
    plan: str | None,
    upload: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    from api.storage import plans as store

    with request.app.state.db.sessions() as session:
        versions = store.versions(session, week)
        loaded = _load(session, principal, plan_id=plan, week=week)
        pins = _visit_pins(session, loaded) if loaded is not None else {}
    van_days = (
        sorted(
            {(s.van_id, s.start.date()) for s in loaded.request.shifts}, key=lambda x: (x[1], x[0])
        )
        if loaded is not None
        else []
    )
    assigned = []
    if loaded is not None:
        confirmed = set(loaded.row.confirmed or [])
        for r in sorted(loaded.plan.routes, key=lambda r: (r.date, r.van_id)):
            for s in r.steps:
                if s.type.value == "visit" and s.visit_id:
                    assigned.append(
                        {
                            "visit_id": s.visit_id,
                            "van_id": r.van_id,
                            "date": r.date,
                            "start": s.start,
                            "pinned": s.visit_id in confirmed,
                        }
                    )
    return _page(
        request,
        "dispatcher.html",
        status_code=status_code,
        principal=principal,
        week=week,
        versions=versions,
        loaded=loaded,
        timeline=_timeline(loaded) if loaded else [],
        assigned=assigned,
        pins=pins,
        van_days=van_days,
        hours=list(range(6, 21, 2)),
        upload=upload,
    )


@router.get("/dispatcher/template.{ext}", response_model=None)
def upload_template(request: Request, ext: str) -> Response:
    from api.imports import template_csv, template_xlsx

    if _principal(request) is None:
        return _login_redirect(request)
    if ext == "csv":
        return Response(
            template_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="appointments-template.csv"'},
        )
    if ext == "xlsx":
        return Response(
            template_xlsx(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="appointments-template.xlsx"'},
        )
    return _error(request, 404, "Templates exist as .csv and .xlsx.")


@router.post("/dispatcher/upload", response_class=HTMLResponse, response_model=None)
async def upload_appointments(
    request: Request,
    file: Annotated[UploadFile, File()],
    week: Annotated[str, Form(pattern=r"^\d{4}-W\d{2}$")],
) -> Response:
    """Import appointments; on any bad row nothing is stored and every problem is listed."""
    from api.imports import parse_upload, store_rows

    principal = _principal(request)
    if principal is None:
        return _login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        return _error(request, 403, "Uploads are for dispatchers.")
    content = await file.read()
    timezone = request.app.state.settings.timezone
    parsed = parse_upload(file.filename or "upload", content, timezone)
    errors = parsed.errors
    ids: list[str] = []
    if not errors:
        with request.app.state.db.sessions() as session:
            ids, errors = store_rows(session, parsed.appointments)
            if errors:
                session.rollback()
            else:
                session.commit()
    upload = {"filename": file.filename, "errors": [str(e) for e in errors], "imported": len(ids)}
    return _dispatcher(request, principal, week, None, upload, 422 if errors else 200)


@router.get("/dispatcher/map", response_class=HTMLResponse, response_model=None)
def dispatcher_map(request: Request, plan: str) -> Response:
    principal = _principal(request)
    if principal is None:
        return _login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        return _error(request, 403, "The week map is for dispatchers.")
    with request.app.state.db.sessions() as session:
        loaded = _load(session, principal, plan_id=plan, week=None)
    if loaded is None:
        return _error(request, 404, f"No plan {plan}.")
    names = {v.id: v.name or v.id for v in loaded.request.vans}
    day_names = {r.date.isoformat(): f"{r.date:%a %d.%m.}" for r in loaded.plan.routes}
    m = week_map(
        _collection(request, loaded),
        tiles=_settings(request).tiles(),
        assets=LEAFLET,
        van_names=names,
        day_names=day_names,
    )
    return HTMLResponse(to_html(m))
