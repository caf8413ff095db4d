"""Read paths of published plans rendered once (:mod:`api.renders`): hits and misses, ETag and
304, bytes equal to a fresh render, keys per language, van, day and format, drafts never cached,
client changes dropping the stored renders, concurrent first readers, and the cap on concurrent
synchronous solves (:mod:`api.solve_slots`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import delete, func, select

from api.app import create_app
from api.db.planning_models import PlanRenderRow
from api.renders import (
    HEADER,
    PlanHead,
    RenderCache,
    Rendered,
    RenderKind,
    etag_matches,
    render_key,
)
from api.settings import Settings
from tests.api.test_plans import BERLIN, MONDAY, WEEK, plan_week
from tests.api.test_plans import week as week
from tests.api.test_solve import (
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
)

Headers = dict[str, str]
ROOT = Path(__file__).resolve().parents[2]
NO_HEADERS = SimpleNamespace(headers={})
"""Stands for a request without headers when the render cache is called directly."""


@pytest.fixture
def published(client: TestClient, dispatcher: Headers, week: None) -> str:
    """The id of the planned and published week."""
    version = plan_week(client, dispatcher)
    assert client.post(f"/v1/plans/{version.id}/publish", headers=dispatcher).status_code == 200
    return version.id


def stored_renders(app: FastAPI) -> int:
    with app.state.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(PlanRenderRow)) or 0)


def forget_everything(app: FastAPI) -> None:
    """As if nothing had been rendered: the table emptied, the process's LRU cleared."""
    with app.state.db.session() as session:
        session.execute(delete(PlanRenderRow))
    app.state.renders.clear()


def route_of(client: TestClient, headers: Headers, plan_id: str) -> tuple[str, date]:
    plan = client.get(f"/v1/plans/{plan_id}", headers=headers).json()["plan"]
    route = next(r for r in plan["routes"] if any(s["type"] == "visit" for s in r["steps"]))
    return route["van_id"], date.fromisoformat(route["date"])


def test_itinerary_is_rendered_once_then_served_with_etag_and_304(
    app: FastAPI, client: TestClient, dispatcher: Headers, published: str
) -> None:
    van, day = route_of(client, dispatcher, published)
    url = f"/v1/plans/{published}/itinerary/{van}/{day}"
    renders = app.state.renders.renders

    first = client.get(url, headers=dispatcher)
    assert first.status_code == 200, first.text
    assert first.headers[HEADER] == "miss"
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    second = client.get(url, headers=dispatcher)
    assert second.headers[HEADER] == "hit"
    assert second.headers["ETag"] == etag and second.content == first.content
    assert app.state.renders.renders == renders + 1  # rendered once
    assert first.json()["van_id"] == van and first.json()["stops"]

    not_modified = client.get(url, headers={**dispatcher, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["ETag"] == etag and not_modified.headers[HEADER] == "hit"
    other = client.get(url, headers={**dispatcher, "If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content

    # the week's newest published version: the same render
    week_url = f"/v1/weeks/{WEEK}/itinerary/{van}/{day}"
    assert client.get(week_url, headers=dispatcher).headers["ETag"] == etag

    # from the table when this process has forgotten it; equal to a fresh render
    app.state.renders.clear()
    from_table = client.get(url, headers=dispatcher)
    assert from_table.headers[HEADER] == "hit" and from_table.content == first.content
    forget_everything(app)
    fresh = client.get(url, headers=dispatcher)
    assert fresh.headers[HEADER] == "miss" and fresh.content == first.content
    assert fresh.headers["ETag"] == etag


@pytest.mark.parametrize(
    "path",
    ["geojson", "geojson?van_id={van}", "map", "map?van_id={van}&date={day}"],
)
def test_geojson_and_maps_are_rendered_once(
    app: FastAPI, client: TestClient, dispatcher: Headers, published: str, path: str
) -> None:
    van, day = route_of(client, dispatcher, published)
    url = f"/v1/plans/{published}/" + path.format(van=van, day=day)
    first = client.get(url, headers=dispatcher)
    assert first.status_code == 200, first.text
    assert first.headers[HEADER] == "miss"
    second = client.get(url, headers=dispatcher)
    assert second.headers[HEADER] == "hit" and second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    if path.startswith("geojson"):
        forget_everything(app)
        assert client.get(url, headers=dispatcher).content == first.content  # a fresh render
        assert first.json()["type"] == "FeatureCollection"
    else:
        assert b"leaflet" in first.content.lower()


def test_keys_tell_van_day_language_and_format_apart(
    app: FastAPI, client: TestClient, dispatcher: Headers, published: str
) -> None:
    van, day = route_of(client, dispatcher, published)
    base = f"/v1/plans/{published}"
    whole = client.get(f"{base}/geojson", headers=dispatcher)
    one_van = client.get(f"{base}/geojson?van_id={van}", headers=dispatcher)
    one_day = client.get(f"{base}/geojson?van_id={van}&date={day}", headers=dispatcher)
    assert whole.content != one_van.content  # (the van may work on that day only)
    assert all(r.headers[HEADER] == "miss" for r in (whole, one_van, one_day))

    client.cookies.set("vanplan_token", dispatcher["Authorization"].removeprefix("Bearer "))
    crew_base = f"/crew/{van}/{day}/download"
    german = client.get(f"{crew_base}.csv?lang=de")
    english = client.get(f"{crew_base}.csv?lang=en")
    calendar = client.get(f"{crew_base}.ics?lang=en")
    assert german.status_code == english.status_code == calendar.status_code == 200
    assert german.content != english.content  # ';' and German words against ',' and English
    assert german.headers[HEADER] == english.headers[HEADER] == calendar.headers[HEADER] == "miss"
    again = client.get(f"{crew_base}.csv?lang=en")
    assert again.headers[HEADER] == "hit" and again.content == english.content
    assert again.headers["content-disposition"] == english.headers["content-disposition"]
    assert again.cookies.get("vanplan_lang") == "en"  # the language choice is still kept
    assert stored_renders(app) == 6

    # every part of a key changes it
    parts: dict[str, Any] = {
        "fmt": "csv",
        "context": "c",
        "van_id": "van-1",
        "day": MONDAY,
        "lang": "de",
        "extra": (),
    }
    keys = {render_key(RenderKind.CREW_FILE, **parts).key}
    for name, other in [
        ("fmt", "gpx"),
        ("context", "d"),
        ("van_id", "van-2"),
        ("day", date(2026, 11, 24)),
        ("lang", "en"),
        ("extra", ("next:v1",)),
    ]:
        keys.add(render_key(RenderKind.CREW_FILE, **{**parts, name: other}).key)
    keys.add(render_key(RenderKind.CREW_MAP, **parts).key)
    assert len(keys) == 8


def test_drafts_are_never_cached(
    app: FastAPI,
    client: TestClient,
    dispatcher: Headers,
    week: None,
) -> None:
    draft = plan_week(client, dispatcher)
    van, day = route_of(client, dispatcher, draft.id)
    for url in (
        f"/v1/plans/{draft.id}/itinerary/{van}/{day}",
        f"/v1/plans/{draft.id}/geojson",
    ):
        for _ in range(2):
            response = client.get(url, headers=dispatcher)
            assert response.status_code == 200
            assert response.headers[HEADER] == "miss"
            assert response.headers["Cache-Control"] == "no-store"
            assert "ETag" not in response.headers
    assert stored_renders(app) == 0


def test_a_client_change_drops_the_stored_renders(
    app: FastAPI, client: TestClient, dispatcher: Headers, published: str
) -> None:
    van, day = route_of(client, dispatcher, published)
    url = f"/v1/plans/{published}/itinerary/{van}/{day}"
    before = client.get(url, headers=dispatcher)
    assert client.get(url, headers=dispatcher).headers[HEADER] == "hit"
    stop = next(s for s in before.json()["stops"] if s["client_name"])
    client_id = {v["id"]: v for v in _request_visits(app, published)}[stop["visit_id"]][
        "client_ref"
    ]

    renamed = client.patch(
        f"/v1/clients/{client_id}",
        json={"name": "Neuer Name", "language": "de"},
        headers=dispatcher,
    )
    assert renamed.status_code == 200, renamed.text
    assert stored_renders(app) == 0
    after = client.get(url, headers=dispatcher)  # the LRU entry's etag is gone from the table
    assert after.headers[HEADER] == "miss"
    names = {s["visit_id"]: s["client_name"] for s in after.json()["stops"]}
    assert names[stop["visit_id"]] == "Neuer Name"

    assert client.post(f"/v1/clients/{client_id}/erase", headers=dispatcher).status_code == 200
    erased = client.get(url, headers=dispatcher)
    assert erased.headers[HEADER] == "miss"
    assert "Neuer Name" not in erased.text
    named = {s["visit_id"] for s in erased.json()["stops"] if s["client_name"]}
    assert stop["visit_id"] not in named


def test_warm_reads_are_answered_from_memory(
    app: FastAPI,
    client: TestClient,
    dispatcher: Headers,
    published: str,
    make_token: Callable[..., Headers],
) -> None:
    """A repeated read of a published output is answered by the process from memory (no
    query): the same bytes, etag and 304 as the read that went to the database."""
    cache: RenderCache = app.state.renders
    van, day = route_of(client, dispatcher, published)
    urls = [
        f"/v1/plans/{published}/itinerary/{van}/{day}",
        f"/v1/weeks/{WEEK}/itinerary/{van}/{day}",
        f"/v1/plans/{published}/geojson?van_id={van}",
        f"/v1/plans/{published}/map",
    ]
    for url in urls:
        first = client.get(url, headers=dispatcher)
        assert first.status_code == 200, first.text
        fast = cache.fast_hits
        again = client.get(url, headers=dispatcher)
        assert cache.fast_hits == fast + 1, url
        assert again.headers[HEADER] == "hit" and again.content == first.content
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["content-type"] == first.headers["content-type"]
        not_modified = client.get(
            url, headers={**dispatcher, "If-None-Match": first.headers["ETag"]}
        )
        assert not_modified.status_code == 304 and cache.fast_hits == fast + 2

    crew = make_token("crew", van_id=van)
    client.cookies.set("vanplan_token", crew["Authorization"].removeprefix("Bearer "))
    for page in (f"/crew/{van}/{day}", f"/crew/{van}/{day}/map"):
        first = client.get(page)
        assert first.status_code == 200, first.text
        fast = cache.fast_hits
        again = client.get(page)
        assert again.content == first.content and cache.fast_hits == fast + 1, page
    # another van's page is not this crew's to see, its token cached or not
    assert client.get(f"/crew/not-{van}/{day}").status_code == 403
    client.cookies.clear()


def test_with_check_seconds_0_every_read_asks_the_database(
    settings: Settings, dispatcher: Headers, published: str, client: TestClient
) -> None:
    app = create_app(settings.model_copy(update={"render_check_seconds": 0.0}))
    with TestClient(app) as other:
        van, day = route_of(other, dispatcher, published)
        url = f"/v1/plans/{published}/itinerary/{van}/{day}"
        assert other.get(url, headers=dispatcher).status_code == 200
        assert other.get(url, headers=dispatcher).headers[HEADER] == "hit"
        assert app.state.renders.fast_hits == 0


ERASE = """
import sys
from api.db.database import Database
from api.storage.clients import erase_client
db = Database(sys.argv[1])
with db.session() as session:
    erase_client(session, sys.argv[2])
db.dispose()
"""
"""An erasure committed by another process on the same database."""


def test_an_erasure_in_another_process_is_served_within_check_seconds(
    app: FastAPI, client: TestClient, settings: Settings, dispatcher: Headers, published: str
) -> None:
    """A client erased by another process: this server process answers from memory at most
    while the generation it read is younger than ``render_check_seconds`` (here: until it is
    expired by hand), then reads the new generation and serves the output without the
    client."""
    van, day = route_of(client, dispatcher, published)
    url = f"/v1/plans/{published}/itinerary/{van}/{day}"
    cache: RenderCache = app.state.renders
    cache.check_seconds = 3600.0  # a bound longer than the other process takes to start
    before = client.get(url, headers=dispatcher)
    assert client.get(url, headers=dispatcher).headers[HEADER] == "hit"
    stop = next(s for s in before.json()["stops"] if s["client_name"])
    client_id = {v["id"]: v for v in _request_visits(app, published)}[stop["visit_id"]][
        "client_ref"
    ]

    command = [sys.executable, "-c", ERASE, settings.database_url, client_id]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, check=True, env=env, cwd=ROOT, timeout=300)

    fast = cache.fast_hits
    assert client.get(url, headers=dispatcher).content == before.content  # within the bound
    assert cache.fast_hits == fast + 1
    cache.expire()  # ... render_check_seconds later
    after = client.get(url, headers=dispatcher)
    assert after.status_code == 200 and after.headers[HEADER] == "miss"
    assert cache.fast_hits == fast + 1  # read the generation, then the head
    named = {s["visit_id"] for s in after.json()["stops"] if s["client_name"]}
    assert stop["visit_id"] not in named and stop["client_name"] not in after.text
    assert client.get(url, headers=dispatcher).content == after.content
    assert cache.fast_hits == fast + 2  # from memory again


def test_a_new_published_version_is_the_week_answer_in_every_process(
    app: FastAPI, client: TestClient, settings: Settings, dispatcher: Headers, published: str
) -> None:
    """The week's itinerary follows the newest published version in another process too, once
    the generation is read again (publishing raises it)."""
    van, day = route_of(client, dispatcher, published)
    url = f"/v1/weeks/{WEEK}/itinerary/{van}/{day}"
    other_app = create_app(settings)
    with TestClient(other_app) as other:
        assert other.get(url, headers=dispatcher).json()["plan_id"] == published
        assert other.get(url, headers=dispatcher).json()["plan_id"] == published
        newer = plan_week(client, dispatcher).id  # the week planned again: version 2
        published_newer = client.post(
            f"/v1/plans/{newer}/publish", params={"accept_changes": "true"}, headers=dispatcher
        )
        assert published_newer.status_code == 200, published_newer.text
        here = client.get(url, headers=dispatcher)
        if here.status_code == 200:
            assert here.json()["plan_id"] == newer
        else:  # the van has no route that day in the new version
            assert here.status_code == 404
        other_app.state.renders.expire()
        answer = other.get(url, headers=dispatcher)
        assert (answer.status_code, answer.content) == (here.status_code, here.content)


def _request_visits(app: FastAPI, plan_id: str) -> list[dict[str, Any]]:
    from api.storage import plans as store

    with app.state.db.session() as session:
        row = store.get(session, plan_id)
        assert row is not None
        visits: list[dict[str, Any]] = row.request["visits"]
        return visits


def test_crew_pages_are_cached_per_next_stop_and_viewer(
    app: FastAPI,
    client: TestClient,
    published: str,
    make_token: Callable[..., Headers],
    dispatcher: Headers,
) -> None:
    van, day = route_of(client, dispatcher, published)
    crew = make_token("crew", van_id=van)
    client.cookies.set("vanplan_token", crew["Authorization"].removeprefix("Bearer "))
    visits = [
        s
        for r in client.get(f"/v1/plans/{published}", headers=dispatcher).json()["plan"]["routes"]
        if r["van_id"] == van and r["date"] == day.isoformat()
        for s in r["steps"]
        if s["type"] == "visit"
    ]
    first_end = datetime.fromisoformat(visits[0]["end"]).astimezone(BERLIN)
    early = datetime.combine(day, datetime.min.time(), tzinfo=BERLIN).replace(hour=6)
    clock = {"now": early}
    app.state.clock = lambda: clock["now"]
    url = f"/crew/{van}/{day}"

    page = client.get(url)
    assert page.status_code == 200 and page.headers[HEADER] == "miss"
    assert f'data-visit="{visits[0]["visit_id"]}" aria-current="step"' in page.text
    assert client.get(url).headers[HEADER] == "hit"

    clock["now"] = first_end  # the first visit is over: the next one is marked
    later = client.get(url)
    assert later.headers[HEADER] == "miss"
    if len(visits) > 1:
        assert f'data-visit="{visits[1]["visit_id"]}" aria-current="step"' in later.text
    assert f'data-visit="{visits[0]["visit_id"]}" aria-current="step"' not in later.text
    assert client.get(url).content == later.content

    # a dispatcher reads another header: another render
    client.cookies.set("vanplan_token", dispatcher["Authorization"].removeprefix("Bearer "))
    assert client.get(url).headers[HEADER] == "miss"
    assert client.get(f"{url}/map").headers[HEADER] == "miss"
    assert client.get(f"{url}/map").headers[HEADER] == "hit"


def test_concurrent_first_readers_wait_for_one_render(app: FastAPI, client: TestClient) -> None:
    cache = RenderCache()
    key = render_key(RenderKind.GEOJSON, fmt="geojson", context="test")
    head = PlanHead("p" * 32, WEEK, 1, "published", None)
    started = threading.Event()
    release = threading.Event()
    renders: list[int] = []

    def slow_render() -> Rendered:
        renders.append(1)
        started.set()
        assert release.wait(60)
        return Rendered(b'{"type": "FeatureCollection"}', "application/geo+json")

    bodies: list[tuple[bytes, str]] = []

    def read() -> None:
        with app.state.db.sessions() as session:
            response = cache.respond(NO_HEADERS, session, head, key, slow_render)  # type: ignore[arg-type]
            bodies.append((bytes(response.body), response.headers[HEADER]))

    first = threading.Thread(target=read)
    first.start()
    assert started.wait(60)
    others = [threading.Thread(target=read) for _ in range(4)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 60
    while cache.waiting(head.id, key) < 4:  # every other reader waits for the first render
        assert time.monotonic() < deadline, "readers did not queue behind the render"
        time.sleep(0.01)
    release.set()
    for t in [first, *others]:
        t.join(60)
    assert len(renders) == 1
    assert sorted(state for _, state in bodies) == ["hit"] * 4 + ["miss"]
    assert {body for body, _ in bodies} == {b'{"type": "FeatureCollection"}'}
    assert stored_renders(app) == 1


def test_a_render_another_process_stored_first_is_the_one_served(
    app: FastAPI, client: TestClient
) -> None:
    cache = RenderCache()
    key = render_key(RenderKind.MAP, fmt="html", context="test")
    head = PlanHead("q" * 32, WEEK, 1, "published", None)  # read before the other stored it
    with app.state.db.session() as session:
        session.add(
            PlanRenderRow(
                plan_id=head.id,
                key=key.key,
                kind="map",
                lang="-",
                content_type="text/html; charset=utf-8",
                body=b"<p>first</p>",
                etag='"first"',
            )
        )

    with app.state.db.sessions() as session:
        response = cache.respond(
            NO_HEADERS,  # type: ignore[arg-type]
            session,
            head,
            key,
            lambda: Rendered(b"<p>second</p>", "text/html; charset=utf-8"),
        )
    assert response.body == b"<p>first</p>" and response.headers["ETag"] == '"first"'


def test_if_none_match_parsing() -> None:
    assert etag_matches('"a", W/"b"', '"b"')
    assert etag_matches("*", '"x"')
    assert not etag_matches('"a"', '"b"')
    assert not etag_matches(None, '"b"')


# --------------------------------------------------------------------------- solve cap


@pytest.fixture
def all_slots_taken(app: FastAPI, client: TestClient) -> Iterator[int]:
    slots = app.state.solve_slots
    leases = []
    while (lease := slots.try_acquire()) is not None:
        leases.append(lease)
    try:
        yield len(leases)
    finally:
        for lease in leases:
            lease.release()


def test_synchronous_solves_past_the_cap_get_429(
    app: FastAPI,
    client: TestClient,
    dispatcher: Headers,
    week: None,
    all_slots_taken: int,
) -> None:
    assert all_slots_taken == app.state.settings.max_concurrent_solves == 2
    solve_body = _small_problem()
    for url, job in [
        ("/v1/solve", "POST /v1/jobs"),
        (f"/v1/weeks/{WEEK}/plan", f"POST /v1/weeks/{WEEK}/plan/jobs"),
    ]:
        body = solve_body if url == "/v1/solve" else {"solution_limit": 100}
        response = client.post(url, json=body, headers=dispatcher)
        assert response.status_code == 429, response.text
        error = response.json()
        assert error["code"] == "too_many_solves"
        assert job in error["message"]
        assert response.headers["Retry-After"] == "10"  # the sync solve time limit
    # bad input is still told apart first
    too_long = client.post(
        f"/v1/weeks/{WEEK}/plan", json={"time_limit_seconds": 999}, headers=dispatcher
    )
    assert too_long.status_code == 422
    assert "429" in client.get("/openapi.json").json()["paths"]["/v1/solve"]["post"]["responses"]


def test_a_freed_slot_lets_the_next_solve_run(
    app: FastAPI,
    client: TestClient,
    dispatcher: Headers,
    week: None,
) -> None:
    slots = app.state.solve_slots
    first = slots.try_acquire()  # one of two taken: the next solve still runs
    assert first is not None
    try:
        assert plan_week(client, dispatcher).version == 1
        second = slots.try_acquire()  # the solve gave its slot back
        assert second is not None
        refused = client.post(f"/v1/weeks/{WEEK}/plan", json={}, headers=dispatcher)
        assert refused.status_code == 429
        second.release()
    finally:
        first.release()


def test_the_cap_and_pool_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="max_concurrent_solves"):
        Settings(max_concurrent_solves=0)
    with pytest.raises(ValidationError, match="db_pool_size"):
        Settings(db_pool_size=0)
    settings = Settings(max_concurrent_solves=3, db_pool_size=20, db_max_overflow=0)
    assert (settings.max_concurrent_solves, settings.db_pool_size) == (3, 20)


def _small_problem() -> dict[str, Any]:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "solve.json"
    problem: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return problem
