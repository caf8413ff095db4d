"""Output formats of a plan view, in one immutable registry: format name -> :class:`Renderer`.

Every renderer reads the typed view (:mod:`geo.view`), never another format's output. A new
format is one module with a ``RENDERER`` and one line in :data:`RENDERERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from geo.render import csv_table, geojson, gpx, ics, map_html
from geo.render.base import Renderer, RenderOptions, Selection
from geo.view import PlanView

RENDERERS: Mapping[str, Renderer] = MappingProxyType(
    {
        r.name: r
        for r in (
            geojson.RENDERER,
            map_html.RENDERER,
            gpx.RENDERER,
            ics.RENDERER,
            csv_table.RENDERER,
        )
    }
)


class UnknownFormatError(KeyError):
    """A format name the registry does not know; the message lists the known ones."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.known = tuple(sorted(RENDERERS))
        super().__init__(f"unknown format {name!r}: use {known_formats()}")

    def __str__(self) -> str:
        return str(self.args[0])


def known_formats(prefix: str = "") -> str:
    """The format names as a readable list, e.g. ``".csv, .geojson, ... or .ics"``."""
    names = [f"{prefix}{n}" for n in sorted(RENDERERS)]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def renderer(name: str) -> Renderer:
    """The renderer of a format; :class:`UnknownFormatError` for an unknown name."""
    try:
        return RENDERERS[name]
    except KeyError:
        raise UnknownFormatError(name) from None


def render(
    name: str,
    view: PlanView,
    selection: Selection | None = None,
    options: RenderOptions | None = None,
) -> bytes:
    """Render ``view`` (or the selected part of it) as format ``name``."""
    return renderer(name).render(view, selection, options or RenderOptions())


__all__ = [
    "RENDERERS",
    "RenderOptions",
    "Renderer",
    "Selection",
    "UnknownFormatError",
    "known_formats",
    "render",
    "renderer",
]
