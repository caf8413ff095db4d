"""The ``vanplan`` command line, run as a real process where it matters (the README's main job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import main
from api.sample_week import monday_of_iso_week, sample_week

ROOT = Path(__file__).resolve().parent.parent


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
    ],
)
def test_help_is_complete(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(command)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "usage: vanplan" in text
    for option in ("--out", "--osm", "--week", "--time-limit") if command[0] == "demo" else ():
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
