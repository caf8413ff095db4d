"""Where a van may stop: the OSM tags that rule a road out as a place to park for a visit.

Routing uses every drivable road; only *snapping* (putting a client on the network) is limited to
roads a van can stop on. The rule, from the way's OSM tags (absent tags allow stopping):

- ``highway=motorway``, ``motorway_link``, ``trunk``, ``trunk_link``: motorways, expressways and
  their slip roads. Stopping there is forbidden (German StVO §18: Autobahn and Kraftfahrstraße) or,
  on trunk roads without that status, unsafe (fast traffic, usually no shoulder).
- ``motorroad=yes`` on any road class: a Kraftfahrstraße (sign 331.1), no stopping by law.
- ``tunnel=*`` other than ``no`` (tunnels, building passages, avalanche protectors): nowhere to
  stop, and the place beside or above is not reached from inside.
- no stopping on *both* sides: ``parking:both:restriction=no_stopping`` (or ``:left`` and
  ``:right``), or the older ``parking:lane:both=no_stopping`` / ``parking:condition:both=
  no_stopping`` (or their ``left`` and ``right`` forms). One side allowing it is enough.

Built graphs carry the decision as the boolean edge attribute :data:`STOPPABLE`; graphs from
elsewhere (plain osmnx) are judged by the tags they kept (``highway``, ``tunnel``, ``motorroad``).
"""

from __future__ import annotations

from collections.abc import Mapping

STOPPABLE = "stoppable"
"""Edge attribute: True when a van may stop on the road (see the module rule)."""

NO_STOP_HIGHWAYS = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
_NO_STOPPING = "no_stopping"
_SIDES = ("left", "right")
# (key of both sides, key pattern of one side); the newer parking schema first
_SIDE_SCHEMES = (
    ("parking:both:restriction", "parking:{side}:restriction"),
    ("parking:lane:both", "parking:lane:{side}"),
    ("parking:condition:both", "parking:condition:{side}"),
)

STOP_TAGS = frozenset(
    {"highway", "motorroad", "tunnel"}
    | {both for both, _ in _SIDE_SCHEMES}
    | {side.format(side=s) for _, side in _SIDE_SCHEMES for s in _SIDES}
)
"""The OSM way tags the rule reads (a source must deliver them)."""


def no_stop_reason(tags: Mapping[str, str]) -> str | None:
    """Why a van may not stop on a way with these OSM tags (e.g. ``"highway=motorway"``), or None
    if it may."""
    highway = tags.get("highway")
    if highway in NO_STOP_HIGHWAYS:
        return f"highway={highway}"
    if tags.get("motorroad") == "yes":
        return "motorroad=yes"
    tunnel = tags.get("tunnel")
    if tunnel is not None and tunnel != "no":
        return f"tunnel={tunnel}"
    for both, one_side in _SIDE_SCHEMES:
        if tags.get(both) == _NO_STOPPING:
            return f"{both}={_NO_STOPPING}"
        sides = [tags.get(one_side.format(side=s)) for s in _SIDES]
        if all(value == _NO_STOPPING for value in sides):
            return f"{one_side.format(side='left|right')}={_NO_STOPPING}"
    return None


def edge_allows_stop(data: Mapping[str, object]) -> bool:
    """Whether a van may stop on a graph edge: its :data:`STOPPABLE` attribute when present, else
    the rule applied to the tags the edge kept (a merged edge listing several values is judged by
    the strictest one)."""
    flag = data.get(STOPPABLE)
    if flag is not None:
        return all(bool(f) for f in flag) if isinstance(flag, list) else bool(flag)
    for key in ("highway", "motorroad", "tunnel"):
        value = data.get(key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is not None and no_stop_reason({key: str(item)}) is not None:
                return False
    return True
