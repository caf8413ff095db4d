"""Slot offers on a stored, planned week: ask, book, ask again; errors; golden answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.schemas.offers import BookingOut, OffersOut
from api.schemas.planning import PlanVersionOut
from tests.api import golden
from tests.api.test_plans import MONDAY, WEEK, local, mapped_week, plan_week
from tests.api.test_plans import week as week
from tests.api.test_solve import assert_feasible
from tests.api.test_solve import no_helper_processes_left as no_helper_processes_left

Headers = dict[str, str]
OFFERS = f"/v1/weeks/{WEEK}/offers"
ASK = {
    "client_id": "c4",
    "duration_minutes": 30,
    "dates": [MONDAY.isoformat()],
    "windows": [{"start": local(MONDAY, 8).isoformat(), "end": local(MONDAY, 16).isoformat()}],
    "limit": 3,
}


def ask(client: TestClient, headers: Headers, **body: Any) -> OffersOut:
    response = client.post(OFFERS, json={**ASK, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return OffersOut.model_validate(response.json())


def test_offers_are_ranked_and_booking_inserts_the_visit(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers, system: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    answer = ask(client, system)
    assert answer.plan_id == v1.id and answer.plan_version == 1
    assert answer.timezone == "Europe/Berlin" and answer.reason is None
    assert 1 <= len(answer.offers) <= 3
    assert [o.rank for o in answer.offers] == list(range(1, len(answer.offers) + 1))
    drive = [o.added_drive_seconds for o in answer.offers]
    assert drive == sorted(drive)
    assert len({(o.van_id, o.date) for o in answer.offers}) == len(answer.offers)  # 1 per van-day
    for o in answer.offers:
        assert o.date == MONDAY and o.start.utcoffset() == local(MONDAY, 9).utcoffset()
        assert local(MONDAY, 8) <= o.arrival <= o.start
        assert o.end - o.start == timedelta(minutes=30)
        assert o.slot.plan_id == v1.id and o.slot.start == o.start

    best = answer.offers[0]
    body = {"id": "booked-1", "visit": _visit(ASK), "slot": best.slot.model_dump(mode="json")}
    response = client.post(f"{OFFERS}/book", json=body, headers=dispatcher)
    assert response.status_code == 201, response.text
    booking = BookingOut.model_validate(response.json())
    assert booking.visit.id == "booked-1" and booking.visit.client_id == "c4"
    assert (booking.visit.pinned_van_id, booking.visit.pinned_date) == (best.van_id, MONDAY)
    assert [(w.start, w.end) for w in booking.visit.windows] == [(best.start, best.end)]
    assert booking.plan.version == 2 and booking.plan.parent_id == v1.id
    assert booking.plan.status == "draft" and booking.plan.assigned == v1.plan.summary.assigned + 1

    v2 = PlanVersionOut.model_validate(
        client.get(f"/v1/plans/{booking.plan.id}", headers=dispatcher).json()
    )
    assert "booked-1" in v2.confirmed
    plan = assert_feasible(v2.plan, mapped_week(app, v2))
    placed = [(r.van_id, s.start) for r in plan.routes for s in r.steps if s.visit_id == "booked-1"]
    assert placed == [(best.van_id, best.start)]

    # The same slot again: the van is busy then now.
    again = {**body, "id": "booked-2"}
    response = client.post(f"{OFFERS}/book", json=again, headers=system)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "slot_unavailable"
    # New offers come from the new version and never overlap the booked visit on that van.
    later = ask(client, dispatcher, limit=5, per_van_day=5)
    assert later.plan_id == v2.id
    for o in later.offers:
        if o.van_id == best.van_id:
            assert o.end <= best.start or o.start >= best.end

    # A re-plan keeps the booked visit where it was booked (its window is the booked time).
    response = client.post(
        f"/v1/weeks/{WEEK}/replan", json={"seed": 1, "solution_limit": 100}, headers=dispatcher
    )
    assert response.status_code == 201, response.text
    v3 = PlanVersionOut.model_validate(response.json())
    kept = [
        (r.van_id, s.start) for r in v3.plan.routes for s in r.steps if s.visit_id == "booked-1"
    ]
    assert kept == [(best.van_id, best.start)]


def _visit(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("limit", "per_van_day")}


def test_no_slot_says_why(client: TestClient, week: None, dispatcher: Headers) -> None:
    plan_week(client, dispatcher)
    answer = ask(client, dispatcher, skills=["sign-language"])
    assert answer.offers == [] and answer.reason == "no_skilled_van"
    assert answer.message is not None and "sign-language" in answer.message
    assert "_offer" not in answer.message
    full = ask(client, dispatcher, duration_minutes=7 * 60 + 50)
    assert full.offers == [] and full.reason is not None


def test_a_slot_that_does_not_fit_is_refused(
    client: TestClient, week: None, dispatcher: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    slot = {"plan_id": v1.id, "van_id": "van-1", "date": MONDAY.isoformat()}
    night = {**slot, "start": local(MONDAY, 3).isoformat()}
    response = client.post(
        f"{OFFERS}/book", json={"visit": _visit(ASK), "slot": night}, headers=dispatcher
    )
    assert response.status_code == 409 and response.json()["code"] == "slot_unavailable"
    assert client.get("/v1/visits?client_id=c4", headers=dispatcher).json()["total"] == 2


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"dates": ["2026-12-01"]}, 422, "body.dates[0]"),
        ({"client_id": "nobody"}, 422, "body.client_id"),
        ({"client_id": None}, 422, "body"),
        ({"duration_minutes": 0}, 422, "body.duration_minutes"),
        (
            {
                "windows": [
                    {"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T10:00:00+01:00"}
                ]
            },
            422,
            "body.windows[0]",
        ),
    ],
)
def test_bad_requests_name_the_field(
    client: TestClient,
    week: None,
    dispatcher: Headers,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    plan_week(client, dispatcher)
    response = client.post(OFFERS, json={**ASK, **change}, headers=dispatcher)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert field in [d["field"] for d in body["details"]]


def test_no_plan_and_roles(
    client: TestClient, week: None, dispatcher: Headers, crew: Headers
) -> None:
    response = client.post(OFFERS, json=ASK, headers=dispatcher)
    assert response.status_code == 409 and response.json()["code"] == "no_plan"
    assert client.post(OFFERS, json=ASK, headers=crew).status_code == 403
    assert client.post(OFFERS, json=ASK).status_code == 401
    slot = {"van_id": "van-1", "date": MONDAY.isoformat(), "start": local(MONDAY, 9).isoformat()}
    booking = {"visit": _visit(ASK), "slot": slot}
    assert client.post(f"{OFFERS}/book", json=booking, headers=crew).status_code == 403
    plan_week(client, dispatcher)
    wrong_van = {**booking, "slot": {**slot, "van_id": "van-9"}}
    response = client.post(f"{OFFERS}/book", json=wrong_van, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.slot.van_id"
    no_client = {
        "visit": {**_visit(ASK), "client_id": None, "place": {"coordinates": [9, 49.7]}},
        "slot": slot,
    }
    response = client.post(f"{OFFERS}/book", json=no_client, headers=dispatcher)
    assert response.status_code == 422


# --- golden answers ------------------------------------------------------------------------------

OFFERS_GOLDEN = golden.GOLDEN_DIR / "offers"
IDS = frozenset({"plan_id", "id", "parent_id"})


def _stable(value: Any) -> Any:
    """Plan version ids are random: replaced by ``"<id>"`` (visit ids are given, so kept)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            volatile = k in IDS and isinstance(v, str) and len(v) == 32
            out[k] = "<id>" if volatile else _stable(v)
        return out
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(p.stem for p in OFFERS_GOLDEN.glob("*.json")))
def test_offers_golden(
    client: TestClient, week: None, dispatcher: Headers, system: Headers, name: str
) -> None:
    """The week of ``tests/api/test_plans.py`` planned with a fixed seed and solution limit, then
    the recorded offer requests. Regenerate: ``VANPLAN_REGENERATE_GOLDEN=1 pytest tests/api -k
    golden``."""
    plan_week(client, dispatcher)
    golden.replay(client, OFFERS_GOLDEN / f"{name}.json", {}, default_headers=system, clean=_stable)


def test_offers_golden_files_exist() -> None:
    assert (OFFERS_GOLDEN / "ask_and_book.json").is_file()
