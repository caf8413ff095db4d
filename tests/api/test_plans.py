"""Weekly plans from the stored data: versions, publishing, re-planning, outputs and crew access."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import LineString

from api.auth import Role
from api.db.core_models import ClientRow, ConsultationHoursRow, ShiftRow, VanRow, VisitRow
from api.db.database import Database
from api.mapping import MappedProblem
from api.planner import Planner
from api.schemas.planning import PlanVersionOut, SolveRequest, StepType
from api.storage.weeks import week_request
from geo.network import load_osm_file
from geo.providers import RoadMatrixProvider
from geo.road_network import RoadNetwork
from tests.api.test_solve import (
    assert_feasible,
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
)
from tests.geo.conftest import HEIDELBERG_SMALL_BBOX

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = "2026-W48"  # Monday 23 November 2026
MONDAY = date(2026, 11, 23)
Headers = dict[str, str]
FAST = {"solution_limit": 100, "seed": 1}

CLIENTS = {  # id: (name, lon, lat) - fictitious people around real villages
    "c1": ("Erika Muster", 8.839, 49.7121),  # Reichelsheim
    "c2": ("Hans Beispiel", 8.8844, 49.7739),  # Brensbach
    "c3": ("Aylin Probe", 9.0039, 49.6781),  # Michelstadt
    "c4": ("Jonas Test", 8.9671, 49.5928),  # Beerfelden area
}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


@pytest.fixture
def week(app: FastAPI, crew_van: str) -> None:
    """Two vans working Monday and Tuesday, four clients with visits, consultation hours."""
    store_week(app.state.db)


def store_week(db: Database) -> None:
    """The data of :func:`week` written into ``db`` (van ``van-1`` is created if missing)."""
    tuesday = date(2026, 11, 24)
    with db.session() as s:
        van1 = s.get(VanRow, "van-1")
        if van1 is None:
            van1 = VanRow(id="van-1", name="Mobiles Büro 1", skills=[])
            s.add(van1)
        van1.skills = ["turkish"]  # v3 needs it: van-1 gets a client visit
        s.add(VanRow(id="van-2", name="Mobiles Büro 2", skills=["arabic"]))
        s.flush()
        for n, (van, day) in enumerate(
            [("van-1", MONDAY), ("van-2", MONDAY), ("van-1", tuesday), ("van-2", tuesday)]
        ):
            s.add(
                ShiftRow(
                    id=f"s{n}", van_id=van, start=local(day, 8), end=local(day, 16), crew=["A"]
                )
            )
        for cid, (name, lon, lat) in CLIENTS.items():
            s.add(ClientRow(id=cid, name=name, address=f"{name} Str. 1", lon=lon, lat=lat))
        s.flush()
        mon_morning = [[local(MONDAY, 9).isoformat(), local(MONDAY, 12).isoformat()]]
        s.add(VisitRow(id="v1", client_id="c1", duration_minutes=45, windows=mon_morning))
        s.add(VisitRow(id="v2", client_id="c2", duration_minutes=30, skills=["arabic"]))
        s.add(VisitRow(id="v3", client_id="c3", duration_minutes=60, skills=["turkish"]))
        s.add(VisitRow(id="v4", client_id="c4", duration_minutes=30))
        next_week = [
            [local(date(2026, 12, 1), 9).isoformat(), local(date(2026, 12, 1), 10).isoformat()]
        ]
        s.add(VisitRow(id="later", client_id="c4", duration_minutes=30, windows=next_week))
        s.add(
            ConsultationHoursRow(
                id="ch1",
                title="Sprechstunde Bad König",
                municipality="Bad König",
                lon=9.0093,
                lat=49.7413,
                weekday=1,
                start_time=time(13, 0),
                end_time=time(14, 0),
                valid_from=date(2026, 1, 5),
                van_id="van-2",
            )
        )
        s.add(  # every Tuesday in Höchst with van-1, so both vans have work
            ConsultationHoursRow(
                id="ch2",
                title="Sprechstunde Höchst",
                municipality="Höchst i. Odw.",
                lon=8.9944,
                lat=49.7997,
                weekday=2,
                start_time=time(10, 0),
                end_time=time(11, 30),
                valid_from=date(2026, 1, 6),
                van_id="van-1",
            )
        )


def mapped_week(app: FastAPI, version: PlanVersionOut) -> MappedProblem:
    """The problem a stored version was planned for, mapped as the service does."""
    from api.storage import plans as store

    planner: Planner = app.state.planner
    with app.state.db.session() as s:
        row = store.get(s, version.id)
        assert row is not None
        request = SolveRequest.model_validate(row.request)
    return planner.map(request)


def plan_week(client: TestClient, headers: Headers, **body: Any) -> PlanVersionOut:
    response = client.post(f"/v1/weeks/{WEEK}/plan", json={**FAST, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return PlanVersionOut.model_validate(response.json())


def test_week_request_from_stored_data(app: FastAPI, week: None) -> None:
    with app.state.db.session() as s:
        request = week_request(s, WEEK, "Europe/Berlin")
    assert request.horizon.start_date == MONDAY
    assert {v.id for v in request.vans} == {"van-1", "van-2"}
    assert len(request.shifts) == 4
    ids = {v.id for v in request.visits}
    # "later" is next week
    assert ids == {"v1", "v2", "v3", "v4", "ch-ch1-2026-11-23", "ch-ch2-2026-11-24"}
    ch = next(v for v in request.visits if v.id == "ch-ch1-2026-11-23")
    assert ch.pin is not None and ch.pin.van_id == "van-2"
    assert ch.windows[0].start == local(MONDAY, 13) and ch.duration_minutes == 60
    v1 = next(v for v in request.visits if v.id == "v1")
    assert v1.place.coordinates == (8.839, 49.7121) and v1.client_ref == "c1"
    assert v1.windows[0].start == local(MONDAY, 9)


def test_plan_publish_and_published_plans_are_final(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    assert (v1.week, v1.version, v1.status) == (WEEK, 1, "draft")
    plan = assert_feasible(v1.plan, mapped_week(app, v1))
    assert plan.summary.assigned == 6 and plan.unassigned == []
    ch = next((r, s) for r in plan.routes for s in r.steps if s.visit_id == "ch-ch1-2026-11-23")
    assert ch[0].van_id == "van-2" and ch[1].start == local(MONDAY, 13)
    assert next(r for r in plan.routes for s in r.steps if s.visit_id == "v2").van_id == "van-2"

    response = client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)
    assert response.status_code == 200 and response.json()["status"] == "published"
    response = client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    response = client.put(
        f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": ["v1"]}, headers=dispatcher
    )
    assert response.status_code == 409
    assert response.json()["details"][0]["field"] == "path.plan_id"

    # planning again makes a new version; the published one stays as it was
    v2 = plan_week(client, dispatcher)
    assert v2.version == 2 and v2.status == "draft"
    listed = client.get(f"/v1/weeks/{WEEK}/plans", headers=dispatcher).json()
    assert [(p["version"], p["status"]) for p in listed] == [(1, "published"), (2, "draft")]
    again = PlanVersionOut.model_validate(
        client.get(f"/v1/plans/{v1.id}", headers=dispatcher).json()
    )
    assert again.plan == v1.plan and again.status == "published"


def test_replan_keeps_confirmed_visits_and_reports_changes(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    where = {s.visit_id: (r.van_id, r.date) for r in v1.plan.routes for s in r.steps if s.visit_id}
    response = client.put(
        f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": ["v1", "v3"]}, headers=dispatcher
    )
    assert response.status_code == 200 and response.json()["confirmed"] == ["v1", "v3"]
    response = client.put(
        f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": ["nope"]}, headers=dispatcher
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.visit_ids[0]"
    client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)

    # changes in the stored data: a new visit, a cancelled one
    with app.state.db.session() as s:
        s.add(VisitRow(id="v5", client_id="c2", duration_minutes=20))
        cancelled = s.get(VisitRow, "v4")
        assert cancelled is not None
        cancelled.status = "cancelled"

    response = client.post(f"/v1/weeks/{WEEK}/replan", json=FAST, headers=dispatcher)
    assert response.status_code == 201, response.text
    v2 = PlanVersionOut.model_validate(response.json())
    assert (v2.version, v2.status, v2.parent_id) == (2, "draft", v1.id)
    assert_feasible(v2.plan, mapped_week(app, v2))
    changes = v2.changes
    assert changes is not None and changes.base_plan_id == v1.id
    assert changes.added == ["v5"] and changes.dropped == ["v4"]
    assert changes.confirmed_kept == ["v1", "v3"] and changes.confirmed_moved == []
    now = {s.visit_id: (r.van_id, r.date) for r in v2.plan.routes for s in r.steps if s.visit_id}
    assert now["v1"] == where["v1"] and now["v3"] == where["v3"]
    assert v2.confirmed == ["v1", "v3"]
    moved = {m.visit_id for m in changes.moved}
    assert moved == {vid for vid in set(now) & set(where) if now[vid] != where[vid]}
    # the per-visit diff of optimizer.replan: every visit once, consistent with both versions
    per_visit = {c.visit_id: c for c in changes.visits}
    assert len(per_visit) == len(changes.visits)
    assert set(per_visit) == set(where) | set(now) | {"v4"}
    assert per_visit["v4"].status == "cancelled" and per_visit["v4"].after is None
    assert per_visit["v4"].before is not None
    assert (per_visit["v4"].before.van_id, per_visit["v4"].before.date) == where["v4"]
    assert per_visit["v5"].status == "newly_assigned" and per_visit["v5"].before is None
    for vid in ("v1", "v3"):
        c = per_visit[vid]
        assert c.confirmed and c.status in ("unchanged", "time_changed")
        assert c.after is not None and (c.after.van_id, c.after.date) == now[vid]
    starts = {
        s.visit_id: s.start for r in v2.plan.routes for s in r.steps if s.visit_id is not None
    }
    for c in changes.visits:
        if c.after is not None:
            assert c.after.start == starts[c.visit_id]
    assert changes.unchanged == sum(c.status == "unchanged" for c in changes.visits)
    assert {m.visit_id for m in changes.retimed} == {
        c.visit_id for c in changes.visits if c.status == "time_changed"
    }
    assert changes.pins_dropped == []
    assert multiprocessing.active_children() == []  # the re-plan's solver process is gone
    # the published version is untouched
    old = client.get(f"/v1/plans/{v1.id}", headers=dispatcher).json()
    assert old["status"] == "published" and PlanVersionOut.model_validate(old).plan == v1.plan


def test_outputs_and_crew_access(
    app: FastAPI,
    client: TestClient,
    week: None,
    dispatcher: Headers,
    crew: Headers,
    make_token: Callable[..., Headers],
) -> None:
    version = plan_week(client, dispatcher)
    pid = version.id
    van1_day = next(r.date for r in version.plan.routes for st in r.steps if st.visit_id == "v3")

    # drafts are invisible to crews
    path = f"/v1/plans/{pid}/itinerary/van-1/{van1_day}"
    assert client.get(path, headers=crew).status_code == 404
    client.post(f"/v1/plans/{pid}/publish", headers=dispatcher)

    geo = client.get(f"/v1/plans/{pid}/geojson", headers=dispatcher).json()
    assert geo["type"] == "FeatureCollection"
    kinds = {f["properties"]["feature"] for f in geo["features"]}
    assert {"leg", "stop", "depot"} <= kinds
    stop = next(f for f in geo["features"] if f["properties"].get("visit_id") == "v1")
    assert stop["geometry"]["coordinates"] == [8.839, 49.7121]  # [lon, lat]
    # no road network configured: straight legs, flagged approximate
    legs = [f for f in geo["features"] if f["properties"]["feature"] == "leg"]
    assert legs and geo["properties"]["approximate"] is True
    for leg in legs:
        assert leg["properties"]["approximate"] is True
        assert len(leg["geometry"]["coordinates"]) == 2
    stops = [f["properties"] for f in geo["features"] if f["properties"]["feature"] == "stop"]
    assert {(s["van_id"], s["day"]) for s in stops} == {
        (r.van_id, r.date.isoformat()) for r in version.plan.routes if len(r.steps) > 2
    }
    assert all(s["name"] and s["name"] != s["location"] for s in stops)  # never an internal id
    own = client.get(f"/v1/plans/{pid}/geojson", headers=crew).json()
    assert {f["properties"].get("van_id") for f in own["features"]} <= {"van-1", None}
    response = client.get(f"/v1/plans/{pid}/geojson?van_id=van-2", headers=crew)
    assert response.status_code == 403

    page = client.get(f"/v1/plans/{pid}/map", headers=dispatcher)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "leaflet" in page.text.lower() and "van-2" in page.text
    assert client.get(f"/v1/plans/{pid}/map", headers=crew).status_code == 403
    crew_page = client.get(f"/v1/plans/{pid}/map?van_id=van-1&date={van1_day}", headers=crew)
    assert crew_page.status_code == 200 and "leaflet" in crew_page.text.lower()
    other = client.get(f"/v1/plans/{pid}/map?van_id=van-2&date={van1_day}", headers=crew)
    assert other.status_code == 403

    itinerary = client.get(path, headers=crew)
    assert itinerary.status_code == 200, itinerary.text
    body = itinerary.json()
    assert body["van_id"] == "van-1" and body["timezone"] == "Europe/Berlin"
    types = [s["type"] for s in body["stops"]]
    assert types[0] == StepType.START and types[-1] == StepType.END
    visits = [s for s in body["stops"] if s["type"] == "visit"]
    v3 = next(s for s in visits if s["visit_id"] == "v3")
    assert v3["kind"] == "appointment"
    assert (v3["client_name"], v3["address"]) == ("Aylin Probe", "Aylin Probe Str. 1")
    for s in visits:  # consultation hours have no client
        assert (s["client_name"] is None) == (s["kind"] == "consultation_hours")
    week_path = f"/v1/weeks/{WEEK}/itinerary/van-1/{van1_day}"
    assert client.get(week_path, headers=crew).json() == body
    assert (
        client.get(f"/v1/plans/{pid}/itinerary/van-2/{van1_day}", headers=crew).status_code == 403
    )
    # system tokens cannot read plans; crews cannot plan
    system = make_token(Role.SYSTEM)
    assert client.get(f"/v1/plans/{pid}", headers=system).status_code == 403
    assert client.post(f"/v1/weeks/{WEEK}/plan", json=FAST, headers=crew).status_code == 403


def test_erased_clients_leave_no_personal_data_in_plans(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    from api.storage import plans as store

    version = plan_week(client, dispatcher)
    with app.state.db.session() as s:
        assert store.erase_client(s, "c1") == 1
    with app.state.db.session() as s:
        row = store.get(s, version.id)
        assert row is not None
        assert all(v.get("client_ref") != "c1" for v in row.request["visits"])
        step = next(
            st for r in row.payload["routes"] for st in r["steps"] if st.get("visit_id") == "v1"
        )
        assert step["location"] is None


def test_plan_errors(client: TestClient, dispatcher: Headers, week: None) -> None:
    response = client.post("/v1/weeks/2026-48/plan", json=FAST, headers=dispatcher)
    assert response.status_code == 422
    response = client.post("/v1/weeks/2026-W60/plan", json=FAST, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "path.iso_week"
    response = client.post("/v1/weeks/2026-W50/plan", json=FAST, headers=dispatcher)
    assert response.status_code == 422 and response.json()["code"] == "nothing_to_plan"
    response = client.post("/v1/weeks/2026-W50/replan", json=FAST, headers=dispatcher)
    assert response.status_code == 404
    assert client.get("/v1/plans/unknown", headers=dispatcher).status_code == 404
    response = client.post(f"/v1/weeks/{WEEK}/plan", json={"seed": -1}, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.seed"


# --- road-following GeoJSON ---------------------------------------------------------------

HEIDELBERG_PLACES = {  # inside tests/geo/conftest.py HEIDELBERG_SMALL_BBOX (Bergheim, old town)
    "h1": ("Erika Muster", 8.6935, 49.4085),
    "h2": ("Hans Beispiel", 8.7045, 49.4110),
    "h3": ("Aylin Probe", 8.6870, 49.4050),
}
HEIDELBERG_BASE = (8.6990, 49.4075)


@pytest.fixture(scope="module")
def small_network(heidelberg_pbf: Path) -> RoadNetwork:
    """The Heidelberg extract clipped to the small box of the geo tests (read-only!)."""
    return load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX)


def test_geojson_legs_follow_the_roads_of_the_loaded_network(
    app: FastAPI, client: TestClient, dispatcher: Headers, small_network: RoadNetwork
) -> None:
    planner: Planner = app.state.planner
    planner.road_provider = RoadMatrixProvider.from_network(small_network)
    planner.base = HEIDELBERG_BASE
    app.state.road_network = small_network
    with app.state.db.session() as s:
        s.add(
            VanRow(
                id="van-h",
                name="Mobiles Büro H",
                skills=[],
                base_lon=HEIDELBERG_BASE[0],
                base_lat=HEIDELBERG_BASE[1],
            )
        )
        s.flush()
        s.add(ShiftRow(id="sh", van_id="van-h", start=local(MONDAY, 8), end=local(MONDAY, 16)))
        for cid, (name, lon, lat) in HEIDELBERG_PLACES.items():
            s.add(ClientRow(id=cid, name=name, address=f"{name} Str. 1", lon=lon, lat=lat))
            s.add(VisitRow(id=f"v-{cid}", client_id=cid, duration_minutes=20))
    version = plan_week(client, dispatcher)
    assert version.plan.matrix.source == "road_network"
    assert version.plan.summary.assigned == 3

    geo = client.get(f"/v1/plans/{version.id}/geojson", headers=dispatcher).json()
    legs = [f for f in geo["features"] if f["properties"]["feature"] == "leg"]
    assert len(legs) == 4 and geo["properties"]["approximate"] is False
    geod = Geod(ellps="WGS84")
    for leg in legs:
        props, coords = leg["properties"], leg["geometry"]["coordinates"]
        assert props["approximate"] is False and props["day"] == MONDAY.isoformat()
        assert len(coords) > 2
        # the drawn line is as long as the road path the travel matrix measured
        length = geod.geometry_length(LineString(coords))
        assert length == pytest.approx(props["distance"], rel=0.05, abs=15)
        straight = geod.line_length([coords[0][0], coords[-1][0]], [coords[0][1], coords[-1][1]])
        assert length > straight
    assert len({(f["properties"]["van_id"], f["properties"]["leg"]) for f in legs}) == 4
    page = client.get(f"/v1/plans/{version.id}/map", headers=dispatcher)
    assert page.status_code == 200 and "leaflet" in page.text.lower()

    # the service without its road network: the same version drawn straight, flagged
    app.state.road_network = None
    geo = client.get(f"/v1/plans/{version.id}/geojson", headers=dispatcher).json()
    legs = [f for f in geo["features"] if f["properties"]["feature"] == "leg"]
    assert len(legs) == 4
    assert all(f["properties"]["approximate"] for f in legs)
    assert all(len(f["geometry"]["coordinates"]) == 2 for f in legs)
