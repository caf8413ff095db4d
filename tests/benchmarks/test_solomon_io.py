"""Solomon reader/converter, the float-exact check, and a quick end-to-end run of the harness."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.solomon import (
    Config,
    _plain_model,
    format_markdown,
    format_summary,
    load_results,
    ratios,
    run_instance,
    summarize,
    write_results,
)
from benchmarks.solomon_io import (
    SolomonFormatError,
    customer_id,
    evaluate,
    gap_percent,
    instance_paths,
    plan_from_routes,
    read_bks,
    read_instance,
    routes_from_plan,
    scale_for,
    to_problem,
)
from optimizer.checker import check_plan
from optimizer.errors import ValidationError

TINY = """TINY

VEHICLE
NUMBER     CAPACITY
  2         10

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0         0          0          0       {depot_due}          0
    1      3         4          6          0        10         2
    2      6         8          6         20        30         2
    3      0         5          3          0        50         1
"""


CEILING = 600.0
"""Seconds of search a harness test allows: only a guard against a hang. The searches end at a
solution limit, so the plans (and the CPU work) do not depend on how loaded the machine is."""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "TINY.txt"
    path.write_text(TINY.format(depot_due=100).replace("\n", "\r\n"))  # CRLF like the originals
    return path


def test_read_c101_counts_and_rows(solomon_dir: Path) -> None:
    inst = read_instance(solomon_dir / "C101.txt")
    assert inst.name == "C101"
    assert (inst.vehicles, inst.capacity, inst.customers) == (25, 200, 100)
    assert (inst.x[0], inst.y[0], inst.ready[0], inst.due[0]) == (40, 50, 0, 1236)
    # customer 1: 45 68 demand 10, ready 912, due 967, service 90
    assert (inst.x[1], inst.y[1], inst.demand[1]) == (45, 68, 10)
    assert (inst.ready[1], inst.due[1], inst.service[1]) == (912, 967, 90)
    assert int(inst.demand.sum()) == 1810


def test_all_56_instances_and_bks(solomon_dir: Path) -> None:
    paths = instance_paths(solomon_dir)
    bks = read_bks(solomon_dir / "bks.csv")
    assert len(paths) == 56
    assert {p.stem for p in paths} == set(bks)
    assert bks["C101"].distance == pytest.approx(828.94)
    assert bks["C101"].vehicles == 10
    assert bks["RC208"].distance == pytest.approx(779.31)
    assert (bks["RC201"].hierarchical_vehicles, bks["RC201"].dimacs_distance) == (4, 1261.8)
    for p in paths:
        assert read_instance(p).customers == 100
    # R109 and RC103 hold the DIMACS optimum: the published distance-only figures lay below it.
    assert (bks["R109"].distance, bks["R109"].vehicles) == (pytest.approx(1146.9), 13)
    assert (bks["RC103"].distance, bks["RC103"].vehicles) == (pytest.approx(1258.0), 11)
    assert all(b.distance >= b.dimacs_distance - 0.05 for b in bks.values())


def test_a_bks_below_the_dimacs_optimum_is_refused(tmp_path: Path) -> None:
    head = (
        "instance,distance_only_bks,distance_only_vehicles,hierarchical_vehicles,"
        "hierarchical_distance,dimacs_distance,dimacs_vehicles\n"
    )
    path = tmp_path / "bks.csv"
    path.write_text(head + "R109,1101.37,13,11,1194.73,1146.9,13\n")
    with pytest.raises(SolomonFormatError, match=r"bks.csv:2: distance_only_bks of R109"):
        read_bks(path)
    path.write_text(head + "R109,1146.9,13,11,1194.73,1146.9,13\n")
    assert read_bks(path)["R109"].distance == pytest.approx(1146.9)


def test_unknown_instance_names_are_listed(solomon_dir: Path) -> None:
    with pytest.raises(ValidationError) as err:
        instance_paths(solomon_dir, ["C101", "X999", "Y1"])
    assert [i.field for i in err.value.issues] == ["instances", "instances"]
    assert "X999" in str(err.value) and "Y1" in str(err.value)


def test_hand_checked_distance_and_rounding(solomon_dir: Path) -> None:
    problem = to_problem(read_instance(solomon_dir / "C101.txt"))
    m = problem.matrix
    # depot (40, 50) -> customer 10 (35, 66): sqrt(25 + 256) = sqrt(281) = 16.76305...
    assert m.distance("depot", "c10") == 16763  # nearest
    assert m.duration("depot", "c10") == 16764  # rounded up
    # depot -> customer 6 (40, 69): exactly 19
    assert (m.distance("depot", "c6"), m.duration("depot", "c6")) == (19000, 19000)
    assert m.distance("c10", "depot") == 16763


def test_scaled_matrix_bounds(solomon_dir: Path) -> None:
    inst = read_instance(solomon_dir / "R101.txt")
    problem = to_problem(inst)
    real = inst.distances() * 1000
    assert np.all(problem.matrix.durations >= real)
    assert np.all(problem.matrix.durations < real + 1)
    assert np.all(np.abs(problem.matrix.distances - real) <= 0.5)


def test_windows_hold_the_whole_service(solomon_dir: Path) -> None:
    problem = to_problem(read_instance(solomon_dir / "C101.txt"))
    c1 = problem.visit("c1")
    assert c1.duration == 90_000
    assert (c1.windows[0].start, c1.windows[0].end) == (912_000, (967 + 90) * 1000)
    assert c1.demand == 10
    assert len(problem.vans) == 25
    van = problem.vans[0]
    assert (van.cost_per_km, van.cost_per_hour, van.fixed_cost_per_day) == (1.0, 0.0, 0.0)
    assert van.capacity == 200
    shift = problem.shift(van.id, 0)
    assert shift is not None
    assert (shift.start, shift.end, shift.breaks) == (0, 1_236_000, ())


def test_long_horizon_uses_a_smaller_scale(solomon_dir: Path) -> None:
    inst = read_instance(solomon_dir / "C201.txt")  # depot due 3390 > 31 days at x1000
    assert scale_for(inst) == 500
    problem = to_problem(inst)
    assert problem.shifts[0].end == 3390 * 500
    assert problem.visit("c1").duration == int(inst.service[1]) * 500
    with pytest.raises(ValueError, match="scale 1000"):
        to_problem(inst, scale=1000)


def test_tiny_reader_and_float_check(tiny: Path) -> None:
    inst = read_instance(tiny)
    assert (inst.name, inst.vehicles, inst.capacity, inst.customers) == ("TINY", 2, 10, 3)
    good = evaluate(inst, [[1], [2, 3]])
    assert good.feasible, good.violations
    assert good.vehicles == 2
    assert good.distance == pytest.approx(10 + 10 + math.sqrt(45) + 5)
    bad = evaluate(inst, [[2, 1], [3]])  # c1 reached at 27 > due 10; load 12 > 10
    assert not bad.feasible
    text = " ".join(bad.violations)
    assert "customer 1 starts at 27.0000 > due 10" in text
    assert "load 12 > capacity 10" in text
    assert any("not served" in v for v in evaluate(inst, [[1, 3]]).violations)
    assert any("served twice" in v for v in evaluate(inst, [[1, 3], [3, 2]]).violations)
    assert any("3 routes" in v for v in evaluate(inst, [[1], [2], [3]]).violations)


def test_depot_due_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "T.txt"
    path.write_text(TINY.format(depot_due=33))
    inst = read_instance(path)
    ev = evaluate(inst, [[1], [2, 3]])  # second route is back at 34.708
    assert ev.violations == ("route 1: back at the depot at 34.7082 > due 33",)


def test_plan_from_routes_agrees_with_the_checker(tiny: Path) -> None:
    inst = read_instance(tiny)
    problem = to_problem(inst)
    good = plan_from_routes(problem, [[1], [2, 3]])
    assert check_plan(problem, good).ok
    assert routes_from_plan(good) == [[1], [2, 3]]
    stop = good.routes[1].stops[0]  # c2: arrives at 10, waits for ready 20
    assert (stop.arrival, stop.start, stop.end, stop.waiting) == (10_000, 20_000, 22_000, 10_000)
    report = check_plan(problem, plan_from_routes(problem, [[2, 1], [3]]))
    assert not report.ok
    codes = {str(v.code) for v in report.violations}
    assert {"time_window", "capacity"} <= codes
    partial = plan_from_routes(problem, [[1]])
    assert [u.visit_id for u in partial.unassigned] == [customer_id(2), customer_id(3)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("X\n", "too short"),
        (
            "X\n\nVEHICLE\nNUMBER CAPACITY\n2 10\nCUSTOMER\nh\n0 0 0 0 0 9 0\n1 1 1 1 0 9\n",
            "6 fields",
        ),
        (
            "X\n\nVEHICLE\nNUMBER CAPACITY\n2 10\nCUSTOMER\nh\n1 0 0 0 0 9 0\n2 1 1 1 0 9 0\n",
            "depot",
        ),
        ("X\n\nCUSTOMER\nh\n0 0 0 0 0 9 0\n1 1 1 1 0 9 0\n2 1 1 1 0 9 0\n", "VEHICLE"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(SolomonFormatError, match=message) as err:
        read_instance(path)
    assert "bad.txt" in str(err.value)


def test_bad_values_are_collected(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(
        "X\n\nVEHICLE\nNUMBER CAPACITY\n0 0\nCUSTOMER\nh\n0 0 0 0 9 1 0\n1 1 1 1 0 9 0\n"
    )
    with pytest.raises(ValidationError) as err:
        read_instance(path)
    assert [i.field for i in err.value.issues] == [
        "bad.txt.vehicles",
        "bad.txt.capacity",
        "bad.txt.due",
    ]


def test_gap_percent() -> None:
    assert gap_percent(101.0, 100.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="best-known"):
        gap_percent(1.0, 0.0)


def test_the_plain_model_with_vanplans_search_runs_as_a_peer(solomon_dir: Path) -> None:
    """``ortools-ils``: the plain model, customers in the seed's order, vanplan's ILS search."""
    bks = read_bks(solomon_dir / "bks.csv")
    config = Config(time_limit=CEILING, seed=3, solution_limit=20)
    (result,) = run_instance(solomon_dir / "C101.txt", bks["C101"], ["ortools-ils"], config)
    assert result.solver == "ortools-ils"
    assert result.feasible_solomon and result.feasible_checker, result.violations
    assert result.distance is not None and result.distance >= bks["C101"].distance - 0.01
    assert result.vehicles is not None and result.vehicles <= 25


def test_the_plain_models_seed_only_reorders_the_customers(solomon_dir: Path) -> None:
    problem = to_problem(read_instance(solomon_dir / "R101.txt"))
    _, plain, number = _plain_model(problem)
    _, shuffled, shuffled_number = _plain_model(problem, seed=3)
    assert number == list(range(101))
    assert shuffled_number != number and sorted(shuffled_number) == number
    assert shuffled_number[0] == 0  # the depot stays node 0
    assert plain.Size() == shuffled.Size()


def test_harness_end_to_end_vanplan_and_ortools(solomon_dir: Path, tmp_path: Path) -> None:
    """One instance, three solutions each: both plans complete and feasible by both checks.
    (Quality is for benchmarks/solomon.py; only vanplan, whose first solution on C101 is already
    near the BKS, gets a loose bound.)"""
    bks = read_bks(solomon_dir / "bks.csv")
    config = Config(time_limit=CEILING, seed=1, solution_limit=3)
    results = run_instance(solomon_dir / "C101.txt", bks["C101"], ["vanplan", "ortools"], config)
    assert [r.solver for r in results] == ["vanplan", "ortools"]
    for r in results:
        assert r.feasible_solomon and r.feasible_checker, (r.solver, r.violations)
        assert r.distance is not None and r.gap is not None
        assert r.distance >= bks["C101"].distance - 0.01  # cannot beat the optimum
        assert r.gap == pytest.approx(100 * (r.distance - r.bks) / r.bks)
        assert r.vehicles is not None and r.vehicles <= 25
        assert r.time_limit == CEILING and r.wall_time > 0
    assert results[0].gap is not None and results[0].gap < 10.0
    # vanplan searches in a forked process: its CPU time is counted too (three solutions on C101
    # take about 2 s of CPU; in this process alone it would be a few hundredths of a second).
    assert results[0].cpu_time is not None and results[0].cpu_time > 0.3
    s_vanplan, s_ortools = summarize(results)
    assert (s_vanplan.solver, s_vanplan.feasible, s_vanplan.solved) == ("vanplan", 1, 1)
    assert (s_ortools.solver, s_ortools.feasible, s_ortools.solved) == ("ortools", 1, 1)
    assert "ortools" in ratios(results)
    assert "mean gap vanplan / ortools" in format_summary(results)
    out = tmp_path / "results.json"
    write_results(out, results, {"test": True})
    assert load_results(out) == results
    table = format_markdown(results)
    assert table.count("| C101 |") == 1 and "| vanplan |" in table
