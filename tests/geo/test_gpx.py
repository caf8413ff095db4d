"""GPX 1.1 of a van-day from the plan view: structure, order, coordinates."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from geo.render.gpx import GPX_NS, van_day_gpx
from geo.view import VisitInfo
from tests.geo.sample_view import ERBACH, PLACES, sample_view

NS = {"g": GPX_NS}
# xsd:sequence orders of the GPX 1.1 schema (subset used here).
GPX_ORDER = ["metadata", "wpt", "rte", "trk", "extensions"]
WPT_ORDER = [
    "ele",
    "time",
    "magvar",
    "geoidheight",
    "name",
    "cmt",
    "desc",
    "src",
    "link",
    "sym",
    "type",
]


def _local(el: ET.Element) -> str:
    assert el.tag.startswith(f"{{{GPX_NS}}}"), f"{el.tag} is not in the GPX 1.1 namespace"
    return el.tag.split("}", 1)[1]


def _assert_sequence(children: list[ET.Element], order: list[str]) -> None:
    idx = [order.index(_local(c)) for c in children]
    assert idx == sorted(idx), [_local(c) for c in children]


def _latlon(el: ET.Element) -> tuple[float, float]:
    return float(el.attrib["lat"]), float(el.attrib["lon"])


@pytest.fixture()
def gpx() -> ET.Element:
    text = van_day_gpx(sample_view(), "v1", 0, name="Bus 1 Monday")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text)


def test_root_is_gpx_1_1(gpx: ET.Element) -> None:
    assert _local(gpx) == "gpx"
    assert gpx.attrib["version"] == "1.1"
    assert gpx.attrib["creator"] == "vanplan"
    _assert_sequence(list(gpx), GPX_ORDER)
    assert gpx.findtext("g:metadata/g:name", namespaces=NS) == "Bus 1 Monday"


def test_waypoints_per_stop_with_times(gpx: ET.Element) -> None:
    wpts = gpx.findall("g:wpt", NS)
    names = [w.findtext("g:name", namespaces=NS) for w in wpts]
    assert names == ["Start", "1 Michelstadt", "2 Bad Koenig", "End"]
    for w in wpts:
        _assert_sequence(list(w), WPT_ORDER)
    michelstadt = wpts[1]
    # lat/lon attributes, not flipped.
    assert _latlon(michelstadt) == pytest.approx(
        (PLACES["michelstadt"][1], PLACES["michelstadt"][0])
    )
    # 08:15 in Berlin (UTC+1 in March) is 07:15 UTC.
    assert michelstadt.findtext("g:time", namespaces=NS) == "2026-03-02T07:15:00Z"
    assert "08:30-09:30" in (michelstadt.findtext("g:desc", namespaces=NS) or "")
    assert wpts[2].findtext("g:type", namespaces=NS) == "consultation_hours"
    assert _latlon(wpts[0]) == pytest.approx((ERBACH[1], ERBACH[0]))


def test_route_visits_stops_in_order(gpx: ET.Element) -> None:
    rtes = gpx.findall("g:rte", NS)
    assert len(rtes) == 1
    pts = rtes[0].findall("g:rtept", NS)
    assert [p.findtext("g:name", namespaces=NS) for p in pts] == [
        "Start",
        "1 Michelstadt",
        "2 Bad Koenig",
        "End",
    ]


def test_track_follows_the_road_geometry(gpx: ET.Element) -> None:
    trkpts = gpx.findall("g:trk/g:trkseg/g:trkpt", NS)
    # Three legs of three vertices each, shared joints written once: 3 + 2 + 2.
    assert len(trkpts) == 7
    assert _latlon(trkpts[0]) == pytest.approx((ERBACH[1], ERBACH[0]))
    assert _latlon(trkpts[2]) == pytest.approx((PLACES["michelstadt"][1], PLACES["michelstadt"][0]))
    assert _latlon(trkpts[-1]) == pytest.approx((ERBACH[1], ERBACH[0]))


def test_unknown_van_day() -> None:
    with pytest.raises(KeyError, match="v2"):
        van_day_gpx(sample_view(), "v2", 1)


def test_names_are_xml_escaped_and_clients_never_written() -> None:
    view = sample_view(
        names={"a1": "Müller & <Söhne>"},
        info={"a1": VisitInfo(client="Erika Mustermann", pseudonym="K-17", notes="Hund")},
    )
    text = van_day_gpx(view, "v1", 0)
    root = ET.fromstring(text)
    assert root.findall("g:wpt", NS)[1].findtext("g:name", namespaces=NS) == "1 Müller & <Söhne>"
    assert "Mustermann" not in text and "K-17" not in text and "Hund" not in text
