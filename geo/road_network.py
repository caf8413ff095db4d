"""The :class:`RoadNetwork` type: a van's drivable road graph and where it came from.

``graph`` follows osmnx conventions: a ``networkx.MultiDiGraph`` with node attributes ``x`` (lon)
and ``y`` (lat), edge attributes ``length`` (m), ``travel_time`` (s), ``speed_kph``, ``highway``,
``oneway``, ``osmid``, ``stoppable`` (may a van stop there, :mod:`geo.stopping`) and, on merged
edges, ``geometry`` (shapely LineString in lon/lat);
``graph.graph["crs"] == "EPSG:4326"``. Node keys are OSM node ids.

Built by :mod:`geo.network` (sources), stored and read by :mod:`geo.cache`; both import it from
here, so neither needs the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from geo.settings import NetworkSettings

if TYPE_CHECKING:
    import networkx as nx

FORMAT_VERSION = 2  # bump when the graph building changes in a way that invalidates caches

SourceKind = Literal["osm_file", "download"]


@dataclass(frozen=True)
class NetworkMeta:
    """Where a network came from and what it holds."""

    source_kind: SourceKind
    source: str  # file path or place/area description
    area: str  # human-readable area ("whole file" when not clipped)
    area_bbox: tuple[float, float, float, float] | None
    settings: NetworkSettings
    osm_data_date: datetime | None  # file header timestamp, else newest way; None if unknown
    built_at: datetime
    node_count: int
    edge_count: int
    build_seconds: float = 0.0
    cache_key: str = ""
    from_cache: bool = False
    approximate: bool = False  # a RoadNetwork is never approximate; kept for uniform reports

    @property
    def nodes(self) -> int:
        """Alias of :attr:`node_count`."""
        return self.node_count

    @property
    def edges(self) -> int:
        """Alias of :attr:`edge_count`."""
        return self.edge_count


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A van's drivable road graph plus its provenance. Treat ``graph`` as read-only."""

    graph: nx.MultiDiGraph
    meta: NetworkMeta

    @property
    def node_count(self) -> int:
        return int(self.graph.number_of_nodes())

    @property
    def edge_count(self) -> int:
        return int(self.graph.number_of_edges())

    def __repr__(self) -> str:
        return (
            f"RoadNetwork({self.meta.source_kind} {self.meta.source!r}, {self.node_count} nodes, "
            f"{self.edge_count} edges, OSM data {self.meta.osm_data_date})"
        )
