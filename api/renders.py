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
- **One query** per read (:func:`plan_head`): the plan's id, week, version and status, joined
  with the etag of the wanted render; the body comes from the LRU when its etag is the stored one,
  else from a second query; a plan that has no render yet is loaded in full and rendered.
- **Concurrent first readers**: in a process, one thread renders a key while the others wait
  for its result (:class:`RenderCache`); across processes the insert is an upsert that keeps
  the first body stored, which every process then serves.
- **Drafts** are never cached (``X-Render-Cache: miss``, ``Cache-Control: no-store``).
- **Invalidation**: a published plan changes only when a client is erased, and its outputs
  show client names, addresses and notes: every change of a client row deletes all stored
  renders in the same transaction (:func:`api.db.core_models` listens), and the LRU checks each
  entry against the table's etag before serving it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.db.base import utcnow
from api.db.planning_models import PlanRenderRow, PlanRow
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
    rendered yet)."""

    id: str
    week: str
    version: int
    status: str
    etag: str | None

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
    when asked) with the etag of its render ``key``; None when there is no such version."""
    query = select(
        PlanRow.id, PlanRow.week, PlanRow.version, PlanRow.status, PlanRenderRow.etag
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
    found = session.execute(query).first()
    if found is None:
        return None
    return PlanHead(found.id, found.week, found.version, found.status, found.etag)


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


class RenderCache:
    """The process's front of the ``plan_renders`` table: an LRU of bodies (bounded by count
    and bytes) and the renders in flight. One per app (``app.state.renders``)."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lru: OrderedDict[tuple[str, str], Stored] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], _Flight] = {}
        self._memo: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self.renders = 0
        """Renders made by this process (for tests and benchmarks)."""

    # ------------------------------------------------------------------ LRU

    def _get(self, ident: tuple[str, str], etag: str) -> Stored | None:
        with self._lock:
            found = self._lru.get(ident)
            if found is None or found.etag != etag:
                return None
            self._lru.move_to_end(ident)
            return found

    def _put(self, ident: tuple[str, str], stored: Stored) -> None:
        size = len(stored.rendered.body)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._lru.pop(ident, None)
            if old is not None:
                self._bytes -= len(old.rendered.body)
            self._lru[ident] = stored
            self._bytes += size
            while len(self._lru) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._lru.popitem(last=False)
                self._bytes -= len(dropped.rendered.body)

    def clear(self) -> None:
        """Forget the bodies and remembered values of this process (the table is the record)."""
        with self._lock:
            self._lru.clear()
            self._bytes = 0
            self._memo.clear()

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

    # ------------------------------------------------------------------ serving

    def respond(
        self,
        request: Request,
        session: Session,
        head: PlanHead,
        key: RenderKey,
        render: Callable[[], Rendered],
    ) -> Response:
        """The answer for render ``key`` of version ``head``: from the LRU or the table when it
        is there (``hit``), else rendered by ``render`` (``miss``; stored when the version is
        published). ``If-None-Match`` naming the etag gets 304. Errors ``render`` raises (a
        route that is not there) pass through and nothing is stored."""
        if not head.published:
            return _answer(request, render(), None, "miss", DRAFT_CACHE_CONTROL)
        ident = (head.id, key.key)
        stored: Stored | None = None
        if head.etag is not None:
            stored = self._get(ident, head.etag) or self._load(session, ident)
            if stored is not None:
                self._put(ident, stored)
        state = "hit"
        if stored is None:
            stored, state = self._fill(session, ident, key, render)
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
            return flight.wait(), "hit"
        try:
            stored = self._render_and_store(session, ident, key, render)
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
        self._put(ident, stored)
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
