"""Pinning a visit to a van-day: stored on the visit, set and cleared through the visit API,
honoured by the next plan and re-plan of its week."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.schemas.planning import PlanVersionOut
from api.storage.weeks import week_request
from tests.api.test_plans import (
    FAST,
    MONDAY,
    WEEK,
    Headers,
    mapped_week,
    plan_week,
    week,  # noqa: F401  (fixture, used through usefixtures)
)
from tests.api.test_solve import (
    assert_feasible,
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
)

TUESDAY = date(2026, 11, 24)


def placement(version: PlanVersionOut) -> dict[str, tuple[str, date]]:
    return {
        s.visit_id: (r.van_id, r.date) for r in version.plan.routes for s in r.steps if s.visit_id
    }


@pytest.mark.usefixtures("week")
def test_pin_is_set_validated_and_cleared_through_the_visit_api(
    app: FastAPI,
    client: TestClient,
    dispatcher: Headers,
) -> None:
    assert client.get("/v1/visits/v4", headers=dispatcher).json()["pinned_van_id"] is None
    response = client.patch(
        "/v1/visits/v4",
        json={"pinned_van_id": "van-2", "pinned_date": TUESDAY.isoformat()},
        headers=dispatcher,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["pinned_van_id"], body["pinned_date"]) == ("van-2", "2026-11-24")
    assert client.get("/v1/visits/v4", headers=dispatcher).json()["pinned_date"] == "2026-11-24"
    with app.state.db.session() as s:
        request = week_request(s, WEEK, "Europe/Berlin")
    v4 = next(v for v in request.visits if v.id == "v4")
    assert v4.pin is not None and (v4.pin.van_id, v4.pin.date) == ("van-2", TUESDAY)

    response = client.patch("/v1/visits/v4", json={"pinned_van_id": "nope"}, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.pinned_van_id"
    response = client.patch("/v1/visits/v4", json={"pinned_date": "24.11."}, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.pinned_date"
    # the failed changes left the pin as it was
    body = client.get("/v1/visits/v4", headers=dispatcher).json()
    assert (body["pinned_van_id"], body["pinned_date"]) == ("van-2", "2026-11-24")

    # a date in another week pins only the van in this week's plan (van-2 works that day:
    # a pin to a day without its shift is refused, see tests/api/test_replan_diff.py)
    response = client.patch("/v1/visits/v4", json={"pinned_date": "2026-12-01"}, headers=dispatcher)
    assert response.status_code == 422
    detail = response.json()["details"][0]
    # the stable reason the pages translate; details without one have no "reason" key
    assert (detail["field"], detail["reason"]) == ("body.pinned_date", "pin_no_shift")
    assert (
        "reason"
        not in client.patch(
            "/v1/visits/v4", json={"pinned_van_id": "nope"}, headers=dispatcher
        ).json()["details"][0]
    )
    shift = {"start": "2026-12-01T08:00:00+01:00", "end": "2026-12-01T16:00:00+01:00"}
    assert client.post("/v1/vans/van-2/shifts", json=shift, headers=dispatcher).status_code == 201
    response = client.patch("/v1/visits/v4", json={"pinned_date": "2026-12-01"}, headers=dispatcher)
    assert response.status_code == 200, response.text
    with app.state.db.session() as s:
        request = week_request(s, WEEK, "Europe/Berlin")
    v4 = next(v for v in request.visits if v.id == "v4")
    assert v4.pin is not None and (v4.pin.van_id, v4.pin.date) == ("van-2", None)

    response = client.patch(
        "/v1/visits/v4", json={"pinned_van_id": None, "pinned_date": None}, headers=dispatcher
    )
    assert response.status_code == 200
    assert (response.json()["pinned_van_id"], response.json()["pinned_date"]) == (None, None)
    with app.state.db.session() as s:
        request = week_request(s, WEEK, "Europe/Berlin")
    assert next(v for v in request.visits if v.id == "v4").pin is None


@pytest.mark.usefixtures("week")
def test_plan_and_replan_move_a_pinned_visit_to_its_van_day(
    app: FastAPI,
    client: TestClient,
    dispatcher: Headers,
) -> None:
    v1 = plan_week(client, dispatcher)
    before = placement(v1)["v4"]
    # a van-day where the visit is not now
    target = next(
        (van, day)
        for van in ("van-1", "van-2")
        for day in (MONDAY, TUESDAY)
        if (van, day) != before
    )
    response = client.patch(
        "/v1/visits/v4",
        json={"pinned_van_id": target[0], "pinned_date": target[1].isoformat()},
        headers=dispatcher,
    )
    assert response.status_code == 200, response.text

    response = client.post(f"/v1/weeks/{WEEK}/replan", json=FAST, headers=dispatcher)
    assert response.status_code == 201, response.text
    v2 = PlanVersionOut.model_validate(response.json())
    assert_feasible(v2.plan, mapped_week(app, v2))  # optimizer.checker.check_plan, pins included
    assert placement(v2)["v4"] == target
    assert v2.changes is not None and "v4" in {m.visit_id for m in v2.changes.moved}

    v3 = plan_week(client, dispatcher)  # a fresh plan honours the pin as well
    assert_feasible(v3.plan, mapped_week(app, v3))
    assert placement(v3)["v4"] == target

    # unpinned, the visit is free again (the request carries no pin)
    client.patch(
        "/v1/visits/v4", json={"pinned_van_id": None, "pinned_date": None}, headers=dispatcher
    )
    v4 = plan_week(client, dispatcher)
    mapped = mapped_week(app, v4)
    assert mapped.problem.visit("v4").pin is None
    assert_feasible(v4.plan, mapped)


@pytest.mark.usefixtures("week")
def test_dispatcher_page_offers_the_van_days_and_shows_the_pin(
    client: TestClient, dispatcher: Headers
) -> None:
    client.patch(
        "/v1/visits/v2",
        json={"pinned_van_id": "van-2", "pinned_date": TUESDAY.isoformat()},
        headers=dispatcher,
    )
    version = plan_week(client, dispatcher)
    secret = dispatcher["Authorization"].split()[1]
    assert client.post("/login", data={"token": secret}, follow_redirects=False).status_code == 303
    html = client.get(f"/dispatcher?week={WEEK}&plan={version.id}").text
    assert 'class="pin-to" data-visit="v2"' in html
    assert '<option value="van-2|2026-11-24" selected>' in html  # v2's pin
    # every stored visit (v1 to v4) offers each van-day with a shift; only v2 has a pin
    assert html.count('<option value="van-1|2026-11-23">') == 4
    assert html.count('<option value="" selected>nicht fixiert') == 3  # German by default
    english = client.get(f"/dispatcher?week={WEEK}&plan={version.id}&lang=en").text
    assert english.count('<option value="" selected>not pinned') == 3
    # consultation hours are not stored visits: nothing to pin there
    assert 'class="pin-to" data-visit="ch-ch1-2026-11-23"' not in html
