"""Folium maps of a plan: the week overview for dispatchers and the van-day map for crews.

Input is the plan's view (:mod:`geo.view`): legs as coordinate lines, stops, depots and
unassigned visits as points, coordinates ``(lon, lat)``. Folium wants ``[lat, lon]``; the flip
happens in :func:`_latlon` and nowhere else.

folium is imported lazily (as geopandas does in ``explore.py``) so that the rest of ``geo`` works
without it. Every map works without a tile server: the routes are vector layers, so with
``TileSource.none()`` the page shows them on a plain background.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.geometry import Coord
from geo.render.base import (
    OSM_ATTRIBUTION,
    MapAssets,
    Renderer,
    RenderOptions,
    Selection,
    TileSource,
    format_duration,
)
from geo.view import DepotView, LegView, PlanView, StopView, VanDayView

if TYPE_CHECKING:
    import folium

log = logging.getLogger(__name__)

# One colour per van (cycled); consultation hours get a square marker with this border colour.
VAN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
CONSULTATION_COLOUR = "#222222"
UNASSIGNED_COLOUR = "#7f7f7f"
DEPOT_COLOUR = "#000000"
NO_TILES_BACKGROUND = "#eef0f2"


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
    coords: Sequence[Coord], tiles: TileSource, assets: MapAssets, **kwargs: Any
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

    pts = coords
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


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _stop_popup(s: StopView, vd: VanDayView) -> str:
    kind = "Sprechstunde (consultation hours)" if s.consultation else "Termin (appointment)"
    rows = [
        f"<b>{s.order}. {html.escape(s.name)}</b>",
        html.escape(kind),
        f"Van {html.escape(vd.van_id)}, day {html.escape(vd.key)}",
        f"Arrival {_hhmm(s.arrival)}",
        f"Service {_hhmm(s.start)}–{_hhmm(s.end)}",
        f"Visit {html.escape(s.visit_id)}",
    ]
    return "<br>".join(rows)


def _add_route(
    layer: Any,
    vd: VanDayView,
    colour: str,
    *,
    size: int,
    weight: int,
    permanent_labels: bool,
) -> None:
    import folium

    for leg in vd.legs:
        tip = _leg_tip(leg)
        folium.PolyLine(
            _latlons(leg.coords), color=colour, weight=weight, opacity=0.85, tooltip=tip or None
        ).add_to(layer)
    for s in vd.stops:
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
        label = f"{s.order} · {_hhmm(s.arrival)} {s.name}"
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
        _popup(_stop_popup(s, vd)).add_to(marker)
        marker.add_to(layer)


def _km(distance: int | None) -> str:
    return f"{distance / 1000:.1f} km" if distance is not None else ""


def _leg_tip(leg: LegView) -> str:
    return " · ".join(t for t in (format_duration(leg.travel_time), _km(leg.distance)) if t)


def _add_depots(m: Any, depots: Sequence[DepotView], size: int) -> None:
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
    view: PlanView, *, tiles: TileSource | None = None, assets: MapAssets | None = None
) -> folium.Map:
    """The week overview: one toggleable layer per van-day (named by the van-day's van and day
    names), unassigned visits in their own layer, depot markers, a legend."""
    import folium
    from branca.element import Element

    m = _new_map(view.coords(), tiles or TileSource(), assets or MapAssets())
    vans = view.vans()
    van_days = view.sorted_van_days()
    for vd in van_days:
        layer = folium.FeatureGroup(name=f"{vd.van_name} · {vd.day_name}", show=True)
        _add_route(
            layer, vd, van_colour(vd.van_id, vans), size=26, weight=4, permanent_labels=False
        )
        layer.add_to(m)
    if view.unassigned:
        layer = folium.FeatureGroup(name=f"Unassigned ({len(view.unassigned)})", show=True)
        for u in view.unassigned:
            icon = folium.DivIcon(
                html='<div class="vp-unassigned">?</div>',
                icon_size=(22, 22),
                icon_anchor=(11, 11),
                class_name="vp-marker",
            )
            text = (
                f"<b>{html.escape(u.visit_id)}</b> unassigned<br>{html.escape(u.name)}"
                f"<br>{html.escape(u.reason)}"
            )
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
    _add_depots(m, view.depots, 24)
    folium.LayerControl(collapsed=False).add_to(m)
    names = {vd.van_id: vd.van_name for vd in van_days}
    entries = [(names[v], van_colour(v, vans)) for v in vans]
    legend = _legend(entries, any(s.consultation for s in view.stops()), bool(view.unassigned))
    m.get_root().html.add_child(Element(legend))  # type: ignore[attr-defined]
    log.debug("week map: %d van-days, %d stops", len(van_days), len(view.stops()))
    return m


def van_day_map(
    view: PlanView,
    van_id: str,
    day: date | int | str,
    *,
    tiles: TileSource | None = None,
    assets: MapAssets | None = None,
) -> folium.Map:
    """The crew map: one van's route on one day (a date, day index or key), large markers with
    permanent time labels. Raises ``KeyError`` when the van has no route that day."""
    import folium
    from branca.element import Element

    vd = view.van_day(van_id, day)
    coords = [c for leg in vd.legs for c in leg.coords] + [s.coord for s in vd.stops]
    coords += [d.coord for d in view.depots]
    m = _new_map(coords, tiles or TileSource(), assets or MapAssets())
    colour = van_colour(vd.van_id, view.vans())
    layer = folium.FeatureGroup(name=f"{vd.van_name} · {vd.day_name}")
    _add_route(layer, vd, colour, size=40, weight=6, permanent_labels=True)
    layer.add_to(m)
    _add_depots(m, view.depots, 34)
    # Top right on the crew map: the bottom is where the route usually starts (depot).
    legend = _legend(
        [(vd.van_name, colour)],
        any(s.consultation for s in vd.stops),
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


def _render(view: PlanView, selection: Selection | None, options: RenderOptions) -> bytes:
    """The week map without a selection, the van-day map for a van-day; a van or a day alone
    gives the week map of that part of the plan."""
    if selection is not None and selection.is_van_day:
        assert selection.van_id is not None and selection.day is not None
        m = van_day_map(
            view, selection.van_id, selection.day, tiles=options.tiles, assets=options.assets
        )
    else:
        if selection is not None:
            view = view.select(selection.van_id, selection.day)
        m = week_map(view, tiles=options.tiles, assets=options.assets)
    return to_html(m).encode("utf-8")


RENDERER = Renderer(
    name="html",
    media_type="text/html; charset=utf-8",
    render=_render,
    description="folium (Leaflet) map: the week, or one van's day",
)
