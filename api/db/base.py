"""Declarative base, engine and session factory, and the Alembic migration runner.

One :class:`Database` per app (or CLI command): it owns the engine and hands out sessions. The
schema is created and upgraded only through the migrations shipped in ``api/migrations``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
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


def purge_freed_content(engine: Engine) -> None:
    """After an erasure: move the WAL's pages into the SQLite file and truncate the WAL, so old
    versions of overwritten rows survive neither in the database file nor in its ``-wal``.
    (With ``secure_delete`` the new pages carry zeros where the old content was.) A no-op on
    other backends; best effort while other connections are reading."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    if busy is not None and busy[0]:
        logger.warning("WAL checkpoint after an erasure was blocked by a reader; it runs later")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    """Create the engine; for a SQLite file, create its directory first (first start).
    ``pool_size`` and ``max_overflow``: the PostgreSQL connection pool of this process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
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


class Database:
    """Engine + session factories for one database URL.

    :attr:`sessions` and :meth:`session` hand out tenant sessions (:mod:`api.db.tenancy`) bound
    to the tenant ``default`` unless told otherwise (``db.sessions(info={"tenant_id": t})``,
    ``db.session(t)``), so single-tenant use needs no tenant anywhere. Work across tenants (token
    lookup, the job runners' bookkeeping, tenant administration) asks for it by name:
    :meth:`unscoped`.
    """

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        from api.db.tenancy import TENANT_KEY, TenantSession  # tenancy imports this module

        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessions = sessionmaker(
            self.engine,
            class_=TenantSession,
            expire_on_commit=False,
            info={TENANT_KEY: DEFAULT_TENANT},
        )
        self._unscoped = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (idempotent)."""
        config = alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        logger.info("database schema at %s (%s)", sorted(head_revisions()), self.backend)

    def current_revisions(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())

    def ping(self) -> bool:
        """True when the database answers and its schema is at the newest revision."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return self.current_revisions() == head_revisions()
        except Exception:  # any driver error means "not ready"
            logger.warning("database not ready", exc_info=True)
            return False

    @contextmanager
    def session(self, tenant_id: str = DEFAULT_TENANT) -> Iterator[Session]:
        """A session of ``tenant_id``'s data that commits on success and rolls back on error."""
        with self.sessions(info={"tenant_id": tenant_id}) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def unscoped(self) -> Iterator[Session]:
        """A plain session over every tenant's rows (commits on success). Only for work that is
        across tenants by nature; everything done for a caller uses :meth:`session`."""
        with self._unscoped() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
