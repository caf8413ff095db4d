"""Re-plan against the published plan: the diff (moved, retimed, added, dropped) in the answer and
at ``GET /v1/plans/{id}/changes``, publishing that needs ``accept_changes=true``, confirmed visits
held at their published van, day and start (+/- 5 min; the independent checker verifies it), and
pins: impossible ones refused when set, possible ones that meet a full van-day reported as
``pin_not_honoured``."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.db.core_models import VisitRow
from api.planner import Planner
from api.schemas.planning import PlanDiffOut, PlanVersionOut
from api.storage import plans as store
from api.weeks import CONFIRMED_SLACK_SECONDS
from optimizer.checker import check_plan
from tests.api.test_plans import (
    FAST,
    MONDAY,
    WEEK,
    Headers,
    local,
    mapped_week,
    plan_week,
    week,  # noqa: F401  (fixture, used through usefixtures)
)
from tests.api.test_solve import (
    assert_feasible,
    domain_plan,
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
)
from tests.api.test_week_jobs import finished, submit

TUESDAY = date(2026, 11, 24)
WEDNESDAY = date(2026, 11, 25)

Where = dict[str, tuple[str, date, datetime]]


def placed(version: PlanVersionOut) -> Where:
    return {
        s.visit_id: (r.van_id, r.date, s.start)
        for r in version.plan.routes
        for s in r.steps
        if s.visit_id
    }


def expected_diff(before: Where, after: Where) -> dict[str, set[str]]:
    """The diff computed by hand from the two answers."""
    both = before.keys() & after.keys()
    return {
        "moved": {v for v in both if before[v][:2] != after[v][:2]},
        "retimed": {
            v
            for v in both
            if before[v][:2] == after[v][:2]
            and abs((after[v][2] - before[v][2]).total_seconds()) >= 60
        },
        "added": set(after) - set(before),
        "dropped": set(before) - set(after),
    }


def kinds(diff: PlanDiffOut) -> dict[str, set[str]]:
    return {
        "moved": {c.visit_id for c in diff.moved},
        "retimed": {c.visit_id for c in diff.retimed},
        "added": {c.visit_id for c in diff.added},
        "dropped": {c.visit_id for c in diff.dropped},
    }


@pytest.mark.usefixtures("week")
def test_replan_shows_the_diff_and_publishing_it_needs_confirmation(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    # nothing published yet: every planned visit is added, publishing needs no confirmation
    first = PlanDiffOut.model_validate(
        client.get(f"/v1/plans/{v1.id}/changes", headers=dispatcher).json()
    )
    assert first.published_plan_id is None and kinds(first)["added"] == set(placed(v1))
    assert first.published_changed == 0
    assert v1.published_diff == first
    confirmed = ["v1", "v3"]
    r = client.put(
        f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": confirmed}, headers=dispatcher
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)
    assert r.status_code == 200, r.text
    before = placed(v1)

    # after publishing: v4 is pinned to another van-day (moved), v2 is cancelled (dropped),
    # a new visit v5 arrives (added)
    target = next(
        (van, day)
        for van in ("van-1", "van-2")
        for day in (MONDAY, TUESDAY)
        if (van, day) != before["v4"][:2]
    )
    r = client.patch(
        "/v1/visits/v4",
        json={"pinned_van_id": target[0], "pinned_date": target[1].isoformat()},
        headers=dispatcher,
    )
    assert r.status_code == 200, r.text
    assert client.patch("/v1/visits/v2", json={"status": "cancelled"}, headers=dispatcher)
    with app.state.db.session() as s:
        s.add(VisitRow(id="v5", client_id="c1", duration_minutes=20))

    r = client.post(f"/v1/weeks/{WEEK}/replan", json=FAST, headers=dispatcher)
    assert r.status_code == 201, r.text
    v2 = PlanVersionOut.model_validate(r.json())
    mapped = mapped_week(app, v2)
    assert_feasible(v2.plan, mapped)
    after = placed(v2)
    diff = v2.published_diff
    assert diff is not None and diff.published_plan_id == v1.id and diff.published_version == 1
    assert kinds(diff) == expected_diff(before, after)
    assert "v4" in kinds(diff)["moved"] and "v5" in kinds(diff)["added"]
    (dropped,) = [c for c in diff.dropped if c.visit_id == "v2"]
    assert dropped.reason == "removed" and dropped.after is None and dropped.before is not None
    assert diff.published_changed == len(diff.moved) + len(diff.retimed) + len(diff.dropped)
    for c in diff.retimed:
        assert c.before is not None and c.after is not None
        assert c.shift_minutes == round((c.after.start - c.before.start).total_seconds() / 60)
    # the same diff at its own endpoint
    got = client.get(f"/v1/plans/{v2.id}/changes", headers=dispatcher)
    assert got.status_code == 200 and PlanDiffOut.model_validate(got.json()) == diff

    # confirmed visits: published van, day and start +/- 5 min, checked by the checker
    assert v2.changes is not None and v2.changes.pins_dropped == []
    assert v2.changes.times_released == []
    h = mapped.problem.horizon
    held = {
        vid: (before[vid][0], (before[vid][1] - h.start_date).days, h.to_seconds(before[vid][2]))
        for vid in confirmed
    }
    report = check_plan(
        mapped.problem,
        domain_plan(v2.plan, mapped),
        held=held,
        held_slack=CONFIRMED_SLACK_SECONDS,
    )
    assert report.ok, report.violations
    assert not {"v1", "v3"} & kinds(diff)["moved"]
    for c in diff.retimed:  # a confirmed visit may shift by up to 5 minutes, and says so
        if c.visit_id in confirmed:
            assert c.confirmed and c.shift_minutes is not None and abs(c.shift_minutes) <= 5

    # publishing asks first: 409 confirmation_required listing each published visit changed
    r = client.post(f"/v1/plans/{v2.id}/publish", headers=dispatcher)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "confirmation_required"
    listed = {d["field"] for d in body["details"]}
    touched = kinds(diff)["moved"] | kinds(diff)["retimed"] | kinds(diff)["dropped"]
    assert listed == {f"visits.{v}" for v in touched}
    v4_detail = next(d["message"] for d in body["details"] if d["field"] == "visits.v4")
    assert v4_detail.startswith("moved: ") and target[0] in v4_detail
    assert client.get(f"/v1/plans/{v2.id}", headers=dispatcher).json()["status"] == "draft"
    r = client.post(f"/v1/plans/{v2.id}/publish?accept_changes=true", headers=dispatcher)
    assert r.status_code == 200 and r.json()["status"] == "published"
    # once published, its diff is against the version published before it
    published = PlanVersionOut.model_validate(r.json())
    assert published.published_diff is not None
    assert published.published_diff.published_plan_id == v1.id


@pytest.mark.usefixtures("week")
def test_a_version_without_changes_to_published_visits_publishes_at_once(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    """A draft that serves every published visit where it was (here: the same plan stored
    again) publishes at once; one that leaves a published visit out asks first."""
    v1 = plan_week(client, dispatcher)
    assert client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher).status_code == 200
    with app.state.db.session() as s:
        row = store.get(s, v1.id)
        assert row is not None
        plan = store.plan_from_json(row.domain_plan)
        same = store.create_version(
            s, WEEK, request=row.request, payload=row.payload, plan=plan, parent_id=row.id
        )
        # and one without its first route's last stop: that visit is dropped
        first = plan.routes[0]
        fewer = dataclasses.replace(
            plan,
            routes=(dataclasses.replace(first, stops=first.stops[:-1]), *plan.routes[1:]),
        )
        dropped_id = first.stops[-1].visit_id
        less = store.create_version(
            s, WEEK, request=row.request, payload=row.payload, plan=fewer, parent_id=row.id
        )
        same_id, less_id = same.id, less.id
    diff = client.get(f"/v1/plans/{same_id}/changes", headers=dispatcher).json()
    assert diff["published_changed"] == 0 and diff["moved"] == diff["dropped"] == []
    r = client.post(f"/v1/plans/{less_id}/publish", headers=dispatcher)
    assert r.status_code == 409 and r.json()["code"] == "confirmation_required"
    assert [d["field"] for d in r.json()["details"]] == [f"visits.{dropped_id}"]
    r = client.post(f"/v1/plans/{same_id}/publish", headers=dispatcher)
    assert r.status_code == 200, r.text
    # publishing again is refused as before, accept_changes or not
    r = client.post(f"/v1/plans/{same_id}/publish?accept_changes=true", headers=dispatcher)
    assert r.status_code == 409 and r.json()["code"] == "conflict"


@pytest.mark.usefixtures("week")
def test_allow_moving_confirmed_releases_the_hold(
    app: FastAPI, client: TestClient, dispatcher: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default: confirmed visits pinned and held at the published placement within 5 min;
    ``allow_moving_confirmed``: only anchored (the optimizer may move them)."""
    v1 = plan_week(client, dispatcher)
    client.put(f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": ["v1"]}, headers=dispatcher)
    client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)
    planner: Planner = app.state.planner
    seen: list[dict[str, Any]] = []
    original = planner.replan

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(planner, "replan", spy)
    r = client.post(f"/v1/weeks/{WEEK}/replan", json=FAST, headers=dispatcher)
    assert r.status_code == 201, r.text
    r = client.post(
        f"/v1/weeks/{WEEK}/replan",
        json={**FAST, "allow_moving_confirmed": True},
        headers=dispatcher,
    )
    assert r.status_code == 201, r.text
    held, free = seen
    where = placed(v1)["v1"]
    assert held["pin_confirmed"] is True and held["time_slack"] == CONFIRMED_SLACK_SECONDS
    (hold,) = held["hold"].values()
    assert (hold.van_id, hold.day) == (where[0], (where[1] - MONDAY).days)
    assert free["pin_confirmed"] is False and free["time_slack"] is None
    r = client.post(
        f"/v1/weeks/{WEEK}/replan",
        json={**FAST, "allow_moving_confirmed": "ja"},
        headers=dispatcher,
    )
    assert r.status_code == 422
    assert r.json()["details"][0]["field"] == "body.allow_moving_confirmed"


BAD_PINS = [
    # visit, pin, field, words of the reason
    ("v1", {"pinned_date": "2026-11-24"}, "body.pinned_date", "outside all the visit's time"),
    ("v2", {"pinned_van_id": "van-1"}, "body.pinned_van_id", "lacks the skill(s) arabic"),
    (
        "v4",
        {"pinned_van_id": "van-1", "pinned_date": "2026-11-25"},
        "body.pinned_date",
        "van van-1 has no shift on 2026-11-25",
    ),
    ("v4", {"pinned_date": "2026-11-25"}, "body.pinned_date", "no van with the needed skills"),
    ("long", {"pinned_van_id": "van-1", "pinned_date": "2026-11-23"}, "body.pinned_date", "longer"),
]


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize(("visit", "pin", "field", "words"), BAD_PINS)
def test_impossible_pins_are_refused_when_set(
    client: TestClient,
    dispatcher: Headers,
    visit: str,
    pin: dict[str, str],
    field: str,
    words: str,
) -> None:
    if visit == "long":  # nine hours: longer than the eight-hour shift
        body = {"id": "long", "client_id": "c4", "duration_minutes": 540, **pin}
        r = client.post("/v1/visits", json=body, headers=dispatcher)
        assert r.status_code == 422, r.text
        assert client.get("/v1/visits/long", headers=dispatcher).status_code == 404
    else:
        r = client.patch(f"/v1/visits/{visit}", json=pin, headers=dispatcher)
        assert r.status_code == 422, r.text
        stored = client.get(f"/v1/visits/{visit}", headers=dispatcher).json()
        assert (stored["pinned_van_id"], stored["pinned_date"]) == (None, None)
    error = r.json()
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == [field]
    assert words in error["details"][0]["message"] and words in error["message"]


@pytest.mark.usefixtures("week")
def test_possible_pins_are_stored(client: TestClient, dispatcher: Headers) -> None:
    for visit, pin in [
        ("v1", {"pinned_van_id": "van-2", "pinned_date": "2026-11-23"}),
        ("v2", {"pinned_van_id": "van-2"}),
        ("v4", {"pinned_date": "2026-11-24"}),
    ]:
        r = client.patch(f"/v1/visits/{visit}", json=pin, headers=dispatcher)
        assert r.status_code == 200, r.text
    # changing a pinned visit so that its pin can no longer hold is refused as well
    window = {"start": local(TUESDAY, 9).isoformat(), "end": local(TUESDAY, 12).isoformat()}
    r = client.patch("/v1/visits/v1", json={"windows": [window]}, headers=dispatcher)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "body.pinned_date"


@pytest.mark.usefixtures("week")
def test_a_pin_to_a_full_van_day_is_reported_not_honoured(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    """Five two-hour visits pinned to van-1 on Monday (an 8-hour shift with ch1 and a break):
    each pin is possible alone, not all together; the ones left out say why, in German on the
    page."""
    monday = {"start": local(MONDAY, 8).isoformat(), "end": local(MONDAY, 16).isoformat()}
    for i in range(5):
        body = {
            "id": f"full{i}",
            "client_id": "c1",
            "duration_minutes": 120,
            "windows": [monday],
            "pinned_van_id": "van-1",
            "pinned_date": MONDAY.isoformat(),
        }
        r = client.post("/v1/visits", json=body, headers=dispatcher)
        assert r.status_code == 201, r.text
    version = plan_week(client, dispatcher)
    assert_feasible(version.plan, mapped_week(app, version))
    out = {u.visit_id: u for u in version.plan.unassigned if u.visit_id.startswith("full")}
    assert out, "the van-day cannot hold five two-hour visits"
    for u in out.values():
        assert u.reason == "pin_not_honoured", u
        assert "pin to van van-1" in u.message and "could not be honoured" in u.message
    served = {s.visit_id: r.van_id for r in version.plan.routes for s in r.steps if s.visit_id}
    assert all(served[f"full{i}"] == "van-1" for i in range(5) if f"full{i}" not in out)

    secret = dispatcher["Authorization"].split()[1]
    assert client.post("/login", data={"token": secret}, follow_redirects=False).status_code == 303
    html = client.get(f"/dispatcher?week={WEEK}&plan={version.id}").text
    vid = sorted(out)[0]
    assert f'data-visit="{vid}" data-reason="pin_not_honoured"' in html
    assert "Die Fixierung konnte nicht eingehalten werden" in html


@pytest.mark.usefixtures("week")
def test_dispatcher_page_lists_the_changes_before_publish(
    client: TestClient, dispatcher: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)
    client.patch("/v1/visits/v3", json={"status": "cancelled"}, headers=dispatcher)
    r = client.post(f"/v1/weeks/{WEEK}/replan", json=FAST, headers=dispatcher)
    v2 = PlanVersionOut.model_validate(r.json())
    assert v2.published_diff is not None
    secret = dispatcher["Authorization"].split()[1]
    client.post("/login", data={"token": secret}, follow_redirects=False)
    html = client.get(f"/dispatcher?week={WEEK}&plan={v2.id}").text
    assert "Änderungen gegenüber der veröffentlichten Version 1" in html
    assert '<tr data-visit="v3" data-kind="dropped">' in html
    assert "nicht mehr Teil der Woche" in html
    changed = v2.published_diff.published_changed
    assert f'id="publish" data-published-changed="{changed}"' in html
    assert html.index('id="plan-changes"') < html.index('id="publish"')
    assert 'id="allow-moving"' in html and "Bestätigte Besuche dürfen verschoben werden" in html
    # the published version itself shows no changes table and no Publish button
    published = client.get(f"/dispatcher?week={WEEK}&plan={v1.id}").text
    assert 'id="plan-changes"' not in published and 'id="publish"' not in published


@pytest.mark.usefixtures("week")
def test_a_replan_job_passes_allow_moving_confirmed_on(
    app: FastAPI, client: TestClient, dispatcher: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = plan_week(client, dispatcher)
    client.put(f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": ["v3"]}, headers=dispatcher)
    client.post(f"/v1/plans/{v1.id}/publish", headers=dispatcher)
    planner: Planner = app.state.planner
    seen: list[dict[str, Any]] = []
    original = planner.replan

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(planner, "replan", spy)
    for allow in (True, False):
        job = submit(client, dispatcher, "replan", allow_moving_confirmed=allow, **FAST)
        done = finished(client, dispatcher, job.id)
        assert done.plan_id is not None, done.error
        changes = client.get(f"/v1/plans/{done.plan_id}/changes", headers=dispatcher)
        assert changes.status_code == 200 and changes.json()["published_plan_id"] == v1.id
    free, held = seen
    assert free["pin_confirmed"] is False and free["time_slack"] is None
    assert held["pin_confirmed"] is True and held["time_slack"] == CONFIRMED_SLACK_SECONDS
    assert set(held["hold"]) == {"v3"}
