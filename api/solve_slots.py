"""The cap on synchronous solves running at the same time in one deployment.

A synchronous solve (``POST /v1/solve``, ``POST /v1/weeks/{iso_week}/plan`` and ``/replan``)
holds its caller's connection and starts solver processes of its own; twenty at once once took
3 GB in 42 processes. Past ``VANPLAN_MAX_CONCURRENT_SOLVES`` a request is refused at once with 429
``too_many_solves``, a ``Retry-After`` header and the job endpoint that queues the same work
instead.

The cap holds for every server process of the deployment together (``vanplan serve --workers
N`` and several hosts alike), so the slots live where the processes meet (:func:`solve_slots_for`):

- Celery jobs (``VANPLAN_JOB_RUNNER=celery``): Redis keys ``{redis_prefix}:solve_slots:{i}``,
  each an expiring lease (``LEASE_SECONDS``) that its holder renews while the solve runs; a
  killed process stops renewing and its slot is free again when the lease expires.
- else PostgreSQL: session advisory locks (one key per slot, in a class derived from
  ``redis_prefix``, the deployment's name, and the schema); the server releases them when
  the holder's connection ends.
- else the embedded SQLite file: one lock file per slot beside the database file, taken with
  ``flock`` (per host, as the file is); the kernel releases a killed holder's lock.
- an in-memory SQLite database (one process by nature): a semaphore of the process.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Protocol

import redis
from fastapi import Request
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from api.errors import TooManySolvesError
from api.settings import Settings

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0
"""How long a Redis slot lease lives without renewal (renewed every third of it)."""


class Lease(Protocol):
    """One slot taken; :meth:`release` gives it back (once)."""

    def release(self) -> None: ...


class SolveSlots:
    """``limit`` slots; :meth:`hold` takes one for the length of a solve or refuses (429).
    Subclasses say where the slots live (:meth:`try_acquire`); this one: in this process."""

    kind = "process"

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_concurrent_solves must be at least 1, got {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def try_acquire(self) -> Lease | None:
        """Take a slot if one is free (never waits); None when all are taken."""
        if not self._slots.acquire(blocking=False):
            return None
        return _Once(self._slots.release)

    def close(self) -> None:
        """Close connections the slots keep (at the app's shutdown; usable again after)."""

    @contextmanager
    def hold(self, job_endpoint: str, retry_after: float) -> Iterator[None]:
        """Hold a slot while the block runs; none free: :class:`TooManySolvesError` naming
        ``job_endpoint`` with ``Retry-After`` of ``retry_after`` seconds (rounded up)."""
        lease = self.try_acquire()
        if lease is None:
            seconds = max(1, math.ceil(retry_after))
            raise TooManySolvesError(
                f"{self.limit} synchronous solve{'s are' if self.limit != 1 else ' is'} already "
                f"running, the most at once; submit it to {job_endpoint} instead (a job: "
                f"progress, stop, no limit on waiting), or retry in {seconds} s",
                [("request", f"at most {self.limit} synchronous solves at once")],
                headers={"Retry-After": str(seconds)},
            )
        try:
            yield
        finally:
            lease.release()


class _Once:
    """A lease whose release runs ``release`` the first time only."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()


class FileSolveSlots(SolveSlots):
    """Slots shared by the processes of one host: ``{base}.solve-slot-{i}.lock`` files, each
    held with an exclusive ``flock`` (per open file, so also between threads)."""

    kind = "file"

    def __init__(self, limit: int, base: Path) -> None:
        super().__init__(limit)
        self.paths = [base.with_name(f"{base.name}.solve-slot-{i}.lock") for i in range(limit)]

    def try_acquire(self) -> Lease | None:
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return _Once(partial(os.close, fd))  # closing the file drops its lock
        return None


class PostgresSolveSlots(SolveSlots):
    """Slots shared by every process on one PostgreSQL database: slot ``i`` is the session
    advisory lock ``(lock_class, i)``, held on a connection of its own for the solve."""

    kind = "postgresql"

    def __init__(self, limit: int, database_url: str, name: str) -> None:
        super().__init__(limit)
        self._engine = create_engine(database_url, poolclass=NullPool)
        self._name = name
        self._lock_class: int | None = None

    def lock_class(self, connection: Connection) -> int:
        """The advisory lock class of the slots: from the name and the connection's schema
        (two deployments, or two test schemas, in one database do not share slots)."""
        if self._lock_class is None:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
            digest = zlib.crc32(f"{self._name}:solve_slots:{schema}".encode())
            self._lock_class = digest - 2**32 if digest >= 2**31 else digest  # an int4
        return self._lock_class

    def try_acquire(self) -> Lease | None:
        connection = self._engine.connect()
        try:
            lock_class = self.lock_class(connection)
            for slot in range(self.limit):
                taken = connection.execute(
                    text("SELECT pg_try_advisory_lock(:c, :s)"), {"c": lock_class, "s": slot}
                ).scalar_one()
                connection.commit()  # no transaction stays open for the solve
                if taken:
                    return _Once(partial(self._unlock, connection, lock_class, slot))
        except BaseException:
            connection.close()
            raise
        connection.close()
        return None

    @staticmethod
    def _unlock(connection: Connection, lock_class: int, slot: int) -> None:
        try:
            connection.execute(
                text("SELECT pg_advisory_unlock(:c, :s)"), {"c": lock_class, "s": slot}
            )
            connection.commit()
        finally:
            connection.close()  # the lock ends with the session anyway

    def close(self) -> None:
        self._engine.dispose()


_RENEW_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_DELETE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisSolveSlots(SolveSlots):
    """Slots shared by every process on one Redis: slot ``i`` is the key
    ``{prefix}:solve_slots:{i}`` holding its holder's token with an expiry of
    ``lease_seconds``, renewed by a thread of the holder until it releases the slot."""

    kind = "redis"

    def __init__(
        self,
        limit: int,
        client: redis.Redis,
        prefix: str,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        super().__init__(limit)
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        self.redis = client
        self.keys = [f"{prefix}:solve_slots:{i}" for i in range(limit)]
        self.lease_ms = max(1, round(lease_seconds * 1000))

    def try_acquire(self) -> Lease | None:
        token = uuid.uuid4().hex
        for key in self.keys:
            if self.redis.set(key, token, nx=True, px=self.lease_ms):
                return _RedisLease(self.redis, key, token, self.lease_ms)
        return None

    def close(self) -> None:
        self.redis.close()


class _RedisLease:
    """A held Redis slot: a daemon thread renews its expiry until :meth:`release`."""

    def __init__(self, client: redis.Redis, key: str, token: str, lease_ms: int) -> None:
        self.redis = client
        self.key = key
        self.token = token
        self.lease_ms = lease_ms
        self._released = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"lease {key}", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._released.wait(self.lease_ms / 3000):
            try:
                ours = self.redis.eval(_RENEW_IF_OURS, 1, self.key, self.token, self.lease_ms)
            except redis.RedisError as exc:
                log.warning("solve slot %s not renewed: %s", self.key, exc)
                continue
            if not ours:
                log.warning("solve slot %s expired while its solve ran", self.key)
                return

    def release(self) -> None:
        if self._released.is_set():
            return
        self._released.set()
        self._renewer.join()
        self.redis.eval(_DELETE_IF_OURS, 1, self.key, self.token)


def solve_slots_for(settings: Settings) -> SolveSlots:
    """The slots of a deployment with these settings (see the module's description)."""
    limit = settings.max_concurrent_solves
    if settings.job_runner == "celery":
        client = redis.Redis.from_url(settings.redis_url)
        return RedisSolveSlots(limit, client, settings.redis_prefix)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresSolveSlots(limit, settings.database_url, settings.redis_prefix)
    if url.database and url.database != ":memory:":
        return FileSolveSlots(limit, Path(url.database))
    return SolveSlots(limit)


async def get_solve_slots(request: Request) -> SolveSlots:
    """The app's solve slots (created by ``create_app``)."""
    slots: SolveSlots = request.app.state.solve_slots
    return slots
