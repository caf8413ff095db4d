"""Explicitly approximate travel times for when no road data is available.

Road distance = straight-line (haversine) distance x a detour factor (1.3 by default, for the hilly
Odenwald); speed from distance bands (short trips slow, long ones faster). Everything produced here
is flagged ``approximate=True``; never mix it silently with road-network results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from geo.build import great_circle_m
from geo.errors import GeoError
from geo.settings import ApproximateSettings
from optimizer.domain import TravelMatrix
from optimizer.errors import Collector


def approximate_seconds(
    road_m: NDArray[np.float64], settings: ApproximateSettings
) -> NDArray[np.float64]:
    """Seconds for trips of ``road_m`` metres: each band's stretch at that band's speed.

    The first ``speed_bands[0][0]`` metres run at the first speed, the next stretch at the second
    and so on, so the time grows continuously with distance while the average speed rises (short
    trips slow, long ones faster), and the triangle inequality keeps holding.
    """
    seconds = np.zeros_like(road_m, dtype=np.float64)
    lower = 0.0
    for limit, speed in settings.speed_bands:
        stretch = np.clip(road_m - lower, 0.0, limit - lower)
        seconds += stretch / (speed / 3.6)
        lower = limit
    return seconds


def _validate(points: Mapping[str, tuple[float, float]]) -> tuple[list[str], NDArray[np.float64]]:
    c = Collector()
    ids = list(points)
    coords = np.zeros((len(ids), 2), dtype=np.float64)
    for i, key in enumerate(ids):
        field = f"points[{key!r}]"
        if not isinstance(key, str) or not key:
            c.add(field, "location ids must be non-empty strings")
        value = points[key]
        try:
            lon, lat = (float(v) for v in value)
        except (TypeError, ValueError):
            c.add(field, f"expected (lon, lat), got {value!r}")
            continue
        if not (math.isfinite(lon) and -180 <= lon <= 180):
            c.add(field, f"longitude {lon} is outside [-180, 180]")
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            c.add(field, f"latitude {lat} is outside [-90, 90]")
        coords[i] = lon, lat
    c.raise_if_any()
    return ids, coords


def approximate_matrix(
    points: Mapping[str, tuple[float, float]], settings: ApproximateSettings | None = None
) -> TravelMatrix:
    """Approximate durations (s) and distances (m) between ``points`` (id -> (lon, lat)).

    The result has ``approximate=True``. Raises :class:`optimizer.errors.ValidationError` naming
    each malformed point.
    """
    settings = settings or ApproximateSettings()
    if not points:
        raise GeoError("points: at least one location is needed")
    ids, coords = _validate(points)
    lon, lat = coords[:, 0], coords[:, 1]
    beeline = great_circle_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    road = beeline * settings.detour_factor
    seconds = approximate_seconds(road, settings)
    np.fill_diagonal(road, 0.0)
    np.fill_diagonal(seconds, 0.0)
    return TravelMatrix(
        locations=tuple(ids),
        durations=np.rint(seconds).astype(np.int64),
        distances=np.rint(road).astype(np.int64),
        approximate=True,
    )
