"""Approximate mode: straight line x detour factor, banded speeds, always flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.approximate import approximate_matrix, approximate_seconds
from geo.errors import GeoError
from geo.settings import ApproximateSettings
from optimizer.errors import ValidationError

# Odenwaldkreis towns (lon, lat)
TOWNS = {
    "erbach": (8.9937, 49.6571),
    "michelstadt": (9.0036, 49.6786),
    "bad-koenig": (9.0080, 49.7414),
    "beerfelden": (8.9747, 49.5672),
}


def test_flagged_and_well_formed() -> None:
    matrix = approximate_matrix(TOWNS)
    assert matrix.approximate is True
    assert matrix.locations == tuple(TOWNS)
    assert np.array_equal(np.diag(matrix.durations), np.zeros(4))
    assert np.array_equal(matrix.durations, matrix.durations.T)
    assert (matrix.durations[~np.eye(4, dtype=bool)] > 0).all()


def test_hand_computed_values() -> None:
    # one degree of longitude on the equator: 111,195 m beeline (osmnx's earth radius)
    matrix = approximate_matrix({"a": (0.0, 0.0), "b": (1.0, 0.0)})
    road = 2 * math.pi * 6_371_009.0 / 360 * 1.3
    assert matrix.distance("a", "b") == round(road)
    seconds = 2_000 / (25 / 3.6) + 8_000 / (45 / 3.6) + 20_000 / (60 / 3.6)
    seconds += (road - 30_000) / (75 / 3.6)
    assert matrix.duration("a", "b") == round(seconds)


def test_short_trips_are_slower_on_average() -> None:
    road = np.array([1_000.0, 5_000.0, 20_000.0, 80_000.0])
    speeds = road / approximate_seconds(road, ApproximateSettings()) * 3.6
    assert list(speeds) == sorted(speeds)
    assert speeds[0] == pytest.approx(25)


def test_detour_factor_is_configurable() -> None:
    base = approximate_matrix(TOWNS)
    wider = approximate_matrix(TOWNS, ApproximateSettings(detour_factor=1.6))
    ratio = wider.distances[0, 1] / base.distances[0, 1]
    assert ratio == pytest.approx(1.6 / 1.3, rel=1e-3)
    assert (wider.durations >= base.durations).all()


_coord = st.tuples(st.floats(8.8, 9.2), st.floats(49.5, 49.8))


@settings(max_examples=50)
@given(st.lists(_coord, min_size=3, max_size=6))
def test_triangle_inequality(points: list[tuple[float, float]]) -> None:
    matrix = approximate_matrix({f"p{i}": p for i, p in enumerate(points)})
    d, t = matrix.distances, matrix.durations
    n = len(points)
    for i in range(n):
        for j in range(n):
            for k in range(n):
                assert d[i, j] <= d[i, k] + d[k, j] + 2  # rounding to whole metres / seconds
                assert t[i, j] <= t[i, k] + t[k, j] + 2


def test_bad_points_name_every_problem() -> None:
    with pytest.raises(ValidationError) as info:
        approximate_matrix({"ok": (9.0, 49.7), "north": (9.0, 95.0), "text": ("a", "b")})  # type: ignore[dict-item]
    message = str(info.value)
    assert "points['north']: latitude 95.0" in message
    assert "points['text']: expected (lon, lat)" in message
    assert "'ok'" not in message


def test_no_points() -> None:
    with pytest.raises(GeoError, match="points"):
        approximate_matrix({})


@pytest.mark.parametrize(
    "bad",
    [
        {"detour_factor": 0.5},
        {"speed_bands": ()},
        {"speed_bands": ((5_000.0, 30.0), (1_000.0, 50.0), (math.inf, 70.0))},
        {"speed_bands": ((5_000.0, 30.0),)},
        {"speed_bands": ((5_000.0, 0.0), (math.inf, 70.0))},
    ],
)
def test_bad_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ApproximateSettings(**bad)  # type: ignore[arg-type]
