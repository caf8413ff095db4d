"""Server-rendered pages: login by token cookie, the crew day with downloads, the week view."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from icalendar import Calendar

from api.auth import Role, issue_token
from api.db.core_models import ClientRow, VanRow
from api.deps import get_session, get_settings
from api.routers.pages import COOKIE
from api.settings import PageSettings
from api.storage import plans as store
from optimizer.plan import Plan, SolverStats

WEEK = "2026-W10"
MONDAY = "2026-03-02"


def _t(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00+01:00"


def solve_request() -> dict[str, Any]:
    """Two vans, Monday and Tuesday around Erbach; one consultation-hours stop."""
    tue = "2026-03-03"
    return {
        "horizon": {"start_date": MONDAY, "days": 2, "timezone": "Europe/Berlin"},
        "vans": [
            {"id": "van-1", "name": "Mobiles Büro 1"},
            {"id": "van-2", "name": "Mobiles Büro 2"},
        ],
        "shifts": [
            {"van_id": "van-1", "start": _t(MONDAY, "08:00"), "end": _t(MONDAY, "16:00")},
            {"van_id": "van-1", "start": _t(tue, "08:00"), "end": _t(tue, "16:00")},
            {"van_id": "van-2", "start": _t(MONDAY, "08:00"), "end": _t(MONDAY, "16:00")},
        ],
        "visits": [
            {
                "id": "a1",
                "place": {"coordinates": [9.0036, 49.6786]},
                "duration_minutes": 60,
                "dates": [MONDAY],
                "preferred_van": "van-1",
                "client_ref": "c-1",
                "pin": {"van_id": "van-1", "date": MONDAY},
            },
            {
                "id": "ch1",
                "place": {"coordinates": [9.0067, 49.7414]},
                "duration_minutes": 120,
                "kind": "consultation_hours",
                "windows": [{"start": _t(MONDAY, "10:00"), "end": _t(MONDAY, "12:00")}],
                "pin": {"van_id": "van-1"},
            },
            {
                "id": "a2",
                "place": {"coordinates": [8.9756, 49.5700]},
                "duration_minutes": 45,
                "dates": [tue],
            },
            {
                "id": "a3",
                "place": {"coordinates": [8.9944, 49.7986]},
                "duration_minutes": 30,
                "pin": {"van_id": "van-2"},
            },
            {  # cannot fit: a 10-hour appointment
                "id": "toolong",
                "place": {"coordinates": [8.8375, 49.7125]},
                "duration_minutes": 600,
            },
        ],
        "options": {"time_limit_seconds": 1, "seed": 1, "use_road_network": False},
    }


@dataclass
class Site:
    client: TestClient
    app: FastAPI
    dispatcher: str  # token secrets
    crew: str
    other_crew: str
    plan_id: str


_SOLVED: dict[str, Any] = {}  # the solve's answer, computed once per test session


def _solved() -> tuple[dict[str, Any], Plan]:
    if "plan" not in _SOLVED:
        from api.mapping import build_problem, plan_to_out
        from api.schemas.planning import SolveRequest
        from geo.providers import approximate_provider
        from optimizer.settings import SolverSettings
        from optimizer.solve import solve

        mapped = build_problem(SolveRequest.model_validate(solve_request()), approximate_provider())
        plan = solve(mapped.problem, SolverSettings(time_limit=1, seed=1))
        _SOLVED["payload"] = plan_to_out(plan, mapped).model_dump(mode="json")
        _SOLVED["plan"] = plan
    return _SOLVED["payload"], _SOLVED["plan"]


def _store_plan(app: FastAPI, *, publish: bool, domain: bool = True) -> str:
    payload, plan = _solved()
    with app.state.db.session() as session:
        row = store.create_version(
            session,
            WEEK,
            request=solve_request(),
            payload=payload,
            # Without the optimizer's plan the pages fall back to straight legs.
            plan=plan if domain else Plan((), (), SolverStats("none", 0.0, 0.0)),
        )
        if publish:
            store.publish(session, row)
        return row.id


def _pages(app: FastAPI, **fields: Any) -> None:
    """The pages' settings for the test, through the API's settings dependency."""
    settings = app.state.settings.model_copy(update={"pages": PageSettings(**fields)})
    app.dependency_overrides[get_settings] = lambda: settings


@pytest.fixture
def site(app: FastAPI) -> Iterator[Site]:
    _pages(app, tiles_url=None)
    with TestClient(app) as client:
        with app.state.db.session() as session:
            session.add(VanRow(id="van-1", name="Mobiles Büro 1", skills=[]))
            session.add(VanRow(id="van-2", name="Mobiles Büro 2", skills=[]))
            session.add(
                ClientRow(
                    id="c-1",
                    name="Erika Mustermann",
                    address="Hauptstraße 1, 64720 Michelstadt",
                    notes="Bitte klingeln",
                    phone="+49 6061 123-45",
                )
            )
        with app.state.db.session() as session:
            disp = issue_token(session, Role.DISPATCHER, name="d").secret
            crew = issue_token(session, Role.CREW, name="c", van_id="van-1").secret
            other = issue_token(session, Role.CREW, name="c2", van_id="van-2").secret
        plan_id = _store_plan(app, publish=True)
        yield Site(client, app, disp, crew, other, plan_id)


def _login(site: Site, secret: str) -> None:
    site.client.cookies.clear()
    resp = site.client.post("/login", data={"token": secret}, follow_redirects=False)
    assert resp.status_code == 303
    assert COOKIE in resp.cookies or site.client.cookies.get(COOKIE)


def test_pages_need_login(site: Site) -> None:
    resp = site.client.get(f"/crew/van-1/{MONDAY}", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/login?next=%2Fcrew%2Fvan-1")
    assert site.client.get("/dispatcher", follow_redirects=False).status_code == 303


def test_bad_token_is_refused(site: Site) -> None:
    resp = site.client.post("/login", data={"token": "vp_nonsense"}, follow_redirects=False)
    assert resp.status_code == 401
    assert "unbekanntes oder widerrufenes Token" in resp.text  # German by default


def test_crew_login_goes_to_own_van(site: Site) -> None:
    resp = site.client.post("/login", data={"token": site.crew}, follow_redirects=False)
    # The van's start page, which opens its next working day with a published plan.
    assert resp.status_code == 303 and resp.headers["location"] == "/crew/van-1"
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_crew_page_lists_stops_in_order(site: Site) -> None:
    _login(site, site.crew)
    resp = site.client.get(f"/crew/van-1/{MONDAY}")
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert "Mobiles Büro 1" in html
    # Stops in order, with pseudonym (default) rather than the client's name.
    a1, ch1 = html.index('data-visit="a1"'), html.index('data-visit="ch1"')
    assert a1 < ch1 or ch1 < a1  # both present
    assert "Klient c-1" in html and "Erika Mustermann" not in html
    assert "Bitte klingeln" in html
    # The client's phone number as a call link on the stop card.
    assert '<a class="tel" href="tel:+49606112345">+49 6061 123-45</a>' in html
    assert "Hauptstraße 1, 64720 Michelstadt" in html  # the client's address
    assert "bei Bad König" in html  # no address: the nearest village, never an internal id
    assert "Sprechstunde" in html
    assert "geo:49.678600,9.003600" in html
    assert "openstreetmap.org/directions" in html
    for ext in ("ics", "gpx", "csv"):
        assert f"/crew/van-1/{MONDAY}/download.{ext}" in html
    assert "@media print" in site.client.get("/static/vanplan.css").text


def test_crew_may_not_see_other_van(site: Site) -> None:
    _login(site, site.crew)
    assert site.client.get(f"/crew/van-2/{MONDAY}").status_code == 403
    assert site.client.get(f"/crew/van-2/{MONDAY}/download.ics").status_code == 403


def test_crew_downloads(site: Site) -> None:
    _login(site, site.crew)
    base = f"/crew/van-1/{MONDAY}/download"
    ics = site.client.get(f"{base}.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert 'filename="vanplan-van-1-2026-03-02.ics"' in ics.headers["content-disposition"]
    events = list(Calendar.from_ical(ics.content).walk("VEVENT"))
    assert {str(e["summary"]).split(". ", 1)[1][:11] for e in events} >= {"Sprechstund"}
    assert len(events) == 2

    gpx = site.client.get(f"{base}.gpx")
    assert gpx.status_code == 200
    root = ET.fromstring(gpx.content)
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(root.findall("g:wpt", ns)) == 4  # start, two stops, end
    assert root.findall("g:trk/g:trkseg/g:trkpt", ns)

    table = site.client.get(f"{base}.csv").content
    assert table.startswith("\ufeff".encode())  # UTF-8 BOM: Excel reads the umlauts right
    # German pages give German Excel its separator, the semicolon.
    rows = list(csv.reader(io.StringIO(table.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["order", "date", "arrival", "start", "end"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert {r[1] for r in rows[1:]} == {"02.03.2026"}
    english = site.client.get(f"{base}.csv?lang=en").content.decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(english)))[:2] == ["order", "date"]

    assert site.client.get(f"{base}.pdf").status_code == 404


def test_crew_names_when_configured(app: FastAPI, site: Site) -> None:
    _login(site, site.crew)
    assert "Erika Mustermann" not in site.client.get(f"/crew/van-1/{MONDAY}").text
    _pages(app, tiles_url=None, client_display="name")
    assert "Erika Mustermann" in site.client.get(f"/crew/van-1/{MONDAY}").text


def test_pages_use_the_api_session_dependency(app: FastAPI, site: Site) -> None:
    """Every page's database work goes through ``api.deps.get_session`` (overridable)."""
    opened: list[str] = []

    def session() -> Iterator[Any]:
        with app.state.db.sessions() as s:
            opened.append("session")
            yield s

    app.dependency_overrides[get_session] = session
    _login(site, site.dispatcher)
    assert opened == ["session"]  # the login's token lookup
    assert site.client.get(f"/dispatcher?week={WEEK}").status_code == 200
    assert site.client.get(f"/dispatcher/map?plan={site.plan_id}").status_code == 200
    assert len(opened) == 3

    def broken() -> Iterator[Any]:
        raise RuntimeError("database down")
        yield

    app.dependency_overrides[get_session] = broken
    with pytest.raises(RuntimeError, match="database down"):
        site.client.get(f"/crew/van-1/{MONDAY}")


def test_pages_without_stored_optimizer_plan_draw_straight_legs(
    app: FastAPI, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    plan_id = _store_plan(app, publish=True, domain=False)
    _login(site, site.crew)
    with caplog.at_level("WARNING", logger="api.routers.pages"):
        html = site.client.get(f"/crew/van-1/{MONDAY}/map?plan={plan_id}").text
    assert "drawing straight legs" in caplog.text
    assert html.count("L.polyline(") == 3
    assert "Klient c-1" in site.client.get(f"/crew/van-1/{MONDAY}?plan={plan_id}").text


def test_crew_map_is_the_van_day(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    _login(site, site.crew)
    with caplog.at_level("WARNING", logger="api.routers.pages"):
        html = site.client.get(f"/crew/van-1/{MONDAY}/map").text
    assert not caplog.records  # drawn by geo.geometry from the stored optimizer plan
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "L.tileLayer(" not in html  # tiles switched off in this app
    assert html.count("L.polyline(") == 3  # base -> a1 -> ch1 -> base (order either way)
    assert site.client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    assert site.client.get("/static/../routers/pages.py").status_code == 404


def test_crew_sees_no_draft(app: FastAPI, site: Site) -> None:
    draft = _store_plan(app, publish=False)
    _login(site, site.crew)
    assert site.client.get(f"/crew/van-1/{MONDAY}?plan={draft}").status_code == 404
    _login(site, site.dispatcher)
    assert site.client.get(f"/crew/van-1/{MONDAY}?plan={draft}").status_code == 200


def test_dispatcher_week(site: Site) -> None:
    _login(site, site.dispatcher)
    resp = site.client.get(f"/dispatcher?week={WEEK}")
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert f"Woche {WEEK}" in html
    assert 'data-van="van-1" data-date="2026-03-02"' in html
    assert 'data-van="van-2" data-date="2026-03-02"' in html
    # unassigned, with its reason code translated
    assert 'data-visit="toolong" data-reason="service_too_long"' in html
    assert "Der Besuch ist länger, als irgendeine Schicht erlaubt." in html
    assert f"/dispatcher/map?plan={site.plan_id}" in html
    week_map = site.client.get(f"/dispatcher/map?plan={site.plan_id}").text
    assert "Nicht eingeplant" in week_map and "als irgendeine Schicht erlaubt" in week_map
    assert "Mobiles Büro 1" in week_map
    assert "Mo. 02.03." in week_map and "Di. 03.03." in week_map  # the day switcher
    english = site.client.get(f"/dispatcher/map?plan={site.plan_id}&lang=en").text
    assert "The visit is longer than any shift allows." in english and "Mon 02.03." in english


def test_dispatcher_page_is_not_for_crews(site: Site) -> None:
    _login(site, site.crew)
    assert site.client.get("/dispatcher").status_code == 403


def test_upload_appointments(site: Site) -> None:
    from api.db.core_models import VisitRow
    from api.imports import COLUMNS

    _login(site, site.dispatcher)
    assert site.client.get("/dispatcher/template.csv").text.startswith(",".join(COLUMNS))
    xlsx = site.client.get("/dispatcher/template.xlsx")
    assert xlsx.content[:2] == b"PK"  # a zip container, as .xlsx files are
    header = ",".join(COLUMNS)
    bad = f"{header}\nu1,c-9,,,9.0,49.7,45,,,,,\nu2,c-1,,,9.0,49.7,0,,,,,\n"
    resp = site.client.post(
        "/dispatcher/upload",
        data={"week": WEEK},
        files={"file": ("bad.csv", bad.encode(), "text/csv")},
    )
    assert resp.status_code == 422
    assert "Zeile 3, duration_minutes: muss 1..600 sein" in resp.text
    good = f"{header}\nu1,c-9,Neu Kunde,,9.0,49.7,45,,,,,\nu2,c-1,,,9.0,49.7,30,,,,,\n"
    resp = site.client.post(
        "/dispatcher/upload",
        data={"week": WEEK},
        files={"file": ("good.csv", good.encode(), "text/csv")},
    )
    assert resp.status_code == 200 and "2 Termine gelesen" in resp.text
    assert "2 neu" in resp.text and "0 geändert" in resp.text
    with site.app.state.db.session() as session:
        assert session.get(VisitRow, "u1") is not None
        assert session.get(VisitRow, "u2").client_id == "c-1"
    # The same file again, one row changed (German times), one bad row added: the summary says
    # what happened; no visit is duplicated.
    again = (
        f"{header}\nu1,c-9,Neu Kunde,,9.0,49.7,45,,,,,\n"
        "u2,c-1,,,9.0,49.7,30,7.12.2026 9:00,07.12.2026 11:00,,,\nu3,c-10,,,9.0,49.7,45,,,,,\n"
    )
    resp = site.client.post(
        "/dispatcher/upload",
        data={"week": WEEK},
        files={"file": ("again.csv", again.encode(), "text/csv")},
    )
    assert resp.status_code == 200
    assert "0 neu" in resp.text and "1 geändert" in resp.text and "1 unverändert" in resp.text
    assert "1 Zeile abgelehnt" in resp.text and "Zeile 4, client_name: Klient" in resp.text
    with site.app.state.db.session() as session:
        assert session.get(VisitRow, "u2").windows != []
        assert session.get(VisitRow, "u3") is None


def test_dispatcher_lists_visits_to_pin(app: FastAPI, site: Site) -> None:
    draft = _store_plan(app, publish=False)
    _login(site, site.dispatcher)
    html = site.client.get(f"/dispatcher?week={WEEK}&plan={draft}").text
    assert 'class="pin" data-visit="a1" data-pinned="no"' in html
    published = site.client.get(f"/dispatcher?week={WEEK}&plan={site.plan_id}").text
    assert 'class="pin"' not in published  # published plans are not edited


def test_language_from_query_cookie_and_browser(site: Site) -> None:
    _login(site, site.crew)
    url = f"/crew/van-1/{MONDAY}"
    german = site.client.get(url).text
    assert '<html lang="de">' in german and "Abmelden" in german and "Montag, 02.03.2026" in german
    english = site.client.get(url, headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"}).text
    assert '<html lang="en">' in english and "Log out" in english
    assert "Monday, 02.03.2026" in english
    french_first = site.client.get(url, headers={"Accept-Language": "fr, de;q=0.4"}).text
    assert '<html lang="de">' in french_first
    # ?lang= wins and is kept in a cookie for the next pages.
    resp = site.client.get(f"{url}?lang=en", headers={"Accept-Language": "de"})
    assert '<html lang="en">' in resp.text and "vanplan_lang=en" in resp.headers["set-cookie"]
    assert '<html lang="en">' in site.client.get(url, headers={"Accept-Language": "de"}).text
    # The switcher links the same page in the other language.
    assert f'href="http://testserver{url}?lang=de"' in site.client.get(url).text


def _at(app: FastAPI, moment: str) -> None:
    app.state.clock = lambda: datetime.fromisoformat(moment)


def test_crew_start_opens_the_next_working_day(app: FastAPI, site: Site) -> None:
    _login(site, site.crew)
    for now, day in [
        ("2026-02-27T12:00:00+01:00", "2026-03-02"),  # the Friday before: Monday
        ("2026-03-02T18:00:00+01:00", "2026-03-02"),  # the day itself, after work
        ("2026-03-03T07:00:00+01:00", "2026-03-03"),  # Tuesday
        ("2026-03-20T09:00:00+01:00", "2026-03-03"),  # nothing later: the last day planned
    ]:
        _at(app, now)
        resp = site.client.get("/crew/van-1", follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == f"/crew/van-1/{day}", now
    # van-2 works on Monday only; the crew of van-1 may not look.
    _at(app, "2026-03-03T07:00:00+01:00")
    _login(site, site.other_crew)
    assert site.client.get("/crew/van-2", follow_redirects=False).headers["location"] == (
        f"/crew/van-2/{MONDAY}"
    )
    assert site.client.get("/crew/van-1").status_code == 403


def test_crew_start_without_published_plan(app: FastAPI) -> None:
    _pages(app, tiles_url=None)
    with TestClient(app) as client, app.state.db.session() as session:
        session.add(VanRow(id="van-1", name="Mobiles Büro 1", skills=[]))
        session.flush()
        crew = issue_token(session, Role.CREW, name="c", van_id="van-1").secret
        session.commit()
        client.post("/login", data={"token": crew}, follow_redirects=False)
        resp = client.get("/crew/van-1")
        assert resp.status_code == 404
        assert "Noch kein veröffentlichter Plan für Fahrzeug van-1." in resp.text


def test_crew_day_shows_departure_return_next_stop_and_days(app: FastAPI, site: Site) -> None:
    _login(site, site.crew)
    _at(app, "2026-03-02T06:00:00+01:00")
    html = site.client.get(f"/crew/van-1/{MONDAY}").text
    items = re.findall(r'<li class="([^"]+)"', html)
    assert items[0] == "depot departure" and items[-1] == "depot back"
    stops = [c for c in items if c.startswith("stop")]
    assert len(stops) == 2 and stops[0].endswith(" next") and "next" not in stops[1]
    assert "Nächster Halt" in html
    times = re.findall(r'<li class="depot \w+"><strong>(\d\d:\d\d)</strong>', html)
    assert len(times) == 2 and times[0] < times[1]
    assert re.search(r"Abfahrt \d\d:\d\d", html) and re.search(r"zurück \d\d:\d\d", html)
    for link in ("geo:", "https://www.google.com/maps/dir/", "https://maps.apple.com/"):
        assert html.count(f'href="{link}') == 2
    # The day switcher: van-1's days of the week, this one current.
    current = r'<strong class="day current" aria-current="date">Mo\. 02\.03\.</strong>'
    assert re.search(current, html)
    assert '<a class="day" href="/crew/van-1/2026-03-03">Di. 03.03.</a>' in html
    # Once the first stop is over, the second is next; after the last, none.
    first_end = re.findall(r"<strong>\d\d:\d\d–(\d\d:\d\d)</strong>", html)[0]
    _at(app, f"2026-03-02T{first_end}:59+01:00")  # shown to the minute
    html = site.client.get(f"/crew/van-1/{MONDAY}").text
    stops = [c for c in re.findall(r'<li class="([^"]+)"', html) if c.startswith("stop")]
    assert not stops[0].endswith(" next") and stops[1].endswith(" next")
    _at(app, "2026-03-02T20:00:00+01:00")
    assert "Nächster Halt" not in site.client.get(f"/crew/van-1/{MONDAY}").text


def test_crew_day_one_name_per_stop(site: Site) -> None:
    """The address stands once: in the list, the calendar's LOCATION, the CSV and the GPX."""
    _login(site, site.crew)
    address = "Hauptstraße 1, 64720 Michelstadt"
    html = site.client.get(f"/crew/van-1/{MONDAY}").text
    assert html.count(address) == 1
    base = f"/crew/van-1/{MONDAY}/download"
    events = list(Calendar.from_ical(site.client.get(f"{base}.ics").content).walk("VEVENT"))
    assert address in {str(e["location"]) for e in events}
    table = site.client.get(f"{base}.csv").content.decode("utf-8-sig")
    assert table.count(address) == 1
    assert site.client.get(f"{base}.gpx").text.count(address) == 2  # waypoint and route point
