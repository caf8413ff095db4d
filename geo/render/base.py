"""What a renderer is and what it is given: the contract shared by every output format.

A :class:`Renderer` turns a :class:`~geo.view.PlanView` (optionally restricted to one van-day by
a :class:`Selection`) into the bytes of one file format. :class:`RenderOptions` carries the
choices a caller may make (map tiles and assets, client names or pseudonyms, a fixed time stamp).
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from urllib.parse import quote

from geo.view import ClientDisplay, PlanView, VanDayView
from optimizer.errors import Collector

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
LEAFLET_CDN_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"
LEAFLET_CDN_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css"


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


class Messages(Protocol):
    """A gettext catalogue (``gettext.NullTranslations`` and its subclasses are ones): the
    words the renderers write for people (map legends, popups, calendar entries)."""

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


@dataclass(frozen=True)
class RenderOptions:
    """Choices for the renderers; each reads the ones it needs.

    ``title`` names a van-day file (GPX); ``stamp`` fixes the iCalendar DTSTAMP (default: now);
    ``csv_delimiter`` separates CSV cells; ``messages`` translates what the renderers write for
    people (default: the English source strings; the pages pass their language's catalogue).
    """

    tiles: TileSource = field(default_factory=TileSource)
    assets: MapAssets = field(default_factory=MapAssets)
    client_display: ClientDisplay = ClientDisplay.PSEUDONYM
    title: str | None = None
    stamp: datetime | None = None
    uid_domain: str = "vanplan.invalid"
    csv_delimiter: str = ","
    messages: Messages = field(default_factory=gettext.NullTranslations)


@dataclass(frozen=True)
class Selection:
    """Which part of the plan to render: one van, one day (a date, a day index or the day's
    key), both (a van-day), or neither (the whole plan)."""

    van_id: str | None = None
    day: date | int | str | None = None

    @property
    def is_van_day(self) -> bool:
        return self.van_id is not None and self.day is not None

    def van_day(self, view: PlanView) -> VanDayView:
        """The selected van-day of ``view``; ``ValueError`` unless a van and a day are given,
        ``KeyError`` when the van has no route that day."""
        if self.van_id is None or self.day is None:
            raise ValueError("this format is made per van-day: give a van and a day")
        return view.van_day(self.van_id, self.day)


RenderFunction = Callable[[PlanView, Selection | None, RenderOptions], bytes]


@dataclass(frozen=True)
class Renderer:
    """One output format: its name (also the file extension), media type and render function.

    ``per_van_day``: the format needs a van-day :class:`Selection` (GPX, iCalendar, CSV)."""

    name: str
    media_type: str
    render: RenderFunction
    per_van_day: bool = False
    description: str = ""

    @property
    def extension(self) -> str:
        return self.name

    def filename(self, van_day: VanDayView) -> str:
        """``vanplan-<van>-<date>.<ext>``, safe for a Content-Disposition header."""
        return f"vanplan-{quote(van_day.van_id, safe='')}-{van_day.date.isoformat()}.{self.name}"


def format_duration(seconds: int | None) -> str:
    """``"45 min"`` or ``"1 h 05 min"``; empty for None."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
