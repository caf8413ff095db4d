"""Settings of the geo layer: plain pydantic models, validated, with defaults that work offline.

The geo layer never reads the environment: callers pass these objects in (each function has a
default). The service's one settings object (:class:`api.settings.Settings`) nests
:class:`GeoSettings` as ``settings.geo`` and fills it from ``VANPLAN_*`` variables (e.g.
``VANPLAN_NETWORK__SPEEDS__VAN_MAX_SPEED_KMH=110``). Settings that change the built graph live in
:class:`NetworkSettings` (part of the cache key); paths and endpoints live in :class:`GeoSettings`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Van defaults per OSM highway class (km/h), used when a way carries no usable maxspeed. Germany's
# general limits are 50 built-up and 100 rural; the tag does not say which applies, so these are
# typical van speeds per class: big roads mostly rural, small ones mostly in villages and towns.
# Motorways have no general limit (advisory 130): the van's own maximum applies (math.inf here).
DEFAULT_HIGHWAY_SPEEDS: dict[str, float] = {
    "motorway": math.inf,
    "motorway_link": 60.0,
    "trunk": 100.0,
    "trunk_link": 60.0,
    "primary": 80.0,
    "primary_link": 50.0,
    "secondary": 70.0,
    "secondary_link": 50.0,
    "tertiary": 60.0,
    "tertiary_link": 40.0,
    "unclassified": 50.0,
    "road": 40.0,
    "residential": 30.0,
    "living_street": 7.0,
    "service": 20.0,
    "busway": 30.0,
}


class SpeedSettings(BaseModel):
    """How fast a van drives; see :mod:`geo.speeds`."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    van_max_speed_kmh: float = Field(
        default=120.0, gt=5, le=250, description="the van's own maximum"
    )
    speed_factor: float = Field(
        default=1.0,
        gt=0,
        le=1.5,
        description="multiplies every road speed (e.g. 0.9 for cautious drivers)",
    )
    junction_penalty_s: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="fixed seconds added per entered junction (3+ streets)",
    )
    urban_kmh: float = Field(default=50.0, gt=0, le=250, description="DE:urban, built-up areas")
    rural_kmh: float = Field(
        default=100.0, gt=0, le=250, description="DE:rural, outside built-up areas"
    )
    walk_kmh: float = Field(default=7.0, gt=0, le=30, description="'walk' and living streets")
    highway_speeds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_HIGHWAY_SPEEDS))
    fallback_kmh: float = Field(default=30.0, gt=0, le=250, description="unknown road classes")

    @field_validator("highway_speeds")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not (v > 0)]
        if bad:
            raise ValueError(f"speeds must be > 0 km/h, not for {', '.join(sorted(bad))}")
        return value


class NetworkSettings(BaseModel):
    """What goes into a road network; every field is part of the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    network_type: Literal["drive", "drive_service"] = Field(
        default="drive",
        description="'drive' as osmnx (no service roads); 'drive_service' adds service roads",
    )
    simplify: bool = True
    largest_component: bool = Field(
        default=True, description="keep the largest strongly connected part"
    )
    speeds: SpeedSettings = Field(default_factory=lambda: SpeedSettings())


class ApproximateSettings(BaseModel):
    """Straight-line travel estimates for when no road data is available."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    detour_factor: float = Field(
        default=1.3, ge=1.0, le=3.0, description="road km per straight-line km"
    )
    # (end of the stretch in m, speed on it in km/h): the first 2 km of every trip at 25 km/h,
    # km 2-10 at 45, km 10-30 at 60, the rest at 75; see geo.approximate.approximate_seconds
    speed_bands: tuple[tuple[float, float], ...] = (
        (2_000.0, 25.0),
        (10_000.0, 45.0),
        (30_000.0, 60.0),
        (math.inf, 75.0),
    )

    @field_validator("speed_bands")
    @classmethod
    def _bands(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if not value:
            raise ValueError("at least one band is needed")
        limits = [limit for limit, _ in value]
        if limits != sorted(limits) or len(set(limits)) != len(limits):
            raise ValueError("band limits must be strictly increasing")
        if limits[-1] != math.inf:
            raise ValueError("the last band must be open-ended (limit inf)")
        if any(not (0 < speed <= 250) for _, speed in value):
            raise ValueError("band speeds must be in (0, 250] km/h")
        return value


def _default_cache_dir() -> Path:
    return platformdirs.user_cache_path("vanplan") / "networks"


class GeoSettings(BaseModel):
    """All geo settings: where networks are cached and downloaded from, how they are built, how
    travel is estimated without them. ``GeoSettings()`` is the defaults (no environment read)."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="built road networks (binary, keyed by source, area and network settings) "
        "and osmnx's HTTP cache",
    )
    service_area: Path | None = Field(
        default=None,
        description="service-area file (.toml/.json: name, bbox or boundary, bases, "
        "consultation places, default extract; geo.service_area); None: the shipped default",
    )
    default_place: str | None = Field(
        default=None,
        description="place downloaded when none is given; None: the service area's extract "
        "place, else its bounding box",
    )
    default_buffer_m: float | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="metres added around default_place; None: the service area's extract buffer",
    )
    overpass_url: str | None = Field(default=None, description="None: osmnx's default endpoint")
    nominatim_url: str | None = Field(default=None, description="None: osmnx's default endpoint")
    network: NetworkSettings = Field(
        default_factory=lambda: NetworkSettings(), description="what goes into a road network"
    )
    approximate: ApproximateSettings = Field(
        default_factory=lambda: ApproximateSettings(),
        description="straight-line travel estimates without road data",
    )
