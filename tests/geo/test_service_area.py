"""The service area as configuration: validation with field names, files, the shipped default and
an area derived from a road extract of another region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from geo.road_network import RoadNetwork
from geo.service_area import (
    DEFAULT_AREA_FILE,
    ServiceArea,
    ServiceAreaError,
    area_for_network,
    area_from_network,
    default_service_area,
    load_service_area,
    network_extent,
)
from geo.snap import snap_places

HEIDELBERG_AREA = Path(__file__).resolve().parents[1] / "data" / "heidelberg_area.toml"


def minimal(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Testkreis",
        "bbox": [8.0, 49.0, 9.0, 50.0],
        "bases": [{"name": "Depot", "location": [8.5, 49.5]}],
    }
    body.update(changes)
    return body


SQUARE = {
    "type": "Polygon",
    "coordinates": [[[8.0, 49.0], [9.0, 49.0], [9.0, 50.0], [8.0, 50.0], [8.0, 49.0]]],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[8.0, 49.0], [9.0, 50.0], [9.0, 49.0], [8.0, 50.0], [8.0, 49.0]]],
}


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"bbox": [9.0, 49.0, 8.0, 50.0]}, "bbox"),  # west > east
        ({"bbox": [8.0, 50.0, 9.0, 49.0]}, "south"),  # south > north
        ({"bbox": [8.0, 49.0, 9.0, 95.0]}, "latitudes"),
        ({"bbox": [8.0, 49.0, 9.0]}, "bbox"),
        ({"bbox": None}, "give exactly one"),
        ({"boundary": SQUARE}, "give exactly one"),  # both bbox and boundary
        ({"bbox": None, "boundary": BOWTIE}, "boundary: invalid polygon"),
        ({"bbox": None, "boundary": {"type": "Point", "coordinates": [8.5, 49.5]}}, "boundary"),
        ({"bbox": None, "boundary": {"type": "Polygon", "coordinates": "x"}}, "boundary"),
        ({"bases": []}, "bases"),
        ({"bases": [{"name": "Far", "location": [10.0, 49.5]}]}, "bases[0].location"),
        ({"bases": [{"name": "Swapped", "location": [49.5, 8.5]}]}, "bases[0].location"),
        ({"bases": [{"name": "", "location": [8.5, 49.5]}]}, "bases.0.name"),
        (
            {"consultation_places": [{"name": "Rathaus", "location": [7.0, 49.5]}]},
            "consultation_places[0].location",
        ),
        (
            {
                "consultation_places": [
                    {
                        "name": "Rathaus",
                        "location": [8.5, 49.5],
                        "hours": [{"weekday": "monday", "start": "12:00", "end": "10:00"}],
                    }
                ]
            },
            "consultation_places.0.hours.0",
        ),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"depots": []}, "depots"),  # unknown keys are refused, not ignored
    ],
)
def test_invalid_areas_name_the_field(tmp_path: Path, changes: dict[str, Any], needle: str) -> None:
    path = tmp_path / "area.json"
    path.write_text(json.dumps(minimal(**changes)))
    with pytest.raises(ServiceAreaError) as exc:
        load_service_area(path)
    assert needle in str(exc.value) and str(path) in str(exc.value)


def test_a_boundary_area_tests_points_against_the_polygon() -> None:
    triangle = {
        "type": "Polygon",
        "coordinates": [[[8.0, 49.0], [9.0, 49.0], [8.0, 50.0], [8.0, 49.0]]],
    }
    area = ServiceArea.model_validate(
        minimal(bbox=None, boundary=triangle, bases=[{"name": "D", "location": [8.2, 49.2]}])
    )
    assert area.contains(8.2, 49.2) and not area.contains(8.9, 49.9)  # inside the bbox only
    assert area.area().polygon is not None and area.area().bbox == (8.0, 49.0, 9.0, 50.0)
    with pytest.raises(ValueError, match=r"bases\[0\]\.location \[8\.9, 49\.9\]"):
        ServiceArea.model_validate(
            minimal(bbox=None, boundary=triangle, bases=[{"name": "D", "location": [8.9, 49.9]}])
        )


def test_files_report_read_and_syntax_errors(tmp_path: Path) -> None:
    with pytest.raises(ServiceAreaError, match="cannot read"):
        load_service_area(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(ServiceAreaError, match="not valid TOML/JSON"):
        load_service_area(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(ServiceAreaError, match="top level"):
        load_service_area(listed)


def test_places_file_and_extract_path_are_relative_to_the_area_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "villages.csv").write_text(
        "# comment\nplace,lat,lon\nNorddorf,49.8,8.5\nSüddorf,49.2,8.5\n", encoding="utf-8"
    )
    path = tmp_path / "area.toml"
    path.write_text(
        'name = "Testkreis"\nbbox = [8.0, 49.0, 9.0, 50.0]\nplaces_file = "data/villages.csv"\n'
        '[extract]\npath = "data/testkreis.osm.pbf"\n'
        '[[bases]]\nname = "Depot"\nlocation = [8.5, 49.5]\n',
        encoding="utf-8",
    )
    area = load_service_area(path)
    assert [(p.name, p.location) for p in area.places] == [
        ("Norddorf", (8.5, 49.8)),
        ("Süddorf", (8.5, 49.2)),
    ]
    assert area.extract.path == tmp_path / "data" / "testkreis.osm.pbf"
    (tmp_path / "data" / "villages.csv").write_text("place,lat\nNorddorf,49.8\n")
    with pytest.raises(ServiceAreaError, match="row 1 needs place/name, lon and lat"):
        load_service_area(path)


def test_the_shipped_default_is_the_odenwaldkreis() -> None:
    area = default_service_area()
    assert DEFAULT_AREA_FILE.is_file() and area == load_service_area(DEFAULT_AREA_FILE)
    assert area.name == "Odenwaldkreis" and area.timezone == "Europe/Berlin"
    assert area.base == (8.994, 49.6615)  # the InA base in Erbach, as before the area existed
    assert area.bbox == (8.75, 49.45, 9.20, 49.83)
    assert area.extract.place == "Landkreis Odenwaldkreis, Hessen, Deutschland"
    assert [c.name for c in area.consultation_places] == [
        "Beerfelden",
        "Reichelsheim",
        "Höchst im Odenwald",
    ]
    assert [(h.weekday, h.weekday_index) for c in area.consultation_places for h in c.hours] == [
        ("tuesday", 1),
        ("thursday", 3),
        ("wednesday", 2),
    ]
    assert len(area.places) > 10 and all(area.contains(*p.location) for p in area.places)


def test_the_heidelberg_test_area_is_valid() -> None:
    area = load_service_area(HEIDELBERG_AREA)
    assert area.name == "Heidelberg (test)" and area.base == (8.69, 49.406)
    assert not area.contains(*default_service_area().base)


def test_an_area_derived_from_a_network_has_its_box_and_a_snapped_base(
    heidelberg_small_network: RoadNetwork,
) -> None:
    network = heidelberg_small_network
    area = area_from_network(network, "heidelberg-small")
    assert area.bbox == network.meta.area_bbox
    lon, lat = area.base
    assert area.contains(lon, lat)
    # the base lies on a road a van can stop on: snapping it again moves it (almost) nowhere
    again = snap_places(network, [("b", lon, lat)])[0]
    assert again.snap_distance < 1.0


def test_area_for_network_keeps_a_configured_area_and_derives_only_when_needed(
    heidelberg_small_network: RoadNetwork,
) -> None:
    network = heidelberg_small_network
    configured = load_service_area(HEIDELBERG_AREA)
    default = default_service_area()
    assert area_for_network(configured, network, "x") is configured
    assert area_for_network(None, None, "x") is default
    # vans all have starts: the default's base is never used, so nothing is derived
    assert area_for_network(None, network, "x", needs_base=False) is default
    derived = area_for_network(None, network, "x")  # Erbach is far off this extract
    assert derived.name == "x" and derived.base != default.base
    extent = network_extent(network)
    assert extent is not None and extent[0] <= derived.base[0] <= extent[2]
