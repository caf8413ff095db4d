"""Travel matrices for named places, and the offline address lookup that finds those places.

A :class:`MatrixProvider` turns ``{location id: (lon, lat)}`` into a
:class:`~optimizer.domain.TravelMatrix` plus a :class:`MatrixSource` saying where the numbers came
from: the road network of an OSM extract (:class:`RoadMatrixProvider`, the network loaded once on
first use), straight-line estimates (:func:`approximate_provider`) or zeros for validating a
request cheaply (:func:`placeholder_provider`). Notebooks, benchmarks and the API use the same
providers; the API maps :class:`MatrixSource` to its response schema.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from geo.approximate import approximate_matrix
from geo.geocode import geocode
from geo.matrix import travel_matrix
from geo.network import load_osm_file
from geo.road_network import RoadNetwork
from geo.settings import ApproximateSettings, GeoSettings, NetworkSettings
from geo.snap import snap_places
from optimizer.domain import TravelMatrix

log = logging.getLogger(__name__)

LonLat = tuple[float, float]
"""A point as ``(lon, lat)``."""


@dataclass(frozen=True)
class MatrixSource:
    """Where a travel matrix came from."""

    source: Literal["road_network", "approximate"]
    approximate: bool  # estimated travel times (not along roads)
    note: str  # one line for people: which data, what is missing


class MatrixProvider(Protocol):
    """Computes the travel matrix between named points ``(lon, lat)``."""

    def __call__(self, points: Mapping[str, LonLat]) -> tuple[TravelMatrix, MatrixSource]: ...


AddressResolver = Callable[[str], LonLat | None]
"""Offline address lookup: an address to ``(lon, lat)``, None when unknown."""


class Geocoder:
    """Address -> ``(lon, lat)`` through the offline index of an OSM extract
    (:func:`geo.geocode.geocode`)."""

    def __init__(self, osm_file: Path) -> None:
        self.osm_file = osm_file

    def __call__(self, address: str) -> LonLat | None:
        try:
            found = geocode(address, self.osm_file)
        except (LookupError, ValueError):  # not found (the message is not logged: personal)
            return None
        return (float(found.lon), float(found.lat))


def default_address_resolver(osm_file: Path | None) -> AddressResolver | None:
    """A :class:`Geocoder` over ``osm_file``; None when no extract is configured."""
    if osm_file is None:
        return None
    return Geocoder(Path(osm_file))


def approximate_provider(settings: ApproximateSettings | None = None) -> MatrixProvider:
    """Straight-line matrix from :func:`geo.approximate.approximate_matrix`."""

    def provide(points: Mapping[str, LonLat]) -> tuple[TravelMatrix, MatrixSource]:
        matrix = approximate_matrix(points, settings)
        source = MatrixSource(
            source="approximate",
            approximate=True,
            note="no road network configured: travel times estimated from straight-line "
            "distances (geo.approximate)",
        )
        return matrix, source

    return provide


def placeholder_provider(points: Mapping[str, LonLat]) -> tuple[TravelMatrix, MatrixSource]:
    """A zero matrix, only for validating a request cheaply (never for solving)."""
    ids = tuple(points)
    zeros = np.zeros((len(ids), len(ids)), dtype=np.int64)
    source = MatrixSource(source="approximate", approximate=True, note="validation only")
    return TravelMatrix(ids, zeros, zeros.copy(), approximate=True), source


class RoadMatrixProvider:
    """Snaps places to the road network of an OSM extract and computes the road matrix.

    The network is built with ``settings`` (or read from the cache in ``cache_dir``) on first
    use, once.
    """

    def __init__(
        self,
        osm_file: Path,
        cache_dir: Path | None = None,
        settings: NetworkSettings | None = None,
    ) -> None:
        self.osm_file = osm_file
        self.cache_dir = cache_dir
        self.settings = settings
        self._network: RoadNetwork | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_network(cls, network: RoadNetwork, name: str = "road network") -> RoadMatrixProvider:
        """A provider over an already built network (e.g. a clipped extract)."""
        provider = cls(Path(name))
        provider._network = network
        return provider

    def network(self) -> RoadNetwork:
        """The network, loaded on the first call (thread-safe)."""
        with self._lock:
            if self._network is None:
                log.info("loading road network from %s", self.osm_file)
                self._network = load_osm_file(
                    self.osm_file, settings=self.settings, cache_dir=self.cache_dir
                )
            return self._network

    @property
    def loaded(self) -> bool:
        return self._network is not None

    def __call__(self, points: Mapping[str, LonLat]) -> tuple[TravelMatrix, MatrixSource]:
        network = self.network()
        snapped = snap_places(network, dict(points))  # SnapError names each place key
        result = travel_matrix(network, snapped)
        note = f"road network from {self.osm_file.name}"
        if result.unreachable:
            note += f"; {len(result.unreachable)} place pairs have no road between them"
        source = MatrixSource(
            source="road_network", approximate=result.matrix.approximate, note=note
        )
        return result.matrix, source


def road_provider(osm_file: Path | None, geo: GeoSettings) -> RoadMatrixProvider | None:
    """A road-network provider over ``osm_file`` (None without one), its network built with
    ``geo.network`` and cached in ``geo.cache_dir``."""
    if osm_file is None:
        return None
    return RoadMatrixProvider(Path(osm_file), geo.cache_dir, geo.network)
