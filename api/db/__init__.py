"""Storage: SQLAlchemy models, engine/session factory and Alembic migrations."""

from api.db.base import Base, UtcDateTime, make_engine, utcnow
from api.db.database import Database

__all__ = ["Base", "Database", "UtcDateTime", "make_engine", "utcnow"]
