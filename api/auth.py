"""API tokens and roles.

A token is ``vp_`` + 43 random URL-safe characters; only its SHA-256 is stored. Roles:

- ``dispatcher``: read and write everything;
- ``crew``: read-only, bound to one van: sees only that van, its shifts, itineraries and maps;
- ``system``: other systems: solve and jobs only.

Every token belongs to one tenant (job centre); its principal carries the tenant, and the route's
session is bound to it (:mod:`api.db.tenancy`), so a token never reaches another tenant's data.

:func:`create_token` / :func:`revoke_token` / :func:`list_tokens` open the database themselves (for
the CLI); :func:`issue_token` / :func:`authenticate` work inside a given session. Authentication
records when a token was last used (``last_used_at``, at most once a :data:`LAST_USED_RESOLUTION`
per token, so most requests only read).

A server process keeps the principals of tokens it looked up for a few seconds
(:class:`TokenCache`, ``VANPLAN_TOKEN_CACHE_SECONDS``): a warm read then needs no token query.
:func:`revoke` forgets the token in every cache of its process at once; a revocation by another
process (``vanplan token revoke``) is honoured once the entry expires.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict

from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapper, Session, object_session

from api.db.base import DEFAULT_TENANT, utcnow
from api.db.core_models import TenantRow, TokenRow, VanRow
from api.db.database import Database
from api.db.tenancy import TenantMismatchError, TenantSession
from api.settings import Settings
from optimizer.errors import Collector

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "vp_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written when it is older than this (cheap: one write a minute per token)."""


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    CREW = "crew"
    SYSTEM = "system"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, role, tenant and (crew only) van."""

    token_id: str
    role: Role
    van_id: str | None = None
    name: str = ""
    tenant_id: str = DEFAULT_TENANT

    def may_see_van(self, van_id: str) -> bool:
        return self.role is Role.DISPATCHER or (self.role is Role.CREW and self.van_id == van_id)


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token. ``secret`` is shown once and never stored."""

    id: str
    secret: str
    role: Role
    van_id: str | None
    name: str
    tenant_id: str = DEFAULT_TENANT

    def __iter__(self) -> Iterator[str]:
        """Unpacks as ``token_id, secret = create_token(...)``."""
        return iter((self.id, self.secret))


class TokenInfo(TypedDict):
    """A stored token as listed (JSON-friendly; never the secret)."""

    id: str
    tenant_id: str
    name: str
    role: str
    van_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenCache:
    """The principals of recently authenticated tokens of this process, keyed by the secret's
    hash, each trusted for ``ttl`` seconds (0: nothing is kept). Only valid tokens are kept; the
    principal keeps its tenant, so a cached token serves exactly the tenant it was issued for.
    One per app (``app.state.tokens``); :func:`revoke` forgets a token in all of them."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 4096) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be at least 0, got {ttl}")
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()
        _CACHES.add(self)

    def get(self, digest: str) -> Principal | None:
        """The principal of the token with hash ``digest`` while it is fresh, else None."""
        with self._lock:
            found = self._entries.get(digest)
            if found is None:
                return None
            principal, expires = found
            if time.monotonic() >= expires:
                del self._entries[digest]
                return None
            return principal

    def cached(self, secret: str) -> Principal | None:
        """The fresh principal of token ``secret`` if this cache holds it (no lookup)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        return self.get(hash_secret(secret))

    def put(self, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[digest] = (principal, time.monotonic() + self.ttl)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, token_id: str) -> None:
        """Drop the token ``token_id`` (it was revoked)."""
        self._drop(lambda p: p.token_id == token_id)

    def forget_van(self, tenant_id: str, van_id: str) -> None:
        """Drop the crew tokens of a deleted van (the database deletes their rows)."""
        self._drop(lambda p: p.tenant_id == tenant_id and p.van_id == van_id)

    def _drop(self, which: Callable[[Principal], bool]) -> None:
        with self._lock:
            for digest in [d for d, (p, _) in self._entries.items() if which(p)]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def authenticate(self, secret: str, lookup: Callable[[], Principal | None]) -> Principal | None:
        """The cached principal of ``secret``, else ``lookup()`` (kept when not None)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        principal = self.get(digest)
        if principal is None:
            principal = lookup()
            if principal is not None:
                self.put(digest, principal)
        return principal


_CACHES: weakref.WeakSet[TokenCache] = weakref.WeakSet()
"""The token caches of this process (weak: an app's cache goes with its app), so that a
revocation in this process reaches every one of them."""


def issue_token(
    session: Session,
    role: Role | str,
    *,
    name: str = "",
    van_id: str | None = None,
    tenant_id: str | None = None,
) -> IssuedToken:
    """Create a token in ``session`` (caller commits). Crew tokens need an existing ``van_id``
    of the token's tenant. ``tenant_id``: the tenant; default the session's (a tenant session)
    or ``default``."""
    if tenant_id is None:
        bound = session.tenant_id if isinstance(session, TenantSession) else None
        tenant_id = bound or DEFAULT_TENANT
    c = Collector()
    if session.get(TenantRow, tenant_id) is None:
        c.add("tenant", f"unknown tenant {tenant_id!r} (vanplan tenant create)")
    try:
        role = Role(role)
    except ValueError:
        c.add("role", f"must be one of {[r.value for r in Role]}, got {role!r}")
        c.raise_if_any()
    assert isinstance(role, Role)
    if role is Role.CREW:
        if c.check(van_id is not None, "van_id", "a crew token must be bound to a van"):
            van = session.get(VanRow, {"tenant_id": tenant_id, "id": van_id})
            c.check(van is not None, "van_id", f"unknown van {van_id!r}")
    else:
        c.check(van_id is None, "van_id", f"only crew tokens are bound to a van, not {role}")
    c.check(len(name) <= 200, "name", "must be at most 200 characters")
    c.raise_if_any()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        id="tok_" + secrets.token_hex(6),
        tenant_id=tenant_id,
        name=name,
        role=role.value,
        van_id=van_id,
        secret_hash=hash_secret(secret),
    )
    session.add(row)
    session.flush()
    logger.info("token %s created (role %s, tenant %s)", row.id, role, tenant_id)
    return IssuedToken(row.id, secret, role, van_id, name, tenant_id)


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a valid, unrevoked token, else None.

    Records the use in ``last_used_at`` when the stored one is older than
    :data:`LAST_USED_RESOLUTION` (``now``: the time of the use, default the clock) and then
    commits ``session``: pass a session of its own, as the routes and pages do. The lookup is by
    the secret's hash over every tenant, so ``session`` is a plain one (``Database.unscoped``);
    :func:`authenticate_into` serves a tenant session."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    row = session.scalars(select(TokenRow).where(TokenRow.secret_hash == digest)).first()
    # The lookup is by hash; compare again in constant time so a match is never decided by a
    # short-circuiting string comparison.
    if row is None or not hmac.compare_digest(row.secret_hash, digest) or row.revoked_at:
        return None
    principal = Principal(
        token_id=row.id,
        role=Role(row.role),
        van_id=row.van_id,
        name=row.name,
        tenant_id=row.tenant_id,
    )
    _record_use(session, row, now or utcnow())
    return principal


def authenticate_into(
    session: Session, secret: str, cache: TokenCache | None = None
) -> Principal | None:
    """:func:`authenticate` for a request's session: the token is looked up in a plain session
    of its own (unless ``cache`` knows it), and a tenant session is then bound to the token's
    tenant. None (as for an unknown token) when ``session`` already serves another tenant."""

    def lookup() -> Principal | None:
        with Session(bind=session.get_bind()) as plain:
            return authenticate(plain, secret)

    principal = lookup() if cache is None else cache.authenticate(secret, lookup)
    if principal is None or not isinstance(session, TenantSession):
        return principal
    try:
        session.bind_tenant(principal.tenant_id)
    except TenantMismatchError:
        logger.info("token %s refused: not of this session's tenant", principal.token_id)
        return None
    return principal


def _record_use(session: Session, row: TokenRow, now: datetime) -> None:
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_RESOLUTION:
        return
    token_id = row.id
    row.last_used_at = now
    try:
        session.commit()
    except OperationalError:  # e.g. SQLite busy: the record is a nicety, the request goes on
        session.rollback()
        logger.info("could not record the use of token %s", token_id, exc_info=True)


def revoke(session: Session, token_id: str) -> bool:
    """Revoke a token in ``session``; False if it does not exist or was already revoked. The
    token caches of this process forget it now and again when ``session`` commits (so a lookup
    in between, which still saw it valid, is not kept)."""
    row = session.get(TokenRow, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    _forget_everywhere(session, lambda cache: cache.forget(token_id))
    logger.info("token %s revoked", token_id)
    return True


def _forget_everywhere(session: Session | None, forget: Callable[[TokenCache], None]) -> None:
    """``forget`` in every token cache of this process, now and again when ``session`` commits
    (a lookup in between still sees the old row and may keep it)."""

    def run(_session: object = None) -> None:
        for cache in list(_CACHES):
            forget(cache)

    run()
    if session is not None:
        event.listen(session, "after_commit", run, once=True)


@event.listens_for(VanRow, "after_delete")
def _van_deleted(_mapper: Mapper[VanRow], _connection: Connection, row: VanRow) -> None:
    """The database deletes the crew tokens of a deleted van: forget them in the caches too."""
    tenant_id, van_id = row.tenant_id, row.id
    _forget_everywhere(object_session(row), lambda cache: cache.forget_van(tenant_id, van_id))


def create_token(
    role: Role | str,
    *,
    name: str = "",
    van_id: str | None = None,
    tenant_id: str = DEFAULT_TENANT,
    settings: Settings,
) -> IssuedToken:
    """Create a token of ``tenant_id`` in the configured database (migrating it first). For
    ``vanplan token``."""
    db = _open(settings)
    try:
        with db.session(tenant_id) as session:
            return issue_token(session, role, name=name, van_id=van_id, tenant_id=tenant_id)
    finally:
        db.dispose()


def revoke_token(token_id: str, *, settings: Settings) -> bool:
    """Revoke a token by id (of any tenant); False if unknown or already revoked."""
    db = _open(settings)
    try:
        with db.unscoped() as session:
            return revoke(session, token_id)
    finally:
        db.dispose()


def list_tokens(*, settings: Settings, tenant_id: str | None = None) -> list[TokenInfo]:
    """The tokens of ``tenant_id`` (None: of every tenant), oldest first."""
    db = _open(settings)
    try:
        with db.unscoped() as session:
            query = select(TokenRow).order_by(TokenRow.created_at)
            if tenant_id is not None:
                query = query.where(TokenRow.tenant_id == tenant_id)
            rows = session.scalars(query).all()
            return [
                TokenInfo(
                    id=r.id,
                    tenant_id=r.tenant_id,
                    name=r.name,
                    role=r.role,
                    van_id=r.van_id,
                    created_at=r.created_at,
                    last_used_at=r.last_used_at,
                    revoked_at=r.revoked_at,
                )
                for r in rows
            ]
    finally:
        db.dispose()


def _open(settings: Settings) -> Database:
    db = Database(settings.database_url)
    db.migrate()
    return db
