"""The database of an installation: engine, tenant sessions and migrations (:class:`Database`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.db.base import DEFAULT_TENANT, alembic_config, head_revisions, make_engine
from api.db.tenancy import TENANT_KEY, TenantSession

logger = logging.getLogger("api.db.base")


class Database:
    """Engine + session factories for one database URL.

    :attr:`sessions` and :meth:`session` hand out tenant sessions (:mod:`api.db.tenancy`) bound
    to the tenant ``default`` unless told otherwise (``db.sessions(info={"tenant_id": t})``,
    ``db.session(t)``), so single-tenant use needs no tenant anywhere. Work across tenants (token
    lookup, the job runners' bookkeeping, tenant administration) asks for it by name:
    :meth:`unscoped`.
    """

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
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


def unbound_session(db: Database) -> TenantSession:
    """A tenant session of ``db`` bound to no tenant yet (see :meth:`TenantSession.bind_tenant`)."""
    session = db.sessions(info={TENANT_KEY: None})
    assert isinstance(session, TenantSession)
    return session
