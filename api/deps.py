"""Dependencies of the routes. Tests override them through ``app.dependency_overrides``.

- :func:`get_settings`, :func:`get_db`: the app's settings and database (set up by create_app);
- :func:`get_session`: one SQLAlchemy session per request (commit explicitly in the route), bound
  to the tenant of the caller's token (:mod:`api.db.tenancy`); without a bearer token (the pages)
  it is bound when the page has read its cookie (:func:`api.auth.authenticate_into`);
- :func:`get_principal`: the caller, from ``Authorization: Bearer <token>`` (401 otherwise);
- :func:`require_roles`: 403 unless the caller has one of the roles. Ready-made annotations:
  ``Dispatcher``, ``Reader`` (dispatcher or crew), ``SolveCaller`` (dispatcher or system).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import TOKEN_PREFIX, Principal, Role, TokenCache, authenticate, hash_secret
from api.db.database import Database, unbound_session
from api.errors import ForbiddenError, UnauthorizedError
from api.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API token (vanplan token create)")


async def get_settings(request: Request) -> Settings:
    # ``async``: attribute reads need no worker thread (sync dependencies each take one)
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    db: Database | None = getattr(request.app.state, "db", None)
    if db is None:
        raise RuntimeError("database not initialised: run the app inside its lifespan")
    return db


async def get_bearer_principal(
    request: Request,
    db: Annotated[Database, Depends(get_db)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller of a valid bearer token, else None (evaluated once per request). A token this
    process looked up moments ago comes from its :class:`api.auth.TokenCache` without a query
    or a worker thread; otherwise the lookup runs in a worker thread."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    secret = credentials.credentials
    cache: TokenCache = request.app.state.tokens
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    cached = cache.get(hash_secret(secret))
    if cached is not None:
        return cached

    def lookup() -> Principal | None:
        # A short session of its own, over every tenant (the token says which tenant is
        # calling): authentication must not share the route's transaction.
        with db.unscoped() as session:
            return authenticate(session, secret)

    return await run_in_threadpool(cache.authenticate, secret, lookup)


BearerDep = Annotated[Principal | None, Depends(get_bearer_principal)]


async def get_session(
    db: Annotated[Database, Depends(get_db)], caller: BearerDep
) -> AsyncIterator[Session]:
    """``async``: a session opens no connection until its first query, so a route that answers
    without the database (a cached read, :meth:`api.renders.RenderCache.fast_hit`) costs no
    worker thread; the rollback and close of a session that did talk to the database run in a
    worker thread (shielded: a cancelled request still returns its connection)."""
    session = unbound_session(db)
    if caller is not None:
        session.bind_tenant(caller.tenant_id)
    try:
        yield session
    except BaseException:
        await _off_loop(session, session.rollback)
        raise
    finally:
        await _off_loop(session, session.close)


async def _off_loop(session: Session, call: Callable[[], None]) -> None:
    with anyio.CancelScope(shield=True):
        if session.in_transaction():
            await run_in_threadpool(call)
        else:
            call()  # no connection held: nothing to say to the database


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_principal(
    caller: BearerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError()
    if caller is None:
        raise UnauthorizedError("the token is unknown or revoked")
    return caller


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """Dependency factory: the caller, if its role is one of ``roles``; else 403."""
    allowed = frozenset(roles)

    async def dependency(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ForbiddenError(f"role {principal.role.value!r} may not do this (needs: {names})")
        return principal

    return dependency


Dispatcher = Annotated[Principal, Depends(require_roles(Role.DISPATCHER))]
Reader = Annotated[Principal, Depends(require_roles(Role.DISPATCHER, Role.CREW))]
SolveCaller = Annotated[Principal, Depends(require_roles(Role.DISPATCHER, Role.SYSTEM))]


def ensure_van_visible(principal: Principal, van_id: str) -> None:
    """403 unless the caller may see ``van_id`` (dispatchers: any; crews: their own van)."""
    if not principal.may_see_van(van_id):
        raise ForbiddenError(
            f"this token may not see van {van_id!r}", [("path.van_id", "not this token's van")]
        )
