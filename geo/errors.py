"""Errors raised by ``geo``: bad files, areas and downloads.

All derive from :class:`optimizer.errors.VanplanError` and so from ``ValueError``; each message
names the input (file, area, place) and the problem.
"""

from __future__ import annotations

from optimizer.errors import VanplanError


class GeoError(VanplanError):
    """Base class of every error raised by ``geo``."""


class SourceError(GeoError):
    """An OSM source cannot be used: missing, unreadable, corrupt or of an unsupported type."""


class AreaError(GeoError):
    """An area (bounding box or polygon) is malformed."""


class EmptyAreaError(GeoError):
    """The area holds no drivable road."""


class DownloadError(GeoError):
    """Downloading from OpenStreetMap (Overpass, Nominatim) failed."""


class CacheError(GeoError):
    """A cached network is missing, corrupt or written by an incompatible version."""
