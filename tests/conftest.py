"""Shared fixtures. The real OSM extract is found through VANPLAN_SHARED_DIR (default: ../shared
beside the project root); tests that need it fail, never skip, when it is missing.

Order: the modules with a ``slow`` test run first (each module's tests stay together), so that with
``-n 2 --dist worksteal`` no long test starts last while the other worker has nothing left to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a ``slow`` test first, else in collection order (a stable sort)."""
    early = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in early)


def shared_dir() -> Path:
    return Path(os.environ.get("VANPLAN_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.fail(f"shared material not found at {path}; set VANPLAN_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def heidelberg_pbf(shared: Path) -> Path:
    path = shared / "data" / "osm" / "heidelberg.osm.pbf"
    if not path.is_file():
        pytest.fail(f"OSM extract not found at {path}")
    return path


@pytest.fixture(scope="session")
def solomon_dir(shared: Path) -> Path:
    path = shared / "benchmarks" / "solomon"
    if not path.is_dir():
        pytest.fail(f"Solomon instances not found at {path}")
    return path
