"""The larger synthetic VRPTW instances and the harness's "best of run" reference."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import solomon, synthetic
from benchmarks.solomon import Config, format_summary, run_instance
from benchmarks.solomon_io import read_instance


def _write(tmp_path: Path, name: str, shape: synthetic.Shape, seed: int = 1) -> Path:
    path = tmp_path / f"{name}.txt"
    path.write_text(synthetic.instance_text(name, shape, seed))
    return path


@settings(max_examples=25, deadline=None)
@given(
    customers=st.integers(1, 60),
    kind=st.sampled_from(synthetic.KINDS),
    seed=st.integers(0, 10_000),
    horizon=st.integers(400, 3000),
    window=st.integers(4, 400),
    wide_share=st.floats(0, 1),
)
def test_every_customer_is_feasible_on_its_own(
    tmp_path_factory: pytest.TempPathFactory,
    customers: int,
    kind: str,
    seed: int,
    horizon: int,
    window: int,
    wide_share: float,
) -> None:
    shape = synthetic.Shape(customers, kind, horizon, window, wide_share)
    inst = read_instance(_write(tmp_path_factory.mktemp("s"), "X", shape, seed))
    assert len(inst.x) == customers + 1 and 1 <= inst.vehicles <= math.ceil(1.25 * customers)
    reach = np.ceil(np.hypot(inst.x - inst.x[0], inst.y - inst.y[0]))
    c = slice(1, None)
    assert (inst.ready[c] >= reach[c]).all()  # reachable from the depot at time 0
    assert (inst.ready[c] <= inst.due[c]).all()
    # served at its due time at the latest, back at the depot before it closes
    assert (inst.due[c] + inst.service[c] + reach[c] <= inst.due[0]).all()
    assert (inst.demand[c] >= 1).all() and (inst.demand[c] <= inst.capacity).all()
    assert ((inst.x >= 0) & (inst.x <= synthetic.SIDE)).all()


def test_instances_are_deterministic_and_classes_differ(tmp_path: Path) -> None:
    shape = synthetic.Shape(200, "C")
    assert synthetic.instance_text("C200S1", shape, 1) == synthetic.instance_text(
        "C200S1", shape, 1
    )
    assert synthetic.instance_text("C200S1", shape, 1) != synthetic.instance_text(
        "C200S1", shape, 2
    )

    def mean_nearest(kind: str) -> float:
        inst = read_instance(_write(tmp_path, kind, synthetic.Shape(200, kind)))
        xy = np.column_stack([inst.x[1:], inst.y[1:]])
        d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(d, math.inf)
        return float(d.min(axis=1).mean())

    # clustered customers lie much closer together than uniformly spread ones
    assert mean_nearest("C") < 0.6 * mean_nearest("R")


def test_bad_shapes_name_the_field() -> None:
    with pytest.raises(ValueError, match="kind"):
        synthetic.instance_text("X", synthetic.Shape(10, "Q"), 1)
    with pytest.raises(ValueError, match="customers"):
        synthetic.instance_text("X", synthetic.Shape(0), 1)
    with pytest.raises(ValueError, match="capacity"):
        synthetic.instance_text("X", synthetic.Shape(10, capacity=0), 1)
    with pytest.raises(ValueError, match="wide_share"):
        synthetic.instance_text("X", synthetic.Shape(10, wide_share=1.5), 1)
    with pytest.raises(ValueError, match="horizon"):
        synthetic.instance_text("X", synthetic.Shape(50, horizon=100), 1)


def test_cli_writes_the_set_and_rejects_bad_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert synthetic.main(["--out", str(tmp_path), "--sizes", "12,20", "--seed", "3"]) == 0
    names = sorted(p.stem for p in tmp_path.glob("*.txt"))
    assert names == sorted(f"{s}S3" for n in (12, 20) for s in synthetic.default_shapes(n))
    assert len(capsys.readouterr().out.splitlines()) == len(names)
    for bad in ("0", "ten", ""):
        with pytest.raises(SystemExit):
            synthetic.main(["--out", str(tmp_path), "--sizes", bad])
        assert "--sizes" in capsys.readouterr().err


def test_without_a_bks_every_solver_is_measured_against_the_runs_best(tmp_path: Path) -> None:
    path = _write(tmp_path, "RC25S1", synthetic.Shape(25, "RC"))
    results = run_instance(path, None, ["vanplan", "pyvrp"], Config(time_limit=1.0, seed=1))
    assert all(r.reference == "best of run" for r in results)
    assert all(r.feasible and r.distance is not None for r in results), [
        r.violations for r in results
    ]
    best = min(r.distance for r in results if r.distance is not None)
    for r in results:
        assert r.bks == best
        assert r.distance is not None and r.gap is not None
        assert r.gap == pytest.approx(100 * (r.distance - best) / best) and r.gap >= 0
    assert min(r.gap for r in results if r.gap is not None) == 0
    assert "no BKS known, gap to the best plan of this run: RC25S1" in format_summary(results)


def test_the_harness_runs_a_directory_without_bks_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synthetic.main(["--out", str(tmp_path), "--sizes", "15"])
    out = tmp_path / "out.json"
    args = ["--solomon-dir", str(tmp_path), "--instances", "R15S1", "--solvers", "vanplan"]
    assert solomon.main([*args, "--time-limit", "0.5", "--jobs", "1", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert (row["instance"], row["reference"], row["gap"]) == ("R15S1", "best of run", 0.0)
    assert "gap to the best plan of this run: R15S1" in capsys.readouterr().out


def test_a_peer_at_the_reference_everywhere_gives_no_ratio() -> None:
    def row(solver: str, gap: float) -> solomon.Result:
        return solomon.Result("X", solver, 100.0, 1, 100.0, gap, True, True, 1.0, 1.0, "", 1)

    # gaps to the run's best are 0 for the best solver, up to float noise
    out = solomon.ratios([row("vanplan", 2.0), row("pyvrp", 1e-15)])
    assert out["pyvrp"][0] == float("inf") and out["pyvrp"][1] == pytest.approx(2.0)
    assert "n/a" in format_summary([row("vanplan", 2.0), row("pyvrp", 1e-15)])
