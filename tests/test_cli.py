"""The ``vanplan`` command line, run as a real process where it matters (the README's main job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from api.sample_week import monday_of_iso_week, sample_week
from geo.service_area import default_service_area, load_service_area
from optimizer.processes import stop_helper_processes


@pytest.fixture(autouse=True)
def no_helper_processes_left() -> Iterator[None]:
    """In-process CLI solves start solver helper processes; end them so test order is free."""
    yield
    stop_helper_processes()


ROOT = Path(__file__).resolve().parent.parent
HEIDELBERG_AREA = ROOT / "tests" / "data" / "heidelberg_area.toml"
HEIDELBERG_BASE = [8.69, 49.406]


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_demo_writes_plan_maps_and_crew_pages(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cache = tmp_path / "cache"
    proc = _run(
        "demo",
        "--out",
        str(out),
        "--week",
        "2026-W48",
        "--time-limit",
        "3",
        cwd=tmp_path,
        env={"VANPLAN_CACHE_DIR": str(cache)},
    )
    assert proc.returncode == 0, proc.stderr
    # No road network cached and none given: the demo must say the travel times are approximate.
    assert "APPROXIMATE" in proc.stdout
    plan = json.loads((out / "plan.json").read_text())
    assert plan["matrix"]["approximate"] is True
    assert plan["summary"]["assigned"] >= 25
    assert plan["summary"]["assigned"] + plan["summary"]["unassigned"] == 37
    for route in plan["routes"]:
        assert route["steps"][0]["type"] == "start" and route["steps"][-1]["type"] == "end"
    geojson = json.loads((out / "plan.geojson").read_text())
    assert geojson["type"] == "FeatureCollection"
    lon, lat = next(
        f["geometry"]["coordinates"]
        for f in geojson["features"]
        if f["geometry"]["type"] == "Point"
    )
    assert 8.7 < lon < 9.3 and 49.4 < lat < 49.9  # [lon, lat] in the Odenwaldkreis
    assert "leaflet" in (out / "map.html").read_text().lower()
    crew_pages = sorted((out / "crew").glob("*.html"))
    assert len(crew_pages) == len(plan["routes"])
    # The summary table names every van-day that has a route.
    for route in plan["routes"]:
        assert route["van_id"] in proc.stdout


def test_solve_command_round_trip(tmp_path: Path) -> None:
    request = sample_week(monday_of_iso_week("2026-W48"), clients=6, time_limit_seconds=1)
    problem = tmp_path / "problem.json"
    problem.write_text(request.model_dump_json())
    out = tmp_path / "plan.json"
    assert main(["solve", str(problem), "--out", str(out), "--time-limit", "1"]) == 0
    plan = json.loads(out.read_text())
    assert plan["summary"]["assigned"] + plan["summary"]["unassigned"] == len(request.visits)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "invalid problem"),
        ('{"horizon": {"start_date": "2026-11-23"}, "vans": [], "shifts": []}', "vans"),
    ],
)
def test_solve_command_names_the_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, needle: str
) -> None:
    problem = tmp_path / "bad.json"
    problem.write_text(content)
    assert main(["solve", str(problem)]) == 2
    assert needle in capsys.readouterr().err


def test_solve_command_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_week_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--week", "48/2026", "--out", "/nonexistent/never"]) == 2
    assert "ISO week" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["demo", "--help"],
        ["solve", "--help"],
        ["network", "build", "--help"],
        ["serve", "--help"],
        ["token", "create", "--help"],
        ["tenant", "create", "--help"],
        ["tenant", "list", "--help"],
    ],
)
def test_help_is_complete(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(command)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "usage: vanplan" in text
    demo_options = ("--out", "--osm", "--area", "--week", "--time-limit")
    for option in demo_options if command[0] == "demo" else ():
        assert option in text


def test_sample_week_is_reproducible_and_valid() -> None:
    monday = monday_of_iso_week("2026-W48")
    a, b = sample_week(monday, seed=3), sample_week(monday, seed=3)
    assert a == b
    assert sample_week(monday, seed=4) != a
    kinds = {v.kind for v in a.visits}
    assert kinds == {"appointment", "consultation_hours"}
    assert {v.id for v in a.vans} == {"van-1", "van-2"}
    with pytest.raises(ValueError, match="Monday"):
        sample_week(monday.replace(day=monday.day + 1))


def test_the_sample_week_takes_the_area_base_places_and_hours() -> None:
    monday = monday_of_iso_week("2026-W48")
    area = load_service_area(HEIDELBERG_AREA)
    week = sample_week(monday, clients=12, seed=3, area=area)
    assert {v.start.coordinates for v in week.vans if v.start} == {tuple(HEIDELBERG_BASE)}
    consultation = [v for v in week.visits if v.kind == "consultation_hours"]
    assert [v.id for v in consultation] == ["sprechstunde-rathaus-heidelberg"]
    assert consultation[0].windows[0].start.weekday() == 1  # Tuesday 10:00-12:00
    assert consultation[0].windows[0].start.hour == 10
    for visit in week.visits:  # clients lie within ~1.5 km of the area's places
        assert visit.place.coordinates is not None
        lon, lat = visit.place.coordinates
        assert 8.64 < lon < 8.74 and 49.37 < lat < 49.43
    # the default week still comes from the shipped Odenwaldkreis
    default = sample_week(monday, clients=12, seed=3)
    assert default == sample_week(monday, clients=12, seed=3, area=default_service_area())
    assert default.vans[0].start is not None
    assert default.vans[0].start.coordinates == (8.994, 49.6615)


def _heidelberg_request(tmp_path: Path, *, van_without_start: bool) -> Path:
    """Two visits in Heidelberg; van-1 starts at a street corner there, van-2 (if asked) has no
    start."""
    vans: list[dict[str, object]] = [{"id": "van-1", "start": {"coordinates": [8.6805, 49.4045]}}]
    if van_without_start:
        vans.append({"id": "van-2"})
    body = {
        "horizon": {"start_date": "2026-11-23", "days": 1},
        "vans": vans,
        "shifts": [
            {
                "van_id": v["id"],
                "start": "2026-11-23T08:00:00+01:00",
                "end": "2026-11-23T16:00:00+01:00",
            }
            for v in vans
        ],
        "visits": [
            {"id": "v1", "place": {"coordinates": [8.705, 49.411]}, "duration_minutes": 30},
            {"id": "v2", "place": {"coordinates": [8.672, 49.403]}, "duration_minutes": 30},
            {"id": "v3", "place": {"coordinates": [8.690, 49.399]}, "duration_minutes": 30},
        ],
        "options": {"time_limit_seconds": 1, "seed": 1},
    }
    path = tmp_path / ("request-2.json" if van_without_start else "request-1.json")
    path.write_text(json.dumps(body))
    return path


@pytest.fixture(scope="module")
def network_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the Heidelberg runs: the extract is built once."""
    return tmp_path_factory.mktemp("cache")


@pytest.mark.slow
def test_solve_on_an_extract_of_another_region(
    tmp_path: Path,
    heidelberg_pbf: Path,
    network_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every van has a start in Heidelberg and no area is given: the Erbach base of the default
    # area is neither needed nor snapped, so the plan is made on Heidelberg's roads. The first two
    # runs are in this process (the same main(); they build the cached network), the last one is
    # a real process: what it says on stderr is what a user reads.
    monkeypatch.setenv("VANPLAN_CACHE_DIR", str(network_cache))
    problem = _heidelberg_request(tmp_path, van_without_start=False)
    out = tmp_path / "plan.json"
    assert main(["solve", str(problem), "--osm", str(heidelberg_pbf), "--out", str(out)]) == 0
    plan = json.loads(out.read_text())
    assert plan["matrix"]["source"] == "road_network" and plan["summary"]["assigned"] == 3
    assert "no service area configured" not in caplog.text  # nothing derived: not needed
    # A van without a start and an area file: it starts and ends at the area's base.
    problem = _heidelberg_request(tmp_path, van_without_start=True)
    assert main(["solve", str(problem), "--osm", str(heidelberg_pbf), "--area",
                 str(HEIDELBERG_AREA), "--out", str(out)]) == 0  # fmt: skip
    plan = json.loads(out.read_text())
    assert plan["summary"]["assigned"] + plan["summary"]["unassigned"] == 3
    for route in plan["routes"]:
        if route["van_id"] == "van-2":
            assert route["steps"][0]["location"] == route["steps"][-1]["location"]
            assert route["steps"][0]["location"] == HEIDELBERG_BASE
    assert "no service area configured" not in caplog.text  # the area's base: nothing derived
    # ... and without an area: a base derived from the extract, said so on stderr.
    proc = _run("solve", str(problem), "--osm", str(heidelberg_pbf), "--out", str(out),
                cwd=tmp_path, env={"VANPLAN_CACHE_DIR": str(network_cache)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "no service area configured" in proc.stderr and "--area FILE" in proc.stderr
    plan = json.loads(out.read_text())
    assert plan["matrix"]["source"] == "road_network"


@pytest.mark.slow
def test_demo_on_an_extract_of_another_region_clips_to_the_area(
    tmp_path: Path, heidelberg_pbf: Path, network_cache: Path
) -> None:
    out = tmp_path / "demo"
    proc = _run("demo", "--osm", str(heidelberg_pbf), "--area", str(HEIDELBERG_AREA), "--out",
                str(out), "--week", "2026-W48", "--clients", "8", "--time-limit", "2",
                cwd=tmp_path, env={"VANPLAN_CACHE_DIR": str(network_cache)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "within Heidelberg (test)" in proc.stdout
    plan = json.loads((out / "plan.json").read_text())
    assert plan["matrix"]["source"] == "road_network"
    assert plan["summary"]["assigned"] + plan["summary"]["unassigned"] == 9  # 8 + consultation
    assert plan["summary"]["assigned"] >= 1
    area = load_service_area(HEIDELBERG_AREA)
    for route in plan["routes"]:
        assert route["steps"][0]["location"] == HEIDELBERG_BASE
        for step in route["steps"]:
            if step["location"] is not None:
                assert area.contains(*step["location"]), step
    # the network was clipped to the area's box, not to the Odenwaldkreis (nor read whole)
    west, south, east, north = area.bbox or (0, 0, 0, 0)
    geojson = json.loads((out / "plan.geojson").read_text())
    for feature in geojson["features"]:
        if feature["geometry"]["type"] == "LineString":
            for lon, lat in feature["geometry"]["coordinates"]:
                assert west - 1e-6 <= lon <= east + 1e-6 and south - 1e-6 <= lat <= north + 1e-6
    # crews read the area's place names, never a village of the Odenwaldkreis
    text = " ".join(p.read_text() for p in (out / "crew").glob("*.html"))
    assert any(f"near {p.name}" in text for p in area.places)
    assert "Erbach" not in text and "Odenwald" not in text


def test_a_bad_area_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "area.json"
    bad.write_text(
        json.dumps(
            {
                "name": "X",
                "bbox": [8.6, 49.3, 8.8, 49.5],
                "bases": [{"name": "Far", "location": [9.9, 49.4]}],
            }
        )
    )
    assert main(["demo", "--area", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bases[0].location" in err and "outside the area" in err and str(bad) in err


def test_solve_command_warns_loudly_when_most_visits_are_unassigned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One van-day for a week of visits: most of them cannot be planned, and the CLI says so on
    # stderr (the plan's summary carries the same warning).
    request = sample_week(monday_of_iso_week("2026-W48"), clients=12, time_limit_seconds=1)
    request = request.model_copy(update={"shifts": request.shifts[:1]})
    problem = tmp_path / "problem.json"
    problem.write_text(request.model_dump_json())
    out = tmp_path / "plan.json"
    assert main(["solve", str(problem), "--out", str(out), "--time-limit", "1"]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["unassigned"] > summary["assigned"]
    (warning,) = summary["warnings"]
    assert f"{summary['unassigned']} of {len(request.visits)} visits are unassigned" in warning
    assert f"WARNING: {warning}" in capsys.readouterr().err


def test_solve_command_chooses_the_engines(tmp_path: Path) -> None:
    # Shifts without breaks: PyVRP can express the week and searches first by default;
    # --engines ortools leaves it to OR-Tools alone. summary.engine says which made the plan.
    request = sample_week(monday_of_iso_week("2026-W48"), clients=6, time_limit_seconds=1)
    shifts = [s.model_copy(update={"breaks": []}) for s in request.shifts]
    request = request.model_copy(update={"shifts": shifts})
    problem = tmp_path / "problem.json"
    problem.write_text(request.model_dump_json())
    engines = {}
    for choice in ("auto", "ortools"):
        out = tmp_path / f"{choice}.json"
        assert main(["solve", str(problem), "--out", str(out), "--engines", choice]) == 0
        engines[choice] = json.loads(out.read_text())["summary"]["engine"]
    assert engines["auto"] in ("pyvrp", "pyvrp+ortools")  # polished when OR-Tools improved it
    assert engines["ortools"] == "ortools"


def test_solve_command_rejects_an_unknown_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["solve", str(tmp_path / "p.json"), "--engines", "fastest"])
    assert exc.value.code == 2
    assert "--engines" in capsys.readouterr().err


def test_tenant_and_token_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """vanplan tenant create/list and token create --tenant: the token is the new tenant's."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    monkeypatch.setenv("VANPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'vanplan.db'}")
    assert main(["tenant", "create", "jc-north", "--name", "Jobcenter Nord"]) == 0
    assert "tenant jc-north (Jobcenter Nord) created" in capsys.readouterr().out
    assert main(["tenant", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(t["id"], t["name"]) for t in listed] == [
        ("default", "Default"),
        ("jc-north", "Jobcenter Nord"),
    ]
    assert main(["token", "create", "--role", "dispatcher", "--tenant", "jc-north"]) == 0
    north = capsys.readouterr().out.strip()
    assert main(["token", "create", "--role", "dispatcher"]) == 0  # the default tenant
    default = capsys.readouterr().out.strip()
    assert main(["token", "list", "--tenant", "jc-north"]) == 0
    tokens = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [t["tenant_id"] for t in tokens] == ["jc-north"]

    with TestClient(create_app(Settings())) as client:
        van = {"id": "van-1", "name": "Nord 1"}
        headers = {"Authorization": f"Bearer {north}"}
        assert client.post("/v1/vans", json=van, headers=headers).status_code == 201
        other = {"Authorization": f"Bearer {default}"}
        assert client.get("/v1/vans/van-1", headers=other).status_code == 404
        assert client.get("/v1/vans/van-1", headers=headers).json()["name"] == "Nord 1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenant", "create", "Bad Slug", "--name", "x"], "slug"),
        (["tenant", "create", "jc-x", "--name", " "], "name"),
        (["tenant", "create", "jc-x", "--name", "x", "--service-area", "nope.toml"], "nope"),
        (["token", "create", "--role", "dispatcher", "--tenant", "nobody"], "unknown tenant"),
    ],
)
def test_tenant_mistakes_are_clear_errors(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VANPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'vanplan.db'}")
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_tenant_exists_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VANPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'vanplan.db'}")
    assert main(["tenant", "create", "jc-x", "--name", "X"]) == 0
    assert main(["tenant", "create", "jc-x", "--name", "X"]) == 2
    assert "exists already" in capsys.readouterr().err
