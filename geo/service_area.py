"""The service area of a job centre as configuration: its name, boundary or bounding box, bases
(depots), consultation places, places for labels and sample data, default road extract and zone.

An area is a JSON or TOML file (:func:`load_service_area`). The Odenwaldkreis is the shipped
default (``geo/data/odenwaldkreis.toml``, :func:`default_service_area`); nothing outside that file
knows about it. Without a configured area and with a road extract of another region,
:func:`area_from_network` derives one from the extract (see there).
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import math
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import shape

from geo.area import Area, bbox_area, polygon_area
from geo.errors import AreaError, GeoError
from geo.road_network import RoadNetwork
from geo.snap import SnapError, SnapSettings, snap_places

log = logging.getLogger(__name__)

DEFAULT_AREA_FILE = Path(__file__).parent / "data" / "odenwaldkreis.toml"
"""The shipped default service area (package data)."""

LonLat = tuple[float, float]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class ServiceAreaError(GeoError):
    """A service-area file cannot be read or is invalid; the message names the file and field."""


def _check_lonlat(value: LonLat) -> LonLat:
    lon, lat = value
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(f"[lon, lat] must be finite numbers, got {list(value)}")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"[lon, lat] out of range (lon -180..180, lat -90..90): {list(value)}")
    return value


class NamedPlace(BaseModel):
    """A named point ``[lon, lat]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    location: LonLat = Field(description="[lon, lat] in degrees")

    _location = field_validator("location")(_check_lonlat)


class Base(NamedPlace):
    """A depot where vans start and end their days."""


class OpeningHours(BaseModel):
    """Recurring hours of a consultation place on one weekday."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: Weekday
    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> OpeningHours:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self

    @property
    def weekday_index(self) -> int:
        """0 = Monday."""
        return WEEKDAYS.index(self.weekday)


class ConsultationPlace(NamedPlace):
    """A place with consultation hours (e.g. a town hall the van visits)."""

    hours: tuple[OpeningHours, ...] = ()


class ExtractSource(BaseModel):
    """Where the area's road data comes from by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    place: str | None = Field(
        default=None, description="place name to download (Nominatim), e.g. a district"
    )
    path: Path | None = Field(
        default=None,
        description="local OSM extract (.osm.pbf) the CLI reads when --osm is not given (the "
        "service reads VANPLAN_OSM_FILE)",
    )
    buffer_m: float = Field(default=5_000.0, ge=0, le=100_000, description="metres around it")


class ServiceArea(BaseModel):
    """A validated service area: give either ``bbox`` or ``boundary``; every base and consultation
    place must lie inside it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="district or job centre name")
    timezone: str = Field(default="Europe/Berlin", description="IANA zone of the area")
    bbox: tuple[float, float, float, float] | None = Field(
        default=None, description="[min_lon, min_lat, max_lon, max_lat]"
    )
    boundary: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon geometry, [lon, lat]"
    )
    bases: tuple[Base, ...] = Field(min_length=1, description="depots; the first is the default")
    consultation_places: tuple[ConsultationPlace, ...] = ()
    places: tuple[NamedPlace, ...] = Field(
        default=(), description="named places (villages) for stop labels and sample data"
    )
    extract: ExtractSource = Field(default_factory=lambda: ExtractSource())

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: tuple[float, float, float, float] | None) -> Any:
        if value is not None:
            try:
                bbox_area(value, field="bbox")
            except AreaError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("boundary")
    @classmethod
    def _boundary(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _boundary_area(value, "")
        return value

    @model_validator(mode="after")
    def _inside(self) -> ServiceArea:
        if (self.bbox is None) == (self.boundary is None):
            raise ValueError("bbox, boundary: give exactly one of them")
        area = self.area()
        problems = []
        for kind, points in (
            ("bases", self.bases),
            ("consultation_places", self.consultation_places),
        ):
            for i, p in enumerate(points):
                if not area.contains(np.array([p.location[0]]), np.array([p.location[1]]))[0]:
                    problems.append(
                        f"{kind}[{i}].location {list(p.location)} ({p.name}) lies outside "
                        f"the area ({area.describe()})"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def area(self) -> Area:
        """The validated :class:`~geo.area.Area` (for clipping and downloads)."""
        if self.boundary is not None:
            return _boundary_area(self.boundary, self.name)
        assert self.bbox is not None  # the validator requires one of the two
        return Area(bbox=bbox_area(self.bbox).bbox, label=self.name)

    @property
    def base(self) -> LonLat:
        """``(lon, lat)`` of the default base: where vans without a start begin."""
        return self.bases[0].location

    def contains(self, lon: float, lat: float) -> bool:
        return bool(self.area().contains(np.array([lon]), np.array([lat]))[0])


def _boundary_area(geometry: Mapping[str, Any], label: str) -> Area:
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError(
            f"boundary: expected a GeoJSON Polygon or MultiPolygon, got type "
            f"{geometry.get('type')!r}"
        )
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"boundary: not a valid GeoJSON geometry ({exc})") from None
    try:
        return polygon_area(polygon, field="boundary", label=label)
    except AreaError as exc:
        raise ValueError(str(exc)) from None


def load_service_area(path: Path | str) -> ServiceArea:
    """Read a service area from a ``.json`` or ``.toml`` file.

    A relative ``extract.path`` is taken relative to the area file. Besides the model's fields,
    the file may name ``places_file``: a CSV (relative to the area file) with columns ``place``
    (or ``name``), ``lon``, ``lat``; lines starting with ``#`` are comments. Its rows are
    appended to ``places``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServiceAreaError(f"service area {path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ServiceAreaError(f"service area {path}: not valid TOML/JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ServiceAreaError(f"service area {path}: expected an object at the top level")
    extract = data.get("extract")
    if isinstance(extract, dict) and isinstance(extract.get("path"), str):
        data["extract"] = {**extract, "path": path.parent / extract["path"]}  # file-relative
    places_file = data.pop("places_file", None)
    if places_file is not None:
        data["places"] = [*data.get("places", []), *_read_places(path.parent / str(places_file))]
    return _validate(data, str(path))


def _validate(data: Mapping[str, Any], source: str) -> ServiceArea:
    from pydantic import ValidationError

    try:
        return ServiceArea.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(area)'}: {e['msg']}" for e in exc.errors()
        )
        raise ServiceAreaError(f"service area {source}: {problems}") from None


def _read_places(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ServiceAreaError(f"places_file {path}: cannot read ({exc.strerror})") from None
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    out = []
    for n, row in enumerate(rows, start=1):
        name = (row.get("place") or row.get("name") or "").strip()
        try:
            out.append({"name": name, "location": (float(row["lon"]), float(row["lat"]))})
        except (KeyError, TypeError, ValueError):
            raise ServiceAreaError(
                f"places_file {path}: row {n} needs place/name, lon and lat"
            ) from None
    return out


@functools.cache
def default_service_area() -> ServiceArea:
    """The shipped default area (the Odenwaldkreis)."""
    return load_service_area(DEFAULT_AREA_FILE)


@functools.cache
def _load_cached(path: Path, mtime: float) -> ServiceArea:
    return load_service_area(path)


def configured_area(path: Path | None) -> ServiceArea:
    """The area in ``path`` (re-read when the file changes), else the shipped default."""
    if path is None:
        return default_service_area()
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ServiceAreaError(f"service area {path}: cannot read ({exc.strerror})") from None
    return _load_cached(path.resolve(), mtime)


def area_from_bbox(name: str, bbox: tuple[float, float, float, float], base: LonLat) -> ServiceArea:
    """A minimal area: a bounding box and one base (e.g. derived from a road extract)."""
    return _validate(
        {"name": name, "bbox": bbox, "bases": [{"name": f"{name} base", "location": base}]},
        name,
    )


def area_from_network(network: RoadNetwork, name: str) -> ServiceArea:
    """An area derived from a road network when none is configured: its bounding box (the clip
    box, else the extent of its nodes) and one base, the box's centre snapped to the nearest road
    a van can stop on. Logged, so nobody mistakes it for a configured depot."""
    extent = network_extent(network)
    if extent is None:
        raise ServiceAreaError(f"{name}: the road network is empty; give a service area (--area)")
    bbox = network.meta.area_bbox or extent
    centre = ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)
    try:
        snapped = snap_places(
            network, [("base", *centre)], SnapSettings(max_snap_distance_m=50_000)
        )[0]
    except SnapError as exc:
        raise ServiceAreaError(
            f"{name}: no base could be derived from the road network ({exc}); "
            "give a service area (--area)"
        ) from None
    base = (round(snapped.snap_lon, 6), round(snapped.snap_lat, 6))
    log.warning(
        "no service area configured for %s: using its bounding box %s and, as the base of vans "
        "without a start, its centre snapped to a road at [%.6f, %.6f]; configure an area "
        "(--area FILE or VANPLAN_SERVICE_AREA) to set the real depot",
        name,
        tuple(round(v, 5) for v in bbox),
        *base,
    )
    return area_from_bbox(name, bbox, base)


def network_extent(network: RoadNetwork) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of the network's nodes; None for an empty network."""
    nodes = network.graph.nodes(data=True)
    xs = [float(d["x"]) for _, d in nodes]
    ys = [float(d["y"]) for _, d in nodes]
    if not xs:
        return None
    return (min(xs), min(ys), max(xs), max(ys))


def area_for_network(
    configured: ServiceArea | None,
    network: RoadNetwork | None,
    name: str,
    *,
    needs_base: bool = True,
) -> ServiceArea:
    """The area to plan in: ``configured`` if given; else the shipped default, unless its base is
    needed (``needs_base``: some van has no start) and ``network`` (a road extract of another
    region) does not reach it: then an area derived from the network (:func:`area_from_network`,
    logged)."""
    if configured is not None:
        return configured
    default = default_service_area()
    if network is None or not needs_base:
        return default
    extent = network_extent(network)
    lon, lat = default.base
    if extent is not None and extent[0] <= lon <= extent[2] and extent[1] <= lat <= extent[3]:
        return default
    return area_from_network(network, name)
