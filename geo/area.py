"""The area a network covers: a bounding box or a (multi)polygon in lon/lat, validated."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon, box

from geo.errors import AreaError

BBox = tuple[float, float, float, float]
"""(west, south, east, north) in degrees, the osmnx 2 order (left, bottom, right, top)."""


@dataclass(frozen=True)
class Area:
    """A validated area; ``polygon`` is None for a plain bounding box."""

    bbox: BBox
    polygon: Polygon | MultiPolygon | None = None
    label: str = ""

    @property
    def geometry(self) -> Polygon | MultiPolygon:
        return self.polygon if self.polygon is not None else box(*self.bbox)

    def contains(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Vectorised test: which points lie inside (or on the border of) the area."""
        west, south, east, north = self.bbox
        inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        if self.polygon is not None and inside.any():
            idx = np.flatnonzero(inside)
            prepared = self.polygon
            shapely.prepare(prepared)
            inside[idx] = shapely.intersects_xy(prepared, lon[idx], lat[idx])
        return inside

    def describe(self) -> str:
        if self.label:
            return self.label
        kind = "polygon" if self.polygon is not None else "bbox"
        return f"{kind} {tuple(round(v, 5) for v in self.bbox)}"

    def key(self) -> str:
        """Stable text for cache keys."""
        if self.polygon is None:
            return "bbox:" + ",".join(f"{v:.7f}" for v in self.bbox)
        wkb = shapely.to_wkb(shapely.set_precision(self.polygon, 1e-7), hex=True)
        return "polygon:" + hashlib.sha256(wkb.encode()).hexdigest()


def bbox_area(bbox: Sequence[float], *, field: str = "bbox") -> Area:
    """Validate ``(west, south, east, north)``; raises :class:`AreaError` naming ``field``."""
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise AreaError(
            f"{field}: expected 4 numbers (west, south, east, north), got {bbox!r}"
        ) from exc
    if len(values) != 4:
        raise AreaError(
            f"{field}: expected 4 numbers (west, south, east, north), got {len(values)}"
        )
    west, south, east, north = values
    problems = []
    if not all(math.isfinite(v) for v in values):
        problems.append("all values must be finite")
    else:
        if not (-180 <= west <= 180 and -180 <= east <= 180):
            problems.append("longitudes must lie in [-180, 180]")
        if not (-90 <= south <= 90 and -90 <= north <= 90):
            problems.append("latitudes must lie in [-90, 90]")
        if west >= east:
            problems.append(f"west ({west}) must be less than east ({east})")
        if south >= north:
            problems.append(f"south ({south}) must be less than north ({north})")
    if problems:
        raise AreaError(f"{field} {values}: " + "; ".join(problems))
    return Area(bbox=(west, south, east, north))


def polygon_area(polygon: object, *, field: str = "polygon", label: str = "") -> Area:
    """Validate a shapely (Multi)Polygon in lon/lat; raises :class:`AreaError` naming ``field``."""
    if not isinstance(polygon, (Polygon, MultiPolygon)):
        raise AreaError(
            f"{field}: expected a shapely Polygon or MultiPolygon, got {type(polygon).__name__}"
        )
    if polygon.is_empty:
        raise AreaError(f"{field}: the polygon is empty")
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        raise AreaError(f"{field}: invalid polygon ({reason})")
    if polygon.area <= 0:
        raise AreaError(f"{field}: the polygon has no area")
    west, south, east, north = polygon.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise AreaError(
            f"{field}: coordinates must be lon/lat degrees, got bounds {polygon.bounds}"
        )
    return Area(bbox=(west, south, east, north), polygon=polygon, label=label)


def make_area(bbox: Sequence[float] | None = None, polygon: object | None = None) -> Area | None:
    """At most one of ``bbox``/``polygon``; None when neither is given."""
    if bbox is not None and polygon is not None:
        raise AreaError("bbox, polygon: give one area, not both")
    if bbox is not None:
        return bbox_area(bbox)
    if polygon is not None:
        return polygon_area(polygon)
    return None
