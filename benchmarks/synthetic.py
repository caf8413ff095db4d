"""Larger VRPTW instances in Solomon's file format, for the scale the 100-customer set lacks.

Solomon's instances all have 100 customers; at a few hundred customers a time-limited search
behaves differently (fewer iterations, the start matters more). This writes deterministic
instances of any size in the three Solomon classes, in the spirit of Gehring and Homberger's
extended set: ``R`` customers spread uniformly, ``C`` in clusters, ``RC`` half and half. Every
customer is feasible on its own (reachable from the depot inside its window, back before the
depot closes), and the windows are drawn around a plan built while generating, so the fleet (a
quarter more vehicles than that plan's routes) is an upper bound as in Solomon's files.
No best-known solutions exist for them: ``benchmarks/solomon.py`` then measures every solver
against the best plan of the same run.

    python3 benchmarks/synthetic.py --out /tmp/vrptw --sizes 200,400 --seed 1
    python3 benchmarks/solomon.py --solomon-dir /tmp/vrptw --time-limit 10 --jobs 2
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

KINDS = ("R", "C", "RC")
SIDE = 200  # square of the coordinates; the depot is in its centre
SERVICE = 10


@dataclass(frozen=True)
class Shape:
    """How one instance is drawn (times in the file's units, distance = time)."""

    customers: int
    kind: str = "R"
    horizon: int = 1000  # depot closes
    window: int = 120  # widest customer window
    wide_share: float = 0.25  # customers whose window is the whole day
    capacity: int = 200
    max_demand: int = 40


def instance_text(name: str, shape: Shape, seed: int) -> str:
    """One instance as the text of a Solomon ``.txt`` file.

    Windows are drawn around the times of a plan built while generating (the customers swept by
    angle around the depot, a new route when the load or the day is full), so the instance is
    feasible with that plan's number of routes; the fleet is a quarter more than that."""
    if shape.kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {shape.kind!r}")
    for field_name in ("customers", "window", "capacity", "max_demand"):
        if getattr(shape, field_name) < 1:
            raise ValueError(f"{field_name}: must be >= 1, got {getattr(shape, field_name)}")
    if not 0 <= shape.wide_share <= 1:
        raise ValueError(f"wide_share: must lie in [0, 1], got {shape.wide_share}")
    rng = random.Random(f"{name}/{seed}")
    depot = SIDE // 2
    centres = [
        (rng.uniform(0.1, 0.9) * SIDE, rng.uniform(0.1, 0.9) * SIDE)
        for _ in range(max(1, shape.customers // 10))
    ]
    points: list[tuple[int, int]] = []
    for number in range(1, shape.customers + 1):
        if shape.kind == "C" or (shape.kind == "RC" and number % 2 == 0):
            cx, cy = rng.choice(centres)
            points.append(
                (
                    min(SIDE, max(0, round(rng.gauss(cx, SIDE * 0.03)))),
                    min(SIDE, max(0, round(rng.gauss(cy, SIDE * 0.03)))),
                )
            )
        else:
            points.append((rng.randint(0, SIDE), rng.randint(0, SIDE)))
    demand = [rng.randint(1, min(shape.max_demand, shape.capacity)) for _ in points]

    def dist(a: tuple[int, int], b: tuple[int, int]) -> int:
        return math.ceil(math.hypot(a[0] - b[0], a[1] - b[1]))  # an upper bound of the float

    home = (depot, depot)
    # earliest start: the drive from the depot; latest: service ends in time to drive back
    earliest = [dist(home, p) for p in points]
    latest = [shape.horizon - dist(home, p) - SERVICE for p in points]
    short = [i + 1 for i in range(len(points)) if latest[i] < earliest[i]]
    if short:
        raise ValueError(f"horizon: {shape.horizon} is too short for customers {short[:10]}")
    # The plan the windows are drawn around.
    order = sorted(
        range(len(points)),
        key=lambda i: math.atan2(points[i][1] - depot, points[i][0] - depot),
    )
    arrival = [0] * len(points)
    routes, here, clock, load = 0, home, 0, shape.capacity + 1
    for i in order:
        at = clock + dist(here, points[i])
        if load + demand[i] > shape.capacity or at > latest[i]:
            routes, at, load = routes + 1, earliest[i], 0
        arrival[i], here, clock, load = at, points[i], at + SERVICE, load + demand[i]
    rows = [(0, depot, depot, 0, 0, shape.horizon, 0)]
    for i, (x, y) in enumerate(points):
        if rng.random() < shape.wide_share:
            ready, due = earliest[i], latest[i]
        else:
            width = rng.randint(max(1, shape.window // 2), max(1, shape.window))
            ready = max(earliest[i], arrival[i] - rng.randint(0, width))
            due = max(arrival[i], min(latest[i], ready + width))
        rows.append((i + 1, x, y, demand[i], ready, due, SERVICE))
    vehicles = math.ceil(1.25 * routes)
    lines = [
        name,
        "",
        "VEHICLE",
        "NUMBER     CAPACITY",
        f"{vehicles:>5} {shape.capacity:>10}",
        "",
        "CUSTOMER",
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE TIME",
        "",
    ]
    lines += [" ".join(f"{v:>9}" for v in row) for row in rows]
    return "\n".join(lines) + "\n"


# The set written by default: each class at each size, a tight short day (R1/C1/RC1-like) and,
# for R, also a long day with large vehicles (R2-like).
def default_shapes(size: int) -> dict[str, Shape]:
    return {
        f"R{size}": Shape(size, "R"),
        f"C{size}": Shape(size, "C", horizon=1200, window=150),
        f"RC{size}": Shape(size, "RC"),
        f"R{size}L": Shape(size, "R", horizon=3000, window=400, capacity=700),
    }


def write_set(directory: Path, sizes: Sequence[int], seed: int) -> list[Path]:
    """Write the default shapes at every size; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for size in sizes:
        for stem, shape in default_shapes(size).items():
            name = f"{stem}S{seed}"
            path = directory / f"{name}.txt"
            path.write_text(instance_text(name, shape, seed))
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="directory to write the .txt files to")
    p.add_argument("--sizes", default="200,400", help="comma list of customer counts")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--sizes: expected a comma list of integers, got {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        p.error(f"--sizes: every size must be >= 1, got {args.sizes!r}")
    for path in write_set(args.out, sizes, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
