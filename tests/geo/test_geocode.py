"""Offline address lookup from the Heidelberg extract (no network, ever)."""

from __future__ import annotations

from pathlib import Path

import osmnx as ox
import pytest

from geo.geocode import (
    AddressIndex,
    AddressQuery,
    GeocodeError,
    GeocodeSettings,
    housenumber_key,
    parse_address,
    street_key,
)

# Crowne Plaza, Kurfürsten-Anlage 1, 69115 Heidelberg: an address node of the extract
CROWNE_PLAZA = (8.691822, 49.4064795)


@pytest.fixture(scope="module")
def index(heidelberg_pbf: Path) -> AddressIndex:
    return AddressIndex.from_osm_file(heidelberg_pbf)


def test_index_holds_addresses_from_nodes_and_buildings(index: AddressIndex) -> None:
    assert len(index) > 500
    streets = {a.street for a in index.addresses}
    assert {"Im Neuenheimer Feld", "Kurfürsten-Anlage", "Voßstraße"} <= streets


@pytest.mark.parametrize(
    "query",
    [
        "Kurfürsten-Anlage 1, 69115 Heidelberg",
        "kurfuersten-anlage 1",
        "KURFÜRSTEN ANLAGE 1 69115 HEIDELBERG",
        "Kurfürsten-Anlage 1, Heidelberg",
    ],
)
def test_real_address_is_found_exactly(index: AddressIndex, query: str) -> None:
    result = index.lookup(query)
    assert result.kind == "address" and result.confidence == 1.0
    assert result.coords == pytest.approx(CROWNE_PLAZA, abs=1e-6)
    assert result.matched == "Kurfürsten-Anlage 1, 69115 Heidelberg"
    assert result.source == "osm"


def test_street_spellings_are_normalised(index: AddressIndex) -> None:
    want = index.lookup("Voßstraße 2, Heidelberg")
    for spelling in ("Vossstrasse 2, Heidelberg", "Voßstr. 2", "Voss-Str. 2", "voßstr 2"):
        got = index.lookup(spelling)
        assert got.coords == want.coords and got.kind == want.kind, spelling
    assert street_key("Bergheimer Str.") == street_key("Bergheimerstraße") == "bergheimerstrasse"
    assert street_key("Bismarckpl.") == street_key("Bismarck Pl.") == "bismarckplatz"
    assert housenumber_key(" 12 A ") == "12a"


def test_weaker_matches_say_so(index: AddressIndex) -> None:
    near = index.lookup("Im Neuenheimer Feld 9999")
    assert near.kind == "housenumber_near" and 0.4 <= near.confidence < 1.0
    assert "nearest number to 9999" in near.matched
    street = index.lookup("Im Neuenheimer Feld, Heidelberg")
    assert street.kind == "street" and street.confidence == 0.5
    postcode = index.lookup("69120")
    assert postcode.kind == "postcode" and postcode.confidence == 0.3
    assert 8.6 < postcode.lon < 8.75 and 49.38 < postcode.lat < 49.45
    place = index.lookup("Am Kottenbrunnen")  # a place=locality node
    assert place.kind == "place" and place.matched == "locality Am Kottenbrunnen"


def test_unknown_address_is_a_clear_error_and_stays_offline(
    index: AddressIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> tuple[float, float]:
        raise AssertionError("online geocoder called although it is disabled")

    monkeypatch.setattr(ox, "geocode", no_network)
    with pytest.raises(GeocodeError, match=r"'Nowhere 1, 12345 Atlantis': not found.*disabled"):
        index.lookup("Nowhere 1, 12345 Atlantis")
    with pytest.raises(GeocodeError, match="empty query"):
        index.lookup("   ")


def test_online_lookup_only_when_enabled(
    heidelberg_pbf: Path, index: AddressIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def stand_in(query: str) -> tuple[float, float]:  # osmnx answers (lat, lon)
        calls.append(query)
        return (49.6615, 8.994)

    monkeypatch.setattr(ox, "geocode", stand_in)
    online = AddressIndex(
        index.addresses, settings=GeocodeSettings(allow_online=True, nominatim_url=None)
    )
    result = online.lookup("Marktplatz 1, 64711 Erbach")
    assert calls == ["Marktplatz 1, 64711 Erbach"]
    assert result.coords == (8.994, 49.6615) and result.source == "nominatim"
    # found offline: the online geocoder is not asked
    assert online.lookup("Kurfürsten-Anlage 1").source == "osm" and len(calls) == 1


def test_min_confidence_and_bad_files(index: AddressIndex, tmp_path: Path) -> None:
    strict = AddressIndex(index.addresses, settings=GeocodeSettings(min_confidence=0.9))
    with pytest.raises(GeocodeError, match=r"confidence 0\.30 < 0\.90"):
        strict.lookup("69120")
    with pytest.raises(GeocodeError, match="not found"):
        AddressIndex.from_osm_file(tmp_path / "missing.osm.pbf")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"this is not a pbf file")
    with pytest.raises(GeocodeError, match="cannot be read"):
        AddressIndex.from_osm_file(broken)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hauptstraße 12a, 69117 Heidelberg",
            AddressQuery("Hauptstraße", "12a", "69117", "Heidelberg"),
        ),
        (
            "Hauptstraße 12 a 69117 Heidelberg",
            AddressQuery("Hauptstraße", "12 a", "69117", "Heidelberg"),
        ),
        ("Im Neuenheimer Feld 234-236", AddressQuery("Im Neuenheimer Feld", "234-236")),
        ("64711 Erbach", AddressQuery("", "", "64711", "Erbach")),
        ("Marktplatz, Michelstadt", AddressQuery("Marktplatz", "", "", "Michelstadt")),
        ("Straße des 17. Juni 5", AddressQuery("Straße des 17. Juni", "5")),
    ],
)
def test_parse_address(text: str, expected: AddressQuery) -> None:
    assert parse_address(text) == expected


def test_module_level_geocode_uses_the_given_extract(heidelberg_pbf: Path) -> None:
    from geo.geocode import geocode
    from geo.providers import default_address_resolver

    found = geocode("Kurfürsten-Anlage 1, Heidelberg", heidelberg_pbf)
    assert found.coordinates == pytest.approx(CROWNE_PLAZA, abs=1e-6)
    assert geocode("Kurfürsten-Anlage 1", str(heidelberg_pbf)).coords == found.coords
    # The service's resolver: over the configured extract (settings.osm_file), none without.
    resolve = default_address_resolver(heidelberg_pbf)
    assert resolve is not None
    assert resolve("Kurfürsten-Anlage 1") == pytest.approx(CROWNE_PLAZA, abs=1e-6)
    assert default_address_resolver(None) is None
