"""Declarative base, engine and session factory, and the Alembic migration runner.

One :class:`Database` per app (or CLI command): it owns the engine and hands out sessions. The
schema is created and upgraded only through the migrations shipped in ``api/migrations``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Stable constraint names so Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every ORM model (core and planning)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC on every backend; read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL: readers do not block the writer (API requests while a job stores progress).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed on disk, so an erased client's name, address and
    # notes do not stay readable in free space of the file (see :func:`purge_freed_content`).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _write_lock_before_savepoint(connection: Connection, _name: str | None) -> None:
    """A savepoint outside a transaction opens one (SQLite), and it is opened to write: take the
    write lock first (``BEGIN IMMEDIATE``, which waits up to the busy timeout).

    Otherwise the savepoint opens a deferred transaction whose first SELECT fixes its snapshot;
    when another connection commits before the block's first INSERT, SQLite cannot upgrade the
    stale snapshot and fails at once with "database is locked" (no busy wait), e.g. a week
    planned in a request while a week job of the same tenant stores its version.
    """
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


ERASURE_CHECKPOINT_S = 120.0
"""Seconds the checkpoint after an erasure keeps trying while readers still use the write-ahead
log (each try waits up to the busy timeout): until it succeeds the erased content stays readable in
the ``-wal``, and no later checkpoint truncates it (SQLite's automatic ones are passive)."""


def purge_freed_content(engine: Engine, *, patience: float = ERASURE_CHECKPOINT_S) -> None:
    """After an erasure: move the WAL's pages into the SQLite file and truncate the WAL, so old
    versions of overwritten rows survive neither in the database file nor in its ``-wal``.
    (With ``secure_delete`` the new pages carry zeros where the old content was.) A no-op on
    other backends. A reader still using the WAL blocks the checkpoint: it is tried again until
    it succeeds or ``patience`` seconds have passed (then an error is logged)."""
    if engine.dialect.name != "sqlite":
        return
    deadline = time.monotonic() + patience
    with engine.connect() as connection:
        while True:
            busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
            if busy is None or not busy[0]:
                return
            if time.monotonic() >= deadline:
                logger.error(
                    "WAL checkpoint after an erasure blocked by readers for %g s: the erased "
                    "content stays in the write-ahead log until a later erasure",
                    patience,
                )
                return
            time.sleep(0.1)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    """Create the engine; for a SQLite file, create its directory first (first start).
    ``pool_size`` and ``max_overflow``: the PostgreSQL connection pool of this process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _write_lock_before_savepoint)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


DEFAULT_TENANT = "default"
"""The tenant of a single-tenant installation (and of every row from before revision 0005)."""
