"""``vanplan demo`` and ``vanplan solve``: the planning pipeline driven from the command line.

The demo plans the sample week (:mod:`api.sample_week`) with the same functions the HTTP service
uses (request -> geo -> optimizer -> checker -> plan, GeoJSON, maps, crew pages) and writes
everything to an output folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from api.crew import crew_page_html, inline_leaflet
from api.mapping import MappedProblem, plan_to_out
from api.planner import Planner
from api.sample_week import monday_of_iso_week, next_monday, sample_week
from api.schemas.planning import PlanOut, SolveRequest
from api.views import VisitLabels
from geo import cache as network_cache
from geo.errors import EmptyAreaError
from geo.network import download, load_osm_file
from geo.providers import RoadMatrixProvider, approximate_provider
from geo.render.geojson import plan_geojson
from geo.render.map_html import to_html, week_map
from geo.road_network import RoadNetwork
from geo.service_area import ServiceArea, area_for_network, configured_area
from geo.settings import GeoSettings
from geo.view import VisitInfo, build_view
from optimizer.checker import check_plan
from optimizer.domain import VisitKind
from optimizer.plan import Plan

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("vanplan-demo")
    osm: Path | None = None
    week: str | None = None
    clients: int = 34
    seed: int = 7
    time_limit: float = 10.0
    approximate: bool = False
    area: ServiceArea | None = None  # None: the configured (geo.service_area) or shipped one


@dataclass(frozen=True)
class SolveResult:
    mapped: MappedProblem
    plan: Plan
    plan_out: PlanOut
    network: RoadNetwork | None


def _quiet(_: str) -> None:
    pass


def build_network(
    *,
    geo: GeoSettings,
    osm: Path | None = None,
    place: str | None = None,
    bbox: Sequence[float] | None = None,
    area: ServiceArea | None = None,
    echo: Echo = _quiet,
) -> tuple[RoadNetwork, str]:
    """Build (or reuse from ``geo.cache_dir``) a road network with ``geo.network``; returns it
    and the cache folder. ``osm`` is clipped to ``bbox``, else to ``area`` (its boundary or
    bbox), else read whole; a download takes ``place`` or ``bbox``, else ``area``, else the
    configured service area's extract (:meth:`geo.overpass.OverpassSource.for_request`)."""
    cache = geo.cache_dir
    started = time.perf_counter()
    polygon = None
    if bbox is None and area is not None and place is None:
        clip = area.area()
        polygon, bbox = (clip.polygon, None) if clip.polygon is not None else (None, clip.bbox)
    try:
        if osm is not None:
            clipped = area is not None and (polygon is not None or bbox is not None)
            within = f" within {area.name}" if area is not None and clipped else ""
            echo(f"[1/4] reading road network from {osm}{within} ...")
            network = load_osm_file(
                osm, bbox=bbox, polygon=polygon, settings=geo.network, cache_dir=cache
            )
        else:
            what = place or (area.name if area is not None else None)
            what = what or ("bbox " + ", ".join(map(str, bbox)) if bbox else "the service area")
            echo(f"[1/4] downloading the road network of {what} from OpenStreetMap ...")
            network = download(place, bbox=bbox, polygon=polygon, geo_settings=geo, cache_dir=cache)
    except EmptyAreaError as exc:
        if area is None:
            raise
        raise EmptyAreaError(
            f"{exc} (clipped to the service area {area.name!r}: does the extract cover it? "
            "Give the area of the extract with --area FILE)"
        ) from None
    origin = "cache" if network.meta.from_cache else "built"
    echo(
        f"      {network.node_count:,} nodes, {network.edge_count:,} edges "
        f"({origin} in {time.perf_counter() - started:.1f} s)"
    )
    return network, str(cache)


def cached_area_network(geo: GeoSettings, area: ServiceArea) -> RoadNetwork | None:
    """The newest network cached in ``geo.cache_dir`` whose area covers the area's base."""
    lon, lat = area.base
    for network in network_cache.cached_networks(geo.cache_dir):
        box = network.meta.area_bbox
        if box is None or (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]):
            return network
    return None


def solve_request(
    request: SolveRequest,
    *,
    geo: GeoSettings,
    osm: Path | None = None,
    network: RoadNetwork | None = None,
    area: ServiceArea | None = None,
    echo: Echo = _quiet,
) -> SolveResult:
    """Map, solve and check a request; road travel times from ``network`` or ``osm`` if given,
    else estimated with ``geo.approximate``. Vans without a start begin at the first base of
    ``area``, else of the configured service area (``geo.service_area``), else of the shipped
    one, unless the road extract does not reach that base: then of an area derived from the
    extract (:func:`geo.service_area.area_for_network`, logged)."""
    if network is None and osm is not None:
        network, _ = build_network(geo=geo, osm=osm, echo=echo)
    if area is None and geo.service_area is not None:
        area = configured_area(geo.service_area)
    area = area_for_network(
        area,
        network,
        str(osm) if osm is not None else "the road network",
        needs_base=any(van.start is None for van in request.vans),
    )
    provider = (
        RoadMatrixProvider.from_network(network)
        if network is not None
        else approximate_provider(geo.approximate)
    )
    planner = Planner(provider, area=area)
    echo("[2/4] computing the travel matrix ...")
    started = time.perf_counter()
    mapped = planner.map(request)
    size = len(mapped.problem.matrix.locations)
    echo(
        f"      {size} x {size} ({mapped.matrix_info.source}) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    if mapped.matrix_info.approximate:
        echo(f"      NOTE: travel times are approximate: {mapped.matrix_info.note}")
    settings = planner.solver_settings(request)
    echo(f"[3/4] solving ({settings.time_limit:g} s) ...")

    shown = [-1.0]

    def progress(fraction: float, cost: float | None, solutions: int) -> None:
        # Improving solutions come by the hundred: show at most one line per tenth of the time.
        if cost is not None and fraction - shown[0] >= 0.1:
            shown[0] = fraction
            echo(f"      {fraction:4.0%}  solution {solutions:4d}  cost {cost:10.2f} EUR")

    plan = planner.solve_mapped(mapped, settings, on_progress=progress)
    for warning in plan.warnings:
        echo(f"      WARNING: {warning}")
    report = check_plan(mapped.problem, plan)
    if not report.ok:  # never hand out a plan the independent checker rejects
        raise RuntimeError("the plan failed the independent check:\n" + str(report))
    return SolveResult(mapped, plan, plan_to_out(plan, mapped), network)


def run_demo(options: DemoOptions, geo: GeoSettings, echo: Echo = _quiet) -> SolveResult:
    """Plan the sample week and write plan.json, plan.geojson, map.html and crew pages."""
    monday = monday_of_iso_week(options.week) if options.week else next_monday()
    area = options.area or configured_area(geo.service_area)
    request = sample_week(
        monday,
        clients=options.clients,
        seed=options.seed,
        time_limit_seconds=options.time_limit,
        area=area,
    )
    network: RoadNetwork | None = None
    if options.osm is not None:
        network, _ = build_network(geo=geo, osm=options.osm, area=area, echo=echo)
    elif not options.approximate:
        network = cached_area_network(geo, area)
        if network is None:
            echo(
                "[1/4] no road network available (none cached, no --osm FILE): travel times "
                "are APPROXIMATE (straight line x detour factor). Build one with "
                "'vanplan network build'."
            )
        else:
            echo(f"[1/4] using the cached road network {network!r}")
    else:
        echo("[1/4] --approximate: travel times are APPROXIMATE (straight line x detour factor)")
    result = solve_request(request, geo=geo, network=network, area=area, echo=echo)
    echo(f"[4/4] writing results to {options.out}/ ...")
    written = write_outputs(result, options.out, area)
    for path in written:
        echo(f"      {path}")
    echo("")
    echo(summary_table(result))
    return result


def write_outputs(result: SolveResult, out: Path, area: ServiceArea) -> list[Path]:
    """plan.json, plan.geojson, map.html and one crew page per van-day, all from one view
    (stops named after the nearest of ``area``'s places)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    write("plan.json", result.plan_out.model_dump_json(indent=2) + "\n")
    problem = result.mapped.problem
    labels = stop_labels(result, area)
    view = build_view(
        result.plan,
        problem,
        result.mapped.coordinates,
        network=result.network,
        names=labels.names,
        info=labels.info,
        van_names={v.id: v.name or v.id for v in problem.vans},
        day_names={
            d: f"{problem.horizon.date_of(d):%a %d.%m.}" for d in range(problem.horizon.days)
        },
    )
    write("plan.geojson", json.dumps(plan_geojson(view), indent=1) + "\n")
    write("map.html", to_html(week_map(view, assets=inline_leaflet())))
    for route in result.plan_out.routes:
        name = f"crew/{route.van_id}-{route.date.isoformat()}.html"
        write(name, crew_page_html(result.plan_out, view, route.van_id, route.date))
    return written


def stop_labels(result: SolveResult, area: ServiceArea) -> VisitLabels:
    """What crews see per visit in the demo: the nearest of the area's places and the client
    reference (the sample has no names or addresses: its clients are fictitious)."""
    villages = [*area.places, *area.consultation_places]
    names: dict[str, str] = {}
    info: dict[str, VisitInfo] = {}
    for visit in result.mapped.problem.visits:
        lon, lat = result.mapped.coordinates[visit.location]
        near = min(
            villages,
            key=lambda p: (p.location[0] - lon) ** 2 + ((p.location[1] - lat) * 1.5) ** 2,
            default=None,
        )
        where = near.name if near is not None else f"{lon:.4f}, {lat:.4f}"
        if visit.kind is VisitKind.CONSULTATION:
            names[visit.id] = f"Consultation hours, {where}"
        else:
            names[visit.id] = f"near {where}"
        info[visit.id] = VisitInfo(pseudonym=visit.client or visit.id)
    return VisitLabels(names, info)


def summary_table(result: SolveResult) -> str:
    """A plain-text table: one row per van-day, then totals and unassigned visits."""
    out = result.plan_out
    rows = [("van", "date", "stops", "start", "end", "drive", "km", "work", "break")]
    for r in out.routes:
        visits = [s for s in r.steps if s.type == "visit"]
        rows.append(
            (
                r.van_id,
                f"{r.date:%a %d.%m.}",
                str(len(visits)),
                f"{r.steps[0].start:%H:%M}",
                f"{r.steps[-1].end:%H:%M}",
                _hm(r.drive_seconds),
                f"{r.distance_m / 1000:.1f}",
                _hm(r.working_seconds),
                _hm(r.break_seconds),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    s = out.summary
    lines.append("")
    lines.append(
        f"{s.assigned} visits planned on {s.routes} van-days, {s.unassigned} unassigned; "
        f"drive {_hm(s.drive_seconds)}, {s.distance_m / 1000:.1f} km; cost {s.cost:.2f} EUR; "
        f"solver {s.status} after {s.wall_time_seconds:.1f} s ({s.solutions} solutions)"
    )
    lines.append(f"travel times: {out.matrix.source} ({out.matrix.note})")
    for u in out.unassigned:
        lines.append(f"  unassigned {u.visit_id}: {u.message}")
    return "\n".join(lines)


def _hm(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}"
