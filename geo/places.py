"""The gazetteer of the shipped default service area (the Odenwaldkreis, see
``geo/data/odenwaldkreis.toml``): its municipalities and their centres, shipped as package data.

Data: GeoNames postal code places (``geo/data/municipalities.csv``), © GeoNames
(www.geonames.org), CC-BY 4.0 — attribute GeoNames wherever these coordinates are shown. GeoNames
still lists Beerfelden, Hesseneck and Rothenberg, which merged into Oberzent (with Sensbachtal) on
1 January 2018; they are kept as places of the municipality Oberzent.

Good for sample data and as a coarse fallback when an address cannot be found: a centre is a
village centre, not a street address.
"""

from __future__ import annotations

import csv
import difflib
import functools
import unicodedata
from dataclasses import dataclass
from importlib import resources

from geo.errors import GeoError

ATTRIBUTION = "Place centres: GeoNames (www.geonames.org), CC-BY 4.0"
DISTRICT = "Odenwaldkreis"

# official names where GeoNames uses the short form
_OFFICIAL = {"Reichelsheim": "Reichelsheim (Odenwald)"}
# the place holding the town hall, where a municipality has several postal-code places
_SEATS = {"Oberzent": "Beerfelden"}


class PlaceNotFoundError(GeoError):
    """No municipality or place matches the name or postal code."""


@dataclass(frozen=True)
class Place:
    """A postal-code place with its GeoNames centre."""

    postal_code: str
    name: str
    municipality: str  # today's municipality (official name)
    lon: float
    lat: float

    @property
    def coords(self) -> tuple[float, float]:
        return (self.lon, self.lat)


@dataclass(frozen=True)
class Municipality:
    """A municipality of the district: its places and its centre (the seat's place centre)."""

    name: str
    places: tuple[Place, ...]
    centre: tuple[float, float]  # lon, lat

    @property
    def postal_codes(self) -> tuple[str, ...]:
        return tuple(p.postal_code for p in self.places)


def normalize_name(text: str) -> str:
    """Lower-case, ``ß`` -> ``ss``, umlauts -> ``ae/oe/ue``, other accents dropped, punctuation
    and repeated spaces removed: ``"Höchst i. Odw."`` -> ``"hoechst i odw"``."""
    text = text.strip().lower().replace("ß", "ss")
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


@functools.cache
def places() -> tuple[Place, ...]:
    """Every postal-code place of the district, as listed by GeoNames."""
    text = resources.files("geo").joinpath("data/municipalities.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    out = []
    for row in rows:
        municipality = row["municipality_today"].strip()
        out.append(
            Place(
                postal_code=row["postal_code"].strip(),
                name=row["place"].strip(),
                municipality=_OFFICIAL.get(municipality, municipality),
                lon=float(row["lon"]),
                lat=float(row["lat"]),
            )
        )
    return tuple(out)


@functools.cache
def municipalities() -> tuple[Municipality, ...]:
    """The district's municipalities (today's), sorted by name."""
    by_name: dict[str, list[Place]] = {}
    for place in places():
        by_name.setdefault(place.municipality, []).append(place)
    out = []
    for name, members in sorted(by_name.items()):
        short = next((k for k, v in _OFFICIAL.items() if v == name), name)
        seat_name = _SEATS.get(short, short)
        seat = next((p for p in members if p.name == seat_name), members[0])
        out.append(Municipality(name=name, places=tuple(members), centre=seat.coords))
    return tuple(out)


def find_municipality(query: str) -> Municipality:
    """A municipality by name (official or short, any case/umlaut spelling), by the name of one of
    its places (e.g. "Beerfelden" -> Oberzent) or by postal code."""
    key = normalize_name(query)
    for m in municipalities():
        names = {normalize_name(m.name)} | {normalize_name(p.name) for p in m.places}
        names |= {normalize_name(k) for k, v in _OFFICIAL.items() if v == m.name}
        if key in names or query.strip() in m.postal_codes:
            return m
    raise PlaceNotFoundError(_not_found("municipality", query))


def find_place(query: str) -> Place:
    """A postal-code place by postal code or by place name."""
    q = query.strip()
    key = normalize_name(q)
    for p in places():
        if q == p.postal_code or key == normalize_name(p.name):
            return p
    raise PlaceNotFoundError(_not_found("place", query))


def _not_found(what: str, query: str) -> str:
    names = sorted({p.name for p in places()} | {m.name for m in municipalities()})
    close = difflib.get_close_matches(query, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{what} {query!r}: not in the {DISTRICT} (known: {len(names)} names){hint}"
