"""Storage: SQLAlchemy models, engine/session factory and Alembic migrations."""

from api.db.base import Base, Database, UtcDateTime, make_engine, utcnow

__all__ = ["Base", "Database", "UtcDateTime", "make_engine", "utcnow"]
