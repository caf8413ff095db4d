"""The one settings object of vanplan, read from ``VANPLAN_*`` environment variables
(pydantic-settings) once, at the entry points (app factory, CLI, job worker), and passed down.

Defaults work offline: an embedded SQLite database in the user's data directory, no CORS origins,
no road network file (the planning side then falls back to approximate travel times).

Sections are plain pydantic models: :class:`geo.settings.GeoSettings` (``settings.geo``, the geo
layer never reads the environment itself) and :class:`PageSettings` (``settings.pages``). Their
fields keep the variable names they always had (:data:`SECTION_PREFIXES`): ``VANPLAN_CACHE_DIR``
is ``settings.geo.cache_dir``, ``VANPLAN_NETWORK__SPEEDS__VAN_MAX_SPEED_KMH`` is
``settings.geo.network.speeds.van_max_speed_kmh`` (``__`` goes one level down),
``VANPLAN_PAGES_TILES_URL`` is ``settings.pages.tiles_url``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from geo.render.base import OSM_ATTRIBUTION, OSM_TILES, TileSource
from geo.settings import GeoSettings
from geo.view import ClientDisplay

APP_NAME = "vanplan"
ENV_PREFIX = "VANPLAN_"

HEARTBEAT_TTL = 15.0
"""Seconds a running job's heartbeat lives without renewal (renewed every third of it)."""


def default_database_url() -> str:
    """SQLite file in the user's data directory (created on first start, not here)."""
    path = Path(platformdirs.user_data_dir(APP_NAME)) / "vanplan.db"
    return f"sqlite:///{path}"


class PageSettings(BaseModel):
    """The browser pages (:mod:`api.routers.pages`); variables ``VANPLAN_PAGES_*``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_display: ClientDisplay = Field(
        default=ClientDisplay.PSEUDONYM,
        description="What crews see for a client: name or pseudonym",
    )
    tiles_url: str | None = Field(
        default=OSM_TILES, description="XYZ tile URL template; empty: no background tiles"
    )
    tiles_attribution: str = Field(default=OSM_ATTRIBUTION, description="Credit of the tiles")
    secure_cookie: bool = Field(default=False, description="Send the login cookie over HTTPS only")

    def tiles(self) -> TileSource:
        if not self.tiles_url:
            return TileSource.none()
        return TileSource.custom(self.tiles_url, self.tiles_attribution, name="Map")


SECTION_PREFIXES: Mapping[str, str] = {"geo": "", "pages": "pages_"}
"""Section -> what its fields' variable names put after ``VANPLAN_`` (``geo``: nothing, so
``VANPLAN_OSM_FILE``-style names; ``pages``: ``PAGES_``)."""


class Settings(BaseSettings):
    """Everything vanplan reads from its environment. Field ``x`` is ``VANPLAN_X``; the fields of
    the sections ``geo`` and ``pages`` are named as :data:`SECTION_PREFIXES` says."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

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
        default=None,
        description="OSM extract (.osm.pbf) for road travel times and offline address lookup; "
        "None: approximate travel times, no address lookup",
    )
    sync_solve_max_visits: int = Field(
        default=80, ge=1, description="Largest problem POST /v1/solve answers synchronously"
    )
    sync_solve_time_limit: float = Field(
        default=10.0, gt=0, description="Time limit in seconds of a synchronous solve"
    )
    max_concurrent_solves: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Synchronous solves (POST /v1/solve, the week plan and re-plan) running at "
        "the same time in the whole deployment (every server process on the same Redis, "
        "PostgreSQL database or SQLite file); past it they get 429 too_many_solves",
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a server process trusts a token it has looked up before it looks "
        "again (0: every request looks up); a revocation by another process (the CLI) takes "
        "effect within this time",
    )
    render_check_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long a server process answers repeated reads of published outputs "
        "from memory before it reads its tenant's render generation again (0: every read asks "
        "the database); a change of a client or plan committed by another server process (an "
        "erasure) is served by no process for longer than this after its commit",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Connections a server process keeps open to PostgreSQL (SQLAlchemy pool_size)",
    )
    db_max_overflow: int = Field(
        default=10,
        ge=0,
        le=200,
        description="Connections a server process may open beyond db_pool_size at busy times",
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
    job_runner: Literal["in_process", "celery"] = Field(
        default="in_process",
        description="in_process (threads of the API process), or celery: Celery with the Redis "
        "broker at redis_url and separate `vanplan worker` processes; `redis` is read as celery",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis: the Celery broker of the jobs"
    )
    redis_prefix: str = Field(
        default="vanplan",
        min_length=1,
        description="Prefix of vanplan's Redis keys and of the Celery queue (one per deployment); "
        "also names the deployment's solve slots (api.solve_slots)",
    )
    heartbeat_ttl: float = Field(
        default=HEARTBEAT_TTL,
        gt=0.5,
        le=600,
        description="Seconds a running Celery job's heartbeat lives; the API queues a job "
        "without one again",
    )
    visibility_timeout: float = Field(
        default=3600.0,
        ge=10,
        description="Seconds after which the Redis broker hands an unacknowledged job to another "
        "worker (when no API is running to notice the lost worker earlier); must exceed "
        "job_time_limit",
    )
    geo: GeoSettings = Field(
        default_factory=lambda: GeoSettings(),
        description="Road networks, downloads, speeds, approximate travel times",
    )
    pages: PageSettings = Field(
        default_factory=lambda: PageSettings(), description="The browser pages"
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("job_runner", mode="before")
    @classmethod
    def _former_runner_name(cls, value: object) -> object:
        # "redis" named the hand-written Redis queue that Celery replaced.
        return "celery" if value == "redis" else value

    @model_validator(mode="after")
    def _visibility_exceeds_jobs(self) -> Settings:
        if self.visibility_timeout <= self.job_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout:g} s) must exceed job_time_limit "
                f"({self.job_time_limit:g} s), or running jobs are handed to a second worker"
            )
        return self

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _SectionEnvSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )


RENAMED: Mapping[str, str] = {"network_cache_dir": "cache_dir"}
"""Former variable names (after ``VANPLAN_``) -> the geo field they set now."""


def section_variable(section: str, name: str) -> str:
    """The variable of field ``name`` of ``section`` (e.g. ``VANPLAN_PAGES_TILES_URL``)."""
    return f"{ENV_PREFIX}{SECTION_PREFIXES[section]}{name}".upper()


class _SectionEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, which also knows the section fields' own names.

    A section field's variable (``VANPLAN_CACHE_DIR``) is handed on under its nested name
    (``VANPLAN_GEO__CACHE_DIR``), so parsing (types, JSON, ``__`` levels) stays pydantic-settings'.
    The nested names are not documented; when several names of one field are set, the
    documented one wins over the nested one, which wins over a former name (:data:`RENAMED`).
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        env = dict(self.env_vars)  # keys lower case (case-insensitive settings)
        documented: dict[str, str | None] = {}
        for name, value in self.env_vars.items():
            nested, former = _nested_name(name.lower(), settings_cls.model_fields)
            if nested is None:
                continue
            if former:
                env.setdefault(nested, value)
            else:
                documented[nested] = value
        self.env_vars = {**env, **documented}


def _nested_name(variable: str, fields: Mapping[str, FieldInfo]) -> tuple[str | None, bool]:
    """``vanplan_cache_dir`` -> ``vanplan_geo__cache_dir`` (lower case), and whether the name is
    a former one; None: not a section field's variable."""
    prefix = ENV_PREFIX.lower()
    if not variable.startswith(prefix):
        return None, False
    rest = variable[len(prefix) :]
    head, _, _ = rest.partition("__")
    tail = rest[len(head) :]  # deeper levels: "__speeds__van_max_speed_kmh"
    if head in RENAMED:
        return f"{prefix}geo__{RENAMED[head]}{tail}", True
    if head in fields:  # a field of the settings itself
        return None, False
    for section, section_prefix in SECTION_PREFIXES.items():
        name = head.removeprefix(section_prefix)
        if head.startswith(section_prefix) and name in section_fields(section):
            return f"{prefix}{section}__{name}{tail}", False
    return None, False


def section_fields(section: str) -> Mapping[str, FieldInfo]:
    """The fields of a section model (``"geo"``, ``"pages"``)."""
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model.model_fields


def variables() -> list[str]:
    """Every variable name the settings read (nested levels such as ``VANPLAN_NETWORK``
    continue with ``__``), in field order; former names (:data:`RENAMED`) not included."""
    names = []
    for name in Settings.model_fields:
        if name in SECTION_PREFIXES:
            names += [section_variable(name, field) for field in section_fields(name)]
        else:
            names.append(f"{ENV_PREFIX}{name}".upper())
    return names
