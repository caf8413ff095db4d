"""CRUD of vans, shifts, clients, visits and consultation hours through the real app (both DBs)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient

from api.schemas.core import (
    ClientCreate,
    ConsultationHoursCreate,
    ConsultationHoursOut,
    VanCreate,
    VisitCreate,
    example,
)
from tests.api import golden

Headers = dict[str, str]

SHIFT = {"start": "2026-11-23T08:00:00+01:00", "end": "2026-11-23T16:00:00+01:00"}


def fields(response_json: dict[str, object]) -> set[str]:
    return {d["field"] for d in response_json["details"]}  # type: ignore[index, union-attr]


def test_van_crud_round_trip(client: TestClient, dispatcher: Headers) -> None:
    r = client.post("/v1/vans", json=example(VanCreate), headers=dispatcher)
    assert r.status_code == 201, r.text
    van = r.json()
    assert van["id"] == "van-1" and van["skills"] == ["arabic", "wheelchair"]
    assert van["base"] is None

    r = client.patch(
        "/v1/vans/van-1", json={"skills": ["ukrainian"], "base": [8.99, 49.66]}, headers=dispatcher
    )
    assert r.status_code == 200, r.text
    assert r.json()["skills"] == ["ukrainian"]
    assert r.json()["base"] == [8.99, 49.66]
    assert r.json()["name"] == "Mobiles Büro 1"  # untouched

    listed = client.get("/v1/vans", headers=dispatcher).json()
    assert listed["total"] == 1 and listed["items"][0]["skills"] == ["ukrainian"]

    assert client.delete("/v1/vans/van-1", headers=dispatcher).status_code == 204
    r = client.get("/v1/vans/van-1", headers=dispatcher)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found" and fields(r.json()) == {"path.van_id"}


def test_generated_ids_and_duplicate_id_conflict(client: TestClient, dispatcher: Headers) -> None:
    a = client.post("/v1/vans", json={"name": "A"}, headers=dispatcher).json()
    b = client.post("/v1/vans", json={"name": "B"}, headers=dispatcher).json()
    assert a["id"] != b["id"] and a["id"].startswith("van_")
    r = client.post("/v1/vans", json={"id": a["id"], "name": "C"}, headers=dispatcher)
    assert r.status_code == 409 and fields(r.json()) == {"body.id"}


def test_van_validation_lists_every_problem(client: TestClient, dispatcher: Headers) -> None:
    r = client.post(
        "/v1/vans",
        json={"name": "", "skills": ["Not A Skill"], "base": [200, 49], "cost_per_km": -1},
        headers=dispatcher,
    )
    assert r.status_code == 422
    assert fields(r.json()) == {
        "body.name",
        "body.skills[0]",
        "body.base[0]",
        "body.cost_per_km",
    }


def test_patch_cannot_null_a_required_field(client: TestClient, dispatcher: Headers) -> None:
    client.post("/v1/vans", json={"id": "v", "name": "A"}, headers=dispatcher)
    r = client.patch("/v1/vans/v", json={"name": None}, headers=dispatcher)
    assert r.status_code == 422 and fields(r.json()) == {"body.name"}


def test_pagination(client: TestClient, dispatcher: Headers) -> None:
    for i in range(5):
        client.post("/v1/vans", json={"id": f"v{i}", "name": f"V{i}"}, headers=dispatcher)
    page = client.get("/v1/vans?limit=2&offset=2", headers=dispatcher).json()
    assert page["total"] == 5 and [v["id"] for v in page["items"]] == ["v2", "v3"]
    r = client.get("/v1/vans?limit=0", headers=dispatcher)
    assert r.status_code == 422 and fields(r.json()) == {"query.limit"}


def test_shifts_times_in_local_zone_and_overlap_conflict(
    client: TestClient, dispatcher: Headers
) -> None:
    client.post("/v1/vans", json={"id": "v", "name": "A"}, headers=dispatcher)
    # Given in UTC, answered in Europe/Berlin.
    r = client.post(
        "/v1/vans/v/shifts",
        json={"id": "s1", "start": "2026-11-23T07:00:00Z", "end": "2026-11-23T15:00:00Z"},
        headers=dispatcher,
    )
    assert r.status_code == 201, r.text
    assert r.json()["start"] == "2026-11-23T08:00:00+01:00"
    assert r.json()["end"] == "2026-11-23T16:00:00+01:00"

    overlap = {"start": "2026-11-23T15:00:00+01:00", "end": "2026-11-23T18:00:00+01:00"}
    r = client.post("/v1/vans/v/shifts", json=overlap, headers=dispatcher)
    assert r.status_code == 409 and "s1" in r.json()["message"]

    next_day = {"start": "2026-11-24T08:00:00+01:00", "end": "2026-11-24T12:00:00+01:00"}
    assert client.post("/v1/vans/v/shifts", json=next_day, headers=dispatcher).status_code == 201
    page = client.get(
        "/v1/vans/v/shifts",
        params={"start_after": "2026-11-24T00:00:00+01:00"},
        headers=dispatcher,
    ).json()
    assert [s["start"] for s in page["items"]] == ["2026-11-24T08:00:00+01:00"]

    r = client.patch(
        "/v1/vans/v/shifts/s1", json={"end": "2026-11-23T07:00:00+01:00"}, headers=dispatcher
    )
    assert r.status_code == 422 and r.json()["details"][0]["message"] == "end must be after start"
    r = client.patch("/v1/vans/v/shifts/s1", json={"crew": ["A. Becker"]}, headers=dispatcher)
    assert r.status_code == 200 and r.json()["crew"] == ["A. Becker"]
    assert client.get("/v1/vans/other/shifts/s1", headers=dispatcher).status_code == 404


def test_shift_needs_zone_and_sane_length(client: TestClient, dispatcher: Headers) -> None:
    client.post("/v1/vans", json={"id": "v", "name": "A"}, headers=dispatcher)
    r = client.post(
        "/v1/vans/v/shifts",
        json={"start": "2026-11-23T08:00:00", "end": "2026-11-24T16:00:00+01:00"},
        headers=dispatcher,
    )
    assert r.status_code == 422
    assert fields(r.json()) == {"body.start"}
    r = client.post(
        "/v1/vans/v/shifts",
        json={"start": "2026-11-23T00:00:00+01:00", "end": "2026-11-24T16:00:00+01:00"},
        headers=dispatcher,
    )
    assert r.status_code == 422 and "16 hours" in r.json()["details"][0]["message"]


def test_deleting_a_van_deletes_its_shifts(client: TestClient, dispatcher: Headers) -> None:
    client.post("/v1/vans", json={"id": "v", "name": "A"}, headers=dispatcher)
    client.post("/v1/vans/v/shifts", json={"id": "s", **SHIFT}, headers=dispatcher)
    client.delete("/v1/vans/v", headers=dispatcher)
    client.post("/v1/vans", json={"id": "v", "name": "A again"}, headers=dispatcher)
    assert client.get("/v1/vans/v/shifts", headers=dispatcher).json()["total"] == 0


def test_client_crud_and_visit_references(client: TestClient, dispatcher: Headers) -> None:
    r = client.post("/v1/clients", json=example(ClientCreate), headers=dispatcher)
    assert r.status_code == 201, r.text
    assert r.json()["location"] == [8.9931, 49.6571] and r.json()["erased"] is False
    r = client.post(
        "/v1/clients", json={"name": "X", "preferred_van_id": "nope"}, headers=dispatcher
    )
    assert r.status_code == 422 and fields(r.json()) == {"body.preferred_van_id"}

    r = client.post("/v1/visits", json=example(VisitCreate), headers=dispatcher)
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["windows"] == [
        {"start": "2026-11-24T09:00:00+01:00", "end": "2026-11-24T12:00:00+01:00"}
    ]
    r = client.post(
        "/v1/visits", json={"client_id": "ghost", "duration_minutes": 30}, headers=dispatcher
    )
    assert r.status_code == 422 and fields(r.json()) == {"body.client_id"}

    # A client with visits cannot be deleted; after the visit is gone it can.
    r = client.delete("/v1/clients/client-17", headers=dispatcher)
    assert r.status_code == 409
    assert client.delete("/v1/visits/visit-1", headers=dispatcher).status_code == 204
    assert client.delete("/v1/clients/client-17", headers=dispatcher).status_code == 204
    assert client.get("/v1/clients/client-17", headers=dispatcher).status_code == 404


def test_client_language_tag_fits_its_column(client: TestClient, dispatcher: Headers) -> None:
    # A well-formed tag longer than the 35 characters stored is a 422 naming the field, on
    # both databases (PostgreSQL would otherwise refuse the insert with a server error).
    long_tag = "bt-" + "-".join(["abcdefgh"] * 4)  # 38 characters, matches the pattern
    r = client.post("/v1/clients", json={"name": "X", "language": long_tag}, headers=dispatcher)
    assert r.status_code == 422 and fields(r.json()) == {"body.language"}
    r = client.post("/v1/clients", json={"name": "X", "language": "sr-Latn-RS"}, headers=dispatcher)
    assert r.status_code == 201 and r.json()["language"] == "sr-Latn-RS"
    r = client.patch(
        f"/v1/clients/{r.json()['id']}", json={"language": long_tag}, headers=dispatcher
    )
    assert r.status_code == 422 and fields(r.json()) == {"body.language"}


def test_visit_window_must_hold_the_service(client: TestClient, dispatcher: Headers) -> None:
    client.post("/v1/clients", json={"id": "c", "name": "N"}, headers=dispatcher)
    body = {
        "client_id": "c",
        "duration_minutes": 90,
        "windows": [
            {"start": "2026-11-24T09:00:00+01:00", "end": "2026-11-24T10:00:00+01:00"},
            {"start": "2026-11-24T11:00:00+01:00", "end": "2026-11-24T10:00:00+01:00"},
        ],
        "priority": 0,
    }
    r = client.post("/v1/visits", json=body, headers=dispatcher)
    assert r.status_code == 422
    assert fields(r.json()) == {"body.windows[1]", "body.priority"}


def test_visit_patch_and_filters(client: TestClient, dispatcher: Headers) -> None:
    client.post("/v1/clients", json={"id": "c", "name": "N"}, headers=dispatcher)
    client.post("/v1/clients", json={"id": "d", "name": "M"}, headers=dispatcher)
    for i, cid in enumerate(["c", "c", "d"]):
        body = {"id": f"v{i}", "client_id": cid, "duration_minutes": 30}
        client.post("/v1/visits", json=body, headers=dispatcher)
    r = client.patch("/v1/visits/v1", json={"status": "cancelled"}, headers=dispatcher)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    open_c = client.get("/v1/visits?client_id=c&status=open", headers=dispatcher).json()
    assert [v["id"] for v in open_c["items"]] == ["v0"]
    r = client.patch("/v1/visits/v0", json={"duration_minutes": 0}, headers=dispatcher)
    assert r.status_code == 422 and fields(r.json()) == {"body.duration_minutes"}


def test_consultation_hours_crud(client: TestClient, dispatcher: Headers) -> None:
    r = client.post(
        "/v1/consultation-hours", json=example(ConsultationHoursCreate), headers=dispatcher
    )
    assert r.status_code == 201, r.text
    assert r.json()["start_time"] == "09:00:00" and r.json()["location"] == [8.9767, 49.5674]
    r = client.patch(
        "/v1/consultation-hours/ch-beerfelden", json={"end_time": "08:00"}, headers=dispatcher
    )
    assert r.status_code == 422 and "end_time" in r.json()["details"][0]["message"]
    r = client.patch(
        "/v1/consultation-hours/ch-beerfelden", json={"weekday": 3}, headers=dispatcher
    )
    assert r.status_code == 200 and r.json()["weekday"] == 3
    r = client.post(
        "/v1/consultation-hours",
        json={**example(ConsultationHoursCreate), "id": "x", "start_time": "09:00+01:00"},
        headers=dispatcher,
    )
    assert r.status_code == 422 and fields(r.json()) == {"body.start_time"}
    assert (
        client.delete("/v1/consultation-hours/ch-beerfelden", headers=dispatcher).status_code == 204
    )
    assert client.get("/v1/consultation-hours", headers=dispatcher).json()["total"] == 0


def test_consultation_occurrences_follow_the_rhythm_across_dst() -> None:
    hours = ConsultationHoursOut.model_validate(
        {
            **example(ConsultationHoursCreate),
            "created_at": datetime(2026, 1, 1),
            "updated_at": datetime(2026, 1, 1),
            "skills": [],
            "van_id": None,
            "valid_until": date(2027, 4, 30),
        }
    )
    # Every other Tuesday from the week of 2026-11-03 (a Tuesday).
    found = hours.occurrences(date(2026, 11, 1), date(2026, 11, 30))
    assert [s.date() for s, _ in found] == [date(2026, 11, 3), date(2026, 11, 17)]
    assert all(s.hour == 9 and e.hour == 11 for s, e in found)
    # Wall-clock time stays 09:00 across the switch to summer time on 2027-03-28.
    spring = hours.occurrences(date(2027, 3, 22), date(2027, 4, 10))
    assert [s.isoformat() for s, _ in spring] == [
        "2027-03-23T09:00:00+01:00",
        "2027-04-06T09:00:00+02:00",
    ]
    assert hours.occurrences(date(2027, 5, 1), date(2027, 6, 1)) == []


@pytest.mark.parametrize("name", golden.scenarios())
def test_golden(
    name: str, client: TestClient, dispatcher: Headers, crew: Headers, system: Headers
) -> None:
    golden.replay(client, name, {"dispatcher": dispatcher, "crew": crew, "system": system})


def test_golden_files_exist() -> None:
    assert set(golden.scenarios()) >= {"vans_and_shifts", "clients_and_visits", "errors"}
