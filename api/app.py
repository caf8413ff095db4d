"""The FastAPI application: :func:`create_app` assembles settings, database, routers, error
handlers, CORS and the request-size limit in one place.

Startup (lifespan): open the database, run the migrations (creating the embedded SQLite file on
first start), then call the ``startup(app)`` hook of every router module that defines one (the
planning side starts its job runner there); shutdown calls ``shutdown(app)`` hooks in reverse order
and disposes of the engine.

``app.state`` holds ``settings``, ``db``, ``redactor`` (see :mod:`api.logging`), ``ready_checks``
(name -> callable returning True when ready; hooks may add their own) and ``road_network`` (set by
whoever loads it; None until then).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api
from api.auth import TokenCache
from api.db.database import Database
from api.errors import ErrorBody, document_errors, install_handlers
from api.logging import Redactor
from api.renders import RenderCache
from api.routers import (
    client_pages,
    fleet_pages,
    jobs,
    offer_pages,
    offers,
    pages,
    plans,
    resources,
    solve,
)
from api.settings import Settings
from api.solve_slots import solve_slots_for
from api.version import VERSION
from geo.service_area import configured_area

logger = logging.getLogger(__name__)


def _router_modules() -> list[ModuleType]:
    """Every router module, in the order their routes are matched."""
    return [resources, solve, jobs, plans, offers]


class BodySizeLimit:
    """Answers 413 with the error body when a request body exceeds ``max_bytes`` (checked on
    Content-Length and, for chunked bodies, on the bytes actually received)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (a read): nothing to count
            return
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(scope, receive, send)
                return
        # Buffer the body (bounded by max_bytes) and replay it to the app.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = ErrorBody(
            code="payload_too_large",
            message=f"request body larger than {self.max_bytes} bytes",
        )
        response = JSONResponse(status_code=413, content=body.model_dump())
        await response(scope, receive, send)


class CorsMiddleware(CORSMiddleware):
    """CORS whose refused preflight answers with the error body (403, ``cors_refused``) instead of
    a plain-text 400; everything else as Starlette's."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        message = bytes(response.body).decode()  # "Disallowed CORS origin, method, ..."
        body = ErrorBody(code="cors_refused", message=message)
        headers = {k: v for k, v in response.headers.items() if k.startswith("access-control-")}
        return JSONResponse(status_code=403, content=body.model_dump(), headers=headers)


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    version: str = Field(examples=[VERSION])


class ReadyOut(BaseModel):
    status: str = Field(description="ready or not_ready", examples=["ready"])
    checks: dict[str, bool] = Field(examples=[{"database": True, "road_network": True}])


def _road_network_ready(app: FastAPI) -> Callable[[], bool]:
    def check() -> bool:
        settings: Settings = app.state.settings
        # Without an OSM file the service plans with approximate travel times: nothing to load.
        return settings.osm_file is None or app.state.road_network is not None

    return check


def create_app(settings: Settings | None = None, *, redactor: Redactor | None = None) -> FastAPI:
    """Build the application. The database is opened and migrated when the app starts."""
    settings = settings or Settings()
    modules = _router_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        if settings.run_migrations:
            db.migrate()
        app.state.db = db
        app.state.ready_checks["database"] = db.ping
        started: list[ModuleType] = []
        try:
            for module in modules:
                hook: Callable[[FastAPI], Any] | None = getattr(module, "startup", None)
                if hook is not None:
                    hook(app)
                    started.append(module)
            logger.info("vanplan api started (%s database)", db.backend)
            yield
        finally:
            for module in reversed(started):
                stop: Callable[[FastAPI], Any] | None = getattr(module, "shutdown", None)
                if stop is not None:
                    stop(app)
            db.dispose()
            app.state.db = None
            app.state.solve_slots.close()

    app = FastAPI(
        title="vanplan",
        version=VERSION,
        summary="Routes and schedules for the outreach vans of a job centre, service area "
        + configured_area(settings.geo.service_area).name,
        description=(api.__doc__ or "")
        + "\n\nEvery endpoint except /health and /ready needs `Authorization: Bearer <token>`. "
        "The token belongs to one tenant (job centre; `vanplan tenant create`) and the request "
        "sees only that tenant's data: another tenant's ids answer 404 like unknown ones.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = None
    app.state.redactor = redactor or Redactor()
    app.state.road_network = None
    app.state.renders = RenderCache(check_seconds=settings.render_check_seconds)
    app.state.tokens = TokenCache(settings.token_cache_seconds)
    app.state.solve_slots = solve_slots_for(settings)
    app.state.ready_checks = {"road_network": _road_network_ready(app)}

    install_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CorsMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.get("/health", tags=["service"], response_model=HealthOut)
    def health() -> HealthOut:
        """Liveness: the process answers. No token needed."""
        return HealthOut(status="ok", version=VERSION)

    @app.get(
        "/ready",
        tags=["service"],
        response_model=ReadyOut,
        responses={503: {"model": ReadyOut, "description": "Not ready yet"}},
    )
    def ready(request: Request) -> Any:
        """Readiness: database reachable and migrated, road network loaded. No token needed."""
        checks = {name: bool(check()) for name, check in request.app.state.ready_checks.items()}
        out = ReadyOut(status="ready" if all(checks.values()) else "not_ready", checks=checks)
        if out.status != "ready":
            return JSONResponse(status_code=503, content=out.model_dump())
        return out

    for module in modules:
        app.include_router(module.router, prefix="/v1")
    pages.install(app)  # browser pages at the root (/login, /crew/..., /dispatcher)
    app.include_router(fleet_pages.router)  # the dispatcher page's vans and shifts forms
    app.include_router(offer_pages.router)  # the dispatcher page's slot offers form
    app.include_router(client_pages.router)  # the dispatcher's clients and visits pages
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document lists every error an operation answers, with the error body."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
