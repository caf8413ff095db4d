"""POST /v1/solve and the request <-> domain mapping behind it (api.mapping, api.planner)."""

from __future__ import annotations

import copy
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError as PydanticValidationError

from api.app import create_app
from api.auth import Role, issue_token
from api.mapping import MappedProblem, build_problem, plan_to_out
from api.planner import Planner
from api.schemas.planning import PlanOut, SolveRequest, StepType
from api.settings import Settings
from geo.network import load_osm_file
from geo.providers import (
    MatrixSource,
    RoadMatrixProvider,
    approximate_provider,
    placeholder_provider,
)
from optimizer.checker import check_plan
from optimizer.domain import DEFAULT_DEPOT, TravelMatrix
from optimizer.errors import ValidationError
from optimizer.plan import BreakSlot, Plan, Route, SolverStats, Stop
from tests.api import golden

BERLIN = ZoneInfo("Europe/Berlin")
Headers = dict[str, str]

# Two villages of the Odenwaldkreis (GeoNames centres) and the base in Erbach.
REICHELSHEIM = [8.839, 49.7121]
BRENSBACH = [8.8844, 49.7739]
MICHELSTADT = [9.0039, 49.6781]


def small_request(**options: Any) -> dict[str, Any]:
    """One van, one day, three visits (one with a window, one needing a skill)."""
    return {
        "horizon": {"start_date": "2026-11-23", "days": 1},
        "vans": [{"id": "van-1", "skills": ["arabic"]}],
        "shifts": [
            {
                "van_id": "van-1",
                "start": "2026-11-23T08:00:00+01:00",
                "end": "2026-11-23T16:00:00+01:00",
            }
        ],
        "visits": [
            {
                "id": "v1",
                "place": {"coordinates": REICHELSHEIM},
                "duration_minutes": 45,
                "windows": [
                    {"start": "2026-11-23T09:00:00+01:00", "end": "2026-11-23T12:00:00+01:00"}
                ],
            },
            {
                "id": "v2",
                "place": {"coordinates": BRENSBACH},
                "duration_minutes": 30,
                "skills": ["arabic"],
            },
            {"id": "v3", "place": {"coordinates": MICHELSTADT}, "duration_minutes": 60},
        ],
        "options": {"solution_limit": 200, "seed": 1, **options},
    }


def straight_provider(
    points: Mapping[str, tuple[float, float]],
) -> tuple[TravelMatrix, MatrixSource]:
    """A simple metric matrix for mapping tests that need no geo layer (50 km/h, x1.3)."""
    ids = tuple(points)
    xy = np.array([(p[0] * 71_500, p[1] * 111_300) for p in points.values()])
    metres = (np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) * 1.3).astype(
        np.int64
    )
    seconds = (metres / (50 / 3.6)).astype(np.int64)
    info = MatrixSource(source="approximate", approximate=True, note="test")
    return TravelMatrix(ids, seconds, metres, approximate=True), info


def domain_plan(out: PlanOut, mapped: MappedProblem) -> Plan:
    """Rebuild the optimizer's plan from a response, to replay it with the independent checker."""
    horizon = mapped.problem.horizon
    sec = horizon.to_seconds
    routes = []
    for r in out.routes:
        steps = r.steps
        assert steps[0].type is StepType.START and steps[-1].type is StepType.END
        stops = tuple(
            Stop(
                visit_id=s.visit_id or "",
                location=mapped.problem.visit(s.visit_id or "").location,
                arrival=sec(s.arrival),
                start=sec(s.start),
                end=sec(s.end),
                waiting=s.waiting_seconds,
                travel_time=s.travel_seconds,
                distance=s.distance_m,
            )
            for s in steps
            if s.type is StepType.VISIT
        )
        breaks = tuple(
            BreakSlot(sec(s.start), sec(s.end)) for s in steps if s.type is StepType.BREAK
        )
        van = mapped.problem.van(r.van_id)
        routes.append(
            Route(
                van_id=r.van_id,
                day=(r.date - horizon.start_date).days,
                start_location=van.start_location,
                end_location=van.end,
                start=sec(steps[0].start),
                end=sec(steps[-1].end),
                stops=stops,
                breaks=breaks,
                return_travel_time=steps[-1].travel_seconds,
                return_distance=steps[-1].distance_m,
            )
        )
    from optimizer.plan import Reason, Unassigned

    unassigned = tuple(
        Unassigned(u.visit_id, Reason(u.reason), u.message, tuple(u.conflicts))
        for u in out.unassigned
    )
    return Plan(tuple(routes), unassigned, SolverStats(out.summary.status, 0.0, 0.0))


def assert_feasible(out: PlanOut | dict[str, Any], mapped: MappedProblem) -> PlanOut:
    """The answer, replayed against the problem by the independent checker, has no violation."""
    plan_out = out if isinstance(out, PlanOut) else PlanOut.model_validate(out)
    report = check_plan(mapped.problem, domain_plan(plan_out, mapped))
    assert report.ok, report.violations
    return plan_out


# --- mapping (no app) -------------------------------------------------------------------------


def test_mapping_converts_iso_times_to_horizon_seconds_and_merges_places() -> None:
    body = small_request()
    body["visits"].append(
        {"id": "v4", "place": {"coordinates": REICHELSHEIM}, "duration_minutes": 10}
    )
    mapped = build_problem(SolveRequest.model_validate(body), straight_provider)
    p = mapped.problem
    assert p.shifts[0].start == 8 * 3600 and p.shifts[0].end == 16 * 3600
    v1 = p.visit("v1")
    assert v1.duration == 45 * 60
    assert (v1.windows[0].start, v1.windows[0].end) == (9 * 3600, 12 * 3600)
    # identical coordinates share one location; the base is the default depot
    assert p.visit("v4").location == v1.location
    assert len(mapped.coordinates) == 4
    assert p.van("van-1").start_location == DEFAULT_DEPOT
    assert mapped.coordinates[v1.location] == tuple(REICHELSHEIM)


def test_the_base_is_a_location_only_when_a_van_has_no_start() -> None:
    body = small_request()
    body["vans"] = [
        {"id": "van-1", "skills": ["arabic"], "start": {"coordinates": MICHELSTADT}},
        {"id": "van-2"},
    ]
    heidelberg_base = (8.69, 49.406)
    mapped = build_problem(SolveRequest.model_validate(body), straight_provider)
    assert mapped.coordinates[DEFAULT_DEPOT] == (8.994, 49.6615)  # the shipped area's base
    mapped = build_problem(
        SolveRequest.model_validate(body), straight_provider, base=heidelberg_base
    )
    assert mapped.coordinates[DEFAULT_DEPOT] == heidelberg_base
    assert mapped.problem.van("van-2").start_location == DEFAULT_DEPOT
    # every van has a start: no base, so no base to snap (a region without the default's base)
    body["vans"] = body["vans"][:1]
    mapped = build_problem(SolveRequest.model_validate(body), straight_provider)
    assert DEFAULT_DEPOT not in mapped.coordinates
    assert mapped.problem.matrix.locations == tuple(mapped.coordinates)
    # location ids do not depend on whether the base is there (stored plans re-map the same)
    assert mapped.problem.van("van-1").start_location == "p1"


def test_the_api_starts_vans_without_a_start_at_the_configured_base(settings: Settings) -> None:
    area_file = Path(__file__).resolve().parents[1] / "data" / "heidelberg_area.toml"
    geo = settings.geo.model_copy(update={"service_area": area_file})
    app = create_app(settings.model_copy(update={"geo": geo}))
    body = small_request()
    body["vans"] = [{"id": "van-1"}]  # no start: the area's first base
    body["visits"] = [
        {"id": "v1", "place": {"coordinates": [8.705, 49.411]}, "duration_minutes": 30},
        {"id": "v2", "place": {"coordinates": [8.672, 49.403]}, "duration_minutes": 30},
    ]
    with TestClient(app) as client:
        with app.state.db.session() as session:
            token = issue_token(session, Role.SYSTEM, name="area")
        headers = {"Authorization": f"Bearer {token.secret}"}
        response = client.post("/v1/solve", json=body, headers=headers)
    assert response.status_code == 200, response.text
    out = PlanOut.model_validate(response.json())
    assert out.summary.assigned == 2
    for route in out.routes:
        assert route.steps[0].location == route.steps[-1].location == (8.69, 49.406)


def test_mapping_is_dst_correct_across_the_change_in_october() -> None:
    body = small_request()
    body["horizon"] = {"start_date": "2026-10-24", "days": 3}  # DST ends 25 Oct 03:00 -> 02:00
    body["shifts"] = [
        {
            "van_id": "van-1",
            "start": "2026-10-26T08:00:00+01:00",
            "end": "2026-10-26T12:00:00+01:00",
        }
    ]
    body["visits"] = [body["visits"][2]]
    mapped = build_problem(SolveRequest.model_validate(body), straight_provider)
    # 24 h + 25 h + 8 h of elapsed time
    assert mapped.problem.shifts[0].start == (24 + 25 + 8) * 3600
    assert mapped.problem.shifts[0].day == 2


def test_mapping_collects_every_problem_with_request_field_paths() -> None:
    body = small_request()
    body["shifts"].append(
        {
            "van_id": "van-9",
            "start": "2026-11-23T08:00:00+01:00",
            "end": "2026-11-23T07:00:00+01:00",
        }
    )
    body["visits"][0]["preferred_van"] = "ghost"
    body["visits"][1]["place"] = {"address": "Nirgendwo 1, 99999 Nirgendheim"}
    with pytest.raises(ValidationError) as info:
        build_problem(
            SolveRequest.model_validate(body), straight_provider, resolve_address=lambda a: None
        )
    fields = {i.field for i in info.value.issues}
    assert "shifts[1].end" in fields
    assert "visits[1].place.address" in fields
    # the problem-level check runs only once the single objects are fine, so fix and re-check
    body["shifts"].pop()
    body["visits"][1]["place"] = {"coordinates": BRENSBACH}
    with pytest.raises(ValidationError) as info:
        build_problem(SolveRequest.model_validate(body), straight_provider)
    assert [i.field for i in info.value.issues] == ["visits[0].preferred_van"]


def test_addresses_are_resolved_through_the_resolver() -> None:
    body = small_request()
    body["visits"][2]["place"] = {"address": "Marktplatz 1, 64720 Michelstadt"}
    seen: list[str] = []

    def resolve(address: str) -> tuple[float, float] | None:
        seen.append(address)
        return (MICHELSTADT[0], MICHELSTADT[1])

    mapped = build_problem(
        SolveRequest.model_validate(body), straight_provider, resolve_address=resolve
    )
    assert seen == ["Marktplatz 1, 64720 Michelstadt"]
    assert mapped.coordinates[mapped.problem.visit("v3").location] == tuple(MICHELSTADT)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["shifts"][0].update(start="2026-11-23T08:00:00"), "start"),
        (lambda b: b["visits"][0]["place"].update(coordinates=[49.7, 8.8, 1]), "coordinates"),
        (lambda b: b["visits"][0]["place"].update(coordinates=[200, 49.7]), "coordinates"),
        (lambda b: b["visits"][0].update(place={}), "place"),
        (lambda b: b["visits"][0].update(duration_minutes=-5), "duration_minutes"),
        (lambda b: b["visits"][0].update(priority=0), "priority"),
        (lambda b: b["vans"][0].update(id=""), "id"),
        (lambda b: b["visits"][0].update(colour="red"), "colour"),
    ],
)
def test_schema_rejects_bad_input(mutate: Any, field: str) -> None:
    body = small_request()
    mutate(body)
    with pytest.raises(PydanticValidationError) as info:
        SolveRequest.model_validate(body)
    assert any(field in map(str, e["loc"]) for e in info.value.errors())


def test_plan_maps_back_to_typed_steps_with_iso_times() -> None:
    planner = Planner(straight_provider, isolate=False)
    request = SolveRequest.model_validate(small_request())
    mapped = planner.map(request)
    plan = planner.solve_mapped(mapped, planner.solver_settings(request))
    out = plan_to_out(plan, mapped)
    assert_feasible(out, mapped)
    (route,) = out.routes
    assert route.date == date(2026, 11, 23)
    assert route.steps[0].type is StepType.START
    assert route.steps[-1].type is StepType.END
    visits = [s.visit_id for s in route.steps if s.type is StepType.VISIT]
    assert sorted(visits) == ["v1", "v2", "v3"]
    v1 = next(s for s in route.steps if s.visit_id == "v1")
    assert v1.start.utcoffset() == datetime(2026, 11, 23, tzinfo=BERLIN).utcoffset()
    assert datetime(2026, 11, 23, 9, tzinfo=BERLIN) <= v1.start
    assert v1.end <= datetime(2026, 11, 23, 12, tzinfo=BERLIN)
    assert out.summary.assigned == 3 and out.summary.unassigned == 0
    assert out.summary.distance_m == sum(s.distance_m for s in route.steps) > 0


def test_breaks_appear_as_steps_in_time_order() -> None:
    body = small_request()
    body["shifts"][0]["breaks"] = [
        {
            "earliest_start": "2026-11-23T12:00:00+01:00",
            "latest_end": "2026-11-23T13:00:00+01:00",
            "duration_minutes": 30,
        }
    ]
    body["visits"][2]["windows"] = [
        {"start": "2026-11-23T13:00:00+01:00", "end": "2026-11-23T15:00:00+01:00"}
    ]
    planner = Planner(straight_provider, isolate=False)
    request = SolveRequest.model_validate(body)
    mapped = planner.map(request)
    out = plan_to_out(planner.solve_mapped(mapped, planner.solver_settings(request)), mapped)
    assert_feasible(out, mapped)
    steps = out.routes[0].steps
    breaks = [s for s in steps if s.type is StepType.BREAK]
    assert len(breaks) == 1 and breaks[0].end - breaks[0].start == (
        datetime(2026, 1, 1, 0, 30) - datetime(2026, 1, 1)
    )
    starts = [s.start for s in steps]
    assert starts == sorted(starts)


def test_validation_only_needs_no_matrix() -> None:
    request = SolveRequest.model_validate(small_request())
    mapped = build_problem(request, placeholder_provider)
    assert mapped.problem.matrix.approximate


# --- the endpoint -----------------------------------------------------------------------------


def planner_of(client: TestClient) -> Planner:
    planner: Planner = client.app.state.planner  # type: ignore[attr-defined]
    return planner


def test_solve_returns_a_feasible_plan(client: TestClient, system: Headers) -> None:
    body = small_request()
    response = client.post("/v1/solve", json=body, headers=system)
    assert response.status_code == 200, response.text
    out = PlanOut.model_validate(response.json())
    mapped = planner_of(client).map(SolveRequest.model_validate(body))
    assert_feasible(out, mapped)
    assert out.matrix.source == "approximate" and out.matrix.approximate
    assert out.summary.assigned == 3
    assert out.timezone == "Europe/Berlin"
    assert response.json()["routes"][0]["steps"][1]["start"].endswith("+01:00")


def test_solver_workers_make_every_solve_a_portfolio(settings: Settings) -> None:
    # VANPLAN_SOLVER_WORKERS=2: the solver process runs two forked searches, the better wins.
    settings = settings.model_copy(update={"solver_workers": 2})
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.db.session() as session:
            token = issue_token(session, Role.SYSTEM, name="portfolio")
        headers = {"Authorization": f"Bearer {token.secret}"}
        body = small_request(time_limit_seconds=3)
        response = client.post("/v1/solve", json=body, headers=headers)
        assert response.status_code == 200, response.text
        out = PlanOut.model_validate(response.json())
        assert out.summary.workers == 2 and out.summary.status == "SUCCESS"
        assert_feasible(out, planner_of(client).map(SolveRequest.model_validate(body)))
        assert out.summary.assigned == 3


def test_solve_reports_unservable_visits_with_a_reason(
    client: TestClient, dispatcher: Headers
) -> None:
    body = small_request()
    body["visits"][1]["skills"] = ["turkish"]  # nobody speaks it
    response = client.post("/v1/solve", json=body, headers=dispatcher)
    assert response.status_code == 200, response.text
    out = assert_feasible(
        response.json(), planner_of(client).map(SolveRequest.model_validate(body))
    )
    (u,) = out.unassigned
    assert (u.visit_id, u.reason) == ("v2", "no_skilled_van")
    assert u.message


def test_solve_invalid_input_is_422_with_field_paths(
    client: TestClient, dispatcher: Headers
) -> None:
    body = small_request()
    body["visits"][0]["windows"][0]["end"] = "2026-11-23T08:00:00+01:00"  # before start
    body["shifts"][0]["van_id"] = "ghost"
    response = client.post("/v1/solve", json=body, headers=dispatcher)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "validation_error"
    fields = [d["field"] for d in error["details"]]
    assert any(f.startswith("body.visits[0].windows[0]") for f in fields), fields

    body = small_request()
    body["shifts"][0]["van_id"] = "ghost"
    response = client.post("/v1/solve", json=body, headers=dispatcher)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["body.shifts[0].van_id"]


def test_large_problems_are_sent_to_jobs(client: TestClient, system: Headers) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    body = small_request()
    template = body["visits"][2]
    body["visits"] = [
        {**copy.deepcopy(template), "id": f"x{i}"}
        for i in range(settings.sync_solve_max_visits + 1)
    ]
    response = client.post("/v1/solve", json=body, headers=system)
    assert response.status_code == 413
    error = response.json()
    assert "/v1/jobs" in error["message"]
    assert error["details"][0]["field"] == "body.visits"

    body = small_request(time_limit_seconds=settings.sync_solve_time_limit + 1)
    response = client.post("/v1/solve", json=body, headers=system)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.options.time_limit_seconds"
    assert "/v1/jobs" in response.json()["message"]


def test_solve_needs_a_solving_role(client: TestClient, crew: Headers) -> None:
    assert client.post("/v1/solve", json=small_request()).status_code == 401
    response = client.post("/v1/solve", json=small_request(), headers=crew)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_openapi_documents_the_solve_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    request_schema = schema["components"]["schemas"]["SolveRequest"]
    example = request_schema["examples"][0]
    SolveRequest.model_validate(example)  # the example is a valid request
    assert "413" in schema["paths"]["/v1/solve"]["post"]["responses"]


# --- with a road network ----------------------------------------------------------------------

HEIDELBERG_BBOX = (8.68, 49.40, 8.71, 49.415)  # the geo tests' small clip of the extract


@pytest.mark.slow
def test_a_configured_road_network_gives_road_travel_times(heidelberg_pbf: Path) -> None:
    network = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_BBOX)
    roads = RoadMatrixProvider.from_network(network, heidelberg_pbf.name)
    planner = Planner(
        approximate_provider(), road_provider=roads, base=(8.6940, 49.4080), isolate=False
    )
    body = small_request()
    for visit, coords in zip(
        body["visits"], ([8.6850, 49.4050], [8.7000, 49.4100], [8.7050, 49.4120]), strict=True
    ):
        visit["place"] = {"coordinates": coords}
        visit.pop("windows", None)
    request = SolveRequest.model_validate(body)
    mapped = planner.map(request)
    assert mapped.matrix_info.source == "road_network" and not mapped.problem.matrix.approximate
    assert "heidelberg" in mapped.matrix_info.note
    out = plan_to_out(planner.solve_mapped(mapped, planner.solver_settings(request)), mapped)
    assert_feasible(out, mapped)
    assert out.matrix.source == "road_network" and out.summary.assigned == 3

    # the request may ask for the approximation instead; the answer says which was used
    body["options"]["use_road_network"] = False
    approx = planner.map(SolveRequest.model_validate(body))
    assert approx.matrix_info.source == "approximate" and approx.problem.matrix.approximate
    # road travel is longer than the straight line the approximation starts from
    a, b = mapped.problem.visit("v1").location, mapped.problem.visit("v2").location
    assert mapped.problem.matrix.distance(a, b) > 0


def test_swapped_coordinates_are_refused_by_the_service_area(
    client: TestClient, dispatcher: Headers
) -> None:
    body = small_request()
    lon, lat = body["visits"][1]["place"]["coordinates"]
    body["visits"][1]["place"]["coordinates"] = [lat, lon]
    response = client.post("/v1/solve", json=body, headers=dispatcher)
    assert response.status_code == 422, response.text
    [detail] = response.json()["details"]
    assert detail["field"] == "body.visits[1].place.coordinates"
    assert "look swapped" in detail["message"] and "[lon, lat]" in detail["message"]
    # far away, but not swapped: the approximate matrix takes it as it is
    body["visits"][1]["place"]["coordinates"] = [lon + 3.0, lat]
    assert client.post("/v1/solve", json=body, headers=dispatcher).status_code == 200


@pytest.mark.slow
def test_places_that_cannot_be_snapped_are_named_by_their_request_fields(
    heidelberg_pbf: Path,
) -> None:
    network = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_BBOX)
    roads = RoadMatrixProvider.from_network(network, heidelberg_pbf.name)
    planner = Planner(
        approximate_provider(), road_provider=roads, base=(8.6940, 49.4080), isolate=False
    )
    body = small_request()
    far, swapped = [8.6000, 49.3000], [49.4100, 8.7000]  # far off the clip; [lat, lon] order
    places = ([8.6850, 49.4050], far, swapped)
    for visit, coords in zip(body["visits"], places, strict=True):
        visit["place"] = {"coordinates": coords}
    body["vans"][0]["start"] = {"coordinates": far}  # the same place as visits[1]
    with pytest.raises(ValidationError) as err:
        planner.map(SolveRequest.model_validate(body))
    by_field = {i.field: i.message for i in err.value.issues}
    assert set(by_field) == {"vans[0].start", "visits[1].place", "visits[2].place"}
    assert "lies outside the road network" in by_field["visits[1].place"]
    assert by_field["vans[0].start"] == by_field["visits[1].place"]
    assert "look swapped" in by_field["visits[2].place"]
    assert not any("place[" in m or "p1" in m for m in by_field.values())


# --- golden request/response files --------------------------------------------------------------

SOLVE_GOLDEN_DIR = golden.GOLDEN_DIR / "solve"
WALL_TIME_FIELDS = frozenset({"wall_time_seconds"})


def _without_wall_time(value: Any) -> Any:
    """Wall-clock figures differ run to run: replaced by ``"<wall time>"``."""
    if isinstance(value, dict):
        return {
            k: "<wall time>" if k in WALL_TIME_FIELDS else _without_wall_time(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_wall_time(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(p.stem for p in SOLVE_GOLDEN_DIR.glob("*.json")))
def test_solve_golden(client: TestClient, system: Headers, name: str) -> None:
    """``POST /v1/solve`` answers exactly as recorded (a fixed seed and a solution limit make the
    search reproducible). Regenerate: ``VANPLAN_REGENERATE_GOLDEN=1 pytest tests/api -k golden``."""
    path = SOLVE_GOLDEN_DIR / f"{name}.json"
    steps = golden.replay(client, path, {"system": system}, clean=_without_wall_time)
    for request, response in steps:
        if response.status_code == 200:  # the recorded plan is a feasible one
            mapped = build_problem(SolveRequest.model_validate(request["body"]), straight_provider)
            plan = PlanOut.model_validate(response.json())
            assert {s.visit_id for r in plan.routes for s in r.steps if s.visit_id} | {
                u.visit_id for u in plan.unassigned
            } == {v.id for v in mapped.problem.visits}


def test_solve_golden_files_exist() -> None:
    assert (SOLVE_GOLDEN_DIR / "small_day.json").is_file()


# --- solver processes ---------------------------------------------------------------------------


def helper_processes() -> list[str]:
    """Command lines of this process's children that multiprocessing started (solver processes,
    the fork server, the resource tracker)."""
    me = str(os.getpid())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # ended meanwhile
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and ("multiprocessing" in args or "vanplan" in args):
            found.append(f"{proc.name}: {args[:120]}")
    return found


def solver_processes() -> list[str]:
    """Solver processes still alive below this process: its helper processes other than the
    fork server and the resource tracker, and the fork server's children (not yet reaped ones
    excepted: they have ended)."""
    found = []
    for line in helper_processes():
        if "forkserver" in line:
            pid = line.split(":", 1)[0]
            found += [p for p in _children(pid) if not p.endswith(" Z")]
        elif "resource_tracker" not in line:
            found.append(line)
    return found


def _children(pid: str) -> list[str]:
    """``pid: state`` of the processes whose parent is ``pid``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if fields[1] == pid:
            found.append(f"{proc.name}: {fields[0]}")
    return found


@pytest.fixture(scope="module", autouse=True)
def fork_server_kept() -> bool:
    """Here every app's shutdown ends the fork server, as in the service (the conftest's fixture
    of the same name keeps it for a module)."""
    return False


@pytest.fixture(autouse=True)
def no_helper_processes_left(fork_server_kept: bool) -> Iterator[None]:
    """No solver process outlives a test; without :func:`fork_server_kept`, no helper process
    at all (apps shut down)."""
    yield
    assert multiprocessing.active_children() == []
    if fork_server_kept:
        assert solver_processes() == []
    else:
        assert helper_processes() == []


def test_app_shutdown_ends_the_solver_processes(settings: Settings) -> None:
    app = create_app(settings)
    for _ in range(2):  # the fork server starts again for the next app
        with TestClient(app) as client:
            with app.state.db.session() as session:
                token = issue_token(session, Role.SYSTEM, name="solver processes")
            headers = {"Authorization": f"Bearer {token.secret}"}
            response = client.post("/v1/solve", json=small_request(), headers=headers)
            assert response.status_code == 200, response.text
            assert any("forkserver" in p for p in helper_processes())
        assert helper_processes() == []
