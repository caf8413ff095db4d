"""Alembic migrations shipped with the package (run on startup by api.db.Database.migrate)."""
