"""Van speeds and travel times per road: ``maxspeed`` parsing and per-class German defaults.

Rules, in order: a usable ``maxspeed`` (or ``maxspeed:forward``/``:backward`` for the direction of
travel) wins; else an implicit limit from ``source:maxspeed``/``maxspeed:type``/``zone:traffic``
(``DE:urban`` 50, ``DE:rural`` 100 ...); else the default of the road class
(:data:`geo.settings.DEFAULT_HIGHWAY_SPEEDS`). The result is capped at the van's maximum speed and
multiplied by the speed factor. Lists ("50;30") take the lowest value; junk falls back to defaults.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from geo.settings import SpeedSettings

NO_LIMIT = math.inf
"""Returned by :func:`parse_maxspeed` for ``none`` (no general limit, e.g. German motorways)."""

_MPH = 1.609344
_KNOT = 1.852
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots|kn)?$")

# Implicit limits "<country>:<zone>" (km/h); None = no general limit. Urban/rural follow settings
# for DE (see :func:`parse_maxspeed`).
_IMPLICIT: dict[str, float] = {
    "urban": 50.0,
    "rural": 100.0,
    "motorway": NO_LIMIT,
    "trunk": 100.0,
    "living_street": 7.0,
    "walk": 7.0,
    "pedestrian_zone": 7.0,
    "bicycle_road": 30.0,
    "zone30": 30.0,
    "zone20": 20.0,
    "zone10": 10.0,
}
_COUNTRY_OVERRIDES: dict[tuple[str, str], float] = {
    ("at", "motorway"): 130.0,
    ("ch", "rural"): 80.0,
    ("ch", "motorway"): 120.0,
    ("fr", "rural"): 80.0,
    ("fr", "motorway"): 130.0,
    ("nl", "rural"): 80.0,
    ("nl", "motorway"): 100.0,
    ("dk", "rural"): 80.0,
    ("dk", "motorway"): 130.0,
    ("pl", "rural"): 90.0,
    ("pl", "motorway"): 140.0,
    ("cz", "rural"): 90.0,
    ("cz", "motorway"): 130.0,
    ("be", "rural"): 70.0,
    ("be", "motorway"): 120.0,
    ("lu", "rural"): 90.0,
    ("lu", "motorway"): 130.0,
}

MIN_KMH = 1.0
MAX_KMH = 300.0


def _parse_one(value: str, settings: SpeedSettings | None) -> float | None:
    text = value.strip().lower()
    if not text:
        return None
    if text == "none":
        return NO_LIMIT
    if text == "walk":
        return settings.walk_kmh if settings else _IMPLICIT["walk"]
    match = _NUMBER.match(text)
    if match:
        number = float(match.group(1).replace(",", "."))
        unit = match.group(2)
        if unit == "mph":
            number *= _MPH
        elif unit in ("knots", "kn"):
            number *= _KNOT
        return number if MIN_KMH <= number <= MAX_KMH else None
    if ":" in text:
        country, _, zone = text.partition(":")
        zone = zone.replace(":", "").replace(" ", "_")
        if zone.startswith("zone") and zone[4:].isdigit():
            speed = float(zone[4:])
            return speed if MIN_KMH <= speed <= MAX_KMH else None
        if (country, zone) in _COUNTRY_OVERRIDES:
            return _COUNTRY_OVERRIDES[(country, zone)]
        if settings is not None and country == "de":
            if zone == "urban":
                return settings.urban_kmh
            if zone == "rural":
                return settings.rural_kmh
            if zone in ("living_street", "walk", "pedestrian_zone"):
                return settings.walk_kmh
        return _IMPLICIT.get(zone)
    return None  # "signals", "variable", junk: the caller uses the class default


def parse_maxspeed(value: object, settings: SpeedSettings | None = None) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h.

    Returns ``None`` when the value gives no usable limit ("signals", "variable", junk, empty),
    :data:`NO_LIMIT` for "none", else a speed in ``[MIN_KMH, MAX_KMH]``. Lists ("50;30", "50|30")
    give the lowest usable value.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = re.split(r"[;|]", str(value))
    speeds = [s for s in (_parse_one(p, settings) for p in parts) if s is not None]
    return min(speeds) if speeds else None


def _implicit_limit(tags: Mapping[str, str], settings: SpeedSettings) -> float | None:
    for key in ("maxspeed:type", "source:maxspeed", "zone:traffic", "zone:maxspeed"):
        value = tags.get(key)
        if value and ":" in value:
            speed = parse_maxspeed(value, settings)
            if speed is not None:
                return speed
    return None


def road_speed_kmh(
    tags: Mapping[str, str], settings: SpeedSettings, *, backward: bool = False
) -> float:
    """Van speed (km/h) on a way with OSM ``tags``, driven along (or against, ``backward``) it.

    Always finite and in ``(0, settings.van_max_speed_kmh * settings.speed_factor]``.
    """
    directional = tags.get("maxspeed:backward" if backward else "maxspeed:forward")
    limit = parse_maxspeed(directional, settings)
    if limit is None:
        limit = parse_maxspeed(tags.get("maxspeed"), settings)
    if limit is None:
        limit = _implicit_limit(tags, settings)
    if limit is None:
        highway = tags.get("highway", "")
        limit = settings.highway_speeds.get(highway, settings.fallback_kmh)
    speed = min(limit, settings.van_max_speed_kmh)
    return speed * settings.speed_factor


def travel_time_s(length_m: float, speed_kmh: float) -> float:
    """Seconds to drive ``length_m`` metres at ``speed_kmh``."""
    return length_m / (speed_kmh / 3.6)
