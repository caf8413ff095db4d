"""benchmarks/overview.py: its synthetic week is what it says, and it prints its figures."""

from __future__ import annotations

import json

import pytest

from api.overview import week_overview
from benchmarks.overview import main, week


def test_the_synthetic_week_has_busy_and_idle_van_days_and_unassigned_visits() -> None:
    view, request = week(vans=4, stops=5, unassigned=6)
    ov = week_overview(view, request)
    assert len(ov.van_days) == 20 and ov.idle_days == 2  # every tenth van-day idle
    assert ov.planned == 18 * 5 and ov.unassigned == 6
    assert all(0 < v.utilisation < 1 for v in ov.van_days if not v.idle)


def test_it_prints_the_timings(capsys: pytest.CaptureFixture[str]) -> None:
    out = main(["--vans", "2", "--stops", "3", "--unassigned", "3", "--repeat", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == out
    assert (printed["van_days"], printed["unassigned"], printed["fixed"]) == (10, 3, 3)
    for key in ("overview_s", "timeline_s", "fixes_s"):
        assert printed[key] >= 0
