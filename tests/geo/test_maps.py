"""Maps of a plan: layers, markers, coordinate order, attribution, tile options."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from geo.maps import (
    OSM_ATTRIBUTION,
    MapAssets,
    TileSource,
    format_time,
    parse_features,
    van_day_map_html,
    week_map,
    week_map_html,
    write_html,
)
from optimizer.errors import ValidationError

ERBACH = (8.9937, 49.6567)
PLACES = {
    "michelstadt": (9.0036, 49.6786),
    "bad-koenig": (9.0067, 49.7414),
    "beerfelden": (8.9756, 49.5700),
    "hoechst": (8.9944, 49.7986),
    "reichelsheim": (8.8375, 49.7125),
}


def _iso(day: int, hhmm: str) -> str:
    return f"2026-03-0{2 + day}T{hhmm}:00+01:00"


def _leg(van: str, day: int, a: tuple[float, float], b: tuple[float, float], frm: str, to: str):
    # A bent line (three points) stands in for a road-following geometry.
    mid = ((a[0] + b[0]) / 2 + 0.004, (a[1] + b[1]) / 2)
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(a), list(mid), list(b)]},
        "properties": {
            "feature": "leg",
            "van_id": van,
            "day": day,
            "from": frm,
            "to": to,
            "travel_time": 900,
            "distance": 7400,
        },
    }


def _stop(
    van: str,
    day: int,
    order: int,
    visit: str,
    place: str,
    times: tuple[str, str, str],
    kind="appointment",
):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(PLACES[place])},
        "properties": {
            "feature": "stop",
            "van_id": van,
            "day": day,
            "visit_id": visit,
            "order": order,
            "place": place.replace("-", " ").title(),
            "arrival": _iso(day, times[0]),
            "start": _iso(day, times[1]),
            "end": _iso(day, times[2]),
            "kind": kind,
        },
    }


def sample_collection() -> dict[str, Any]:
    """Two vans, three van-days, one consultation-hours stop, one unassigned visit."""
    f: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(ERBACH)},
            "properties": {"feature": "depot", "id": "base", "name": "InA Erbach"},
        }
    ]
    # v1 day 0: base -> michelstadt -> bad-koenig -> base
    f += [
        _leg("v1", 0, ERBACH, PLACES["michelstadt"], "base", "michelstadt"),
        _stop("v1", 0, 1, "a1", "michelstadt", ("08:15", "08:30", "09:30")),
        _leg("v1", 0, PLACES["michelstadt"], PLACES["bad-koenig"], "michelstadt", "bad-koenig"),
        _stop("v1", 0, 2, "c1", "bad-koenig", ("09:50", "10:00", "12:00"), "consultation_hours"),
        _leg("v1", 0, PLACES["bad-koenig"], ERBACH, "bad-koenig", "base"),
    ]
    # v1 day 1: base -> beerfelden -> base
    f += [
        _leg("v1", 1, ERBACH, PLACES["beerfelden"], "base", "beerfelden"),
        _stop("v1", 1, 1, "a2", "beerfelden", ("09:05", "09:05", "10:05")),
        _leg("v1", 1, PLACES["beerfelden"], ERBACH, "beerfelden", "base"),
    ]
    # v2 day 0: base -> hoechst -> base
    f += [
        _leg("v2", 0, ERBACH, PLACES["hoechst"], "base", "hoechst"),
        _stop("v2", 0, 1, "a3", "hoechst", ("10:40", "11:00", "11:45")),
        _leg("v2", 0, PLACES["hoechst"], ERBACH, "hoechst", "base"),
    ]
    f.append(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(PLACES["reichelsheim"])},
            "properties": {
                "feature": "unassigned",
                "visit_id": "a9",
                "reason": "no_room",
                "message": "the week is full",
            },
        }
    )
    return {"type": "FeatureCollection", "features": f}


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


def _overlays(script: str) -> list[str]:
    m = re.search(r"overlays\s*:\s*\{(.*?)\}", script, re.S)
    assert m, "no layer control in the map"
    return [json.loads(n) for n in re.findall(r'("[^"]+")\s*:', m.group(1))]


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


def test_week_map_has_one_layer_per_van_day_and_unassigned() -> None:
    html = week_map_html(sample_collection())
    script = "\n".join(_page(html).scripts)
    assert _overlays(script) == ["v1 · day 0", "v1 · day 1", "v2 · day 0", "Unassigned (1)"]
    assert "L.control.layers" in script


def test_layer_names_use_given_van_and_day_names() -> None:
    html = week_map_html(
        sample_collection(), van_names={"v1": "Bus Nord"}, day_names={"0": "Mo 2.3."}
    )
    assert _overlays("\n".join(_page(html).scripts))[:2] == [
        "Bus Nord · Mo 2.3.",
        "Bus Nord · day 1",
    ]


def test_routes_follow_the_leg_geometry_in_lat_lon_order() -> None:
    html = week_map_html(sample_collection())
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
    html = week_map_html(sample_collection())
    script = "\n".join(_page(html).scripts)
    assert sorted(_div_icon_numbers(script)) == ["1", "1", "1", "2"]
    assert script.count("vp-consultation") == 1
    assert "2 · 09:50 Bad Koenig" in script  # tooltip: order, arrival, place
    popups = _popups(script)
    assert any("Service 10:00–12:00" in p and "consultation hours" in p for p in popups)
    assert "Depot: InA Erbach" in script
    # The unassigned visit shows its reason.
    assert "a9: no_room" in script
    assert any("a9" in p and "the week is full" in p for p in popups)
    # Legend with one entry per van.
    assert 'id="vp-legend"' in html and ">v1</div>" in html and ">v2</div>" in html
    assert "Consultation hours" in html and "Unassigned" in html


def test_default_tiles_are_osm_with_attribution() -> None:
    html = week_map_html(sample_collection())
    script = "\n".join(_page(html).scripts)
    assert "L.tileLayer(" in script
    assert "tile.openstreetmap.org/{z}/{x}/{y}.png" in script
    assert "OpenStreetMap" in script and "contributors" in script


def test_self_hosted_tiles_and_their_attribution() -> None:
    tiles = TileSource.custom("https://tiles.kreis.example/osm/{z}/{x}/{y}.png", "Kreis tiles")
    html = week_map_html(sample_collection(), tiles=tiles)
    script = "\n".join(_page(html).scripts)
    assert "tiles.kreis.example/osm/{z}/{x}/{y}.png" in script
    assert "tile.openstreetmap.org" not in script
    assert "Kreis tiles" in script
    # The routes are OSM-derived: OSM is still credited.
    assert "addAttribution" in script and "OpenStreetMap" in script


def test_no_tiles_still_draws_routes_and_credits_osm() -> None:
    html = week_map_html(sample_collection(), tiles=TileSource.none())
    script = "\n".join(_page(html).scripts)
    assert "L.tileLayer(" not in script
    assert len(_polylines(script)) == 7
    assert "addAttribution" in script and "OpenStreetMap" in script
    assert "fitBounds" in script  # the view is set from the data, not from tiles


def test_assets_linked_or_inline() -> None:
    linked = week_map_html(
        sample_collection(), assets=MapAssets.linked("/static/l.js", "/static/l.css")
    )
    srcs = _page(linked).srcs
    assert "/static/l.js" in srcs and "/static/l.css" in srcs
    assert not any("bootstrap" in s or "jquery" in s for s in srcs)
    inline = week_map_html(
        sample_collection(), assets=MapAssets.inline("window.LEAFLET_MARK=1;", ".x{}")
    )
    page = _page(inline)
    assert not any(s.startswith("http") for s in page.srcs)
    assert any("window.LEAFLET_MARK=1;" in s for s in page.scripts)


def test_van_day_map_shows_only_that_day() -> None:
    html = van_day_map_html(sample_collection(), "v1", 0)
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
        van_day_map_html(sample_collection(), "v3", 0)


def test_write_html(tmp_path: Path) -> None:
    out = write_html(week_map(sample_collection()), tmp_path / "maps" / "week.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "L.polyline" in text


def test_bad_collection_lists_every_problem() -> None:
    col = sample_collection()
    col["features"][1]["properties"].pop("van_id")
    col["features"][2]["geometry"]["coordinates"] = [49.6, 200.0]
    col["features"][3]["geometry"]["coordinates"] = [[9.0, 49.7]]
    with pytest.raises(ValidationError) as err:
        parse_features(col)
    fields = [i.field for i in err.value.issues]
    assert "features[1].properties.van_id" in fields
    assert "features[2].geometry.coordinates" in fields
    assert "features[3].geometry.coordinates" in fields


def test_not_a_feature_collection() -> None:
    with pytest.raises(ValidationError, match=r"collection\.type"):
        parse_features({"type": "Feature"})


def test_features_recognised_by_shape_without_feature_property() -> None:
    col = sample_collection()
    for f in col["features"]:
        f["properties"].pop("feature")
    feats = parse_features(col)
    assert (len(feats.legs), len(feats.stops), len(feats.depots), len(feats.unassigned)) == (
        7,
        4,
        1,
        1,
    )
    assert feats.van_days() == [("v1", "0"), ("v1", "1"), ("v2", "0")]


def test_tile_source_validation() -> None:
    with pytest.raises(ValidationError, match=r"tiles\.url"):
        TileSource.custom("https://tiles.example/{z}/{x}.png", "x")
    with pytest.raises(ValidationError, match=r"tiles\.attribution"):
        TileSource.custom("https://tiles.example/{z}/{x}/{y}.png", " ")


def test_format_time() -> None:
    assert format_time("2026-03-02T09:05:00+01:00") == "09:05"
    assert format_time(86400 + 9 * 3600 + 300) == "09:05"
    assert format_time(None) == ""
    assert OSM_ATTRIBUTION.endswith("contributors")


def test_maps_read_the_geometry_module_output() -> None:
    """Contract with geo.geometry.plan_geojson (straight legs without a network)."""
    from datetime import date

    import numpy as np

    from geo.geometry import plan_geojson
    from geo.gpx import van_day_gpx
    from optimizer.domain import (
        Horizon,
        Problem,
        Shift,
        TimeWindow,
        TravelMatrix,
        Van,
        Visit,
        VisitKind,
    )
    from optimizer.plan import Plan, Reason, Route, SolverStats, Stop, Unassigned

    h = Horizon(date(2026, 3, 2), days=1)
    locs = ("base", "m", "b", "r")
    n = len(locs)
    matrix = TravelMatrix(
        locs, np.full((n, n), 600) - np.eye(n, dtype=int) * 600, np.full((n, n), 5000)
    )
    visits = (
        Visit("a1", "m", 3600),
        Visit(
            "c1",
            "b",
            7200,
            windows=(TimeWindow(h.at(0, 10), h.at(0, 12)),),
            kind=VisitKind.CONSULTATION,
        ),
        Visit("x", "r", 3600),
    )
    problem = Problem(h, (Van("v1"),), (Shift("v1", 0, h.at(0, 8), h.at(0, 16)),), visits, matrix)
    stops = (
        Stop("a1", "m", h.at(0, 8, 10), h.at(0, 8, 10), h.at(0, 9, 10), 0, 600, 5000),
        Stop("c1", "b", h.at(0, 9, 20), h.at(0, 10), h.at(0, 12), 2400, 600, 5000),
    )
    route = Route("v1", 0, "base", "base", h.at(0, 8), h.at(0, 12, 10), stops, (), 600, 5000)
    plan = Plan((route,), (Unassigned("x", Reason.NO_ROOM, "full"),), SolverStats("ok", 0, 0))
    places = {
        "base": ERBACH,
        "m": PLACES["michelstadt"],
        "b": PLACES["bad-koenig"],
        "r": PLACES["reichelsheim"],
    }
    col = plan_geojson(plan, problem, places)

    script = "\n".join(_page(week_map_html(col)).scripts)
    assert _overlays(script) == ["v1 · day 0", "Unassigned (1)"]
    assert sorted(_div_icon_numbers(script)) == ["1", "2"]
    assert script.count("vp-consultation") == 1
    assert _polylines(script)[0][0] == pytest.approx([ERBACH[1], ERBACH[0]])
    assert "1 · 08:10" in script
    root = van_day_gpx(col, "v1", 0)
    assert root.count("<wpt ") == 4 and "2026-03-02T07:10:00Z" in root
