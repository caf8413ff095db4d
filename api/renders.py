"""Render once, serve often: the read paths' outputs of published plans, cached.

A published plan version is never changed, so its itineraries, GeoJSON, maps and crew pages are
rendered once and the bytes kept in the ``plan_renders`` table (shared by every server process)
with an in-memory LRU of this process in front of it. Every answer carries an ``ETag``
(``If-None-Match`` gets 304), ``Cache-Control`` and ``X-Render-Cache: hit|miss``.

- **Keys** (:func:`render_key`, the one place they are built): the plan version id plus a
  digest of the kind, format, van, day, language, the render context of the app
  (:func:`render_context`: version, page settings, service area, road network loaded or not)
  and whatever else a caller says changes the bytes (``extra``: a crew page's next stop, the
  page's URL, the viewer's role). A tenant id goes there as one more part.
- **One query** per read not answered from memory (:func:`plan_head`): the plan's id, week,
  version and status, joined with the etag of the wanted render and the tenant's render
  generation; the body comes from the LRU when its etag is the stored one, else from a second
  query; a plan that has no render yet is loaded in full and rendered.
- **Concurrent first readers**: in a process, one thread renders a key while the others wait
  for its result (:class:`RenderCache`); across processes the insert is an upsert that keeps
  the first body stored, which every process then serves.
- **Drafts** are never cached (``X-Render-Cache: miss``, ``Cache-Control: no-store``).
- **Invalidation**: a published plan changes only when a client is erased, and its outputs
  show client names, addresses and notes: every change of a client row deletes all stored
  renders of its tenant in the same transaction (:mod:`api.db.planning_models` listens), and
  the LRU checks each entry against the table's etag before serving it.
- **Hits without the database** (:meth:`RenderCache.fast_hit`): every change of a tenant's
  plans or clients also raises the tenant's *render generation* (table ``render_generations``)
  in the same transaction, and :func:`plan_head` reads it with the head. A process keeps the
  heads and bodies it served tagged with the generation they were read under, and answers a
  repeated read from memory (on the event loop, no query, no worker thread) while that
  generation is the newest it has read and was read at most ``check_seconds``
  (``VANPLAN_RENDER_CHECK_SECONDS``, default 1 s) ago; otherwise the read takes the way above,
  which reads the generation again. So an erasure committed by another server process is
  served by no process for longer than ``check_seconds`` after its commit; the process that
  committed it learns the new generation at once (``after_commit``). 0 asks the database on
  every read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.db.base import utcnow
from api.db.database import Database
from api.db.planning_models import (
    PlanRenderRow,
    PlanRow,
    RenderGenerationRow,
    watch_generations,
)
from api.db.tenancy import TENANT_KEY
from api.settings import Settings
from api.version import VERSION

log = logging.getLogger(__name__)

PUBLISHED = "published"
HEADER = "X-Render-Cache"
CACHE_CONTROL = "private, no-cache"
"""Published renders: the browser keeps them but asks again (a 304 when unchanged), as an
erasure may change them."""
DRAFT_CACHE_CONTROL = "no-store"
KEY_VERSION = "1"
"""Part of every key: raise it when a render's bytes change for the same inputs."""


class RenderKind(StrEnum):
    """What a render is; with the format, van and day it names the output."""

    ITINERARY = "itinerary"
    GEOJSON = "geojson"
    MAP = "map"
    CREW_PAGE = "crew_page"
    CREW_MAP = "crew_map"
    CREW_FILE = "crew_file"
    DISPATCHER_MAP = "dispatcher_map"


@dataclass(frozen=True)
class RenderKey:
    """An output of a plan version: readable fields and ``key``, the digest of all its parts."""

    kind: RenderKind
    fmt: str
    van_id: str | None
    day: date | None
    lang: str
    key: str


def render_key(
    kind: RenderKind,
    *,
    fmt: str,
    context: str,
    van_id: str | None = None,
    day: date | None = None,
    lang: str = "-",
    extra: Sequence[str] = (),
) -> RenderKey:
    """The key of an output of any plan version (the version's id is the other half of the
    table's primary key). ``context``: :func:`render_context`; ``lang``: ``-`` for outputs
    without words in a language; ``extra``: anything else that changes the bytes."""
    parts = [
        KEY_VERSION,
        kind.value,
        fmt,
        van_id or "",
        day.isoformat() if day else "",
        lang,
        context,
        *extra,
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return RenderKey(kind, fmt, van_id, day, lang, digest)


def render_context(app: Any, settings: Settings) -> str:
    """What every render of this app depends on besides the plan, the request and the client
    rows: the app's version, the page settings (client display, tiles), the service area and
    whether the road network is loaded (legs follow roads only then). ``settings``: the route's
    (:data:`api.deps.SettingsDep`)."""
    parts = [
        VERSION,
        settings.pages.model_dump_json(),
        str(settings.geo.service_area or ""),
        settings.timezone,
        "roads" if getattr(app.state, "road_network", None) is not None else "straight",
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class PlanHead:
    """The light columns of a plan version and the etag of the wanted render (None: not
    rendered yet); the render generation of its tenant and when it was read (monotonic
    seconds)."""

    id: str
    week: str
    version: int
    status: str
    etag: str | None
    generation: int = 0
    read_at: float = 0.0

    @property
    def published(self) -> bool:
        return self.status == PUBLISHED


def plan_head(
    session: Session,
    key: RenderKey,
    *,
    plan_id: str | None = None,
    week: str | None = None,
    published_only: bool = False,
) -> PlanHead | None:
    """One query: the version ``plan_id`` (else the newest of ``week``, published ones only
    when asked) with the etag of its render ``key`` and its tenant's render generation; None
    when there is no such version."""
    generation = (
        select(RenderGenerationRow.generation)
        .where(RenderGenerationRow.tenant_id == PlanRow.tenant_id)
        .scalar_subquery()
    )
    query = select(
        PlanRow.id,
        PlanRow.week,
        PlanRow.version,
        PlanRow.status,
        PlanRenderRow.etag,
        func.coalesce(generation, 0).label("generation"),
    ).outerjoin(
        PlanRenderRow, and_(PlanRenderRow.plan_id == PlanRow.id, PlanRenderRow.key == key.key)
    )
    if plan_id is not None:
        query = query.where(PlanRow.id == plan_id)
    elif week is not None:
        query = query.where(PlanRow.week == week)
        if published_only:
            query = query.where(PlanRow.status == PUBLISHED)
        query = query.order_by(PlanRow.version.desc()).limit(1)
    else:
        raise ValueError("plan_head needs plan_id or week")
    read_at = time.monotonic()
    found = session.execute(query).first()
    if found is None:
        return None
    return PlanHead(
        found.id, found.week, found.version, found.status, found.etag, found.generation, read_at
    )


def read_generation(db: Database, tenant_id: str) -> int:
    """The render generation of ``tenant_id`` as stored (0 before its first change)."""
    query = select(RenderGenerationRow.generation).where(RenderGenerationRow.tenant_id == tenant_id)
    with db.engine.connect() as connection:
        return int(connection.execute(query).scalar() or 0)


@dataclass(frozen=True)
class Rendered:
    """An output's bytes as answered."""

    body: bytes
    content_type: str
    disposition: str | None = None


@dataclass(frozen=True)
class Stored:
    """A render as stored: its bytes and their etag."""

    rendered: Rendered
    etag: str


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, ``*`` matches)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class _Flight:
    """A render in progress: the threads that want the same one wait for its result."""

    def __init__(self) -> None:
        self.waiters = 0
        self._done = threading.Event()
        self._result: Stored | None = None
        self._error: BaseException | None = None

    def finish(self, result: Stored) -> None:
        self._result = result
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> Stored:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


Lookup = tuple[str, ...]
"""How a route names the version it reads (part of the remembered head's key):
``("plan", plan_id)`` or ``("week", iso_week, "published" | "any")``."""


class RenderCache:
    """The process's front of the ``plan_renders`` table: an LRU of bodies (bounded by count
    and bytes), the heads of published versions routes resolved, the newest render generation
    read per tenant and the renders in flight. One per app (``app.state.renders``).
    ``check_seconds``: how long a generation read from the database lets this process answer
    hits from memory (:meth:`fast_hit`; 0: never)."""

    def __init__(
        self,
        max_entries: int = 4096,
        max_bytes: int = 128 * 1024 * 1024,
        check_seconds: float = 1.0,
    ) -> None:
        if check_seconds < 0:
            raise ValueError(f"check_seconds must be at least 0, got {check_seconds}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.check_seconds = check_seconds
        self._lru: OrderedDict[tuple[str, str], tuple[Stored, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], _Flight] = {}
        self._memo: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._heads: OrderedDict[tuple[str, Lookup, str], PlanHead] = OrderedDict()
        self._generations: dict[str, tuple[int, float]] = {}
        self._refreshing: dict[str, asyncio.Future[None]] = {}
        self.renders = 0
        """Renders made by this process (for tests and benchmarks)."""
        self.fast_hits = 0
        """Hits answered from memory by :meth:`fast_hit` (for tests and benchmarks)."""
        watch_generations(self)

    # ------------------------------------------------------------------ LRU

    def _get(self, ident: tuple[str, str], etag: str) -> Stored | None:
        with self._lock:
            found = self._lru.get(ident)
            if found is None or found[0].etag != etag:
                return None
            self._lru.move_to_end(ident)
            return found[0]

    def _put(self, ident: tuple[str, str], stored: Stored, generation: int) -> None:
        size = len(stored.rendered.body)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._lru.pop(ident, None)
            if old is not None:
                self._bytes -= len(old[0].rendered.body)
            self._lru[ident] = (stored, generation)
            self._bytes += size
            while len(self._lru) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._lru.popitem(last=False)
                self._bytes -= len(dropped[0].rendered.body)

    def clear(self) -> None:
        """Forget the bodies, heads, generations and remembered values of this process (the
        table is the record)."""
        with self._lock:
            self._lru.clear()
            self._bytes = 0
            self._memo.clear()
            self._heads.clear()
            self._generations.clear()

    def memo(self, ident: tuple[str, ...], load: Callable[[], Any]) -> Any:
        """A value that never changes for ``ident`` (say, facts of a published version),
        loaded once by this process; the oldest are forgotten past :attr:`max_entries`."""
        with self._lock:
            if ident in self._memo:
                self._memo.move_to_end(ident)
                return self._memo[ident]
        value = load()
        with self._lock:
            self._memo[ident] = value
            while len(self._memo) > self.max_entries:
                self._memo.popitem(last=False)
        return value

    def memo_peek(self, ident: tuple[str, ...]) -> tuple[bool, Any]:
        """``(True, value)`` when :meth:`memo` holds ``ident``, else ``(False, None)``."""
        with self._lock:
            if ident in self._memo:
                return True, self._memo[ident]
        return False, None

    # ------------------------------------------------------------------ generations

    def saw_generation(self, tenant_id: str, generation: int) -> None:
        """A transaction of this process committed ``generation`` for ``tenant_id`` (from
        :mod:`api.db.planning_models`): what was kept under older ones is not served again."""
        self._saw(tenant_id, generation, time.monotonic())

    def _saw(self, tenant_id: str, generation: int, read_at: float) -> None:
        with self._lock:
            known = self._generations.get(tenant_id)
            if (
                known is None
                or generation > known[0]
                or (generation == known[0] and read_at > known[1])
            ):
                self._generations[tenant_id] = (generation, read_at)

    def expire(self) -> None:
        """As if :attr:`check_seconds` had passed since every generation was read: the next
        hit of each tenant reads its generation again."""
        with self._lock:
            self._generations = {t: (g, -math.inf) for t, (g, _) in self._generations.items()}

    def _remember(self, tenant_id: str, lookup: Lookup, key: RenderKey, head: PlanHead) -> None:
        with self._lock:
            ident = (tenant_id, lookup, key.key)
            self._heads[ident] = head
            self._heads.move_to_end(ident)
            while len(self._heads) > self.max_entries:
                self._heads.popitem(last=False)

    # ------------------------------------------------------------------ serving

    def fast_hit(
        self,
        request: Request,
        tenant_id: str,
        lookup: Lookup,
        key: RenderKey,
        final: Callable[[PlanHead], RenderKey | None] | None = None,
    ) -> Response | None:
        """The answer of a published render this process served before, from memory (no
        query; for the event loop), while the generation it was served under is the newest
        this process knows of ``tenant_id`` and was read at most :attr:`check_seconds` ago;
        else None (take :meth:`respond`). ``lookup`` and ``key``: as given to :meth:`respond`
        (``head_key``); ``final``: the key of the output once the version is known, when it
        depends on the version (None: not known without the database)."""
        if self.check_seconds <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            known = self._generations.get(tenant_id)
            if known is None or now - known[1] > self.check_seconds:
                return None
            head = self._heads.get((tenant_id, lookup, key.key))
        if head is None or head.generation != known[0]:
            return None
        wanted = key if final is None else final(head)
        if wanted is None:
            return None
        ident = (head.id, wanted.key)
        with self._lock:
            entry = self._lru.get(ident)
            if entry is None or entry[1] != known[0]:
                return None
            self._lru.move_to_end(ident)
            self.fast_hits += 1
        stored = entry[0]
        return _answer(request, stored.rendered, stored.etag, "hit", CACHE_CONTROL)

    async def hit(
        self,
        request: Request,
        db: Database,
        tenant_id: str,
        lookup: Lookup,
        key: RenderKey,
        final: Callable[[PlanHead], RenderKey | None] | None = None,
    ) -> Response | None:
        """:meth:`fast_hit`; when only the age of the tenant's generation stood in the way,
        the generation is read again (one small query in a worker thread, one at a time per
        tenant: the other requests wait for it) and the hit tried once more."""
        found = self.fast_hit(request, tenant_id, lookup, key, final)
        if found is not None or self.check_seconds <= 0:
            return found
        with self._lock:
            known = self._generations.get(tenant_id)
        if known is None or time.monotonic() - known[1] <= self.check_seconds:
            return None  # not served here before, or not for want of a fresh generation
        await self._refresh(db, tenant_id)
        return self.fast_hit(request, tenant_id, lookup, key, final)

    async def _refresh(self, db: Database, tenant_id: str) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            pending = self._refreshing.get(tenant_id)
            mine = pending is None or pending.get_loop() is not loop
            if mine:
                pending = self._refreshing[tenant_id] = loop.create_future()
        assert pending is not None
        if not mine:
            await asyncio.shield(pending)
            return
        try:
            read_at = time.monotonic()
            generation = await run_in_threadpool(read_generation, db, tenant_id)
            self._saw(tenant_id, generation, read_at)
        finally:
            with self._lock:
                if self._refreshing.get(tenant_id) is pending:
                    del self._refreshing[tenant_id]
            if not pending.done():
                pending.set_result(None)

    def respond(
        self,
        request: Request,
        session: Session,
        head: PlanHead,
        key: RenderKey,
        render: Callable[[], Rendered],
        *,
        lookup: Lookup | None = None,
        head_key: RenderKey | None = None,
    ) -> Response:
        """The answer for render ``key`` of version ``head``: from the LRU or the table when it
        is there (``hit``), else rendered by ``render`` (``miss``; stored when the version is
        published). ``If-None-Match`` naming the etag gets 304. Errors ``render`` raises (a
        route that is not there) pass through and nothing is stored. ``lookup``: how the route
        found ``head`` (with ``head_key``, the key it asked :func:`plan_head` for, default
        ``key``): a published head is remembered for :meth:`fast_hit`."""
        if not head.published:
            return _answer(request, render(), None, "miss", DRAFT_CACHE_CONTROL)
        ident = (head.id, key.key)
        stored: Stored | None = None
        if head.etag is not None:
            stored = self._get(ident, head.etag) or self._load(session, ident)
            if stored is not None:
                self._put(ident, stored, head.generation)
        state = "hit"
        if stored is None:
            stored, state = self._fill(session, ident, key, render, head.generation)
        tenant_id = session.info.get(TENANT_KEY)
        if tenant_id is not None:
            if lookup is not None:
                self._remember(str(tenant_id), lookup, head_key or key, head)
            self._saw(str(tenant_id), head.generation, head.read_at)
        return _answer(request, stored.rendered, stored.etag, state, CACHE_CONTROL)

    def _load(self, session: Session, ident: tuple[str, str]) -> Stored | None:
        row = session.get(PlanRenderRow, ident)
        if row is None:  # deleted since the head was read
            return None
        return Stored(Rendered(row.body, row.content_type, row.disposition), row.etag)

    def _fill(
        self,
        session: Session,
        ident: tuple[str, str],
        key: RenderKey,
        render: Callable[[], Rendered],
        generation: int,
    ) -> tuple[Stored, str]:
        """Render and store ``ident`` once however many threads ask at the same time; the
        others wait for the first one's result (and count as hits)."""
        with self._lock:
            flight = self._in_flight.get(ident)
            if flight is not None:
                flight.waiters += 1
            else:
                mine = self._in_flight[ident] = _Flight()
        if flight is not None:
            # Wait without holding a connection: the render needs one to store its result,
            # and a pool full of waiters would leave it none.
            session.rollback()
            return flight.wait(), "hit"
        try:
            stored = self._render_and_store(session, ident, key, render, generation)
        except BaseException as exc:
            mine.fail(exc)
            raise
        else:
            mine.finish(stored)
        finally:
            with self._lock:
                self._in_flight.pop(ident, None)
        return stored, "miss"

    def waiting(self, plan_id: str, key: RenderKey) -> int:
        """How many threads wait for the render of ``key`` in flight (0: none in flight)."""
        with self._lock:
            flight = self._in_flight.get((plan_id, key.key))
            return flight.waiters if flight is not None else 0

    def _render_and_store(
        self,
        session: Session,
        ident: tuple[str, str],
        key: RenderKey,
        render: Callable[[], Rendered],
        generation: int,
    ) -> Stored:
        rendered = render()
        self.renders += 1
        stored = Stored(rendered, etag_of(rendered.body))
        plan_id, digest = ident
        values = {
            "plan_id": plan_id,
            "key": digest,
            "kind": key.kind.value,
            "van_id": key.van_id,
            "day": key.day,
            "lang": key.lang,
            "content_type": rendered.content_type,
            "disposition": rendered.disposition,
            "body": rendered.body,
            "etag": stored.etag,
            "created_at": utcnow(),
        }
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(PlanRenderRow)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(PlanRenderRow.etag)
        )
        session.rollback()  # a fresh transaction: see what other processes stored meanwhile
        inserted = session.execute(statement).first()
        session.commit()
        if inserted is None:
            # Another process stored this render first: answer its bytes, as it does.
            first = self._load(session, ident)
            if first is not None:
                stored = first
        self._put(ident, stored, generation)
        return stored


def _answer(
    request: Request, rendered: Rendered, etag: str | None, state: str, cache_control: str
) -> Response:
    headers = {HEADER: state, "Cache-Control": cache_control}
    if etag is not None:
        headers["ETag"] = etag
    if rendered.disposition:
        headers["Content-Disposition"] = rendered.disposition
    if etag is not None and etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=rendered.content_type, headers=headers)


async def get_cache(request: Request) -> RenderCache:
    """The app's render cache (created by ``create_app``)."""
    cache: RenderCache = request.app.state.renders
    return cache
