"""Service settings, read from ``VANPLAN_*`` environment variables (pydantic-settings).

Defaults work offline: an embedded SQLite database in the user's data directory, no CORS origins,
no road network file (the planning side then falls back to approximate travel times).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "vanplan"


def default_database_url() -> str:
    """SQLite file in the user's data directory (created on first start, not here)."""
    path = Path(platformdirs.user_data_dir(APP_NAME)) / "vanplan.db"
    return f"sqlite:///{path}"


class Settings(BaseSettings):
    """Everything the service reads from its environment. Field ``x`` is ``VANPLAN_X``."""

    model_config = SettingsConfigDict(env_prefix="VANPLAN_", extra="ignore", frozen=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host:port/db",
    )
    timezone: str = Field(default="Europe/Berlin", description="Zone of all times the API returns")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Browser origins allowed by CORS (empty: none)"
    )
    max_body_bytes: int = Field(
        default=2_000_000, ge=1_024, description="Requests with a larger body get 413"
    )
    osm_file: Path | None = Field(
        default=None, description="OSM extract (.osm.pbf) for road travel times; None: approximate"
    )
    network_cache_dir: Path | None = Field(
        default=None, description="Cache directory for built road networks (None: user cache dir)"
    )
    sync_solve_max_visits: int = Field(
        default=80, ge=1, description="Largest problem POST /v1/solve answers synchronously"
    )
    sync_solve_time_limit: float = Field(
        default=10.0, gt=0, description="Time limit in seconds of a synchronous solve"
    )
    job_workers: int = Field(
        default=2, ge=1, le=64, description="Solve jobs running at the same time"
    )
    solver_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Search processes per solve (a portfolio of differently seeded searches, "
        "the best plan wins); job_workers x solver_workers should not exceed the cores",
    )
    job_time_limit: float = Field(
        default=120.0, gt=0, description="Default time limit of a solve job"
    )
    week_time_limit: float = Field(
        default=30.0,
        gt=0,
        description="Default time limit of planning or re-planning a week as a job (the "
        "dispatcher page); capped by job_time_limit",
    )
    run_migrations: bool = Field(default=True, description="Upgrade the database schema on startup")

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # Accept "a,b" besides the JSON list pydantic-settings expects for list fields.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [v.strip() for v in text.split(",") if v.strip()]
        return value
