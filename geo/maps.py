"""Folium maps of a plan: the week overview for dispatchers and the van-day map for crews.

Input is the plan's GeoJSON FeatureCollection (see :mod:`geo.geometry`): legs as LineStrings,
stops, depots and unassigned visits as Points, coordinates ``[lon, lat]``. Folium wants
``[lat, lon]``; the flip happens in :func:`_latlon` and nowhere else.

folium is imported lazily (as geopandas does in ``explore.py``) so that the rest of ``geo`` works
without it. Every map works without a tile server: the routes are vector layers, so with
``TileSource.none()`` the page shows them on a plain background.

Features are recognised by ``properties.feature`` (``leg``, ``stop``, ``depot``, ``unassigned``)
when present, otherwise by shape: LineString = leg; Point with ``reason`` = unassigned; Point with
``visit_id`` = stop; any other Point = depot.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import Collector

if TYPE_CHECKING:
    import folium

log = logging.getLogger(__name__)

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
LEAFLET_CDN_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"
LEAFLET_CDN_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css"

# One colour per van (cycled); consultation hours get a square marker with this border colour.
VAN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
CONSULTATION_COLOUR = "#222222"
UNASSIGNED_COLOUR = "#7f7f7f"
DEPOT_COLOUR = "#000000"
NO_TILES_BACKGROUND = "#eef0f2"

Coord = tuple[float, float]  # (lon, lat), as in GeoJSON


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class TileSource:
    """Where the background tiles come from. ``url`` None: no tiles (routes on a plain background).

    ``url`` is an XYZ template such as ``https://tiles.example.org/{z}/{x}/{y}.png``.
    """

    url: str | None = OSM_TILES
    attribution: str = OSM_ATTRIBUTION
    name: str = "OpenStreetMap"
    max_zoom: int = 19

    def __post_init__(self) -> None:
        c = Collector()
        if self.url is not None:
            for part in ("{z}", "{x}", "{y}"):
                c.check(part in self.url, "tiles.url", f"template must contain {part}")
            c.check(bool(self.attribution.strip()), "tiles.attribution", "must not be empty")
        c.check(1 <= self.max_zoom <= 24, "tiles.max_zoom", f"must be 1..24, got {self.max_zoom}")
        c.raise_if_any()

    @classmethod
    def osm(cls) -> TileSource:
        return cls()

    @classmethod
    def none(cls) -> TileSource:
        return cls(url=None, name="no tiles")

    @classmethod
    def custom(
        cls, url: str, attribution: str, name: str = "Tiles", max_zoom: int = 19
    ) -> TileSource:
        """A self-hosted tile server (the attribution still has to credit the data source)."""
        return cls(url=url, attribution=attribution, name=name, max_zoom=max_zoom)


@dataclass(frozen=True)
class MapAssets:
    """Where the page loads Leaflet from: links (CDN or a self-hosted ``/static`` path) or inline.

    Inline assets make a single self-contained file that opens offline.
    """

    js_url: str | None = LEAFLET_CDN_JS
    css_url: str | None = LEAFLET_CDN_CSS
    inline_js: str | None = field(default=None, repr=False)
    inline_css: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        c = Collector()
        c.check(
            (self.js_url is None) != (self.inline_js is None),
            "assets.js",
            "give exactly one of js_url and inline_js",
        )
        c.check(
            (self.css_url is None) != (self.inline_css is None),
            "assets.css",
            "give exactly one of css_url and inline_css",
        )
        c.raise_if_any()

    @classmethod
    def cdn(cls) -> MapAssets:
        return cls()

    @classmethod
    def linked(cls, js_url: str, css_url: str) -> MapAssets:
        return cls(js_url=js_url, css_url=css_url)

    @classmethod
    def inline(cls, js: str, css: str) -> MapAssets:
        return cls(js_url=None, css_url=None, inline_js=js, inline_css=css)


# --------------------------------------------------------------------------- parsed features


@dataclass(frozen=True)
class Leg:
    van_id: str
    day: str
    coords: tuple[Coord, ...]
    travel_time: int | None
    distance: int | None


@dataclass(frozen=True)
class StopPoint:
    van_id: str
    day: str
    visit_id: str
    order: int
    coord: Coord
    arrival: str
    start: str
    end: str
    consultation: bool
    label: str  # place or client, whatever the collection carries
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class DepotPoint:
    id: str
    coord: Coord
    name: str


@dataclass(frozen=True)
class UnassignedPoint:
    visit_id: str
    coord: Coord
    reason: str
    message: str


@dataclass
class PlanFeatures:
    """The collection, split by feature kind and checked."""

    legs: list[Leg] = field(default_factory=list)
    stops: list[StopPoint] = field(default_factory=list)
    depots: list[DepotPoint] = field(default_factory=list)
    unassigned: list[UnassignedPoint] = field(default_factory=list)

    def van_days(self) -> list[tuple[str, str]]:
        """(van id, day) pairs in order of first appearance, sorted by van then day."""
        keys = {(leg.van_id, leg.day) for leg in self.legs} | {
            (s.van_id, s.day) for s in self.stops
        }
        return sorted(keys, key=lambda k: (k[0], _day_sort_key(k[1])))

    def vans(self) -> list[str]:
        return sorted({k[0] for k in self.van_days()})

    def coords(self) -> list[Coord]:
        out: list[Coord] = [c for leg in self.legs for c in leg.coords]
        out += [s.coord for s in self.stops]
        out += [d.coord for d in self.depots]
        out += [u.coord for u in self.unassigned]
        return out


def _day_sort_key(day: str) -> tuple[int, str]:
    return (int(day), "") if day.lstrip("-").isdigit() else (0, day)


def parse_features(collection: Mapping[str, Any]) -> PlanFeatures:
    """Split a plan FeatureCollection into legs, stops, depots and unassigned visits.

    Raises :class:`~optimizer.errors.ValidationError` naming every bad feature and field.
    """
    c = Collector()
    out = PlanFeatures()
    if collection.get("type") != "FeatureCollection":
        c.add("collection.type", f"must be 'FeatureCollection', got {collection.get('type')!r}")
        c.raise_if_any()
    features = collection.get("features")
    if not isinstance(features, list):
        c.add("collection.features", "must be a list")
        c.raise_if_any()
        return out
    for i, feat in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feat, Mapping):
            c.add(where, "must be an object")
            continue
        geom = feat.get("geometry") or {}
        props = feat.get("properties") or {}
        gtype = geom.get("type")
        kind = props.get("feature") or _kind_from_shape(gtype, props)
        if kind == "leg":
            coords = _line(c, f"{where}.geometry", geom)
            van, day = _van_day(c, where, props)
            if coords is not None and van is not None and day is not None:
                out.legs.append(
                    Leg(
                        van,
                        day,
                        coords,
                        _opt_int(props.get("travel_time")),
                        _opt_int(props.get("distance")),
                    )
                )
        elif kind in ("stop", "depot", "unassigned"):
            pt = _point(c, f"{where}.geometry", geom)
            if kind == "stop":
                van, day = _van_day(c, where, props)
                visit = props.get("visit_id")
                c.check(bool(visit), f"{where}.properties.visit_id", "missing")
                order = props.get("order")
                c.check(isinstance(order, int), f"{where}.properties.order", "must be an integer")
                if pt and van is not None and day is not None and visit and isinstance(order, int):
                    out.stops.append(
                        StopPoint(
                            van_id=van,
                            day=day,
                            visit_id=str(visit),
                            order=order,
                            coord=pt,
                            arrival=format_time(props.get("arrival")),
                            start=format_time(props.get("start")),
                            end=format_time(props.get("end")),
                            consultation=props.get("kind") == "consultation_hours",
                            label=str(
                                props.get("place")
                                or props.get("name")
                                or props.get("location")
                                or ""
                            ),
                            properties=dict(props),
                        )
                    )
            elif kind == "depot":
                if pt:
                    ident = str(props.get("id") or props.get("location") or "depot")
                    out.depots.append(DepotPoint(ident, pt, str(props.get("name") or ident)))
            else:
                visit = props.get("visit_id")
                c.check(bool(visit), f"{where}.properties.visit_id", "missing")
                if pt and visit:
                    out.unassigned.append(
                        UnassignedPoint(
                            str(visit),
                            pt,
                            str(props.get("reason") or ""),
                            str(props.get("message") or ""),
                        )
                    )
        else:
            log.debug("ignoring %s: feature kind %r", where, kind)
    c.raise_if_any()
    out.stops.sort(key=lambda s: (s.van_id, _day_sort_key(s.day), s.order))
    return out


def _kind_from_shape(gtype: object, props: Mapping[str, Any]) -> str | None:
    if gtype == "LineString":
        return "leg"
    if gtype == "Point":
        if "reason" in props:
            return "unassigned"
        if "visit_id" in props:
            return "stop"
        return "depot"
    return None


def _van_day(c: Collector, where: str, props: Mapping[str, Any]) -> tuple[str | None, str | None]:
    van, day = props.get("van_id"), props.get("day")
    c.check(van not in (None, ""), f"{where}.properties.van_id", "missing")
    c.check(day is not None, f"{where}.properties.day", "missing")
    return (str(van) if van not in (None, "") else None, str(day) if day is not None else None)


def _coord(c: Collector, where: str, value: object) -> Coord | None:
    if (
        not isinstance(value, Sequence)
        or len(value) < 2
        or not all(isinstance(v, int | float) for v in value[:2])
    ):
        c.add(where, f"must be [lon, lat], got {value!r}")
        return None
    lon, lat = float(value[0]), float(value[1])
    ok = c.check(-180 <= lon <= 180, where, f"longitude {lon} outside -180..180")
    ok = c.check(-90 <= lat <= 90, where, f"latitude {lat} outside -90..90") and ok
    return (lon, lat) if ok else None


def _point(c: Collector, where: str, geom: Mapping[str, Any]) -> Coord | None:
    if geom.get("type") != "Point":
        c.add(f"{where}.type", f"must be 'Point', got {geom.get('type')!r}")
        return None
    return _coord(c, f"{where}.coordinates", geom.get("coordinates"))


def _line(c: Collector, where: str, geom: Mapping[str, Any]) -> tuple[Coord, ...] | None:
    if geom.get("type") != "LineString":
        c.add(f"{where}.type", f"must be 'LineString', got {geom.get('type')!r}")
        return None
    raw = geom.get("coordinates")
    if not isinstance(raw, list) or len(raw) < 2:
        c.add(f"{where}.coordinates", "a LineString needs at least two positions")
        return None
    coords = [_coord(c, f"{where}.coordinates[{j}]", p) for j, p in enumerate(raw)]
    if any(p is None for p in coords):
        return None
    return tuple(p for p in coords if p is not None)


def _opt_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def format_time(value: object) -> str:
    """``HH:MM`` from an ISO-8601 string (local time as given) or from horizon seconds.

    Horizon seconds are shown as wall-clock time of their day, ignoring DST; the plan's GeoJSON
    normally carries ISO strings with the Europe/Berlin offset.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        secs = int(value) % 86400
        return f"{secs // 3600:02d}:{secs // 60 % 60:02d}"
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%H:%M")
        except ValueError:
            return value
    return str(value)


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


# --------------------------------------------------------------------------- map building


def _latlon(coord: Coord) -> list[float]:
    """The one place where GeoJSON ``[lon, lat]`` becomes folium's ``[lat, lon]``."""
    lon, lat = coord
    return [lat, lon]


def _latlons(coords: Iterable[Coord]) -> list[list[float]]:
    return [_latlon(c) for c in coords]


def van_colour(van_id: str, vans: Sequence[str]) -> str:
    idx = list(vans).index(van_id) if van_id in vans else 0
    return VAN_COLOURS[idx % len(VAN_COLOURS)]


def _new_map(
    feats: PlanFeatures, tiles: TileSource, assets: MapAssets, **kwargs: Any
) -> folium.Map:
    import folium  # lazy: optional heavy import
    from branca.element import Element

    m = folium.Map(tiles=None, control_scale=True, **kwargs)
    # Only Leaflet is needed (no bootstrap/jquery/awesome-markers): fewer assets, works offline.
    m.default_js = [("leaflet", assets.js_url)] if assets.js_url else []
    m.default_css = [("leaflet_css", assets.css_url)] if assets.css_url else []
    header = m.get_root().header  # type: ignore[attr-defined]
    if assets.inline_css is not None:
        header.add_child(Element(f"<style>{assets.inline_css}</style>"), name="leaflet_inline_css")
    if assets.inline_js is not None:
        header.add_child(Element(f"<script>{assets.inline_js}</script>"), name="leaflet_inline_js")
    header.add_child(Element(_MARKER_CSS), name="vanplan_css")

    if tiles.url is not None:
        folium.TileLayer(
            tiles=tiles.url,
            attr=tiles.attribution,
            name=tiles.name,
            max_zoom=tiles.max_zoom,
            control=False,
        ).add_to(m)
    else:
        header.add_child(
            Element(f"<style>.leaflet-container {{ background: {NO_TILES_BACKGROUND}; }}</style>"),
            name="no_tiles_css",
        )
    # The routes are computed on OSM data: credit it even when the tiles do not.
    if tiles.url is None or "openstreetmap" not in tiles.attribution.lower():
        _js_call("attributionControl.addAttribution", f"Routes: {OSM_ATTRIBUTION}").add_to(m)

    pts = feats.coords()
    if pts:
        lats = [p[1] for p in pts]
        lons = [p[0] for p in pts]
        m.fit_bounds(
            [_latlon((min(lons), min(lats))), _latlon((max(lons), max(lats)))], padding=(20, 20)
        )
    return m


@functools.cache
def _js_call_class() -> type:
    from branca.element import MacroElement
    from jinja2 import Template

    class JsCall(MacroElement):
        """Calls ``<parent>.<method>(*args)`` in the map script (args JSON-encoded).

        Used instead of ``folium.Popup``, whose template needs jQuery."""

        _template = Template(
            "{% macro script(this, kwargs) %}"
            "{{ this._parent.get_name() }}.{{ this.method }}({{ this.args_json }});"
            "{% endmacro %}"
        )

        def __init__(self, method: str, *args: object) -> None:
            super().__init__()
            self._name = "JsCall"
            self.method = method
            self.args_json = ", ".join(json.dumps(a) for a in args)

    return JsCall


def _js_call(method: str, *args: object) -> Any:
    return _js_call_class()(method, *args)


def _popup(html_text: str) -> Any:
    return _js_call("bindPopup", html_text, {"maxWidth": 300})


_MARKER_CSS = """<style>
.vp-num { display:flex; align-items:center; justify-content:center; border-radius:50%;
  color:#fff; font-weight:bold; font-family:sans-serif; border:2px solid #fff;
  box-shadow:0 0 3px rgba(0,0,0,.6); box-sizing:border-box; width:100%; height:100%; }
.vp-num.vp-consultation { border-radius:4px; border:3px solid #222; }
.vp-depot { display:flex; align-items:center; justify-content:center; background:#000; color:#fff;
  font-weight:bold; font-family:sans-serif; border-radius:4px; width:100%; height:100%; }
.vp-unassigned { display:flex; align-items:center; justify-content:center; background:#fff;
  color:#7f7f7f; border:2px dashed #7f7f7f; border-radius:50%; font-weight:bold;
  width:100%; height:100%; box-sizing:border-box; }
.vp-legend { position:absolute; z-index:1000; bottom:56px; left:10px; background:#fff;
  padding:6px 10px; border-radius:4px; box-shadow:0 0 4px rgba(0,0,0,.4);
  font:13px/1.5 sans-serif; }
.vp-legend .sw { display:inline-block; width:14px; height:14px; margin-right:6px;
  vertical-align:middle; border-radius:50%; }
.vp-legend .sq { border-radius:3px; border:2px solid #222; box-sizing:border-box; }
</style>"""


def _stop_popup(s: StopPoint, van_name: str) -> str:
    kind = "Sprechstunde (consultation hours)" if s.consultation else "Termin (appointment)"
    rows = [
        f"<b>{s.order}. {html.escape(s.label or s.visit_id)}</b>",
        html.escape(kind),
        f"Van {html.escape(van_name)}, day {html.escape(s.day)}",
        f"Arrival {s.arrival}" if s.arrival else "",
        f"Service {s.start}–{s.end}" if s.start else "",
        f"Visit {html.escape(s.visit_id)}",
    ]
    return "<br>".join(r for r in rows if r)


def _add_route(
    layer: Any,
    legs: Sequence[Leg],
    stops: Sequence[StopPoint],
    colour: str,
    *,
    size: int,
    weight: int,
    permanent_labels: bool,
) -> None:
    import folium

    for leg in legs:
        tip = " · ".join(t for t in (format_duration(leg.travel_time), _km(leg.distance)) if t)
        folium.PolyLine(
            _latlons(leg.coords), color=colour, weight=weight, opacity=0.85, tooltip=tip or None
        ).add_to(layer)
    for s in stops:
        cls = "vp-num vp-consultation" if s.consultation else "vp-num"
        icon = folium.DivIcon(
            html=(
                f'<div class="{cls}" style="background:{colour};font-size:{size // 2}px">'
                f"{s.order}</div>"
            ),
            icon_size=(size, size),
            icon_anchor=(size // 2, size // 2),
            class_name="vp-marker",
        )
        label = f"{s.order} · {s.arrival}" if s.arrival else str(s.order)
        if s.label:
            label += f" {s.label}"
        marker = folium.Marker(
            _latlon(s.coord),
            icon=icon,
            tooltip=folium.Tooltip(
                html.escape(label),
                permanent=permanent_labels,
                direction="right",
                offset=(size // 2, 0),
            ),
        )
        _popup(_stop_popup(s, s.van_id)).add_to(marker)
        marker.add_to(layer)


def _km(distance: int | None) -> str:
    return f"{distance / 1000:.1f} km" if distance is not None else ""


def _add_depots(m: Any, depots: Sequence[DepotPoint], size: int) -> None:
    import folium

    for d in depots:
        icon = folium.DivIcon(
            html=f'<div class="vp-depot" style="font-size:{size // 2}px">D</div>',
            icon_size=(size, size),
            icon_anchor=(size // 2, size // 2),
            class_name="vp-marker",
        )
        folium.Marker(_latlon(d.coord), icon=icon, tooltip=f"Depot: {html.escape(d.name)}").add_to(
            m
        )


def _legend(
    entries: Sequence[tuple[str, str]], consultation: bool, unassigned: bool, corner: str = ""
) -> str:
    rows = [
        f'<div><span class="sw" style="background:{c}"></span>{html.escape(n)}</div>'
        for n, c in entries
    ]
    if consultation:
        rows.append(
            '<div><span class="sw sq" style="background:#fff"></span>Consultation hours</div>'
        )
    rows.append(
        f'<div><span class="sw sq" style="background:{DEPOT_COLOUR};border-color:{DEPOT_COLOUR}">'
        "</span>Depot</div>"
    )
    if unassigned:
        rows.append(
            '<div><span class="sw" style="background:#fff;border:2px dashed #7f7f7f;'
            'box-sizing:border-box"></span>Unassigned</div>'
        )
    if corner:  # small screens: a folded legend in a corner
        return (
            f'<details class="vp-legend" id="vp-legend" style="{corner}">'
            "<summary>Legend</summary>" + "".join(rows) + "</details>"
        )
    return '<div class="vp-legend" id="vp-legend"><b>Legend</b>' + "".join(rows) + "</div>"


def week_map(
    collection: Mapping[str, Any],
    *,
    tiles: TileSource | None = None,
    assets: MapAssets | None = None,
    van_names: Mapping[str, str] | None = None,
    day_names: Mapping[str, str] | None = None,
) -> folium.Map:
    """The week overview: one toggleable layer per van and day, unassigned visits in their own
    layer, depot markers, a legend. ``van_names``/``day_names`` label the layers (default: ids)."""
    import folium
    from branca.element import Element

    feats = parse_features(collection)
    tiles = tiles or TileSource()
    assets = assets or MapAssets()
    m = _new_map(feats, tiles, assets)
    vans = feats.vans()
    van_names = van_names or {}
    day_names = day_names or {}
    for van, day in feats.van_days():
        colour = van_colour(van, vans)
        name = f"{van_names.get(van, van)} · {day_names.get(day, f'day {day}')}"
        layer = folium.FeatureGroup(name=name, show=True)
        legs = [leg for leg in feats.legs if (leg.van_id, leg.day) == (van, day)]
        stops = [s for s in feats.stops if (s.van_id, s.day) == (van, day)]
        _add_route(layer, legs, stops, colour, size=26, weight=4, permanent_labels=False)
        layer.add_to(m)
    if feats.unassigned:
        layer = folium.FeatureGroup(name=f"Unassigned ({len(feats.unassigned)})", show=True)
        for u in feats.unassigned:
            icon = folium.DivIcon(
                html='<div class="vp-unassigned">?</div>',
                icon_size=(22, 22),
                icon_anchor=(11, 11),
                class_name="vp-marker",
            )
            text = f"<b>{html.escape(u.visit_id)}</b> unassigned<br>{html.escape(u.reason)}"
            if u.message:
                text += f"<br>{html.escape(u.message)}"
            marker = folium.Marker(
                _latlon(u.coord),
                icon=icon,
                tooltip=f"{html.escape(u.visit_id)}: {html.escape(u.reason)}",
            )
            _popup(text).add_to(marker)
            marker.add_to(layer)
        layer.add_to(m)
    _add_depots(m, feats.depots, 24)
    folium.LayerControl(collapsed=False).add_to(m)
    entries = [(van_names.get(v, v), van_colour(v, vans)) for v in vans]
    legend = _legend(entries, any(s.consultation for s in feats.stops), bool(feats.unassigned))
    m.get_root().html.add_child(Element(legend))  # type: ignore[attr-defined]
    log.debug("week map: %d van-days, %d stops", len(feats.van_days()), len(feats.stops))
    return m


def van_day_map(
    collection: Mapping[str, Any],
    van_id: str,
    day: int | str,
    *,
    tiles: TileSource | None = None,
    assets: MapAssets | None = None,
    van_name: str | None = None,
) -> folium.Map:
    """The crew map: one van's route on one day, large markers with permanent time labels."""
    import folium
    from branca.element import Element

    feats = parse_features(collection)
    key = (str(van_id), str(day))
    if key not in feats.van_days():
        raise KeyError(f"no route for van {van_id!r} on day {day!r} in the plan")
    vans = feats.vans()
    legs = [leg for leg in feats.legs if (leg.van_id, leg.day) == key]
    stops = [s for s in feats.stops if (s.van_id, s.day) == key]
    own = PlanFeatures(legs=legs, stops=stops, depots=feats.depots)
    m = _new_map(own, tiles or TileSource(), assets or MapAssets())
    colour = van_colour(key[0], vans)
    layer = folium.FeatureGroup(name=f"{van_name or key[0]} · day {key[1]}")
    _add_route(layer, legs, stops, colour, size=40, weight=6, permanent_labels=True)
    layer.add_to(m)
    _add_depots(m, feats.depots, 34)
    # Top right on the crew map: the bottom is where the route usually starts (depot).
    legend = _legend(
        [(van_name or key[0], colour)],
        any(s.consultation for s in stops),
        False,
        corner="top:10px;right:10px;bottom:auto;left:auto",
    )
    m.get_root().html.add_child(Element(legend))  # type: ignore[attr-defined]
    return m


def to_html(m: folium.Map) -> str:
    """The complete standalone HTML page of a map."""
    return str(m.get_root().render())


def write_html(m: folium.Map, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(m), encoding="utf-8")
    log.info("map written to %s", out)
    return out


def week_map_html(collection: Mapping[str, Any], **kwargs: Any) -> str:
    return to_html(week_map(collection, **kwargs))


def van_day_map_html(
    collection: Mapping[str, Any], van_id: str, day: int | str, **kwargs: Any
) -> str:
    return to_html(van_day_map(collection, van_id, day, **kwargs))
