"""The registry of output formats: every format renders the same view; unknown formats are
refused with the list of known ones; the registry cannot be changed."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from geo.render import (
    RENDERERS,
    RenderOptions,
    Selection,
    UnknownFormatError,
    known_formats,
    render,
    renderer,
)
from geo.render.base import TileSource
from tests.geo.sample_view import MONDAY, sample_view

OPTIONS = RenderOptions(tiles=TileSource.none(), stamp=datetime(2026, 3, 1, tzinfo=UTC))
V1_MONDAY = Selection("v1", MONDAY)


def _stop_ids(name: str, content: bytes) -> list[str]:
    """The visits a rendered van-day v1/Monday shows, read back per format (test only)."""
    text = content.decode("utf-8")
    if name == "geojson":
        feats = json.loads(text)["features"]
        return [f["properties"]["visit_id"] for f in feats if f["properties"]["feature"] == "stop"]
    if name == "gpx":
        ns = "{http://www.topografix.com/GPX/1/1}"
        root = ET.fromstring(text)
        return [(w.findtext(f"{ns}name") or "").split()[0] for w in root.findall(f"{ns}wpt")][1:-1]
    if name == "ics":
        events = Calendar.from_ical(content).walk("VEVENT")
        return [str(e["uid"]).split("-", 1)[0] for e in events]
    if name == "csv":
        return [row["visit_id"] for row in csv.DictReader(io.StringIO(text))]
    if name == "html":
        return re.findall(r'data-visit=\\"([^"\\]+)\\"', text)  # in the markers' JSON
    raise AssertionError(f"no reader for {name} in this test")


def test_the_registry_holds_the_formats() -> None:
    assert sorted(RENDERERS) == ["csv", "geojson", "gpx", "html", "ics"]
    for name, r in RENDERERS.items():
        assert r.name == name == r.extension and r.media_type and r.description
    assert {n for n, r in RENDERERS.items() if r.per_van_day} == {"csv", "gpx", "ics"}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_every_format_renders_the_same_van_day(name: str) -> None:
    content = render(name, sample_view(), V1_MONDAY, OPTIONS)
    ids = _stop_ids(name, content)
    assert ids in (["a1", "c1"], ["1", "2"])  # GPX waypoints carry the stop number


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_whole_plan_or_refused_per_van_day(name: str) -> None:
    r = renderer(name)
    if r.per_van_day:
        with pytest.raises(ValueError, match="van-day"):
            r.render(sample_view(), None, OPTIONS)
        with pytest.raises(ValueError, match="van-day"):
            r.render(sample_view(), Selection(van_id="v1"), OPTIONS)
    else:
        text = r.render(sample_view(), None, OPTIONS).decode()
        for visit in ("a1", "c1", "a2", "a3", "a9"):
            assert f'"{visit}"' in text or f'\\"{visit}\\"' in text  # an id, not a fragment


def test_unknown_van_day_is_a_key_error_in_every_format() -> None:
    for name in RENDERERS:
        if name == "geojson":  # a selection with no route is an empty collection
            empty = json.loads(render(name, sample_view(), Selection("v2", 1)))
            assert [f["properties"]["feature"] for f in empty["features"]] == ["depot"]
            continue
        with pytest.raises(KeyError, match="v2"):
            render(name, sample_view(), Selection("v2", 1), OPTIONS)


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(UnknownFormatError) as err:
        renderer("pdf")
    assert isinstance(err.value, KeyError)
    assert str(err.value) == "unknown format 'pdf': use csv, geojson, gpx, html or ics"
    assert known_formats(".") == ".csv, .geojson, .gpx, .html or .ics"


def test_registry_is_immutable() -> None:
    with pytest.raises(TypeError):
        RENDERERS["pdf"] = RENDERERS["csv"]  # type: ignore[index]


def test_filenames_and_media_types() -> None:
    vd = sample_view().van_day("v1", MONDAY)
    assert renderer("gpx").filename(vd) == "vanplan-v1-2026-03-02.gpx"
    assert renderer("geojson").media_type == "application/geo+json"
    assert renderer("ics").media_type == "text/calendar"
