"""The ``vanplan`` command line: a thin client of the same functions the service uses.

    vanplan demo [--out DIR] [--osm FILE] [--area AREA] [--week 2026-W48] [--time-limit S]
    vanplan solve PROBLEM.json [--out PLAN.json] [--osm FILE] [--area AREA] [--engines E]
    vanplan network build (--osm FILE | --place NAME | --bbox W S E N) [--area AREA] [--out FILE]
    vanplan serve [--host H] [--port P] [--workers N] [--area AREA]
    vanplan worker [--log-level LEVEL]

``--area`` (or ``VANPLAN_SERVICE_AREA``) names a service-area file (:mod:`geo.service_area`); the
default is the shipped Odenwaldkreis.
    vanplan token create --role ROLE [--tenant SLUG] [--van VAN] [--name NAME]
    vanplan token revoke ID | token list [--tenant SLUG]
    vanplan tenant create SLUG --name NAME [--service-area FILE] | tenant list

Tokens belong to a tenant (a job centre; default ``default``, the single-tenant installation);
a token sees only its tenant's data.

Progress and summaries go to the terminal; library code only logs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError as PydanticError

from api.auth import create_token, list_tokens, revoke_token
from api.celery_worker import run_worker
from api.db.base import DEFAULT_TENANT
from api.db.database import Database
from api.demo import DemoOptions, build_network, run_demo, solve_request
from api.schemas.planning import SolveRequest
from api.server import run
from api.settings import Settings
from api.tenants import create_tenant, list_tenants
from geo.network import save
from geo.service_area import configured_area

log = logging.getLogger("vanplan")


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vanplan",
        description="Route and scheduling optimizer for outreach vans in a service area.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="plan a sample week for the service area and write plan, maps and crew pages",
        description=(
            "Plan a fictitious sample week in the service area (two vans from its first base, "
            "shifts with statutory breaks, skills, the area's consultation hours, clients around "
            "its places) and write plan.json, plan.geojson, the week map, van-day maps and crew "
            "pages to --out. Uses the road network from --osm (clipped to the area), else a "
            "cached network of the area, else approximate straight-line travel times (and says "
            "so)."
        ),
    )
    _area_option(demo)
    demo.add_argument("--out", type=Path, default=Path("vanplan-demo"), help="output folder")
    demo.add_argument("--osm", type=Path, help="local OSM extract (.osm, .osm.bz2, .osm.pbf)")
    demo.add_argument("--week", help="ISO week to plan, e.g. 2026-W48 (default: next week)")
    demo.add_argument("--clients", type=int, default=34, help="number of sample clients")
    demo.add_argument("--seed", type=int, default=7, help="seed of the sample and the solver")
    demo.add_argument("--time-limit", type=float, default=10.0, help="solver time (seconds)")
    demo.add_argument(
        "--approximate", action="store_true", help="skip road data: straight-line travel times"
    )

    solve = sub.add_parser(
        "solve",
        help="solve a problem given as JSON (the body of POST /v1/solve)",
        description="Solve a planning request (JSON, the schema of POST /v1/solve) and print or "
        "write the plan as JSON.",
    )
    solve.add_argument("problem", type=Path, help="problem JSON file ('-' for standard input)")
    solve.add_argument("--out", type=Path, help="write the plan here instead of standard output")
    solve.add_argument("--osm", type=Path, help="local OSM extract for road travel times")
    solve.add_argument("--time-limit", type=float, help="override the solver time (seconds)")
    solve.add_argument(
        "--engines",
        choices=["auto", "ortools"],
        help="search engines: auto (PyVRP first where it can express the problem, OR-Tools "
        "polishing) or ortools alone; overrides options.engines",
    )
    _area_option(solve)

    network = sub.add_parser("network", help="road network commands")
    net_sub = network.add_subparsers(dest="network_command", required=True, metavar="ACTION")
    build = net_sub.add_parser(
        "build",
        help="build (and cache) the drivable road network",
        description="Build the van road network from a local extract or by downloading from "
        "OpenStreetMap, and store it in the cache (or --out).",
    )
    src = build.add_mutually_exclusive_group()
    src.add_argument("--osm", type=Path, help="local OSM extract (.osm, .osm.bz2, .osm.pbf)")
    src.add_argument("--place", help="place name to download, e.g. 'Landkreis Bergstraße'")
    build.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("WEST", "SOUTH", "EAST", "NORTH"),
        help="area to clip or download (lon/lat); default: --osm is clipped to a configured "
        "service area (else read whole), a download takes the service area's extract place",
    )
    _area_option(build)
    build.add_argument("--out", type=Path, help="write the network to this file too")

    serve = sub.add_parser(
        "serve", help="run the HTTP API", description="Run the vanplan HTTP API (uvicorn)."
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes on the port (default 1); above 1 needs VANPLAN_JOB_RUNNER=celery",
    )
    _area_option(serve)

    worker = sub.add_parser(
        "worker",
        help="run a job worker (Celery; VANPLAN_JOB_RUNNER=celery on the API)",
        description="Run one Celery worker for solve jobs: it takes one job at a time from the "
        "Redis broker (VANPLAN_REDIS_URL) and writes progress and plans to the database "
        "(VANPLAN_DATABASE_URL). Start several, on this or other machines, for more jobs at once.",
    )
    worker.add_argument("--log-level", default="INFO", help="Celery's log level (default INFO)")

    token = sub.add_parser("token", help="API access tokens")
    tok_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tok_sub.add_parser(
        "create",
        help="create a token (printed once; stored hashed)",
        description="Create an API token. The secret is printed once; only its hash is stored.",
    )
    create.add_argument(
        "--role", required=True, choices=["dispatcher", "crew", "system"], help="access role"
    )
    create.add_argument("--van", help="van id (required for the crew role)")
    create.add_argument("--name", default="", help="label, e.g. who holds the token")
    create.add_argument(
        "--tenant",
        default=DEFAULT_TENANT,
        metavar="SLUG",
        help=f"the tenant (job centre) the token belongs to (default: {DEFAULT_TENANT})",
    )
    revoke = tok_sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id", help="token id (see 'vanplan token list')")
    listing = tok_sub.add_parser("list", help="list tokens (ids, roles, labels; never secrets)")
    listing.add_argument("--tenant", metavar="SLUG", help="only this tenant's tokens")

    tenant = sub.add_parser("tenant", help="tenants (job centres served by this installation)")
    ten_sub = tenant.add_subparsers(dest="tenant_command", required=True, metavar="ACTION")
    make = ten_sub.add_parser(
        "create",
        help="add a tenant",
        description="Add a tenant: a job centre whose vans, clients, visits, plans, jobs and "
        "tokens are kept apart from every other tenant's. Then give it tokens with "
        "'vanplan token create --tenant SLUG'.",
    )
    make.add_argument("slug", help="its id: lower-case letters, digits and '-' (e.g. jc-bergstr)")
    make.add_argument("--name", required=True, help="its name, e.g. Jobcenter Bergstraße")
    make.add_argument(
        "--service-area",
        type=Path,
        metavar="FILE",
        help="its service-area file (bases, places, road extract); default: the configured one",
    )
    ten_sub.add_parser("list", help="list tenants")
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _area_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--area",
        type=Path,
        metavar="FILE",
        help="service-area file (.toml/.json: name, bbox or boundary, bases, consultation "
        "places, default extract); default: VANPLAN_SERVICE_AREA, else the Odenwaldkreis",
    )


def _with_area(settings: Settings, area: Path | None) -> Settings:
    """``settings`` with the service area of ``--area`` (checked now: a bad file fails early)."""
    if area is not None:
        geo = settings.geo.model_copy(update={"service_area": area})
        settings = settings.model_copy(update={"geo": geo})
    if settings.geo.service_area is not None:
        configured_area(settings.geo.service_area)
    return settings


def _osm(given: Path | None, settings: Settings) -> Path | None:
    """``--osm``, else the extract file the configured service area names (``extract.path``)."""
    if given is not None or settings.geo.service_area is None:
        return given
    return configured_area(settings.geo.service_area).extract.path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # The plan's warnings are printed with the summary (WARNING: ...), not logged twice.
    logging.getLogger("optimizer.notices").setLevel(logging.ERROR)
    try:
        settings = Settings()  # the environment (VANPLAN_*), read once
        settings = _with_area(settings, getattr(args, "area", None))
        if args.command == "demo":
            run_demo(
                DemoOptions(
                    out=args.out,
                    osm=_osm(args.osm, settings),
                    week=args.week,
                    clients=args.clients,
                    seed=args.seed,
                    time_limit=args.time_limit,
                    approximate=args.approximate,
                ),
                settings.geo,
                echo=_echo,
            )
        elif args.command == "solve":
            _solve(args, settings)
        elif args.command == "network":
            _network_build(args, settings)
        elif args.command == "serve":
            run(host=args.host, port=args.port, settings=settings, workers=args.workers)
        elif args.command == "worker":
            return run_worker(settings, args.log_level)
        elif args.command == "token":
            _token(args, settings)
        elif args.command == "tenant":
            _tenant(args, settings)
    except (CliError, ValueError, OSError) as exc:
        print(f"vanplan: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _echo(message: str) -> None:
    print(message, flush=True)


def _solve(args: argparse.Namespace, settings: Settings) -> None:
    text = sys.stdin.read() if str(args.problem) == "-" else _read(args.problem)
    try:
        request = SolveRequest.model_validate_json(text)
    except PydanticError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"{args.problem}: invalid problem: {problems}") from None
    overrides: dict[str, object] = {}
    if args.time_limit is not None:
        overrides["time_limit_seconds"] = args.time_limit
    if args.engines is not None:
        overrides["engines"] = args.engines
    if overrides:
        request = request.model_copy(
            update={"options": request.options.model_copy(update=overrides)}
        )
    result = solve_request(
        request,
        geo=settings.geo,
        osm=_osm(args.osm, settings),
        echo=lambda m: print(m, file=sys.stderr),
    )
    payload = result.plan_out.model_dump_json(indent=2)
    if args.out:
        args.out.write_text(payload + "\n", encoding="utf-8")
        print(f"plan written to {args.out}", file=sys.stderr)
    else:
        print(payload)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not a UTF-8 text file") from None


def _network_build(args: argparse.Namespace, settings: Settings) -> None:
    # a local extract is clipped to a configured service area (not to the shipped default: a
    # file of another region would come out empty); downloads take the area's extract place
    configured = settings.geo.service_area
    osm = args.osm if args.place or args.bbox else _osm(args.osm, settings)
    area = configured_area(configured) if osm is not None and configured else None
    network, where = build_network(
        geo=settings.geo, osm=osm, place=args.place, bbox=args.bbox, area=area, echo=_echo
    )
    if args.out:
        save(network, args.out)
        where = str(args.out)
    meta = network.meta
    _echo(f"network: {meta.nodes:,} nodes, {meta.edges:,} edges; stored in {where}")


def _token(args: argparse.Namespace, settings: Settings) -> None:
    if args.token_command == "create":
        if args.role == "crew" and not args.van:
            raise CliError("--van is required for a crew token (crews see only their own van)")
        token_id, secret = create_token(
            role=args.role,
            van_id=args.van,
            name=args.name,
            tenant_id=args.tenant,
            settings=settings,
        )
        # Only the secret goes to stdout: TOKEN=$(vanplan token create ...) works in scripts.
        print(
            f"token {token_id} ({args.role}, tenant {args.tenant}) created; the secret below is "
            "shown only now. "
            "Send it as 'Authorization: Bearer <secret>'.",
            file=sys.stderr,
        )
        _echo(secret)
    elif args.token_command == "revoke":
        if not revoke_token(args.token_id, settings=settings):
            raise CliError(f"token {args.token_id!r}: no such active token")
        _echo(f"token {args.token_id} revoked")
    else:
        rows = list_tokens(settings=settings, tenant_id=args.tenant)
        if not rows:
            _echo("no tokens")
        for row in rows:
            _echo(json.dumps(row, default=str))


def _tenant(args: argparse.Namespace, settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        db.migrate()
        if args.tenant_command == "create":
            info = create_tenant(db, args.slug, args.name, args.service_area)
            area = info.service_area or "the configured service area"
            _echo(f"tenant {info.id} ({info.name}) created; service area: {area}")
            print(
                f"give it a token: vanplan token create --tenant {info.id} --role dispatcher",
                file=sys.stderr,
            )
        else:
            for row in list_tenants(db):
                _echo(json.dumps(dataclasses.asdict(row), default=str))
    finally:
        db.dispose()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
