"""Shared geo fixtures: the Heidelberg van network, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.network import load_osm_file
from geo.road_network import RoadNetwork

# a small box in Heidelberg's old town and Bergheim (lon 8.68-8.71, lat 49.40-49.415)
HEIDELBERG_SMALL_BBOX = (8.68, 49.40, 8.71, 49.415)


@pytest.fixture(scope="session")
def heidelberg_network(heidelberg_pbf: Path) -> RoadNetwork:
    """The whole Heidelberg extract as a simplified, strongly connected van network (read-only!)."""
    return load_osm_file(heidelberg_pbf)


@pytest.fixture(scope="session")
def heidelberg_small_network(heidelberg_pbf: Path) -> RoadNetwork:
    """The extract clipped to :data:`HEIDELBERG_SMALL_BBOX` (fast to build; read-only!)."""
    return load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX)
