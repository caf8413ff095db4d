"""Download a van network from OpenStreetMap with osmnx (Nominatim geocoding, Overpass queries).

osmnx builds and sends the Overpass queries (polygon subdivision, rate limiting, its HTTP cache);
the raw ways and nodes then go through the same van rules as a local extract
(:func:`geo.build.build_graph`), so both sources give the same kind of graph. Endpoints come from
:class:`geo.settings.GeoSettings` (the service sets them from ``VANPLAN_OVERPASS_URL``,
``VANPLAN_NOMINATIM_URL``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from geo.area import Area, bbox_area, polygon_area
from geo.build import DRIVE_HIGHWAYS, NEEDED_TAGS, RawData, RawWay, exclusion_reason
from geo.errors import AreaError, DownloadError
from geo.service_area import configured_area
from geo.settings import GeoSettings, NetworkSettings

log = logging.getLogger(__name__)

# osmnx (with geopandas, pandas and matplotlib) is imported where a download or a geocoding
# needs it: every process that imports this module (the CLI, the server, the workers) starts
# seconds sooner without it.


def _osmnx() -> Any:
    import osmnx

    return osmnx


def _osmnx_errors() -> tuple[type[BaseException], ...]:
    """The errors of a failed osmnx request (an ``except`` evaluates this only on an error)."""
    import requests

    ox = _osmnx()
    return (
        ox._errors.InsufficientResponseError,
        ox._errors.ResponseStatusCodeError,
        requests.RequestException,
    )


@contextmanager
def osmnx_endpoints(geo_settings: GeoSettings) -> Iterator[None]:
    """Point osmnx at the configured endpoints and HTTP cache folder, restoring them afterwards."""
    ox = _osmnx()
    saved = (ox.settings.overpass_url, ox.settings.nominatim_url, ox.settings.cache_folder)
    try:
        if geo_settings.overpass_url:
            ox.settings.overpass_url = geo_settings.overpass_url
        if geo_settings.nominatim_url:
            ox.settings.nominatim_url = geo_settings.nominatim_url
        ox.settings.cache_folder = str(geo_settings.cache_dir / "osmnx-http")
        yield
    finally:
        ox.settings.overpass_url, ox.settings.nominatim_url, ox.settings.cache_folder = saved


def overpass_filter(network_type: str) -> str:
    """Overpass way filter: the drivable road classes; the finer rules run locally."""
    classes = sorted(DRIVE_HIGHWAYS | ({"service"} if network_type == "drive_service" else set()))
    return f'["highway"~"^({"|".join(classes)})$"]["area"!~"yes"]'


def geocode_area(place: str, buffer_m: float, geo_settings: GeoSettings) -> Area:
    """The (multi)polygon Nominatim gives for ``place``, grown by ``buffer_m`` metres."""
    if not place.strip():
        raise AreaError("place: empty place name")
    try:
        with osmnx_endpoints(geo_settings):
            gdf = _osmnx().geocode_to_gdf(place)
    except _osmnx_errors() as exc:
        raise DownloadError(f"place {place!r}: geocoding failed ({exc})") from exc
    except TypeError as exc:  # osmnx: the result is not a polygon
        raise DownloadError(f"place {place!r}: no boundary polygon found ({exc})") from exc
    geometry = gdf.geometry.iloc[0]
    if buffer_m > 0:
        projected = gdf.to_crs(gdf.estimate_utm_crs()).buffer(buffer_m)
        geometry = projected.to_crs("EPSG:4326").iloc[0]
    if not isinstance(geometry, (Polygon, MultiPolygon)):
        raise DownloadError(f"place {place!r}: geocoded to a {geometry.geom_type}, not an area")
    label = f"{place} + {buffer_m:g} m" if buffer_m > 0 else place
    return polygon_area(geometry, field="place", label=label)


@dataclass(frozen=True)
class OverpassSource:
    """Drivable ways downloaded from Overpass for ``area`` (a polygon; bboxes become polygons)."""

    area: Area
    geo_settings: GeoSettings = field(default_factory=lambda: GeoSettings())
    place: str | None = None
    kind: Literal["download"] = field(default="download", init=False)

    @classmethod
    def for_request(
        cls,
        *,
        place: str | None = None,
        polygon: object | None = None,
        bbox: Sequence[float] | None = None,
        geo_settings: GeoSettings,
    ) -> OverpassSource:
        """One of place/polygon/bbox; none: ``geo_settings.default_place`` plus its buffer, else
        the service area's extract place plus its buffer, else the service area itself."""
        given = [name for name, v in (("place", place), ("polygon", polygon), ("bbox", bbox)) if v]
        if len(given) > 1:
            raise AreaError(f"{', '.join(given)}: give one area, not several")
        if polygon is not None:
            return cls(polygon_area(polygon), geo_settings)
        if bbox is not None:
            return cls(bbox_area(bbox), geo_settings)
        service = configured_area(geo_settings.service_area)
        buffer_m = geo_settings.default_buffer_m
        if place is None:
            place = geo_settings.default_place or service.extract.place
            if place is None:  # the area names no place to download: its own bbox/boundary
                return cls(service.area(), geo_settings, service.name)
        if buffer_m is None:
            buffer_m = service.extract.buffer_m
        area = geocode_area(place, buffer_m, geo_settings)
        return cls(area, geo_settings, place)

    def describe(self) -> str:
        return (
            f"OpenStreetMap download for {self.place}" if self.place else "OpenStreetMap download"
        )

    def cache_token(self) -> str:
        return f"overpass:{self.geo_settings.overpass_url or _osmnx().settings.overpass_url}"

    def read(self, settings: NetworkSettings) -> RawData:
        from osmnx import _overpass

        try:
            with osmnx_endpoints(self.geo_settings):
                responses = list(
                    _overpass._download_overpass_network(
                        self.area.geometry,
                        settings.network_type,
                        overpass_filter(settings.network_type),
                    )
                )
        except _osmnx_errors() as exc:
            raise DownloadError(f"{self.describe()}: download failed ({exc})") from exc
        for response in responses:
            problem = _response_problem(response)
            if problem:
                raise DownloadError(f"{self.describe()}: download failed ({problem})")
        return parse_overpass(responses, settings.network_type)


def _response_problem(response: object) -> str | None:
    """Why an Overpass answer is unusable (error status, runtime error remark), or None."""
    if not isinstance(response, dict) or "elements" not in response:
        detail = (
            response.get("error") or response.get("remark") if isinstance(response, dict) else ""
        )
        return f"Overpass answered without data: {detail or response!r}"[:300]
    remark = str(response.get("remark") or "")
    if "error" in remark.lower():  # e.g. "runtime error: Query timed out": results are partial
        return f"Overpass reported {remark!r}"[:300]
    return None


def parse_overpass(responses: Sequence[dict[str, Any]], network_type: str) -> RawData:
    """Ways and nodes from Overpass JSON responses (duplicates across sub-queries merged)."""
    ways: dict[int, RawWay] = {}
    coords: dict[int, tuple[float, float]] = {}
    node_tags: dict[int, dict[str, str]] = {}
    stamps: list[datetime] = []
    for response in responses:
        stamp = (response.get("osm3s") or {}).get("timestamp_osm_base")
        if stamp:
            try:
                stamps.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
            except ValueError:
                log.warning("ignoring malformed Overpass timestamp %r", stamp)
        for element in response.get("elements", []):
            kind = element.get("type")
            if kind == "node" and "lat" in element and "lon" in element:
                coords[int(element["id"])] = (float(element["lon"]), float(element["lat"]))
                tags = {
                    k: v for k, v in (element.get("tags") or {}).items() if k in ("highway", "ref")
                }
                if tags:
                    node_tags[int(element["id"])] = tags
            elif kind == "way":
                tags = {k: v for k, v in (element.get("tags") or {}).items() if k in NEEDED_TAGS}
                if exclusion_reason(tags, network_type) is None:
                    ways[int(element["id"])] = RawWay(
                        int(element["id"]), [int(n) for n in element.get("nodes", [])], tags
                    )
    ids = np.fromiter(coords, dtype=np.int64, count=len(coords))
    order = np.argsort(ids)
    lonlat = np.array(list(coords.values()), dtype=np.float64).reshape(-1, 2)[order]
    return RawData(
        ways=list(ways.values()),
        node_ids=ids[order],
        lon=lonlat[:, 0].copy(),
        lat=lonlat[:, 1].copy(),
        node_tags=node_tags,
        data_date=max(stamps) if stamps else None,
    )
