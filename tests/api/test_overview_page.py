"""The dispatcher page's week overview, timeline, unassigned fixes and slot offers form."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from fastapi import FastAPI

from api.db.core_models import ClientRow, VisitRow
from api.mapping import build_problem, plan_to_out
from api.schemas.planning import PlanVersionOut, SolveRequest
from api.storage import plans as store
from geo.providers import approximate_provider
from optimizer.plan import Reason, Unassigned
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.api.test_pages import WEEK, Site, _login, _t, solve_request
from tests.api.test_pages import site as site
from tests.api.test_plans import mapped_week
from tests.api.test_solve import assert_feasible

TUESDAY = "2026-03-03"


def idle_week() -> dict[str, Any]:
    """The pages' week plus van-3, on shift Tuesday but with nothing it may do: every visit
    is pinned to van-1 or van-2."""
    body = solve_request()
    body["vans"].append({"id": "van-3", "name": "Mobiles Büro 3"})
    body["shifts"].append(
        {"van_id": "van-3", "start": _t(TUESDAY, "08:00"), "end": _t(TUESDAY, "16:00")}
    )
    for v in body["visits"]:
        v.setdefault("pin", {"van_id": "van-1"})
    return body


def store_idle_week(app: FastAPI, *, drop: str | None = None) -> str:
    """The idle week solved and stored as a draft; ``drop``: that visit taken off its route and
    reported unassigned for want of room (as a full week would leave it)."""
    body = idle_week()
    mapped = build_problem(SolveRequest.model_validate(body), approximate_provider())
    plan = solve(mapped.problem, SolverSettings(time_limit=1, seed=1))
    if drop is not None:
        routes = tuple(
            dataclasses.replace(r, stops=tuple(s for s in r.stops if s.visit_id != drop))
            for r in plan.routes
        )
        lost = Unassigned(drop, Reason.NO_ROOM, "the week is full")
        plan = dataclasses.replace(plan, routes=routes, unassigned=(*plan.unassigned, lost))
    with app.state.db.session() as session:
        row = store.create_version(
            session,
            WEEK,
            request=body,
            payload=plan_to_out(plan, mapped).model_dump(mode="json"),
            plan=plan,
        )
        return row.id


def test_overview_timeline_and_unassigned_fixes(app: FastAPI, site: Site) -> None:
    plan_id = store_idle_week(app)
    _login(site, site.dispatcher)
    resp = site.client.get(f"/dispatcher?week={WEEK}&plan={plan_id}")
    assert resp.status_code == 200, resp.text
    html = resp.text
    # the overview: counts, drive time and km, utilisation per van-day, idle days at 0 %
    assert "Wochenüberblick" in html
    assert re.search(r'id="ov-planned">4<', html) and re.search(r'id="ov-unassigned"[^>]*>1<', html)
    assert re.search(r'id="ov-km">\d+\.\d km<', html)
    assert 'id="ov-idle">1<' in html
    cell = re.search(r'<td class="load idle" data-van="van-3" data-date="2026-03-03"[^>]*>', html)
    assert cell and 'data-utilisation="0"' in cell.group(0)
    busy = re.findall(r'data-van="van-1" data-date="2026-03-02" data-utilisation="(\d+)"', html)
    assert busy and 0 < int(busy[0]) <= 100
    # the timeline: one row per van-day with a shift, by the van's name, shift limits drawn
    rows = re.findall(r'<div class="tl-row( idle)?" data-van="([^"]+)" data-date="([^"]+)"', html)
    assert sorted((van, day) for _, van, day in rows) == [
        ("van-1", "2026-03-02"),
        ("van-1", "2026-03-03"),
        ("van-2", "2026-03-02"),
        ("van-3", "2026-03-03"),
    ]
    assert [(van, bool(idle)) for idle, van, _ in rows if idle] == [("van-3", True)]
    assert "Mobiles Büro 3 · Di. 03.03." in html and "ohne Besuche: 08:00–16:00 frei" in html
    assert html.count('class="shift"') == 4 and "Schicht 08:00–16:00" in html
    assert 'class="block drive"' in html and "Fahrt " in html
    assert 'class="block consultation_hours" data-visit="ch1"' in html
    assert re.search(r'class="block appointment" data-visit="a1"[^>]*>Klient c-1<', html)
    # unassigned: client, window, German reason and a concrete fix
    row = re.search(r'<tr data-visit="toolong" data-reason="service_too_long".*?</tr>', html, re.S)
    assert row is not None
    assert 'data-fix="shorten"' in row.group(0)
    assert "Der Besuch ist länger, als irgendeine Schicht erlaubt." in row.group(0)
    assert re.search(r"Auf höchstens \d+ Min\. kürzen oder teilen", row.group(0))
    assert "jederzeit" in row.group(0) and "(600 Min.)" in row.group(0)

    english = site.client.get(f"/dispatcher?week={WEEK}&plan={plan_id}&lang=en").text
    assert "Week overview" in english and "idle: 08:00–16:00 free" in english
    assert re.search(r"Shorten to at most \d+ min or split it", english)


def test_a_fix_with_room_offers_to_pin_the_visit_there(app: FastAPI, site: Site) -> None:
    with app.state.db.session() as session:
        session.add(VisitRow(id="a2", client_id="c-1", duration_minutes=45, windows=[]))
    plan_id = store_idle_week(app, drop="a2")
    _login(site, site.dispatcher)
    html = site.client.get(f"/dispatcher?week={WEEK}&plan={plan_id}").text
    row = re.search(
        r'<tr data-visit="a2" data-reason="no_room" data-fix="pin">.*?</tr>', html, re.S
    )
    assert row is not None, html
    text = row.group(0)
    # Tuesday is a2's only day; van-1 and van-3 are free then.
    found = re.search(
        r"Fixieren auf (Mobiles Büro [13]) am Di\. 03\.03\. \(frei (\d\d:\d\d)–", text
    )
    assert found is not None, text
    van = {"Mobiles Büro 1": "van-1", "Mobiles Büro 3": "van-3"}[found.group(1)]
    assert f'class="apply-fix" data-visit="a2" data-target="{van}|{TUESDAY}"' in text
    assert f'<option value="{van}|{TUESDAY}">' in text  # the pin select has that van-day
    assert "Für sich allein möglich, aber die Woche ist voll" in text
    assert "Di. 03.03." in text and "(45 Min.)" in text  # the day it may be, its duration


def test_offer_slots_and_book_one_from_the_page(app: FastAPI, site: Site) -> None:
    with app.state.db.session() as session:
        session.add(ClientRow(id="c-2", name="Max Muster", lon=8.9944, lat=49.7986))
    _login(site, site.dispatcher)
    page = site.client.get(f"/dispatcher?week={WEEK}").text
    assert 'id="offer-form"' in page and '<option value="c-2">Klient c-2</option>' in page
    assert 'name="dates" value="2026-03-03"' in page and "Di. 03.03." in page

    # a refusal names the field and keeps the form
    resp = site.client.post(
        "/dispatcher/offers", data={"week": WEEK, "client_id": "c-2", "duration_minutes": "0"}
    )
    assert resp.status_code == 422 and "duration_minutes" in resp.text
    assert '<option value="c-2" selected>' in resp.text

    form = {"week": WEEK, "client_id": "c-2", "duration_minutes": "30", "dates": [TUESDAY]}
    resp = site.client.post("/dispatcher/offers", data=form)
    assert resp.status_code == 200, resp.text
    offers = re.findall(
        r'<tr data-van="([^"]+)" data-date="([^"]+)" data-start="([^"]+)"><td>(\d+)</td>', resp.text
    )
    assert offers and all(day == TUESDAY for _, day, _, _ in offers)
    assert [int(rank) for *_, rank in offers] == list(range(1, len(offers) + 1))
    assert "Zusätzliche Fahrzeit" in resp.text and "Buchen" in resp.text
    van, day, start, _ = offers[0]

    nothing = site.client.post("/dispatcher/offers", data={**form, "skills": "sign-language"})
    assert nothing.status_code == 200 and 'id="offer-none"' in nothing.text
    assert "Kein Fahrzeug hat die Fähigkeiten, die dieser Besuch braucht." in nothing.text

    book = {**form, "van_id": van, "day": day, "start": start, "plan_id": site.plan_id}
    resp = site.client.post("/dispatcher/offers/book", data=book, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    target = resp.headers["location"]
    booked = re.search(r"booked=([\w]+)", target)
    plan_id = re.search(r"plan=(\w+)", target)
    assert booked and plan_id
    visit_id = booked.group(1)
    with app.state.db.session() as session:
        row = session.get(VisitRow, visit_id)
        assert row is not None and row.client_id == "c-2"
        assert (row.pinned_van_id, str(row.pinned_date)) == (van, TUESDAY)
    shown = site.client.get(target).text
    assert 'id="offer-booked"' in shown and f"Besuch {visit_id} gebucht" in shown
    assert f'class="block appointment booked" data-visit="{visit_id}"' in shown
    version = PlanVersionOut.model_validate(
        site.client.get(f"/v1/plans/{plan_id.group(1)}", headers=_bearer(site)).json()
    )
    placed = [
        (r.van_id, s.start.isoformat())
        for r in version.plan.routes
        for s in r.steps
        if s.visit_id == visit_id
    ]
    assert placed == [(van, start)]
    assert_feasible(version.plan, mapped_week(app, version))

    # the same slot again is taken now: the page says so (409) and books nothing
    again = site.client.post("/dispatcher/offers/book", data=book)
    assert again.status_code == 409 and 'id="offer-errors"' in again.text


def _bearer(site: Site) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.dispatcher}"}
