"""Maps of a plan view: layers, markers, coordinate order, attribution, tile options."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from geo.render.base import MapAssets, TileSource
from geo.render.gpx import van_day_gpx
from geo.render.map_html import to_html, van_day_map, week_map, write_html
from geo.view import PlanView, build_view
from optimizer.errors import ValidationError
from tests.geo.sample_view import ERBACH, GERMAN, PLACES, sample_view, small_plan


def week_map_html(view: PlanView, **kwargs: Any) -> str:
    return to_html(week_map(view, **kwargs))


def van_day_map_html(view: PlanView, van_id: str, day: int) -> str:
    return to_html(van_day_map(view, van_id, day))


class _Collect(HTMLParser):
    """Collects script bodies and link/script URLs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.srcs: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
            if a.get("src"):
                self.srcs.append(a["src"] or "")
        if tag == "link" and a.get("href"):
            self.srcs.append(a["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def _page(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def _days(script: str) -> list[dict[str, Any]]:
    """The day switcher's days: key, label and the variable names of their layers."""
    m = re.search(r"var days = (\[.*?\]);\n", script)
    assert m, "no day switcher in the map"
    days: list[dict[str, Any]] = json.loads(m.group(1))
    return days


def _layer_names(script: str) -> set[str]:
    """The variable names of the map's feature groups."""
    return set(re.findall(r"var (feature_group_\w+) = L\.featureGroup", script))


def _added_to_map(script: str) -> set[str]:
    return set(re.findall(r"(feature_group_\w+)\.addTo\(map_\w+\)", script))


def _polylines(script: str) -> list[list[list[float]]]:
    return [json.loads(x) for x in re.findall(r"L\.polyline\(\s*(\[\[.*?\]\])", script, re.S)]


def _div_icons(script: str) -> list[str]:
    """The HTML of every DivIcon (decoded from the JSON options)."""
    return [
        json.loads(h) for h in re.findall(r'L\.divIcon\(\{\s*"html":\s*("(?:[^"\\]|\\.)*")', script)
    ]


def _popups(script: str) -> list[str]:
    return [json.loads(h) for h in re.findall(r'\.bindPopup\(("(?:[^"\\]|\\.)*")', script)]


def _div_icon_numbers(script: str) -> list[str]:
    return [n for h in _div_icons(script) for n in re.findall(r'class="vp-num[^>]*>(\d+)<', h)]


def test_week_map_shows_one_day_at_a_time() -> None:
    html = week_map_html(sample_view())
    script = "\n".join(_page(html).scripts)
    days = _days(script)
    assert [(d["key"], d["label"]) for d in days] == [("0", "day 0"), ("1", "day 1")]
    assert [len(d["layers"]) for d in days] == [2, 1]  # v1 and v2 on day 0, v1 on day 1
    van_day_layers = {name for d in days for name in d["layers"]}
    groups = set(_layer_names(script))
    assert len(groups) == 4  # three van-days and the unassigned visits
    # Van-days wait for the switcher (which shows the first day); unassigned visits stay on.
    assert _added_to_map(script) == groups - van_day_layers
    assert "show(days[0].key)" in script
    assert "L.control.layers" not in script


def test_day_labels_and_legend_use_the_names_of_the_view() -> None:
    view = sample_view()
    named = tuple(
        replace(vd, van_name="Bus Nord", day_name="Mo 2.3." if vd.day == 0 else vd.day_name)
        if vd.van_id == "v1"
        else vd
        for vd in view.van_days
    )
    html = week_map_html(replace(view, van_days=named))
    script = "\n".join(_page(html).scripts)
    assert [d["label"] for d in _days(script)] == ["Mo 2.3.", "day 1"]
    assert ">Bus Nord</div>" in html  # the legend names the van
    assert any("Bus Nord · Mo 2.3." in p for p in _popups(script))  # the popups the van-day


def test_routes_follow_the_leg_geometry_in_lat_lon_order() -> None:
    html = week_map_html(sample_view())
    lines = _polylines("\n".join(_page(html).scripts))
    assert len(lines) == 7  # every leg, with all its vertices
    first = lines[0]
    assert len(first) == 3
    # GeoJSON [lon, lat] = [8.9937, 49.6567] must appear flipped for Leaflet.
    assert first[0] == pytest.approx([ERBACH[1], ERBACH[0]])
    assert first[2] == pytest.approx([PLACES["michelstadt"][1], PLACES["michelstadt"][0]])
    for line in lines:
        for lat, lon in line:
            assert 49 < lat < 50 and 8 < lon < 10


def test_numbered_stops_with_arrival_times_and_consultation_marker() -> None:
    html = week_map_html(sample_view())
    script = "\n".join(_page(html).scripts)
    assert sorted(_div_icon_numbers(script)) == ["1", "1", "1", "2"]
    assert script.count("vp-consultation") == 1
    assert "2 · 09:50 Bad Koenig" in script  # tooltip: order, arrival, place
    popups = _popups(script)
    assert any("Service 10:00–12:00" in p and "Consultation hours" in p for p in popups)
    assert "Depot: InA Erbach" in script
    # The unassigned visit shows its place and why.
    assert "Reichelsheim: Unassigned" in script
    assert any("Reichelsheim" in p and "the week is full" in p for p in popups)
    # A folding legend with one entry per van.
    assert '<details class="vp-legend" id="vp-legend" open><summary>Legend</summary>' in html
    assert ">v1</div>" in html and ">v2</div>" in html
    assert "Consultation hours" in html and "Unassigned" in html
    # No marker images: every marker is HTML.
    assert "L.icon(" not in script and "marker-icon" not in script


def test_map_words_come_from_the_catalogue() -> None:
    html = to_html(week_map(sample_view(), messages=GERMAN))
    assert "<summary>Legende</summary>" in html and ">Sprechstunde</div>" in html
    assert "Reichelsheim: Nicht eingeplant" in html
    crew = to_html(van_day_map(sample_view(), "v1", 0, messages=GERMAN))
    assert '<details class="vp-legend" id="vp-legend" style=' in crew  # folded on phones
    assert " open>" not in crew and "<summary>Legende</summary>" in crew


def test_default_tiles_are_osm_with_attribution() -> None:
    html = week_map_html(sample_view())
    script = "\n".join(_page(html).scripts)
    assert "L.tileLayer(" in script
    assert "tile.openstreetmap.org/{z}/{x}/{y}.png" in script
    assert "OpenStreetMap" in script and "contributors" in script


def test_self_hosted_tiles_and_their_attribution() -> None:
    tiles = TileSource.custom("https://tiles.kreis.example/osm/{z}/{x}/{y}.png", "Kreis tiles")
    html = week_map_html(sample_view(), tiles=tiles)
    script = "\n".join(_page(html).scripts)
    assert "tiles.kreis.example/osm/{z}/{x}/{y}.png" in script
    assert "tile.openstreetmap.org" not in script
    assert "Kreis tiles" in script
    # The routes are OSM-derived: OSM is still credited.
    assert "addAttribution" in script and "OpenStreetMap" in script


def test_no_tiles_still_draws_routes_and_credits_osm() -> None:
    html = week_map_html(sample_view(), tiles=TileSource.none())
    script = "\n".join(_page(html).scripts)
    assert "L.tileLayer(" not in script
    assert len(_polylines(script)) == 7
    assert "addAttribution" in script and "OpenStreetMap" in script
    assert "fitBounds" in script  # the view is set from the data, not from tiles


def test_assets_linked_or_inline() -> None:
    linked = week_map_html(sample_view(), assets=MapAssets.linked("/static/l.js", "/static/l.css"))
    srcs = _page(linked).srcs
    assert "/static/l.js" in srcs and "/static/l.css" in srcs
    assert not any("bootstrap" in s or "jquery" in s for s in srcs)
    inline = week_map_html(sample_view(), assets=MapAssets.inline("window.LEAFLET_MARK=1;", ".x{}"))
    page = _page(inline)
    assert not any(s.startswith("http") for s in page.srcs)
    assert any("window.LEAFLET_MARK=1;" in s for s in page.scripts)


def test_van_day_map_shows_only_that_day() -> None:
    html = van_day_map_html(sample_view(), "v1", 0)
    script = "\n".join(_page(html).scripts)
    lines = _polylines(script)
    assert len(lines) == 3
    assert sorted(_div_icon_numbers(script)) == ["1", "2"]
    assert "Hoechst" not in script and "Beerfelden" not in script
    assert "no_room" not in script and "Unassigned" not in script  # not for crews
    # Large markers with permanent labels, phone viewport.
    assert "[40, 40]" in script
    assert '"permanent": true' in script
    assert 'name="viewport"' in html


def test_van_day_map_unknown_route() -> None:
    with pytest.raises(KeyError, match="v3"):
        van_day_map_html(sample_view(), "v3", 0)


def test_write_html(tmp_path: Path) -> None:
    out = write_html(week_map(sample_view()), tmp_path / "maps" / "week.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "L.polyline" in text


def test_tile_source_validation() -> None:
    with pytest.raises(ValidationError, match=r"tiles\.url"):
        TileSource.custom("https://tiles.example/{z}/{x}.png", "x")
    with pytest.raises(ValidationError, match=r"tiles\.attribution"):
        TileSource.custom("https://tiles.example/{z}/{x}/{y}.png", " ")


def test_maps_and_gpx_read_the_view_built_from_a_plan() -> None:
    """The view from geo.view.build_view (straight legs without a network) drawn end to end."""
    plan, problem, places = small_plan()
    view = build_view(plan, problem, places)

    script = "\n".join(_page(week_map_html(view)).scripts)
    assert [len(d["layers"]) for d in _days(script)] == [1]
    assert sorted(_div_icon_numbers(script)) == ["1", "2"]
    assert script.count("vp-consultation") == 1
    assert _polylines(script)[0][0] == pytest.approx([ERBACH[1], ERBACH[0]])
    assert "1 · 08:10 m" in script  # order, arrival, the stop's name (default: its location)
    root = van_day_gpx(view, "v1", 0)
    assert root.count("<wpt ") == 4 and "2026-03-02T07:10:00Z" in root
