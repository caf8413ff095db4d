"""The one settings object: every ``VANPLAN_*`` variable reaches its field (sections included),
former names still work, bad values name the field, the README lists every variable."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from api.planner import planner_from_settings
from api.settings import RENAMED, PageSettings, Settings, variables
from geo.providers import RoadMatrixProvider
from geo.settings import GeoSettings
from geo.view import ClientDisplay

ROOT = Path(__file__).resolve().parents[2]

CASES: list[tuple[str, str, Callable[[Settings], Any], Any]] = [
    ("VANPLAN_OSM_FILE", "/data/odw.osm.pbf", lambda s: s.osm_file, Path("/data/odw.osm.pbf")),
    ("VANPLAN_TIMEZONE", "Europe/Vienna", lambda s: s.timezone, "Europe/Vienna"),
    ("VANPLAN_JOB_RUNNER", "celery", lambda s: s.job_runner, "celery"),
    ("VANPLAN_JOB_RUNNER", "redis", lambda s: s.job_runner, "celery"),  # the former name
    ("VANPLAN_VISIBILITY_TIMEOUT", "900", lambda s: s.visibility_timeout, 900.0),
    ("VANPLAN_REDIS_URL", "redis://r:6379/2", lambda s: s.redis_url, "redis://r:6379/2"),
    ("VANPLAN_REDIS_PREFIX", "vp-test", lambda s: s.redis_prefix, "vp-test"),
    ("VANPLAN_HEARTBEAT_TTL", "2", lambda s: s.heartbeat_ttl, 2.0),
    ("VANPLAN_WEEK_TIME_LIMIT", "4", lambda s: s.week_time_limit, 4.0),
    ("VANPLAN_RUN_MIGRATIONS", "false", lambda s: s.run_migrations, False),
    ("VANPLAN_CACHE_DIR", "/tmp/nets", lambda s: s.geo.cache_dir, Path("/tmp/nets")),
    ("VANPLAN_OVERPASS_URL", "http://o/api", lambda s: s.geo.overpass_url, "http://o/api"),
    ("VANPLAN_NOMINATIM_URL", "http://n", lambda s: s.geo.nominatim_url, "http://n"),
    ("VANPLAN_SERVICE_AREA", "/etc/a.toml", lambda s: s.geo.service_area, Path("/etc/a.toml")),
    ("VANPLAN_DEFAULT_PLACE", "Erbach", lambda s: s.geo.default_place, "Erbach"),
    ("VANPLAN_DEFAULT_BUFFER_M", "0", lambda s: s.geo.default_buffer_m, 0.0),
    (
        "VANPLAN_NETWORK__SPEEDS__VAN_MAX_SPEED_KMH",
        "100",
        lambda s: s.geo.network.speeds.van_max_speed_kmh,
        100.0,
    ),
    (
        "VANPLAN_NETWORK__SPEEDS__HIGHWAY_SPEEDS",
        '{"primary": 70}',
        lambda s: s.geo.network.speeds.highway_speeds,
        {"primary": 70.0},
    ),
    (
        "VANPLAN_NETWORK__NETWORK_TYPE",
        "drive_service",
        lambda s: s.geo.network.network_type,
        "drive_service",
    ),
    (
        "VANPLAN_APPROXIMATE__DETOUR_FACTOR",
        "1.5",
        lambda s: s.geo.approximate.detour_factor,
        1.5,
    ),
    ("VANPLAN_PAGES_CLIENT_DISPLAY", "name", lambda s: s.pages.client_display, ClientDisplay.NAME),
    ("VANPLAN_PAGES_TILES_URL", "", lambda s: s.pages.tiles_url, ""),
    ("VANPLAN_PAGES_TILES_ATTRIBUTION", "© us", lambda s: s.pages.tiles_attribution, "© us"),
    ("VANPLAN_PAGES_SECURE_COOKIE", "1", lambda s: s.pages.secure_cookie, True),
    ("VANPLAN_MAX_CONCURRENT_SOLVES", "5", lambda s: s.max_concurrent_solves, 5),
    ("VANPLAN_DB_POOL_SIZE", "30", lambda s: s.db_pool_size, 30),
    ("VANPLAN_TOKEN_CACHE_SECONDS", "0", lambda s: s.token_cache_seconds, 0),
    ("VANPLAN_RENDER_CHECK_SECONDS", "0.5", lambda s: s.render_check_seconds, 0.5),
    ("VANPLAN_DB_MAX_OVERFLOW", "0", lambda s: s.db_max_overflow, 0),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("VANPLAN_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(("variable", "value", "get", "expected"), CASES)
def test_variable_reaches_its_field(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    get: Callable[[Settings], Any],
    expected: Any,
) -> None:
    assert get(Settings()) != expected  # the default differs: the variable makes the change
    monkeypatch.setenv(variable, value)
    assert get(Settings()) == expected
    monkeypatch.setenv(variable.lower(), value)  # names are case-insensitive
    monkeypatch.delenv(variable)
    assert get(Settings()) == expected


def test_every_variable_has_a_case() -> None:
    covered = {variable.split("__")[0] for variable, *_ in CASES}
    flat_service = {"VANPLAN_" + n.upper() for n in ("database_url", "cors_origins")}
    tested_elsewhere = flat_service | {  # tests/api/test_storage.py
        "VANPLAN_MAX_BODY_BYTES",
        "VANPLAN_SOLVER_WORKERS",
        "VANPLAN_SYNC_SOLVE_MAX_VISITS",
        "VANPLAN_SYNC_SOLVE_TIME_LIMIT",
        "VANPLAN_JOB_WORKERS",
        "VANPLAN_JOB_TIME_LIMIT",
    }
    assert set(variables()) - covered - tested_elsewhere == set()


def test_sections_are_plain_models_filled_by_the_one_settings() -> None:
    assert not issubclass(GeoSettings, BaseSettings) and not issubclass(PageSettings, BaseSettings)
    defaults = Settings()
    assert defaults.geo == GeoSettings() and defaults.pages == PageSettings()
    assert len(variables()) == len(set(variables())), "two fields share a variable name"


def test_explicit_values_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANPLAN_PAGES_TILES_URL", "https://t.example/{z}/{x}/{y}.png")
    monkeypatch.setenv("VANPLAN_JOB_WORKERS", "3")
    settings = Settings(pages=PageSettings(tiles_url=None))
    assert settings.pages.tiles_url is None
    assert settings.job_workers == 3  # the rest still from the environment


def test_former_name_of_the_network_cache_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RENAMED == {"network_cache_dir": "cache_dir"}
    monkeypatch.setenv("VANPLAN_NETWORK_CACHE_DIR", "/old/nets")
    assert Settings().geo.cache_dir == Path("/old/nets")
    monkeypatch.setenv("VANPLAN_CACHE_DIR", "/new/nets")  # the documented name wins
    assert Settings().geo.cache_dir == Path("/new/nets")


def test_documented_name_wins_over_the_nested_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANPLAN_GEO__DEFAULT_PLACE", "Michelstadt")
    assert Settings().geo.default_place == "Michelstadt"
    monkeypatch.setenv("VANPLAN_DEFAULT_PLACE", "Erbach")
    assert Settings().geo.default_place == "Erbach"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("VANPLAN_PAGES_CLIENT_DISPLAY", "everything", "pages.client_display"),
        (
            "VANPLAN_NETWORK__SPEEDS__VAN_MAX_SPEED_KMH",
            "-5",
            "geo.network.speeds.van_max_speed_kmh",
        ),
        ("VANPLAN_APPROXIMATE__DETOUR_FACTOR", "0.5", "geo.approximate.detour_factor"),
        ("VANPLAN_JOB_RUNNER", "rq", "job_runner"),
        ("VANPLAN_VISIBILITY_TIMEOUT", "5", "visibility_timeout"),
        ("VANPLAN_VISIBILITY_TIMEOUT", "100", "visibility_timeout"),  # not above job_time_limit
        ("VANPLAN_HEARTBEAT_TTL", "0", "heartbeat_ttl"),
        ("VANPLAN_REDIS_PREFIX", "", "redis_prefix"),
        ("VANPLAN_MAX_CONCURRENT_SOLVES", "0", "max_concurrent_solves"),
        ("VANPLAN_DB_POOL_SIZE", "0", "db_pool_size"),
        ("VANPLAN_TOKEN_CACHE_SECONDS", "-1", "token_cache_seconds"),
        ("VANPLAN_RENDER_CHECK_SECONDS", "-1", "render_check_seconds"),
        ("VANPLAN_RENDER_CHECK_SECONDS", "61", "render_check_seconds"),
    ],
)
def test_bad_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(field)):
        Settings()


def test_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # A name must stand alone (VANPLAN_JOB is not VANPLAN_JOB_RUNNER); nested ones go on with __.
    missing = [
        name
        for name in variables()
        if not re.search(re.escape(name) + r"(?![A-Z0-9]|_[A-Z0-9])", readme)
    ]
    assert not missing, "README's configuration table lacks: " + ", ".join(missing)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_the_entry_points_know_one_settings_class() -> None:
    for entry_point in ("api.app", "api.cli", "api.server", "api.celery_worker", "api.demo"):
        importlib.import_module(entry_point)
    ours = {
        c
        for c in _subclasses(BaseSettings)
        if c.__module__.split(".")[0] in ("api", "geo", "optimizer")
    }
    assert ours == {Settings}


def test_the_planner_is_built_from_the_one_settings(tmp_path: Path) -> None:
    geo = GeoSettings.model_validate(
        {
            "cache_dir": str(tmp_path),
            "network": {"network_type": "drive_service"},
            "approximate": {"detour_factor": 2.0},
        }
    )
    extract = tmp_path / "district.osm.pbf"  # not read: the network loads on first use
    planner = planner_from_settings(Settings(osm_file=extract, geo=geo, solver_workers=2))
    roads = planner.road_provider
    assert isinstance(roads, RoadMatrixProvider)
    assert (roads.osm_file, roads.cache_dir, roads.settings) == (extract, tmp_path, geo.network)
    assert planner.solver_workers == 2
    default = planner_from_settings(Settings())
    assert default.road_provider is None and default.resolve_address is None
    points = {"a": (9.0, 49.6), "b": (9.05, 49.65)}
    detour, _ = planner.provider(points)
    plain, _ = default.provider(points)
    assert detour.distances[0, 1] == pytest.approx(plain.distances[0, 1] * 2.0 / 1.3, rel=0.01)


def test_the_planner_takes_the_configured_service_area(monkeypatch: pytest.MonkeyPatch) -> None:
    default = planner_from_settings(Settings())
    assert default.area.name == "Odenwaldkreis" and default.base == (8.994, 49.6615)
    area_file = ROOT / "tests" / "data" / "heidelberg_area.toml"
    monkeypatch.setenv("VANPLAN_SERVICE_AREA", str(area_file))
    planner = planner_from_settings(Settings())
    assert planner.area.name == "Heidelberg (test)" and planner.base == (8.69, 49.406)
    monkeypatch.setenv("VANPLAN_SERVICE_AREA", str(ROOT / "no-such-area.toml"))
    with pytest.raises(ValueError, match=r"no-such-area\.toml: cannot read"):
        planner_from_settings(Settings())
