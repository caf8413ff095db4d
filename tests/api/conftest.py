"""Fixtures of the API tests: an app and a TestClient per database backend, tokens per role.

Every test using ``app``/``client`` runs twice: on a fresh SQLite file and on a fresh PostgreSQL
schema (``VANPLAN_TEST_POSTGRES_URL``, default postgres@127.0.0.1:5432/test). PostgreSQL is never
skipped: if it is down, those tests fail.

Token fixtures: ``dispatcher``, ``system``, ``crew`` (bound to van ``van-1``, which the fixture
creates) give ``Authorization`` headers; ``make_token(role, van_id=None)`` makes more.

The ``settings`` fixture (and so ``app``/``client``) starts its SQLite file as a copy of one
migrated once per session, and its PostgreSQL schema from a dump (``pg_dump``) of a schema
migrated once per session; the app's startup still runs the (then idempotent) migrations. The
migrations from an empty database are tested on ``database_url`` on both backends (test_storage,
test_tenant_migration) and by the modules that migrate their own databases. The apps of these
tests do not warm up the solver fork server at startup (see :func:`no_solver_warm_up`); a solve
starts it on demand, and it serves the module's later tests: the apps' shutdowns leave it and it
ends with the module (see :func:`fork_server_kept`; test_solve checks the shutdown that stops it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import api.routers.jobs
import api.service
from api.app import create_app
from api.auth import Role, issue_token
from api.db.core_models import VanRow
from api.db.database import Database
from api.settings import Settings
from optimizer.processes import stop_helper_processes

PG_URL = os.environ.get(
    "VANPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

Headers = dict[str, str]


@pytest.fixture(scope="session", autouse=True)
def no_solver_warm_up() -> Iterator[None]:
    """App startup would start the solver fork server in the background (it imports OR-Tools in
    a new interpreter, so a service's first solve starts at once) and the shutdown would wait for
    it and stop it: some 5 s of two busy cores per test, for nothing in the tests that never
    solve. Without the warm-up the fork-server context starts the server when a solve needs it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api.service, "warm_up", lambda: None)
        yield


@pytest.fixture(scope="module", autouse=True)
def fork_server_kept() -> Iterator[bool]:
    """One solver fork server per test module, not one per test (True: it is kept).

    An app's shutdown (when no other app of the process runs) ends the fork server, so the next
    test's first solve would start a new one: a new interpreter importing OR-Tools and PyVRP, a
    second or more of CPU each time. Here the apps' shutdowns leave it running; their job runners
    still stop, and with them their solver processes (``no_helper_processes_left`` checks that
    none outlives a test). It ends with the module. test_solve.py, which checks that an app's
    shutdown ends every helper process, overrides this fixture (False)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api.routers.jobs, "stop_solver_processes", lambda timeout=30.0: None)
        yield True
    stop_helper_processes()


def _pg_schema_url(schema: str) -> str:
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vanplan.db'}"
        return
    schema = f"vp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _pg_schema_url(schema)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest revision (migrating a new file takes about 0.5 s)."""
    path = tmp_path_factory.mktemp("migrated") / "vanplan.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.migrate()
    finally:
        db.dispose()
    return path


SCHEMA_PLACEHOLDER = "vp_migrated_schema_placeholder"


@pytest.fixture(scope="session")
def migrated_postgres_sql() -> str | None:
    """The SQL that fills an empty PostgreSQL schema to the newest revision: a ``pg_dump`` (tables,
    constraints, indexes and rows such as ``alembic_version``) of a schema migrated once per
    session, named :data:`SCHEMA_PLACEHOLDER`. Loading it takes a fraction of the time of the
    migrations (about 0.15 s against 0.75 s). None without ``pg_dump``: the apps migrate."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        return None
    schema = f"vp_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            database = Database(_pg_schema_url(schema))
            database.migrate()
            database.dispose()
            url = make_url(PG_URL)
            dump = subprocess.run(
                [pg_dump, "--schema", schema, "--inserts", "--no-owner", "--no-privileges"],
                env={
                    **os.environ,
                    "PGHOST": url.host or "127.0.0.1",
                    "PGPORT": str(url.port or 5432),
                    "PGUSER": url.username or "postgres",
                    "PGPASSWORD": url.password or "",
                    "PGDATABASE": url.database or "postgres",
                },
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
    # Without psql's meta-commands (\restrict) and the schema's creation: the test's schema exists.
    lines = [
        line
        for line in dump.splitlines()
        if not line.startswith("\\") and line != f"CREATE SCHEMA {schema};"
    ]
    return "\n".join(lines).replace(schema, SCHEMA_PLACEHOLDER)


def _fill_empty_schema(database_url: str, sql: str) -> None:
    """Load :func:`migrated_postgres_sql` into the (still empty) schema of ``database_url``."""
    match = re.search(r"search_path=(\w+)", unquote(database_url))
    assert match is not None, database_url
    schema = match.group(1)
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
            if tables == 0:
                conn.exec_driver_sql(sql.replace(SCHEMA_PLACEHOLDER, schema))
    finally:
        admin.dispose()


@pytest.fixture
def settings(
    database_url: str, migrated_sqlite: Path, migrated_postgres_sql: str | None
) -> Settings:
    """Settings of a test's app. A new SQLite file starts as a copy of :func:`migrated_sqlite`; a
    new PostgreSQL schema is filled from :func:`migrated_postgres_sql`."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if path.parent.is_dir() and not path.exists():
            shutil.copyfile(migrated_sqlite, path)
    elif migrated_postgres_sql is not None:
        _fill_empty_schema(database_url, migrated_postgres_sql)
    return Settings(database_url=database_url, osm_file=None, cors_origins=[])


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the started app (lifespan entered: database migrated)."""
    with TestClient(app) as test_client:
        yield test_client


def bearer(secret: str) -> Headers:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def make_token(app: FastAPI, client: TestClient) -> Callable[..., Headers]:
    """``make_token(role, van_id=None)`` -> headers of a new token (the van must exist)."""

    def make(role: Role | str, van_id: str | None = None) -> Headers:
        with app.state.db.session() as session:
            issued = issue_token(session, role, name=f"test {role}", van_id=van_id)
        return bearer(issued.secret)

    return make


@pytest.fixture
def dispatcher(make_token: Callable[..., Headers]) -> Headers:
    return make_token(Role.DISPATCHER)


@pytest.fixture
def system(make_token: Callable[..., Headers]) -> Headers:
    return make_token(Role.SYSTEM)


@pytest.fixture
def crew_van(app: FastAPI, client: TestClient) -> str:
    """Van ``van-1`` (created directly in the database) for crew tokens."""
    with app.state.db.session() as session:
        if session.get(VanRow, "van-1") is None:
            session.add(VanRow(id="van-1", name="Mobiles Büro 1", skills=[]))
    return "van-1"


@pytest.fixture
def crew(make_token: Callable[..., Headers], crew_van: str) -> Headers:
    return make_token(Role.CREW, van_id=crew_van)
