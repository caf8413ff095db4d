"""Where a van may stop: the OSM tag rule, and the graph building that keeps it per edge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pytest

from geo.build import NEEDED_TAGS, RawData, RawWay, build_graph
from geo.road_network import RoadNetwork
from geo.settings import NetworkSettings
from geo.stopping import STOP_TAGS, STOPPABLE, edge_allows_stop, no_stop_reason


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"highway": "residential"}, None),
        ({"highway": "primary", "maxspeed": "70"}, None),
        ({"highway": "living_street"}, None),
        ({"highway": "service", "service": "driveway"}, None),
        ({"highway": "motorway"}, "highway=motorway"),
        ({"highway": "motorway_link"}, "highway=motorway_link"),
        ({"highway": "trunk"}, "highway=trunk"),
        ({"highway": "trunk_link", "motorroad": "no"}, "highway=trunk_link"),
        ({"highway": "primary", "motorroad": "yes"}, "motorroad=yes"),
        ({"highway": "primary", "motorroad": "no"}, None),
        ({"highway": "secondary", "tunnel": "yes"}, "tunnel=yes"),
        ({"highway": "residential", "tunnel": "building_passage"}, "tunnel=building_passage"),
        ({"highway": "residential", "tunnel": "no"}, None),
        ({"highway": "residential", "bridge": "yes"}, None),
        (
            {"highway": "primary", "parking:both:restriction": "no_stopping"},
            "parking:both:restriction=no_stopping",
        ),
        (
            {
                "highway": "primary",
                "parking:left:restriction": "no_stopping",
                "parking:right:restriction": "no_stopping",
            },
            "parking:left|right:restriction=no_stopping",
        ),
        # one side where stopping is allowed is enough
        ({"highway": "primary", "parking:left:restriction": "no_stopping"}, None),
        (
            {
                "highway": "primary",
                "parking:lane:left": "no_stopping",
                "parking:lane:right": "parallel",
            },
            None,
        ),
        (
            {"highway": "primary", "parking:lane:both": "no_stopping"},
            "parking:lane:both=no_stopping",
        ),
        (
            {"highway": "primary", "parking:condition:both": "no_stopping"},
            "parking:condition:both=no_stopping",
        ),
    ],
)
def test_no_stop_rule(tags: dict[str, str], reason: str | None) -> None:
    assert no_stop_reason(tags) == reason


def test_sources_deliver_the_tags_the_rule_reads() -> None:
    assert STOP_TAGS <= NEEDED_TAGS
    assert {"motorroad", "tunnel", "parking:both:restriction"} <= STOP_TAGS


@pytest.mark.parametrize(
    ("data", "allowed"),
    [
        ({STOPPABLE: True, "highway": "motorway"}, True),  # the built flag wins
        ({STOPPABLE: False, "highway": "residential"}, False),
        ({"highway": "residential"}, True),  # a graph from elsewhere: judged by its tags
        ({"highway": ["residential", "trunk"]}, False),
        ({"highway": "primary", "tunnel": "yes"}, False),
        ({"highway": "primary", "motorroad": "yes"}, False),
        ({}, True),
    ],
)
def test_edge_allows_stop(data: dict[str, object], allowed: bool) -> None:
    assert edge_allows_stop(data) is allowed


def _chain() -> RawData:
    """A two-way chain 1-2-3-4-5-6-7 along lat 49.40: residential 1-3, unclassified 3-4,
    trunk 4-6, residential 6-7."""
    ways = [
        RawWay(10, [1, 2, 3], {"highway": "residential"}),
        RawWay(11, [3, 4], {"highway": "unclassified"}),
        RawWay(12, [4, 5, 6], {"highway": "trunk", "oneway": "no"}),
        RawWay(13, [6, 7], {"highway": "residential"}),
    ]
    ids = np.arange(1, 8, dtype=np.int64)
    return RawData(ways, ids, 8.70 + 0.001 * ids.astype(np.float64), np.full(7, 49.40))


def test_simplification_does_not_merge_across_a_change_of_stoppability() -> None:
    graph = build_graph(_chain(), None, NetworkSettings(), label="chain")
    edges = {(u, v): d for u, v, d in graph.edges(data=True)}
    # residential + unclassified merge (both allow stopping); the trunk stays an edge of its own
    assert set(edges) == {(1, 4), (4, 1), (4, 6), (6, 4), (6, 7), (7, 6)}
    assert edges[1, 4]["osmid"] == [10, 11] and edges[1, 4][STOPPABLE] is True
    assert edges[4, 6]["osmid"] == 12 and edges[4, 6][STOPPABLE] is False
    assert edges[6, 7][STOPPABLE] is True
    unsimplified = build_graph(_chain(), None, NetworkSettings(simplify=False), label="chain")
    flags = {(u, v): d[STOPPABLE] for u, v, d in unsimplified.edges(data=True)}
    assert flags[1, 2] and flags[3, 4] and not flags[4, 5] and not flags[5, 6] and flags[6, 7]


def test_heidelberg_motorroads_and_motorways_are_not_stoppable(
    heidelberg_network: RoadNetwork, heidelberg_pbf: Path
) -> None:
    # the ways of the file that the rule rules out, read straight from the file
    ruled_out: set[int] = set()
    for way in osmium.FileProcessor(str(heidelberg_pbf)).with_filter(
        osmium.filter.KeyFilter("highway")
    ):
        tags = {t.k: t.v for t in way.tags}
        if no_stop_reason(tags) is not None:
            ruled_out.add(way.id)
    motorroad_primary = 0
    for _, _, data in heidelberg_network.graph.edges(data=True):
        osmids = data["osmid"] if isinstance(data["osmid"], list) else [data["osmid"]]
        expected = not any(i in ruled_out for i in osmids)
        assert data[STOPPABLE] is expected, osmids
        highways = data["highway"] if isinstance(data["highway"], list) else [data["highway"]]
        motorroad_primary += not expected and highways == ["primary"]
    assert motorroad_primary > 0  # primary roads with motorroad=yes exist in the extract
