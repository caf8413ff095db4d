"""Server-rendered pages (Jinja2, a little vanilla JS): login, the crew day, the dispatcher week.

Browsers cannot send ``Authorization`` headers on navigation, so the pages authenticate with the
same API token kept in an HttpOnly cookie (set by ``POST /login``). The dispatcher page's buttons
call the JSON API with the token, which the login page also keeps in ``sessionStorage``.

Pages live at the root (``/login``, ``/crew/...``, ``/dispatcher``), not under ``/v1``: call
:func:`install` from ``create_app``. They use the API's dependencies (:data:`api.deps.SessionDep`,
:data:`api.deps.SettingsDep`; their settings are ``settings.pages``), so tests override them the
same way, through ``app.dependency_overrides``.

The pages speak German unless asked otherwise (:mod:`api.i18n`: ``?lang=``, a cookie, the
browser's ``Accept-Language``); Python strings shown to people go through ``lang.gettext``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, Role, TokenCache, authenticate_into
from api.crew import CREW_DOWNLOADS, day_items
from api.db.core_models import VisitRow
from api.deps import SessionDep, SettingsDep
from api.fleet import fleet
from api.i18n import COOKIE as LANG_COOKIE
from api.i18n import LANGUAGES, QUERY, Language, choose_language, environment, js_messages
from api.imports import import_file, template_csv, template_xlsx
from api.offer_form import OffersForm, offer_clients, week_days
from api.overview import (
    Timeline,
    UnassignedRow,
    WeekOverview,
    timeline,
    unassigned_rows,
    week_overview,
)
from api.plan_diff import version_diff
from api.reasons import reason_message
from api.renders import (
    Lookup,
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
from api.schemas.planning import PlanOut, SolveRequest
from api.settings import PageSettings, Settings
from api.storage import plans as store
from api.tenants import network_of, planner_of
from api.views import (
    PSEUDONYM,
    StoredVersion,
    VisitLabels,
    area_places,
    version_view,
    visit_labels,
)
from geo.render import RenderOptions, Selection, UnknownFormatError, known_formats, renderer
from geo.render.base import MapAssets, format_duration
from geo.view import ClientDisplay, PlanView, VanDayView

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent.parent
STATIC = HERE / "static"
COOKIE = "vanplan_token"
LEAFLET = MapAssets.linked(
    "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css"
)

router = APIRouter(include_in_schema=False)
RenderCacheDep = Annotated[RenderCache, Depends(get_cache)]


def install(app: FastAPI) -> None:
    """Add the pages to an app (no ``/v1`` prefix)."""
    app.include_router(router)


# --------------------------------------------------------------------------- auth


def _principal(request: Request, session: Session) -> Principal | None:
    """The caller of the token cookie; binds ``session`` to its tenant."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    return authenticate_into(session, secret, request.app.state.tokens)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


@cache
def _templates(lang: str) -> Jinja2Templates:
    return Jinja2Templates(env=environment(lang))


def _language(request: Request) -> Language:
    """The language of the page asked for (query, cookie, Accept-Language; German by default)."""
    code = choose_language(
        request.query_params.get(QUERY),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    settings = getattr(request.app.state, "settings", None)
    return Language(code, getattr(settings, "timezone", None) or "Europe/Berlin")


def _lang_links(request: Request) -> dict[str, str]:
    """The page itself in each language (the switcher's links)."""
    return {code: str(request.url.include_query_params(**{QUERY: code})) for code in LANGUAGES}


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A template in the request's language; a ``?lang=`` choice is kept in a cookie."""
    lang = _language(request)
    context.setdefault("lang_links", _lang_links(request))
    resp = _templates(lang.code).TemplateResponse(request, name, context, status_code=status_code)
    _remember_language(request, resp)
    return resp


def _remember_language(request: Request, resp: Response) -> Response:
    """Keep a ``?lang=`` choice in a cookie."""
    lang = _language(request)
    if request.query_params.get(QUERY) == lang.code:
        resp.set_cookie(LANG_COOKIE, lang.code, max_age=365 * 24 * 3600, samesite="lax")
    return resp


def _error(request: Request, status_code: int, message: str) -> HTMLResponse:
    return _page(request, "error.html", status_code=status_code, message=message)


def _now(request: Request) -> datetime:
    """Now, in the pages' zone; tests may set ``app.state.clock`` (a callable returning an
    aware datetime)."""
    clock = getattr(request.app.state, "clock", None)
    lang = _language(request)
    return (clock() if clock is not None else datetime.now(lang.tz)).astimezone(lang.tz)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _page(request, "login.html", next=next, error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    principal = authenticate_into(session, token.strip())
    if principal is None or principal.role is Role.SYSTEM:
        _ = _language(request).gettext
        why = (
            _("unknown or revoked token") if principal is None else _("system tokens cannot log in")
        )
        return _page(request, "login.html", status_code=401, next=next, error=why)
    if next.startswith("/") and not next.startswith("//"):
        target = next
    elif principal.role is Role.CREW:
        target = f"/crew/{quote(principal.van_id or '')}"
    else:
        target = "/dispatcher"
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=settings.pages.secure_cookie,
        max_age=12 * 3600,
    )
    return resp


@router.post("/logout")
def logout() -> RedirectResponse:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("/", response_model=None)
def home(request: Request, session: SessionDep) -> Response:
    principal = _principal(request, session)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if principal.role is Role.CREW:
        return RedirectResponse(f"/crew/{quote(principal.van_id or '')}", status_code=303)
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


def _view(
    request: Request,
    session: Any,
    loaded: _Loaded,
    van_id: str | None = None,
    day: date | None = None,
) -> PlanView:
    """The view of the loaded version (:func:`api.views.version_view`), stops named and
    described for crews, days named and unassigned visits explained in the page's language,
    restricted to ``van_id``/``day`` when given."""
    lang = _language(request)
    version = StoredVersion(loaded.row.id, loaded.row.domain_plan, loaded.request, loaded.plan)
    h = loaded.request.horizon
    view = version_view(
        version,
        network=network_of(request.app.state, session),
        planner=planner_of(request.app.state, session),
        labels=visit_labels(
            session,
            loaded.request,
            lang.gettext("near %(place)s"),
            villages=area_places(planner_of(request.app.state, session)),
            pseudonym=lang.gettext(PSEUDONYM),
        ),
        day_names={
            d: lang.day_label(h.start_date + timedelta(days=d), short=True) for d in range(h.days)
        },
    )
    unassigned = tuple(
        replace(u, message=reason_message(u.reason, lang, u.message)) for u in view.unassigned
    )
    return replace(view, unassigned=unassigned).select(van_id, day)


def _options(request: Request, pages: PageSettings, **kwargs: Any) -> RenderOptions:
    return RenderOptions(
        tiles=pages.tiles(),
        assets=LEAFLET,
        client_display=pages.client_display,
        messages=_language(request).catalogue,
        **kwargs,
    )


@dataclass
class _CrewContext:
    principal: Principal
    loaded: _Loaded
    view: PlanView
    van_day: VanDayView


def _crew_context(
    request: Request, session: Session, van_id: str, day: date, plan: str | None
) -> _CrewContext | Response:
    principal = _principal(request, session)
    if principal is None:
        return _login_redirect(request)
    lang = _language(request)
    _ = lang.gettext
    if not principal.may_see_van(van_id):
        return _error(request, 403, _("This login may not see van %(van)s.") % {"van": van_id})
    loaded = _load(session, principal, plan_id=plan, week=_iso_week(day))
    if loaded is None:
        message = _("No published plan for the week of %(date)s.")
        return _error(request, 404, message % {"date": lang.format_date(day)})
    view = _view(request, session, loaded, van_id, day)
    try:
        van_day = view.van_day(van_id, day)
    except KeyError:
        message = _("Van %(van)s has no route on %(date)s.")
        return _error(request, 404, message % {"van": van_id, "date": lang.format_date(day)})
    return _CrewContext(principal, loaded, view, van_day)


def _route_days(row: Any, van_id: str) -> list[date]:
    """The days a stored version gives ``van_id`` at least one visit, in order."""
    days = {
        date.fromisoformat(r["date"])
        for r in (row.payload or {}).get("routes", [])
        if r.get("van_id") == van_id and any(s.get("type") == "visit" for s in r.get("steps", []))
    }
    return sorted(days)


def next_working_day(session: Session, van_id: str, today: date) -> date | None:
    """The van's next working day with a published plan: the first day from ``today`` on that
    the newest published version of its week gives the van a visit; when there is none, the
    last such day before ``today``; None when no published plan has the van."""
    weeks = store.published_weeks(session)
    this_week = _iso_week(today)
    for week in (w for w in weeks if w >= this_week):
        row = store.latest(session, week, published_only=True)
        found = [d for d in _route_days(row, van_id) if d >= today]
        if found:
            return found[0]
    for week in reversed([w for w in weeks if w <= this_week]):
        row = store.latest(session, week, published_only=True)
        found = [d for d in _route_days(row, van_id) if d < today]
        if found:
            return found[-1]
    return None


# --------------------------------------------------------------------------- crew


@router.get("/crew/{van_id}", response_model=None)
def crew_home(request: Request, session: SessionDep, van_id: str) -> Response:
    """The crew's start: the van's next working day that has a published plan."""
    principal = _principal(request, session)
    if principal is None:
        return _login_redirect(request)
    _ = _language(request).gettext
    if not principal.may_see_van(van_id):
        return _error(request, 403, _("This login may not see van %(van)s.") % {"van": van_id})
    day = next_working_day(session, van_id, _now(request).date())
    if day is None:
        return _error(request, 404, _("No published plan for van %(van)s yet.") % {"van": van_id})
    return RedirectResponse(f"/crew/{quote(van_id)}/{day.isoformat()}", status_code=303)


class _PageError(Exception):
    """A page that is not rendered (an error page, a redirect): answered as it is, not cached."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class _CrewHead:
    """What :func:`_crew_head` found: the caller, the version (``head``), the key of the output
    (``key``), the key the version was first asked with (``first``) and how it was named."""

    principal: Principal
    head: PlanHead
    key: RenderKey
    first: RenderKey
    lookup: Lookup


def _cached(
    request: Request,
    session: Session,
    cache: RenderCache,
    head: PlanHead,
    key: RenderKey,
    render: Callable[[], Response],
    found: _CrewHead | None = None,
) -> Response:
    """``render``'s page for ``key`` of version ``head``, through the render cache (published
    versions are rendered once; :mod:`api.renders`); error pages pass through uncached.
    ``found``: how a crew route found the version (remembered for the next reads)."""

    def rendered() -> Rendered:
        resp = render()
        if resp.status_code != 200:
            raise _PageError(resp)
        disposition = resp.headers.get("content-disposition")
        media_type = resp.headers.get("content-type") or "text/html; charset=utf-8"
        return Rendered(bytes(resp.body), media_type, disposition)

    try:
        resp = cache.respond(
            request,
            session,
            head,
            key,
            rendered,
            lookup=None if found is None else found.lookup,
            head_key=None if found is None else found.first,
        )
    except _PageError as exc:
        return exc.response
    return _remember_language(request, resp)


def _crew_lookup(principal: Principal, day: date, plan: str | None) -> Lookup:
    """How a crew route names its version: ``plan``, else the newest of the day's week
    (published only for crews)."""
    if plan:
        return ("plan", plan)
    return ("week", _iso_week(day), "published" if principal.role is Role.CREW else "any")


def _crew_head(
    request: Request,
    session: Session,
    van_id: str,
    day: date,
    plan: str | None,
    key: Callable[[Principal, PlanHead | None], RenderKey],
) -> _CrewHead | Response:
    """The caller and the version a crew route shows (``plan``, else the newest of the day's
    week, published only for crews) with the etag of its render ``key(principal, head)``:
    one query when the key needs nothing of the version (``key`` is called with None first),
    else two. A login redirect or an error page otherwise."""
    principal = _principal(request, session)
    if principal is None:
        return _login_redirect(request)
    lang = _language(request)
    _ = lang.gettext
    if not principal.may_see_van(van_id):
        return _error(request, 403, _("This login may not see van %(van)s.") % {"van": van_id})
    crew = principal.role is Role.CREW
    first = key(principal, None)
    if plan:
        head = plan_head(session, first, plan_id=plan)
    else:
        head = plan_head(session, first, week=_iso_week(day), published_only=crew)
    if head is None or (crew and not head.published):
        message = _("No published plan for the week of %(date)s.")
        return _error(request, 404, message % {"date": lang.format_date(day)})
    final = key(principal, head)
    if final.key != first.key:
        again = plan_head(session, final, plan_id=head.id)
        if again is not None:  # the generation as first read: never newer than the version
            head = replace(again, generation=head.generation, read_at=head.read_at)
    return _CrewHead(principal, head, final, first, _crew_lookup(principal, day, plan))


async def _crew_fast_hit(
    request: Request,
    settings: Settings,
    cache: RenderCache,
    kind: RenderKind,
    van_id: str,
    day: date,
    plan: str | None,
    fmt: str = "html",
) -> Response | None:
    """A crew route's answer from memory (:meth:`api.renders.RenderCache.fast_hit`), when the
    process knows the cookie's token and served this output moments ago; else None."""
    secret = request.cookies.get(COOKIE)
    tokens: TokenCache = request.app.state.tokens
    principal = tokens.cached(secret) if secret else None
    if principal is None or not principal.may_see_van(van_id):
        return None
    key = _crew_key(request, None, settings, cache, kind, van_id, day, fmt)

    def final(head: PlanHead) -> RenderKey | None:
        try:
            return key(principal, head)
        except _NotRememberedError:
            return None

    lookup = _crew_lookup(principal, day, plan)
    db = request.app.state.db
    resp = await cache.hit(request, db, principal.tenant_id, lookup, key(principal, None), final)
    return None if resp is None else _remember_language(request, resp)


class _NotRememberedError(Exception):
    """A value the process has not loaded yet was needed without a session."""


def _stop_ends(
    session: Session | None, cache: RenderCache, plan_id: str
) -> dict[tuple[str, date], list[tuple[str, datetime]]]:
    """(van, date) -> the visits' ids and ends in order, from a published version's response
    (never changed: remembered by the process). Without ``session``: only when remembered
    (:class:`_NotRememberedError` otherwise)."""
    if session is None:
        known, value = cache.memo_peek(("ends", plan_id))
        if not known:
            raise _NotRememberedError(plan_id)
        remembered: dict[tuple[str, date], list[tuple[str, datetime]]] = value
        return remembered

    def load() -> dict[tuple[str, date], list[tuple[str, datetime]]]:
        row = store.get(session, plan_id)
        ends: dict[tuple[str, date], list[tuple[str, datetime]]] = {}
        for r in (row.payload if row is not None else {}).get("routes", []):
            ends[(r["van_id"], date.fromisoformat(r["date"]))] = [
                (st["visit_id"], datetime.fromisoformat(st["end"]))
                for st in r.get("steps", [])
                if st.get("type") == "visit" and st.get("visit_id")
            ]
        return ends

    found: dict[tuple[str, date], list[tuple[str, datetime]]] = cache.memo(("ends", plan_id), load)
    return found


def _next_stop(
    session: Session | None,
    cache: RenderCache,
    head: PlanHead,
    van_id: str,
    day: date,
    now: datetime,
) -> str:
    """The stop the crew page marks as next (as :func:`api.crew.day_items` finds it), for the
    key of a published page: the first visit of the van-day not over at ``now``, on that day;
    ``""`` for none."""
    stops = _stop_ends(session, cache, head.id).get((van_id, day), [])
    if not stops or now.astimezone(stops[0][1].tzinfo).date() != day:
        return ""
    return next((visit for visit, end in stops if end > now), "")


def _crew_key(
    request: Request,
    session: Session | None,
    settings: Settings,
    cache: RenderCache,
    kind: RenderKind,
    van_id: str,
    day: date,
    fmt: str = "html",
) -> Callable[[Principal, PlanHead | None], RenderKey]:
    """The key of a crew route's output: the page itself also depends on its URL (its links),
    the caller's role and van (the header) and the stop marked next (the time of day)."""
    context = render_context(request.app, settings)
    lang = _language(request).code

    def key(principal: Principal, head: PlanHead | None) -> RenderKey:
        extra: tuple[str, ...] = ()
        if kind is RenderKind.CREW_PAGE:
            upcoming = ""
            if head is not None and head.published:
                upcoming = _next_stop(session, cache, head, van_id, day, _now(request))
            who = f"{principal.role.value}:{principal.van_id or ''}"
            extra = (str(request.url), who, upcoming)
        return render_key(
            kind, fmt=fmt, context=context, van_id=van_id, day=day, lang=lang, extra=extra
        )

    return key


@router.get("/crew/{van_id}/{day}", response_class=HTMLResponse, response_model=None)
async def crew_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
    van_id: str,
    day: date,
    plan: str | None = None,
) -> Response:
    """The crew's day; published versions are rendered once per next stop (``ETag``,
    ``X-Render-Cache``)."""
    return await _crew_output(
        request,
        session,
        settings,
        cache,
        RenderKind.CREW_PAGE,
        (van_id, day, plan),
        lambda ctx: _crew_page(request, settings, ctx, plan),
    )


async def _crew_output(
    request: Request,
    session: Session,
    settings: Settings,
    cache: RenderCache,
    kind: RenderKind,
    route: tuple[str, date, str | None],
    render: Callable[[_CrewContext], Response],
    fmt: str = "html",
) -> Response:
    """A crew route's answer for ``route`` (van, day, the version the URL names or None): from
    memory when this process served it moments ago (:func:`_crew_fast_hit`); else, in a worker
    thread, the caller and the version checked (:func:`_crew_head`), then ``render`` of the
    van-day through the render cache (``ETag``, ``X-Render-Cache``); a login redirect or an
    error page otherwise."""
    van_id, day, plan = route
    hit = await _crew_fast_hit(request, settings, cache, kind, van_id, day, plan, fmt)
    if hit is not None:
        return hit

    def read() -> Response:
        key = _crew_key(request, session, settings, cache, kind, van_id, day, fmt=fmt)
        found = _crew_head(request, session, van_id, day, plan, key)
        if isinstance(found, Response):
            return found
        plan_id = found.head.id

        def rendered() -> Response:
            ctx = _crew_context(request, session, van_id, day, plan_id)
            return ctx if isinstance(ctx, Response) else render(ctx)

        return _cached(request, session, cache, found.head, found.key, rendered, found)

    return await run_in_threadpool(read)


def _crew_page(
    request: Request, settings: Settings, ctx: _CrewContext, plan: str | None
) -> Response:
    """The crew page of the van-day ``ctx``; ``plan``: the version the URL names (for its
    links)."""
    van_id, day = ctx.van_day.van_id, ctx.van_day.date
    lang = _language(request)
    display = settings.pages.client_display
    query = f"?plan={quote(plan)}" if plan else ""
    route = next(r for r in ctx.loaded.plan.routes if r.van_id == van_id and r.date == day)
    base = f"/crew/{quote(van_id)}/{day.isoformat()}"
    days = [
        {
            "label": lang.day_label(d, short=True),
            "url": f"/crew/{quote(van_id)}/{d.isoformat()}{query}",
            "current": d == day,
        }
        for d in _route_days(ctx.loaded.row, van_id)
    ]
    return _page(
        request,
        "crew.html",
        principal=ctx.principal,
        day=ctx.van_day,
        items=day_items(ctx.van_day, display, _now(request)),
        days=days,
        version=ctx.loaded.row.version,
        draft=ctx.loaded.row.status != "published",
        links={ext: f"{base}/download.{ext}{query}" for ext in CREW_DOWNLOADS},
        names=None,
        map_src=f"{base}/map{query}",
        drive=format_duration(route.drive_seconds),
        km=f"{route.distance_m / 1000:.1f}",
        approximate=ctx.loaded.plan.matrix.approximate,
    )


@router.get("/crew/{van_id}/{day}/map", response_class=HTMLResponse, response_model=None)
async def crew_map(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
    van_id: str,
    day: date,
    plan: str | None = None,
) -> Response:
    """The van-day map; published versions are rendered once (``ETag``, ``X-Render-Cache``)."""

    def render(ctx: _CrewContext) -> Response:
        options = _options(request, settings.pages)
        page = renderer("html").render(ctx.view, Selection(van_id, day), options)
        return HTMLResponse(page)

    route = (van_id, day, plan)
    return await _crew_output(request, session, settings, cache, RenderKind.CREW_MAP, route, render)


@router.get("/crew/{van_id}/{day}/download.{ext}", response_model=None)
async def crew_download(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cache: RenderCacheDep,
    van_id: str,
    day: date,
    ext: str,
    plan: str | None = None,
) -> Response:
    """The van-day in any registered format (the crew page links .ics, .gpx and .csv); published
    versions are rendered once (``ETag``, ``X-Render-Cache``)."""
    lang = _language(request)
    try:
        fmt = renderer(ext)
    except UnknownFormatError:
        message = lang.gettext("No download of type .%(ext)s: use %(known)s.")
        return _error(request, 404, message % {"ext": ext, "known": known_formats(".")})

    def render(ctx: _CrewContext) -> Response:
        options = _options(
            request,
            settings.pages,
            title=f"{ctx.van_day.van_name} {lang.format_date(day)}",
            # German Excel splits CSV cells at semicolons
            csv_delimiter=";" if lang.code == "de" else ",",
        )
        content = fmt.render(ctx.view, Selection(van_id, day), options)
        name = fmt.filename(ctx.van_day)
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(content, media_type=fmt.media_type, headers=headers)

    route = (van_id, day, plan)
    return await _crew_output(
        request, session, settings, cache, RenderKind.CREW_FILE, route, render, fmt=ext
    )


# --------------------------------------------------------------------------- dispatcher


@dataclass(frozen=True)
class _Overview:
    """The shown version's overview, timeline and unassigned list (:mod:`api.overview`)."""

    week: WeekOverview
    timeline: Timeline
    unassigned: list[UnassignedRow]
    clients: dict[str, str]  # visit id -> the client as the page shows it


def client_labels(
    view: PlanView,
    labels: VisitLabels,
    request: SolveRequest,
    display: ClientDisplay,
    pseudonym: str = PSEUDONYM,
) -> dict[str, str]:
    """Visit id -> its client as the pages show it (:meth:`geo.view.StopView.client_label`: the
    name only when ``display`` asks for it, else a pseudonym; empty for consultation hours)."""
    out: dict[str, str] = {}
    for v in request.visits:
        if v.kind == "consultation_hours":
            out[v.id] = ""
            continue
        info = labels.info.get(v.id)
        if display is ClientDisplay.NAME and info is not None and info.client:
            out[v.id] = info.client
        elif info is not None and info.pseudonym:
            out[v.id] = info.pseudonym
        else:
            out[v.id] = pseudonym % {"id": v.client_ref} if v.client_ref else ""
    for s in view.stops():
        out.setdefault(s.visit_id, s.client_label(display))
    return out


def _client_display(request: Request) -> ClientDisplay:
    """How the dispatcher page names clients: as configured for the pages."""
    settings = getattr(request.app.state, "settings", None)
    return settings.pages.client_display if settings is not None else ClientDisplay.PSEUDONYM


def _overview(request: Request, session: Session, loaded: _Loaded) -> _Overview:
    lang = _language(request)
    view = _view(request, session, loaded)
    pseudonym = lang.gettext(PSEUDONYM)
    labels = visit_labels(session, loaded.request, pseudonym=pseudonym)
    clients = client_labels(view, labels, loaded.request, _client_display(request), pseudonym)
    week = week_overview(view, loaded.request)
    rows = unassigned_rows(view, loaded.request, week, clients, lang)
    return _Overview(week, timeline(week), rows, clients)


def _current_week() -> str:
    return _iso_week(date.today())


@router.get("/dispatcher", response_class=HTMLResponse, response_model=None)
def dispatcher_page(
    request: Request,
    session: SessionDep,
    week: Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$")] = None,
    plan: str | None = None,
    booked: str | None = None,
) -> Response:
    """The week: overview, timeline, unassigned visits with fixes, slot offers, vans and shifts;
    ``booked``: the visit a booking just added (named and marked)."""
    principal = _principal(request, session)
    if principal is None:
        return _login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        return _error(request, 403, _language(request).gettext("The week view is for dispatchers."))
    offers = OffersForm(booked=booked) if booked else None
    return _dispatcher(request, session, principal, week or _current_week(), plan, offers=offers)


def _visit_pins(session: Any, loaded: _Loaded) -> dict[str, str]:
    """Stored visits of the shown plan -> their pin as ``"van|date"`` (``"|"`` parts may be empty,
    ``""``: not pinned). Consultation hours are not stored visits and have no entry."""
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
    session: Session,
    principal: Principal,
    week: str,
    plan: str | None,
    upload: dict[str, Any] | None = None,
    status_code: int = 200,
    fleet_errors: list[str] | None = None,
    fleet_copied: dict[str, Any] | None = None,
    offers: OffersForm | None = None,
) -> HTMLResponse:
    lang = _language(request)
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
    plan_changes = None
    change_reasons: dict[str, str] = {}
    if loaded is not None and loaded.row.status != store.PUBLISHED:
        plan_changes = version_diff(session, loaded.row)
        change_reasons = {
            c.visit_id: reason_message(c.reason, lang, c.message or "")
            for c in plan_changes.dropped
            if c.reason
        }
    return _page(
        request,
        "dispatcher.html",
        status_code=status_code,
        plan_changes=plan_changes,
        change_reasons=change_reasons,
        principal=principal,
        week=week,
        versions=versions,
        loaded=loaded,
        overview=_overview(request, session, loaded) if loaded else None,
        offers=offers,
        offer_clients=(
            offer_clients(session, _client_display(request), lang.gettext(PSEUDONYM))
            if loaded
            else []
        ),
        week_days=(
            week_days(loaded.request.horizon.start_date, loaded.request.horizon.days)
            if loaded
            else []
        ),
        js_messages=js_messages(lang.code),
        assigned=assigned,
        pins=pins,
        van_days=van_days,
        upload=upload,
        fleet=fleet(session, week, lang.timezone),
        fleet_errors=fleet_errors or [],
        fleet_copied=fleet_copied,
    )


@router.get("/dispatcher/template.{ext}", response_model=None)
def upload_template(request: Request, session: SessionDep, ext: str) -> Response:
    if _principal(request, session) is None:
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
    return _error(request, 404, _language(request).gettext("Templates exist as .csv and .xlsx."))


@router.post("/dispatcher/upload", response_class=HTMLResponse, response_model=None)
async def upload_appointments(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    week: Annotated[str, Form(pattern=r"^\d{4}-W\d{2}$")],
) -> Response:
    """Import appointments (:func:`api.imports.import_file`: the same row is the same visit, so a
    file may be uploaded again after fixing its rejected rows); the page shows what was added,
    changed, left unchanged and rejected. 422 when nothing could be stored."""
    principal = _principal(request, session)
    if principal is None:
        return _login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        return _error(request, 403, _language(request).gettext("Uploads are for dispatchers."))
    content = await file.read()
    summary = import_file(session, file.filename or "upload", content, settings.timezone)
    session.commit()
    upload = {
        "filename": file.filename,
        "added": len(summary.added),
        "changed": len(summary.changed),
        "unchanged": len(summary.unchanged),
        "errors": [e.text(_language(request)) for e in summary.rejected],
    }
    failed = bool(summary.rejected) and summary.stored == 0
    return _dispatcher(request, session, principal, week, None, upload, 422 if failed else 200)


@router.get("/dispatcher/map", response_class=HTMLResponse, response_model=None)
def dispatcher_map(
    request: Request, session: SessionDep, settings: SettingsDep, cache: RenderCacheDep, plan: str
) -> Response:
    """The week map; published versions are rendered once (``ETag``, ``X-Render-Cache``)."""
    principal = _principal(request, session)
    if principal is None:
        return _login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        return _error(request, 403, _language(request).gettext("The week map is for dispatchers."))
    key = render_key(
        RenderKind.DISPATCHER_MAP,
        fmt="html",
        context=render_context(request.app, settings),
        lang=_language(request).code,
    )
    head = plan_head(session, key, plan_id=plan)
    if head is None:
        message = _language(request).gettext("No plan %(plan)s.")
        return _error(request, 404, message % {"plan": plan})

    def render() -> Response:
        loaded = _load(session, principal, plan_id=head.id, week=None)
        if loaded is None:
            message = _language(request).gettext("No plan %(plan)s.")
            return _error(request, 404, message % {"plan": plan})
        view = _view(request, session, loaded)
        return HTMLResponse(renderer("html").render(view, None, _options(request, settings.pages)))

    return _cached(request, session, cache, head, key, render)
