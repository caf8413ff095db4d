"""Schemathesis against the app's own OpenAPI schema: generated requests (valid and invalid) with a
dispatcher token to EVERY operation never get a server error, and get only the statuses, bodies
and content types the schema documents, on SQLite and on PostgreSQL.

The operations that start solver runs (solve, jobs, weekly plan/replan) are fuzzed too: the fuzzed
service stops every search after a fraction of a second (the cap is imposed on the planner, so a
generated ``time_limit_seconds: 3600`` still runs briefly) with a few examples each.
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
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)
from sqlalchemy import create_engine, text

from api.app import create_app
from api.auth import Role, issue_token
from api.errors import ErrorBody
from api.schemas.core import example
from api.schemas.planning import SolveRequest
from api.settings import Settings
from tests.api.conftest import PG_URL, _pg_schema_url

SOLVER_PATHS = r"^/v1/(solve|jobs$|weeks/\{iso_week\}/(plan|replan)(/jobs)?$)"
FUZZ_TIME_LIMIT = 0.3  # seconds of search per solve while fuzzing

pytestmark = pytest.mark.slow


def error_body_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer carries the documented body ``{code, message, details}``.

    (Schemathesis' own response_schema_conformance cannot read the ``prefixItems`` of the
    ``[lon, lat]`` pairs in this version, so error bodies are checked against the model here.)"""
    if response.status_code < 400:
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json")
    body = ErrorBody.model_validate_json(response.content)
    assert body.code and body.message
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    error_body_conformance,
]


def _short_searches(app: FastAPI) -> None:
    """Cap every search of the app's planner (sync solves, solve and week jobs) at
    :data:`FUZZ_TIME_LIMIT`: the fuzzer asks for any limit the schema allows."""
    planner = app.state.planner
    settings_of = planner.solver_settings

    def short(request: Any, default: float | None = None, cap: float | None = None) -> Any:
        return settings_of(request, default, FUZZ_TIME_LIMIT)

    planner.solver_settings = short


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
    app = create_app(Settings(database_url=url, osm_file=None, job_workers=1))
    try:
        with TestClient(app):
            _short_searches(app)
            with app.state.db.session() as session:
                issued = issue_token(session, Role.DISPATCHER, name="fuzz")
            headers = {"Authorization": f"Bearer {issued.secret}"}
            # Some stored data, so generated ids sometimes hit and the read paths run.
            seed = TestClient(app)
            seed.post("/v1/vans", json={"id": "van-1", "name": "A"}, headers=headers)
            seed.post("/v1/clients", json={"id": "c1", "name": "N"}, headers=headers)
            # ... and a week to plan: the schema's example week, 2026-W48.
            seed.post(
                "/v1/vans/van-1/shifts",
                json={"start": "2026-11-23T08:00:00+01:00", "end": "2026-11-23T16:00:00+01:00"},
                headers=headers,
            )
            seed.post(
                "/v1/clients",
                json={"id": "c2", "name": "M", "location": [8.9442, 49.7021]},
                headers=headers,
            )
            seed.post(
                "/v1/visits", json={"client_id": "c2", "duration_minutes": 30}, headers=headers
            )
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


schema = schemathesis.pytest.from_fixture("api_schema")
FUZZ = settings(
    max_examples=8,
    phases=[Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.exclude(method="POST", path_regex=SOLVER_PATHS).parametrize()
@FUZZ
def test_conforms_to_the_schema(case: Any, fuzz_app: tuple[FastAPI, dict[str, str]]) -> None:
    _, headers = fuzz_app
    case.call_and_validate(headers=headers, checks=CHECKS)


@schema.include(method="POST", path_regex=SOLVER_PATHS).parametrize()
@settings(FUZZ, max_examples=4)
def test_solving_conforms_to_the_schema(
    case: Any, fuzz_app: tuple[FastAPI, dict[str, str]]
) -> None:
    _, headers = fuzz_app
    case.call_and_validate(headers=headers, checks=CHECKS)


def test_solving_with_the_documented_examples_plans(
    api_schema: Any, fuzz_app: tuple[FastAPI, dict[str, str]]
) -> None:
    """Generated solving requests are mostly invalid: the documented examples (and the seeded
    week 2026-W48) make each solving operation plan, under the same checks."""
    _, headers = fuzz_app
    request = example(SolveRequest)
    week = {"iso_week": "2026-W48"}
    for path, parameters, body, status in [
        ("/v1/solve", {}, request, 200),
        ("/v1/jobs", {}, request, 202),
        ("/v1/weeks/{iso_week}/plan", week, {}, 201),
        ("/v1/weeks/{iso_week}/plan/jobs", week, {}, 202),
        ("/v1/weeks/{iso_week}/replan", week, {"seed": 2}, 201),
        ("/v1/weeks/{iso_week}/replan/jobs", week, {}, 202),
    ]:
        case = api_schema[path]["POST"].Case(path_parameters=parameters, body=body)
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=300)
        assert response.status_code == status, (path, response.text)


def test_every_operation_is_fuzzed(fuzz_app: tuple[FastAPI, dict[str, str]]) -> None:
    """The two fuzz tests split the operations by SOLVER_PATHS: together they cover them all."""
    app, _ = fuzz_app
    solving = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method == "post" and re.match(SOLVER_PATHS, path)
    }
    assert solving == {
        "POST /v1/solve",
        "POST /v1/jobs",
        "POST /v1/weeks/{iso_week}/plan",
        "POST /v1/weeks/{iso_week}/replan",
        "POST /v1/weeks/{iso_week}/plan/jobs",
        "POST /v1/weeks/{iso_week}/replan/jobs",
    }
