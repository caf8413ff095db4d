"""Offline address lookup from the OSM data itself, so client addresses never leave the machine.

:meth:`AddressIndex.from_osm_file` streams an extract once with pyosmium and keeps:

- addresses (``addr:street``/``addr:place``, ``addr:housenumber``, ``addr:postcode``,
  ``addr:city``) on nodes and on ways (buildings: the mean of their nodes);
- named streets (``highway=*`` ways with ``name``), for a street without a house number;
- named places (``place=*`` nodes: villages, hamlets, suburbs, localities).

Matching is normalised: case, ``ß``/``ss``, umlauts/``ae``, ``Str.``/``Straße``/``strasse``,
``Pl.``/``Platz``, spaces and hyphens in street names. Each :class:`GeocodeResult` says what
matched and how sure it is (``confidence`` 1.0 exact address ... 0.3 postcode only).

No external geocoder is asked unless :attr:`GeocodeSettings.allow_online` is set explicitly; then
osmnx's Nominatim client (``ox.geocode``) is the last resort, at ``nominatim_url`` if given.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
from pydantic import BaseModel, ConfigDict, Field

from geo.errors import GeoError
from geo.places import normalize_name

log = logging.getLogger(__name__)

PLACE_KINDS = frozenset(
    {"city", "town", "village", "hamlet", "suburb", "quarter", "neighbourhood", "locality"}
    | {"isolated_dwelling", "farm"}
)


class GeocodeError(GeoError):
    """An address cannot be found (offline, and online when allowed)."""


class GeocodeSettings(BaseModel):
    """Address lookup options; online lookup is off unless enabled explicitly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_online: bool = Field(False, description="ask Nominatim when the OSM data has no match")
    nominatim_url: str | None = Field(None, description="None: osmnx's default endpoint")
    min_confidence: float = Field(0.0, ge=0, le=1, description="reject weaker matches")


@dataclass(frozen=True)
class GeocodeResult:
    """Where an address is (``lon``, ``lat``), what matched, and how sure the match is."""

    query: str
    lon: float
    lat: float
    kind: str  # address | housenumber_near | street | place | postcode | online
    matched: str  # human-readable: what was found
    confidence: float  # 0..1
    source: str = "osm"  # osm (offline data) or nominatim

    @property
    def coords(self) -> tuple[float, float]:
        return (self.lon, self.lat)

    @property
    def coordinates(self) -> tuple[float, float]:
        """Alias of :attr:`coords`: ``(lon, lat)``."""
        return self.coords


@dataclass(frozen=True)
class AddressQuery:
    """A parsed address; any part may be empty."""

    street: str = ""
    housenumber: str = ""
    postcode: str = ""
    city: str = ""


@dataclass(frozen=True)
class _Address:
    street: str
    housenumber: str
    postcode: str
    city: str
    lon: float
    lat: float


def street_key(text: str) -> str:
    """Normalised street name: ``"Bergheimer Str."`` and ``"Bergheimerstraße"`` both give
    ``"bergheimerstrasse"``."""
    s = normalize_name(text)
    s = re.sub(r"str\b", "strasse", s)  # "Hauptstr." and "Haupt Str."
    s = re.sub(r"pl\b", "platz", s)  # "Bismarckpl." and "Bismarck Pl."
    return s.replace(" ", "")


def housenumber_key(text: str) -> str:
    return re.sub(r"\s+", "", text.strip().lower())


def _number(text: str) -> int | None:
    found = re.match(r"\d+", text)
    return int(found.group()) if found else None


_STREET_NUMBER = re.compile(
    r"^(?P<street>.*?\D)\s*(?P<number>\d+\s*[a-zA-Z]?(\s*[-/]\s*\d+\s*[a-zA-Z]?)?)$"
)
_POSTCODE_CITY = re.compile(r"^(?P<postcode>\d{5})?\s*(?P<city>.*)$")


def parse_address(text: str) -> AddressQuery:
    """Parse ``"Hauptstraße 12a, 69117 Heidelberg"`` (also without comma or parts)."""
    text = " ".join(text.split())
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return AddressQuery()
    if len(parts) == 1:
        # "Hauptstraße 12 69117 Heidelberg": split at the postcode if there is one
        found = re.search(r"\b\d{5}\b", parts[0])
        if found and found.start() > 0:
            parts = [parts[0][: found.start()].strip(), parts[0][found.start() :]]
    first = parts[0]
    street = housenumber = postcode = city = ""
    found_sn = _STREET_NUMBER.match(first)
    if found_sn and not re.fullmatch(r"\d{5}", first):
        street, housenumber = found_sn.group("street").strip(), found_sn.group("number")
    elif re.fullmatch(r"\d{5}.*", first):
        parts = ["", *parts]
    else:
        street = first
    rest = " ".join(parts[1:])
    if rest:
        pc = _POSTCODE_CITY.match(rest)
        if pc:
            postcode, city = pc.group("postcode") or "", pc.group("city").strip()
    return AddressQuery(street=street, housenumber=housenumber, postcode=postcode, city=city)


class _Collector(osmium.SimpleHandler):
    """Collects addresses, named streets and places while pyosmium streams the file."""

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[_Address] = []
        self.streets: dict[str, list[tuple[float, float]]] = {}
        self.street_names: dict[str, str] = {}
        self.places: list[tuple[str, str, float, float]] = []

    def _address(self, tags: osmium.osm.TagList, lon: float, lat: float) -> None:
        number = tags.get("addr:housenumber")
        street = tags.get("addr:street") or tags.get("addr:place")
        if not number or not street:
            return
        self.addresses.append(
            _Address(
                street=street,
                housenumber=number,
                postcode=tags.get("addr:postcode") or "",
                city=tags.get("addr:city") or "",
                lon=lon,
                lat=lat,
            )
        )

    def node(self, n: osmium.osm.Node) -> None:
        tags = n.tags
        if not n.location.valid():
            return
        if "addr:housenumber" in tags:
            self._address(tags, n.location.lon, n.location.lat)
        kind = tags.get("place")
        if kind in PLACE_KINDS and "name" in tags:
            self.places.append((tags["name"], kind, n.location.lon, n.location.lat))

    def way(self, w: osmium.osm.Way) -> None:
        tags = w.tags
        wants_address = "addr:housenumber" in tags
        street = tags.get("name") if "highway" in tags else None
        if not wants_address and not street:
            return
        coords = [(nd.lon, nd.lat) for nd in w.nodes if nd.location.valid()]
        if not coords:
            return
        if wants_address:
            xy = np.array(coords[:-1] if len(coords) > 1 and coords[0] == coords[-1] else coords)
            self._address(tags, float(xy[:, 0].mean()), float(xy[:, 1].mean()))
        if street:
            key = street_key(street)
            self.streets.setdefault(key, []).extend(coords)
            self.street_names.setdefault(key, street)


class AddressIndex:
    """Addresses, streets and places of an OSM extract, searchable offline."""

    def __init__(
        self,
        addresses: Iterable[_Address],
        streets: dict[str, list[tuple[float, float]]] | None = None,
        street_names: dict[str, str] | None = None,
        places: Iterable[tuple[str, str, float, float]] = (),
        settings: GeocodeSettings | None = None,
    ) -> None:
        self.settings = settings or GeocodeSettings.model_validate({})
        self.addresses = list(addresses)
        self._by_street: dict[str, list[_Address]] = defaultdict(list)
        for a in self.addresses:
            self._by_street[street_key(a.street)].append(a)
        self._streets = streets or {}
        self._street_names = street_names or {}
        self._places: dict[str, tuple[str, str, float, float]] = {}
        for name, kind, lon, lat in places:
            self._places.setdefault(normalize_name(name), (name, kind, lon, lat))

    @classmethod
    def from_osm_file(
        cls, path: str | Path, settings: GeocodeSettings | None = None
    ) -> AddressIndex:
        """Stream an ``.osm``/``.osm.pbf``/``.osm.bz2`` extract once and index it."""
        path = Path(path)
        if not path.is_file():
            raise GeocodeError(f"osm file {path}: not found")
        handler = _Collector()
        try:
            # node locations are needed for building centroids and street shapes
            handler.apply_file(str(path), locations=True, idx="flex_mem")
        except RuntimeError as exc:
            raise GeocodeError(f"osm file {path}: cannot be read ({exc})") from exc
        log.info(
            "address index of %s: %d addresses, %d streets, %d places",
            path.name,
            len(handler.addresses),
            len(handler.streets),
            len(handler.places),
        )
        return cls(
            handler.addresses, handler.streets, handler.street_names, handler.places, settings
        )

    def __len__(self) -> int:
        return len(self.addresses)

    def lookup(self, query: str | AddressQuery) -> GeocodeResult:
        """Find an address (free text or parsed); raises :class:`GeocodeError` when nothing
        (good enough) matches."""
        parsed = parse_address(query) if isinstance(query, str) else query
        text = query if isinstance(query, str) else _describe(parsed)
        if not any((parsed.street, parsed.postcode, parsed.city)):
            raise GeocodeError(f"address {text!r}: empty query")
        result = self._offline(text, parsed)
        if result is None and self.settings.allow_online:
            result = _online(text, self.settings)
        if result is None:
            hint = "" if self.settings.allow_online else " (online geocoding is disabled)"
            raise GeocodeError(f"address {text!r}: not found in the OSM data{hint}")
        if result.confidence < self.settings.min_confidence:
            raise GeocodeError(
                f"address {text!r}: best match {result.matched!r} has confidence "
                f"{result.confidence:.2f} < {self.settings.min_confidence:.2f}"
            )
        return result

    def _offline(self, text: str, q: AddressQuery) -> GeocodeResult | None:
        if q.street:
            key = street_key(q.street)
            candidates = self._by_street.get(key, [])
            if candidates:
                return self._on_street(text, q, candidates)
            if key in self._streets:
                xy = np.array(self._streets[key])
                mid = xy[len(xy) // 2]
                return GeocodeResult(
                    text,
                    float(mid[0]),
                    float(mid[1]),
                    "street",
                    f"street {self._street_names[key]} (no house numbers in the data)",
                    0.5,
                )
            # the "street" may be a village name ("Rothenberg, 64757")
            place = self._places.get(normalize_name(q.street))
            if place is not None and not q.housenumber:
                return _place_result(text, place)
        if q.city:
            place = self._places.get(normalize_name(q.city))
            if place is not None:
                return _place_result(text, place, confidence=0.3 if q.street else 0.4)
        if q.postcode:
            hits = [a for a in self.addresses if a.postcode == q.postcode]
            if hits:
                lon = float(np.mean([a.lon for a in hits]))
                lat = float(np.mean([a.lat for a in hits]))
                return GeocodeResult(text, lon, lat, "postcode", f"postcode {q.postcode}", 0.3)
        return None

    def _on_street(self, text: str, q: AddressQuery, candidates: list[_Address]) -> GeocodeResult:
        # prefer the right town when postcode/city are given
        local = [
            a
            for a in candidates
            if (not q.postcode or a.postcode in ("", q.postcode))
            and (not q.city or not a.city or normalize_name(a.city) == normalize_name(q.city))
        ]
        pool = local or candidates
        town_penalty = 0.0 if local else 0.2
        if q.housenumber:
            want = housenumber_key(q.housenumber)
            exact = [a for a in pool if housenumber_key(a.housenumber) == want]
            if exact:
                a = exact[0]
                spread = max(abs(b.lon - a.lon) + abs(b.lat - a.lat) for b in exact)
                confidence = 1.0 - town_penalty - (0.2 if spread > 0.01 else 0.0)
                return GeocodeResult(text, a.lon, a.lat, "address", _describe_addr(a), confidence)
            number = _number(want)
            numbered = (
                [(abs((_number(a.housenumber) or 0) - number), a) for a in pool]
                if number is not None
                else []
            )
            if numbered:
                gap, a = min(numbered, key=lambda t: t[0])
                return GeocodeResult(
                    text,
                    a.lon,
                    a.lat,
                    "housenumber_near",
                    f"{_describe_addr(a)} (nearest number to {q.housenumber})",
                    max(0.5, 0.8 - 0.02 * gap) - town_penalty,
                )
        lon = float(np.mean([a.lon for a in pool]))
        lat = float(np.mean([a.lat for a in pool]))
        street = pool[0].street
        return GeocodeResult(text, lon, lat, "street", f"street {street}", 0.5 - town_penalty)


def _place_result(
    text: str, place: tuple[str, str, float, float], confidence: float = 0.4
) -> GeocodeResult:
    name, kind, lon, lat = place
    return GeocodeResult(text, lon, lat, "place", f"{kind} {name}", confidence)


def _describe(q: AddressQuery) -> str:
    town = " ".join(p for p in (q.postcode, q.city) if p)
    return ", ".join(p for p in (f"{q.street} {q.housenumber}".strip(), town) if p)


def _describe_addr(a: _Address) -> str:
    town = " ".join(p for p in (a.postcode, a.city) if p)
    return ", ".join(p for p in (f"{a.street} {a.housenumber}", town) if p)


def _online(text: str, settings: GeocodeSettings) -> GeocodeResult | None:
    """Nominatim through osmnx; only called when ``allow_online`` is set."""
    import osmnx as ox  # lazy: heavy, and only needed for the opt-in online fallback

    if settings.nominatim_url:
        ox.settings.nominatim_url = settings.nominatim_url
    log.info("address not in the OSM data, asking Nominatim (enabled in settings)")
    try:
        lat, lon = ox.geocode(text)  # osmnx answers (lat, lon)
    except Exception as exc:  # osmnx raises InsufficientResponseError, HTTP errors, ...
        log.warning("online geocoding of %r failed: %s", text, exc)
        return None
    return GeocodeResult(text, float(lon), float(lat), "online", "Nominatim", 0.6, "nominatim")


@functools.lru_cache(maxsize=2)
def _index_for(path: Path) -> AddressIndex:
    return AddressIndex.from_osm_file(path)


def geocode(address: str, osm_file: str | Path) -> GeocodeResult:
    """Look an address up in ``osm_file``; the index of a file is built once per process.
    Offline only; for online fallback build an :class:`AddressIndex` with
    ``GeocodeSettings(allow_online=True)``."""
    return _index_for(Path(osm_file).resolve()).lookup(address)
