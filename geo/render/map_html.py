"""Folium maps of a plan: the week overview for dispatchers and the van-day map for crews.

Input is the plan's view (:mod:`geo.view`): legs as coordinate lines, stops, depots and
unassigned visits as points, coordinates ``(lon, lat)``. Folium wants ``[lat, lon]``; the flip
happens in :func:`_latlon` and nowhere else.

folium is imported lazily (as geopandas does in ``explore.py``) so that the rest of ``geo`` works
without it. Every map works without a tile server: the routes are vector layers, so with
``TileSource.none()`` the page shows them on a plain background. Markers are HTML (``DivIcon``),
so no marker images are loaded. The words on the maps come from a gettext catalogue
(:attr:`RenderOptions.messages`, English by default).

The week map shows one day at a time: a day switcher (buttons, one per day with routes) puts
that day's van-days on the map and takes the others off; vans keep their colour all week.
"""

from __future__ import annotations

import functools
import gettext
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
    Messages,
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


@functools.cache
def _script_class() -> type:
    from branca.element import MacroElement
    from jinja2 import Template

    class Script(MacroElement):
        """JavaScript run after everything added to the map before it (layers exist by then)."""

        _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

        def __init__(self, code: str) -> None:
            super().__init__()
            self._name = "Script"
            self.code = code

    return Script


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
.vp-legend summary { cursor:pointer; font-weight:bold; }
.vp-days { background:#fff; padding:4px; border-radius:4px; box-shadow:0 0 4px rgba(0,0,0,.4);
  font:13px/1.3 sans-serif; display:flex; flex-wrap:wrap; gap:4px; max-width:60vw; }
.vp-days button { font:inherit; padding:6px 10px; border:1px solid #12355b; border-radius:4px;
  background:#fff; color:#12355b; cursor:pointer; }
.vp-days button[aria-pressed="true"] { background:#12355b; color:#fff; }
</style>"""


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _stop_popup(s: StopView, vd: VanDayView, messages: Messages) -> str:
    _ = messages.gettext
    kind = _("Consultation hours") if s.consultation else _("Appointment")
    rows = [
        f"<b>{s.order}. {html.escape(s.name)}</b>",
        html.escape(kind),
        html.escape(f"{vd.van_name} · {vd.day_name}"),
        html.escape(_("Arrival %(time)s") % {"time": _hhmm(s.arrival)}),
        html.escape(
            _("Service %(start)s–%(end)s") % {"start": _hhmm(s.start), "end": _hhmm(s.end)}
        ),
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
    messages: Messages,
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
                f'<div class="{cls}" data-visit="{html.escape(s.visit_id)}" '
                f'data-van="{html.escape(vd.van_id)}" '
                f'style="background:{colour};font-size:{size // 2}px">{s.order}</div>'
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
        _popup(_stop_popup(s, vd, messages)).add_to(marker)
        marker.add_to(layer)


def _km(distance: int | None) -> str:
    return f"{distance / 1000:.1f} km" if distance is not None else ""


def _leg_tip(leg: LegView) -> str:
    return " · ".join(t for t in (format_duration(leg.travel_time), _km(leg.distance)) if t)


def _add_depots(m: Any, depots: Sequence[DepotView], size: int, messages: Messages) -> None:
    import folium

    _ = messages.gettext
    for d in depots:
        icon = folium.DivIcon(
            html=f'<div class="vp-depot" style="font-size:{size // 2}px">D</div>',
            icon_size=(size, size),
            icon_anchor=(size // 2, size // 2),
            class_name="vp-marker",
        )
        tip = html.escape(_("Depot: %(name)s") % {"name": d.name})
        folium.Marker(_latlon(d.coord), icon=icon, tooltip=tip).add_to(m)


def _legend(
    entries: Sequence[tuple[str, str]],
    consultation: bool,
    unassigned: bool,
    messages: Messages,
    *,
    corner: str = "",
    open_: bool = True,
) -> str:
    """The legend, folded into a ``<details>`` element (click "Legend" to open or close it)."""
    _ = messages.gettext
    words = {
        "consultation": html.escape(_("Consultation hours")),
        "depot": html.escape(_("Depot")),
        "unassigned": html.escape(_("Unassigned")),
        "legend": html.escape(_("Legend")),
    }
    rows = [
        f'<div><span class="sw" style="background:{c}"></span>{html.escape(n)}</div>'
        for n, c in entries
    ]
    if consultation:
        rows.append(
            f'<div><span class="sw sq" style="background:#fff"></span>{words["consultation"]}</div>'
        )
    rows.append(
        f'<div><span class="sw sq" style="background:{DEPOT_COLOUR};border-color:{DEPOT_COLOUR}">'
        f"</span>{words['depot']}</div>"
    )
    if unassigned:
        rows.append(
            '<div><span class="sw" style="background:#fff;border:2px dashed #7f7f7f;'
            f'box-sizing:border-box"></span>{words["unassigned"]}</div>'
        )
    style = f' style="{corner}"' if corner else ""
    return (
        f'<details class="vp-legend" id="vp-legend"{style}{" open" if open_ else ""}>'
        f"<summary>{words['legend']}</summary>" + "".join(rows) + "</details>"
    )


def _day_switcher(m: Any, days: Sequence[tuple[str, str, list[str]]], messages: Messages) -> Any:
    """A map control with one button per day (key, label, layer variable names): pressing one
    shows that day's layers and hides the others. The first day is shown at the start."""
    _ = messages.gettext
    data = [{"key": k, "label": label, "layers": layers} for k, label, layers in days]
    layer_list = ", ".join(f"{json.dumps(k)}: [{', '.join(ls)}]" for k, _l, ls in days)
    code = f"""
(function () {{
  var map = {m.get_name()};
  var days = {json.dumps(data)};
  var layers = {{{layer_list}}};
  var control = L.control({{position: "topright"}});
  var buttons = {{}};
  function show(key) {{
    days.forEach(function (d) {{
      layers[d.key].forEach(function (l) {{
        if (d.key === key) {{ map.addLayer(l); }} else {{ map.removeLayer(l); }}
      }});
      buttons[d.key].setAttribute("aria-pressed", d.key === key ? "true" : "false");
    }});
  }}
  control.onAdd = function () {{
    var div = L.DomUtil.create("div", "vp-days");
    div.id = "vp-days";
    div.setAttribute("role", "group");
    div.setAttribute("aria-label", {json.dumps(_("Day"))});
    days.forEach(function (d) {{
      var b = L.DomUtil.create("button", "vp-day", div);
      b.type = "button";
      b.textContent = d.label;
      b.dataset.day = d.key;
      b.addEventListener("click", function () {{ show(d.key); }});
      buttons[d.key] = b;
    }});
    L.DomEvent.disableClickPropagation(div);
    return div;
  }};
  control.addTo(map);
  if (days.length) {{ show(days[0].key); }}
}})();
"""
    return _script_class()(code)


def week_map(
    view: PlanView,
    *,
    tiles: TileSource | None = None,
    assets: MapAssets | None = None,
    messages: Messages | None = None,
) -> folium.Map:
    """The week overview, one day at a time: a layer per van-day (coloured by van, named by the
    van-day's van and day names), a day switcher showing one day's layers, unassigned visits in
    their own layer (always shown), depot markers, a folding legend."""
    import folium
    from branca.element import Element

    messages = messages or gettext.NullTranslations()
    _ = messages.gettext
    unassigned_word = html.escape(_("Unassigned"))
    m = _new_map(view.coords(), tiles or TileSource(), assets or MapAssets())
    vans = view.vans()
    van_days = view.sorted_van_days()
    by_day: dict[date, tuple[str, str, list[str]]] = {}
    for vd in sorted(van_days, key=lambda v: (v.date, v.van_id)):
        layer = folium.FeatureGroup(name=f"{vd.van_name} · {vd.day_name}", show=False)
        _add_route(
            layer,
            vd,
            van_colour(vd.van_id, vans),
            size=26,
            weight=4,
            permanent_labels=False,
            messages=messages,
        )
        layer.add_to(m)
        by_day.setdefault(vd.date, (vd.key, vd.day_name, []))[2].append(layer.get_name())
    if view.unassigned:
        layer = folium.FeatureGroup(
            name=_("Unassigned (%(n)s)") % {"n": len(view.unassigned)}, show=True
        )
        for u in view.unassigned:
            icon = folium.DivIcon(
                html=f'<div class="vp-unassigned" data-visit="{html.escape(u.visit_id)}">?</div>',
                icon_size=(22, 22),
                icon_anchor=(11, 11),
                class_name="vp-marker",
            )
            text = (
                f"<b>{html.escape(u.name)}</b><br>{unassigned_word}"
                f"<br>{html.escape(u.message or u.reason)}"
            )
            marker = folium.Marker(
                _latlon(u.coord),
                icon=icon,
                tooltip=f"{html.escape(u.name)}: {unassigned_word}",
            )
            _popup(text).add_to(marker)
            marker.add_to(layer)
        layer.add_to(m)
    _add_depots(m, view.depots, 24, messages)
    _day_switcher(m, [by_day[d] for d in sorted(by_day)], messages).add_to(m)
    names = {vd.van_id: vd.van_name for vd in van_days}
    entries = [(names[v], van_colour(v, vans)) for v in vans]
    legend = _legend(
        entries, any(s.consultation for s in view.stops()), bool(view.unassigned), messages
    )
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
    messages: Messages | None = None,
) -> folium.Map:
    """The crew map: one van's route on one day (a date, day index or key), large markers with
    permanent time labels. Raises ``KeyError`` when the van has no route that day."""
    import folium
    from branca.element import Element

    messages = messages or gettext.NullTranslations()
    vd = view.van_day(van_id, day)
    coords = [c for leg in vd.legs for c in leg.coords] + [s.coord for s in vd.stops]
    coords += [d.coord for d in view.depots]
    m = _new_map(coords, tiles or TileSource(), assets or MapAssets())
    colour = van_colour(vd.van_id, view.vans())
    layer = folium.FeatureGroup(name=f"{vd.van_name} · {vd.day_name}")
    _add_route(layer, vd, colour, size=40, weight=6, permanent_labels=True, messages=messages)
    layer.add_to(m)
    _add_depots(m, view.depots, 34, messages)
    # Top right and folded on the crew map: the bottom is where the route usually starts.
    legend = _legend(
        [(vd.van_name, colour)],
        any(s.consultation for s in vd.stops),
        False,
        messages,
        corner="top:10px;right:10px;bottom:auto;left:auto",
        open_=False,
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
            view,
            selection.van_id,
            selection.day,
            tiles=options.tiles,
            assets=options.assets,
            messages=options.messages,
        )
    else:
        if selection is not None:
            view = view.select(selection.van_id, selection.day)
        m = week_map(view, tiles=options.tiles, assets=options.assets, messages=options.messages)
    return to_html(m).encode("utf-8")


RENDERER = Renderer(
    name="html",
    media_type="text/html; charset=utf-8",
    render=_render,
    description="folium (Leaflet) map: the week (one day at a time), or one van's day",
)
