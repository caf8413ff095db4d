"""Schemathesis against the app's own OpenAPI schema: generated requests (valid and invalid) with a
dispatcher token never get a server error, on SQLite and on PostgreSQL.

Operations that start solver runs (solve, jobs, weekly plan/replan) are left out here: the planning
tests drive them with bounded time limits; everything else is fuzzed with a bounded number of
examples per operation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import create_engine, text

from api.app import create_app
from api.auth import Role, issue_token
from api.settings import Settings
from tests.api.conftest import PG_URL, _pg_schema_url

SOLVER_PATHS = r"^/v1/(solve|jobs$|weeks/\{iso_week\}/(plan|replan)(/jobs)?$)"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    schema_name = f"vp_fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'vanplan.db'}"
    else:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
        url = _pg_schema_url(schema_name)
    app = create_app(Settings(database_url=url, osm_file=None))
    try:
        with TestClient(app):
            with app.state.db.session() as session:
                issued = issue_token(session, Role.DISPATCHER, name="fuzz")
            headers = {"Authorization": f"Bearer {issued.secret}"}
            # Some stored data, so generated ids sometimes hit and the read paths run.
            seed = TestClient(app)
            seed.post("/v1/vans", json={"id": "van-1", "name": "A"}, headers=headers)
            seed.post("/v1/clients", json={"id": "c1", "name": "N"}, headers=headers)
            yield app, headers
    finally:
        if request.param == "postgresql":
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: tuple[FastAPI, dict[str, str]]) -> Any:
    app, _ = fuzz_app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema").exclude(
    method="POST", path_regex=SOLVER_PATHS
)


@schema.parametrize()
@settings(
    max_examples=8,
    phases=[Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error(case: Any, fuzz_app: tuple[FastAPI, dict[str, str]]) -> None:
    _, headers = fuzz_app
    case.call_and_validate(headers=headers, checks=[not_a_server_error])


def test_only_solver_operations_are_left_out(fuzz_app: tuple[FastAPI, dict[str, str]]) -> None:
    app, _ = fuzz_app
    left_out = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method == "post" and re.match(SOLVER_PATHS, path)
    }
    assert left_out == {
        "POST /v1/solve",
        "POST /v1/jobs",
        "POST /v1/weeks/{iso_week}/plan",
        "POST /v1/weeks/{iso_week}/replan",
        "POST /v1/weeks/{iso_week}/plan/jobs",
        "POST /v1/weeks/{iso_week}/replan/jobs",
    }
