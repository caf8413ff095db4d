"""The district's municipalities shipped as package data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from geo.errors import GeoError
from geo.places import (
    ATTRIBUTION,
    PlaceNotFoundError,
    find_municipality,
    find_place,
    municipalities,
    normalize_name,
    places,
)
from geo.service_area import default_service_area

TODAY = {
    "Bad König",
    "Brensbach",
    "Breuberg",
    "Brombachtal",
    "Erbach",
    "Fränkisch-Crumbach",
    "Höchst im Odenwald",
    "Lützelbach",
    "Michelstadt",
    "Mossautal",
    "Oberzent",
    "Reichelsheim (Odenwald)",
}


def test_the_twelve_municipalities_of_today() -> None:
    ms = municipalities()
    assert {m.name for m in ms} == TODAY
    oberzent = find_municipality("Oberzent")
    assert {p.name for p in oberzent.places} == {"Beerfelden", "Hesseneck", "Rothenberg"}
    assert oberzent.centre == find_place("Beerfelden").coords  # town hall in Beerfelden
    for m in ms:  # every centre lies in the Odenwald
        lon, lat = m.centre
        assert 8.8 < lon < 9.1 and 49.45 < lat < 49.85


def test_package_data_equals_the_shared_geonames_file(shared: Path) -> None:
    with (shared / "data" / "odenwaldkreis" / "municipalities.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(places()) == len(rows)
    for row, place in zip(rows, places(), strict=True):
        assert (place.postal_code, place.name) == (row["postal_code"], row["place"])
        assert (place.lat, place.lon) == (float(row["lat"]), float(row["lon"]))
    assert "GeoNames" in ATTRIBUTION and "CC-BY 4.0" in ATTRIBUTION


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Erbach", "Erbach"),
        ("erbach", "Erbach"),
        ("64711", "Erbach"),
        ("Hoechst im Odenwald", "Höchst im Odenwald"),
        ("FRAENKISCH CRUMBACH", "Fränkisch-Crumbach"),
        ("Reichelsheim", "Reichelsheim (Odenwald)"),
        ("Rothenberg", "Oberzent"),
        ("64757", "Oberzent"),
        (" Bad  König ", "Bad König"),
    ],
)
def test_lookup_by_name_or_postal_code(query: str, expected: str) -> None:
    assert find_municipality(query).name == expected


def test_unknown_names_get_a_clear_error_with_suggestions() -> None:
    with pytest.raises(PlaceNotFoundError, match=r"'Michelstad'.*did you mean Michelstadt"):
        find_municipality("Michelstad")
    with pytest.raises(PlaceNotFoundError, match="'Darmstadt': not in the Odenwaldkreis"):
        find_place("Darmstadt")
    assert issubclass(PlaceNotFoundError, GeoError)


def test_normalisation() -> None:
    assert normalize_name("  Höchst i. Odw. ") == "hoechst i odw"
    assert normalize_name("Großstraße") == "grossstrasse"
    assert normalize_name("Fränkisch-Crumbach") == "fraenkisch crumbach"


def test_the_default_service_area_holds_the_gazetteer_and_the_erbach_base() -> None:
    # The base and the places are configuration now (geo/data/odenwaldkreis.toml): the default
    # area keeps today's Erbach base and names every place of the gazetteer, in its order.
    area = default_service_area()
    assert area.base == find_place("Erbach").coords == (8.994, 49.6615)
    assert [(p.name, p.location) for p in area.places] == [(p.name, p.coords) for p in places()]
    for cp in area.consultation_places:
        assert cp.location == find_place(cp.name).coords
