"""The sample-week benchmark: one real (short) run through the checker, and its argument errors."""

from __future__ import annotations

from datetime import date

import pytest

from benchmarks.weeks import build_parser, run_week


def test_a_week_run_is_solved_and_checked() -> None:
    result = run_week(date(2026, 11, 30), 6, 7, 0, 1.0, 1)
    assert result["feasible"] is True
    assert result["solutions"] >= 1
    assert result["unassigned"] == 0
    assert (result["clients"], result["week_seed"], result["seed"]) == (6, 7, 0)
    assert result["stalls"] == 0 and result["engine"] in ("ortools", "pyvrp", "pyvrp+ortools")


def test_bad_arguments_name_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--weeks", "34-7"], ["--seeds", "a,b"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        err = capsys.readouterr().err
        assert argv[0] in err and argv[1] in err


def test_a_week_stopped_as_a_dispatcher_would_keeps_its_best_plan() -> None:
    result = run_week(date(2026, 11, 30), 20, 7, 0, 60.0, 1, stop_after=1.5)
    assert result["status"] == "STOPPED"
    assert result["wall"] < 20
    assert result["feasible"] is True and result["solutions"] >= 1


def test_a_week_with_breaks_placed_after_the_search() -> None:
    result = run_week(date(2026, 11, 30), 6, 7, 0, 2.0, 1, statutory_breaks="placed")
    assert result["feasible"] is True and result["stalls"] == 0
    assert result["statutory_breaks"] == "placed"
    assert build_parser().parse_args(["--statutory-breaks", "placed"]).statutory_breaks == "placed"


def test_stop_options_parse() -> None:
    args = build_parser().parse_args(["--stoppable", "--stop-after", "2.5"])
    assert args.stoppable and args.stop_after == 2.5
