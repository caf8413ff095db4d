"""Van speeds: maxspeed parsing (table + properties) and per-class defaults."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.settings import DEFAULT_HIGHWAY_SPEEDS, SpeedSettings
from geo.speeds import MAX_KMH, MIN_KMH, NO_LIMIT, parse_maxspeed, road_speed_kmh, travel_time_s

S = SpeedSettings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        (" 30 ", 30.0),
        ("7.5", 7.5),
        ("50 mph", 50 * 1.609344),
        ("20mph", 20 * 1.609344),
        ("60 km/h", 60.0),
        ("10 knots", 18.52),
        ("DE:urban", 50.0),
        ("DE:rural", 100.0),
        ("DE:motorway", NO_LIMIT),
        ("DE:living_street", 7.0),
        ("DE:zone30", 30.0),
        ("DE:zone:30", 30.0),
        ("DE:bicycle_road", 30.0),
        ("AT:motorway", 130.0),
        ("CH:rural", 80.0),
        ("FR:urban", 50.0),
        ("walk", 7.0),
        ("none", NO_LIMIT),
        ("50;30", 30.0),
        ("30;50", 30.0),
        ("70|50|100", 50.0),
        ("signals;60", 60.0),
        ("signals", None),
        ("variable", None),
        ("", None),
        ("fast", None),
        ("0", None),
        ("-30", None),
        ("9999", None),
        ("XX:unknownzone", None),
        (None, None),
    ],
)
def test_parse_maxspeed(value: str | None, expected: float | None) -> None:
    result = parse_maxspeed(value, S)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_parse_maxspeed_follows_the_settings_for_german_zones() -> None:
    slow = SpeedSettings(urban_kmh=40, rural_kmh=80, walk_kmh=5)
    assert parse_maxspeed("DE:urban", slow) == 40
    assert parse_maxspeed("DE:rural", slow) == 80
    assert parse_maxspeed("walk", slow) == 5


@given(st.text(max_size=40))
def test_parse_maxspeed_never_crashes_and_stays_sane(text: str) -> None:
    result = parse_maxspeed(text, S)
    assert result is None or result == NO_LIMIT or MIN_KMH <= result <= MAX_KMH


@given(
    st.from_regex(
        r"\A(\d{1,4}( ?mph)?|DE:(urban|rural|motorway|zone\d{1,3})|walk|none)"
        r"(;(\d{1,4}|walk|none|signals))*\Z"
    )
)
def test_parse_maxspeed_lists_give_the_lowest(text: str) -> None:
    result = parse_maxspeed(text, S)
    parts = [parse_maxspeed(p, S) for p in text.split(";")]
    usable = [p for p in parts if p is not None]
    assert result == (min(usable) if usable else None)


_tag_values = st.one_of(
    st.sampled_from(["50", "30", "DE:urban", "none", "walk", "50 mph", "signals", "junk", ""]),
    st.text(max_size=12),
)


@given(
    highway=st.one_of(st.sampled_from(sorted(DEFAULT_HIGHWAY_SPEEDS)), st.text(max_size=10)),
    maxspeed=st.one_of(st.none(), _tag_values),
    forward=st.one_of(st.none(), _tag_values),
    source=st.one_of(st.none(), st.sampled_from(["DE:urban", "DE:rural", "DE:zone30", "x:y"])),
    cap=st.floats(min_value=20, max_value=200),
    factor=st.floats(min_value=0.5, max_value=1.2),
)
def test_road_speed_is_always_positive_finite_and_capped(
    highway: str,
    maxspeed: str | None,
    forward: str | None,
    source: str | None,
    cap: float,
    factor: float,
) -> None:
    tags = {"highway": highway}
    for key, value in (
        ("maxspeed", maxspeed),
        ("maxspeed:forward", forward),
        ("source:maxspeed", source),
    ):
        if value is not None:
            tags[key] = value
    settings = SpeedSettings(van_max_speed_kmh=cap, speed_factor=factor)
    speed = road_speed_kmh(tags, settings)
    assert math.isfinite(speed)
    assert 0 < speed <= cap * factor + 1e-9


def test_class_defaults_when_no_maxspeed() -> None:
    assert road_speed_kmh({"highway": "residential"}, S) == 30
    assert road_speed_kmh({"highway": "living_street"}, S) == 7
    assert road_speed_kmh({"highway": "primary"}, S) == 80
    assert road_speed_kmh({"highway": "no_such_class"}, S) == S.fallback_kmh


def test_motorway_without_limit_is_capped_at_the_van_maximum() -> None:
    assert road_speed_kmh({"highway": "motorway"}, S) == 120
    assert road_speed_kmh({"highway": "motorway", "maxspeed": "none"}, S) == 120
    assert road_speed_kmh({"highway": "motorway", "maxspeed": "130"}, S) == 120
    assert road_speed_kmh({"highway": "motorway", "maxspeed": "100"}, S) == 100
    slow_van = SpeedSettings(van_max_speed_kmh=90)
    assert road_speed_kmh({"highway": "motorway"}, slow_van) == 90


def test_maxspeed_beats_class_default_and_factor_applies() -> None:
    tags = {"highway": "residential", "maxspeed": "50"}
    assert road_speed_kmh(tags, S) == 50
    assert road_speed_kmh(tags, SpeedSettings(speed_factor=0.8)) == pytest.approx(40)


def test_implicit_zone_when_no_maxspeed() -> None:
    assert road_speed_kmh({"highway": "secondary", "source:maxspeed": "DE:urban"}, S) == 50
    assert road_speed_kmh({"highway": "tertiary", "zone:traffic": "DE:rural"}, S) == 100
    assert road_speed_kmh({"highway": "tertiary", "maxspeed:type": "DE:zone30"}, S) == 30
    # an explicit maxspeed wins over the zone
    tags = {"highway": "secondary", "maxspeed": "70", "source:maxspeed": "DE:urban"}
    assert road_speed_kmh(tags, S) == 70


def test_directional_maxspeed() -> None:
    tags = {"highway": "primary", "maxspeed:forward": "70", "maxspeed:backward": "50"}
    assert road_speed_kmh(tags, S) == 70
    assert road_speed_kmh(tags, S, backward=True) == 50


def test_junk_falls_back_to_class_default() -> None:
    assert road_speed_kmh({"highway": "tertiary", "maxspeed": "signals"}, S) == 60
    assert road_speed_kmh({"highway": "tertiary", "maxspeed": "schnell"}, S) == 60


def test_travel_time() -> None:
    assert travel_time_s(1000, 36) == pytest.approx(100)
    assert travel_time_s(0, 50) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"van_max_speed_kmh": 0},
        {"van_max_speed_kmh": -10},
        {"speed_factor": 0},
        {"junction_penalty_s": -1},
        {"highway_speeds": {"residential": 0}},
    ],
)
def test_bad_speed_settings_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SpeedSettings(**bad)  # type: ignore[arg-type]
