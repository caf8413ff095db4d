"""Bad input found by fuzzing gets a 422 naming the field, never a 500: far horizon dates,
unbounded costs, pins outside the horizon; synchronous week plans keep the documented time cap."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import weeks
from api.schemas.core import VanCreate
from api.schemas.planning import VanIn, VisitIn
from api.settings import Settings
from optimizer.domain import (
    MAX_COST_PER_HOUR,
    MAX_COST_PER_KM,
    MAX_FIXED_COST_PER_DAY,
    MAX_PRIORITY,
)
from tests.api.test_plans import WEEK, plan_week, week  # noqa: F401  (fixture)
from tests.api.test_solve import (
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
    small_request,
)

Headers = dict[str, str]
SOLVING = ["/v1/solve", "/v1/jobs"]


def _fields(response: Any) -> set[str]:
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    return {d["field"] for d in body["details"]}


@pytest.mark.parametrize("path", SOLVING)
@pytest.mark.parametrize("start_date", ["0001-01-01", "9999-12-31"])
def test_a_far_horizon_is_a_422(
    client: TestClient, dispatcher: Headers, path: str, start_date: str
) -> None:
    request = small_request()
    request["horizon"]["start_date"] = start_date
    response = client.post(path, json=request, headers=dispatcher)
    assert response.status_code == 422, response.text
    assert "body.horizon.start_date" in _fields(response)


@pytest.mark.parametrize("path", SOLVING)
def test_far_times_are_a_422(client: TestClient, dispatcher: Headers, path: str) -> None:
    request = small_request()
    request["shifts"][0]["end"] = "9999-12-31T23:00:00-12:00"
    request["visits"][0]["pin"] = {"date": "9999-12-31"}
    response = client.post(path, json=request, headers=dispatcher)
    assert response.status_code == 422, response.text
    assert _fields(response) == {"body.shifts[0].end", "body.visits[0].pin.date"}


@pytest.mark.parametrize("path", SOLVING)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fixed_cost_per_day", "1e300"),
        ("cost_per_hour", "1e300"),
        ("cost_per_hour", "Infinity"),
        ("cost_per_km", "NaN"),
        ("cost_per_km", str(MAX_COST_PER_KM * 2)),
    ],
)
def test_unbounded_costs_are_a_422(
    client: TestClient, dispatcher: Headers, path: str, field: str, value: str
) -> None:
    request = small_request()
    request["vans"][0][field] = "@@"
    # Raw text: Infinity and NaN are what a careless JSON encoder writes.
    raw = json.dumps(request).replace('"@@"', value)
    headers = {**dispatcher, "Content-Type": "application/json"}
    response = client.post(path, content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert _fields(response) == {f"body.vans[0].{field}"}


def test_the_schemas_take_their_bounds_from_the_domain(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    van_in = schemas["VanIn"]["properties"]
    assert van_in["cost_per_hour"]["maximum"] == MAX_COST_PER_HOUR
    assert van_in["cost_per_km"]["maximum"] == MAX_COST_PER_KM
    assert van_in["fixed_cost_per_day"]["maximum"] == MAX_FIXED_COST_PER_DAY
    assert schemas["VisitIn"]["properties"]["priority"]["maximum"] == MAX_PRIORITY
    stored = schemas["VanCreate"]["properties"]
    assert stored["cost_per_hour"]["maximum"] == MAX_COST_PER_HOUR
    assert stored["cost_per_km"]["maximum"] == MAX_COST_PER_KM
    # The models themselves refuse what the schema documents.
    assert VanIn.model_fields["cost_per_hour"].metadata
    assert VisitIn.model_fields["priority"].metadata
    assert VanCreate.model_fields["cost_per_km"].metadata


@pytest.mark.parametrize("path", SOLVING)
@pytest.mark.parametrize(
    "pin",
    [
        {"date": "2026-11-30"},
        {"van_id": "van-1", "date": "2026-11-22"},
        {"start": "2026-11-24T09:00:00+01:00"},
    ],
)
def test_a_pin_outside_the_horizon_is_a_422(
    client: TestClient, dispatcher: Headers, path: str, pin: dict[str, str]
) -> None:
    request = small_request()  # a one-day horizon: 2026-11-23
    request["visits"][2]["pin"] = pin
    response = client.post(path, json=request, headers=dispatcher)
    assert response.status_code == 422, response.text
    assert _fields(response) == {"body.visits[2].pin"}
    assert "2026-11-23..2026-11-23" in response.json()["details"][0]["message"]


SYNC_LIMIT = 2.0


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The service's settings with a short synchronous time limit (used by every test here)."""
    return Settings(
        database_url=database_url, osm_file=None, cors_origins=[], sync_solve_time_limit=SYNC_LIMIT
    )


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize("kind", ["plan", "replan"])
def test_a_synchronous_week_plan_keeps_the_sync_time_cap(
    client: TestClient,
    dispatcher: Headers,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    if kind == "replan":
        plan_week(client, dispatcher)
    limits: list[float] = []
    for name in ("compute_plan", "compute_replan"):
        real = getattr(weeks, name)

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            limits.append(args[-1].time_limit)  # the solver settings
            return _real(*args, **kwargs)

        monkeypatch.setattr(weeks, name, spy)
    url = f"/v1/weeks/{WEEK}/{kind}"
    refused = client.post(url, json={"time_limit_seconds": 3600}, headers=dispatcher)
    assert refused.status_code == 422, refused.text
    assert _fields(refused) == {"body.time_limit_seconds"}
    assert f"/v1/weeks/{WEEK}/{kind}/jobs" in refused.json()["message"]
    assert limits == []  # refused before any search started
    # Without a limit of its own, the request gets the synchronous cap.
    answered = client.post(url, json={"solution_limit": 50, "seed": 1}, headers=dispatcher)
    assert answered.status_code == 201, answered.text
    assert limits == [SYNC_LIMIT]
