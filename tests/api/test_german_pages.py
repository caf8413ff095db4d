"""No English left on the German pages: the dispatcher week (overview, timeline, unassigned
fixes, offers, vans and shifts, upload summary, refusals), the clients and visits pages and the
crew day are read as a person sees them (text, titles, placeholders, labels) and searched for
every English source text of the catalogue that German translates differently."""

from __future__ import annotations

import html as html_lib
import re
from functools import cache

import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI

from api.i18n import catalogue_path
from api.imports import COLUMNS
from tests.api.test_overview_page import store_idle_week
from tests.api.test_pages import MONDAY, WEEK, Site, _login
from tests.api.test_pages import site as site

ATTRIBUTES = re.compile(r'\b(?:title|placeholder|aria-label|alt)="([^"]*)"')


def visible(page: str) -> str:
    """What a reader sees: text without scripts and styles, plus the attributes read out."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    shown = " ".join(ATTRIBUTES.findall(page))
    text = re.sub(r"<[^>]+>", " ", page)
    return html_lib.unescape(" ".join(f"{text} {shown}".split()))


@cache
def english_fragments() -> tuple[str, ...]:
    """Pieces of English source texts that German says otherwise: the text between
    placeholders, at least two words and ten characters long."""
    with catalogue_path("de").open("rb") as f:
        catalog = read_po(f, locale="de")
    found = set()
    for m in catalog:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for source in ids:
            for piece in re.split(r"%\(\w+\)s|\{\{.*?\}\}", source):
                piece = " ".join(piece.split()).strip(" .,:;()")
                if len(piece) >= 10 and " " in piece and not any(piece in s for s in strings):
                    found.add(piece)
    return tuple(sorted(found))


def english_in(page: str) -> list[str]:
    text = visible(page)
    return [f for f in english_fragments() if f in text]


def test_the_check_finds_english() -> None:
    assert english_in("<p>Copy this week's shifts to next week</p>")
    assert english_in('<input placeholder="names, separated by commas">')
    assert not english_in("<p>Schichten dieser Woche in die nächste Woche kopieren</p>")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_english_on_the_german_pages(app: FastAPI, site: Site) -> None:
    plan_id = store_idle_week(app, drop="a2")
    _login(site, site.dispatcher)
    web = site.client
    pages: dict[str, str] = {}
    pages["week"] = web.get(f"/dispatcher?week={WEEK}&plan={plan_id}").text
    assert "Wochenüberblick" in pages["week"] and "Klient" in pages["week"]
    pages["offers"] = web.post(
        "/dispatcher/offers", data={"week": WEEK, "client_id": "c-1", "duration_minutes": "30"}
    ).text
    pages["offers refused"] = web.post(
        "/dispatcher/offers", data={"week": WEEK, "duration_minutes": "0"}
    ).text
    header = ",".join(COLUMNS)
    bad = f"{header}\nu1,c-9,,,9.0,49.7,45,x,,,,\nu2,c-1,,,49.7,9.0,0,,,11,,\n"
    pages["upload refused"] = web.post(
        "/dispatcher/upload",
        data={"week": WEEK},
        files={"file": ("bad.csv", bad.encode(), "text/csv")},
    ).text
    assert "Zeile 2, window_start" in pages["upload refused"]
    web.post("/dispatcher/vans", data={"week": WEEK, "van_id": "van-9", "name": "Neun"})
    base = {"week": WEEK, "van_id": "van-9", "day": MONDAY, "crew": ""}
    web.post("/dispatcher/shifts", data={**base, "start": "08:00", "end": "16:00"})
    pages["fleet refused"] = web.post(
        "/dispatcher/shifts", data={**base, "start": "12:00", "end": "18:00"}
    ).text
    pages["copy"] = web.post("/dispatcher/week/copy", data={"week": WEEK}).text
    pages["clients"] = web.get("/dispatcher/clients").text
    pages["client refused"] = web.post(
        "/dispatcher/clients", data={"client_id": "c 1", "name": "", "phone": "x", "lat": "1"}
    ).text
    pages["visits"] = web.get(f"/dispatcher/visits?week={WEEK}").text
    pages["visit refused"] = web.post(
        "/dispatcher/visits",
        data={
            "client_id": "c-1",
            "duration_minutes": "x",
            "window_day": MONDAY,
            "window_start": "9",
            "window_end": "10:00",
            "priority": "11",
        },
    ).text
    for name, page in pages.items():
        assert 'lang="de"' in page, name
        assert english_in(page) == [], name
    # The same week in English shows the texts the check looks for.
    english = web.get(f"/dispatcher?week={WEEK}&plan={plan_id}&lang=en").text
    assert len(english_in(english)) > 20
    web.get(f"/dispatcher?week={WEEK}&lang=de")
    _login(site, site.crew)
    crew = web.get(f"/crew/van-1/{MONDAY}")  # the published version
    assert crew.status_code == 200
    assert english_in(crew.text) == []
