"""Read paths under load: many concurrent readers of a published week's itineraries, GeoJSON,
week maps and crew pages, against the real server (uvicorn) on PostgreSQL.

Stores a sample week (:func:`api.sample_week.sample_week`: vans, shifts, clients and their
visits) in a fresh PostgreSQL schema, starts ``python -m api.server`` on a free port (``--workers``
server processes; above one with the Celery job runner on a fresh Redis prefix, which the reads
never touch), plans the week through ``POST /v1/weeks/{week}/plan``, publishes it, and then lets
``--readers`` concurrent readers (httpx, asyncio) read every output:

- ``cold``: one pass over all outputs by every reader at once, right after publishing (the
  first readers of each output wait for its one render);
- ``warm``: ``--rounds`` more passes, in a shuffled order per reader.

Every answer must be 200 with the same bytes as every other answer for that URL, and of the right
kind (JSON of the plan and van-day, a GeoJSON FeatureCollection, an HTML page): anything else
counts as an error. Prints p50/p95/max latency and errors per phase and output kind, and one JSON
line per phase (``--json``).

    python3 benchmarks/readload.py --readers 50 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from api.auth import Role, create_token  # noqa: E402
from api.db.core_models import ClientRow, ShiftRow, VanRow, VisitRow  # noqa: E402
from api.db.database import Database  # noqa: E402
from api.sample_week import sample_week  # noqa: E402
from api.settings import Settings  # noqa: E402
from benchmarks.jobs import fresh_schema  # noqa: E402

MONDAY = date(2026, 11, 23)
WEEK = "2026-W48"


def store_sample_week(database_url: str, clients: int, seed: int) -> None:
    """The sample week's vans, shifts, clients and visits as stored data (consultation hours
    left out: the week plan adds the stored ones, and there are none)."""
    request = sample_week(MONDAY, clients=clients, seed=seed)
    db = Database(database_url)
    try:
        with db.session() as session:
            for van in request.vans:
                session.add(VanRow(id=van.id, name=van.name, skills=list(van.skills)))
            session.flush()
            for n, shift in enumerate(request.shifts):
                session.add(
                    ShiftRow(id=f"shift-{n}", van_id=shift.van_id, start=shift.start, end=shift.end)
                )
            for visit in request.visits:
                if visit.kind != "appointment" or visit.client_ref is None:
                    continue
                lon, lat = visit.place.coordinates or (None, None)
                if session.get(ClientRow, visit.client_ref) is None:
                    session.add(
                        ClientRow(
                            id=visit.client_ref,
                            name=f"Person {visit.client_ref}",
                            address=f"Musterweg {visit.client_ref[-2:]}",
                            lon=lon,
                            lat=lat,
                        )
                    )
                    session.flush()
                session.add(
                    VisitRow(
                        id=visit.id,
                        client_id=visit.client_ref,
                        duration_minutes=visit.duration_minutes,
                        windows=[[_utc(w.start), _utc(w.end)] for w in visit.windows],
                        skills=list(visit.skills),
                        priority=visit.priority,
                        lon=lon,
                        lat=lat,
                    )
                )
    finally:
        db.dispose()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(database_url: str, workers: int, redis_url: str, log: Path) -> Iterator[str]:
    """``python -m api.server`` on a free port until the block ends; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "VANPLAN_DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "VANPLAN_SYNC_SOLVE_TIME_LIMIT": "30",
    }
    if workers > 1:
        env |= {
            "VANPLAN_JOB_RUNNER": "celery",
            "VANPLAN_REDIS_URL": redis_url,
            "VANPLAN_REDIS_PREFIX": f"vpread-{uuid.uuid4().hex[:8]}",
        }
    command = [sys.executable, "-m", "api.server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}; see {log}")
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready in 120 s; see {log}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Target:
    """One output to read: its kind (for the figures), URL and what its body must be."""

    kind: str
    url: str
    expect: str  # "itinerary" | "geojson" | "html"
    van_id: str = ""
    day: str = ""


def plan_and_publish(url: str, token: str, time_limit: float) -> tuple[str, dict[str, Any]]:
    """Plan the stored week and publish it; the version's id and plan."""
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(
        f"{url}/v1/weeks/{WEEK}/plan",
        json={"time_limit_seconds": time_limit},
        headers=headers,
        timeout=time_limit + 120,
    )
    response.raise_for_status()
    version = response.json()
    published = httpx.post(f"{url}/v1/plans/{version['id']}/publish", headers=headers, timeout=60)
    published.raise_for_status()
    return version["id"], version["plan"]


def targets(plan_id: str, plan: dict[str, Any]) -> list[Target]:
    """Every output a reader reads: the itinerary, GeoJSON, crew page and crew map of every
    van-day with visits, the whole week's GeoJSON and the week map."""
    out = [
        Target("geojson", f"/v1/plans/{plan_id}/geojson", "geojson"),
        Target("week_map", f"/v1/plans/{plan_id}/map", "html"),
    ]
    for route in plan["routes"]:
        if not any(s["type"] == "visit" for s in route["steps"]):
            continue
        van, day = route["van_id"], route["date"]
        out += [
            Target(
                "itinerary", f"/v1/plans/{plan_id}/itinerary/{van}/{day}", "itinerary", van, day
            ),
            Target("geojson", f"/v1/plans/{plan_id}/geojson?van_id={van}&date={day}", "geojson"),
            Target("crew_page", f"/crew/{van}/{day}?plan={plan_id}", "html"),
            Target("crew_map", f"/crew/{van}/{day}/map?plan={plan_id}", "html"),
        ]
    return out


@dataclass
class Phase:
    """The figures of one phase."""

    name: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    hits: int = 0
    wall: float = 0.0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def summary(self) -> dict[str, Any]:
        every = [s for values in self.latencies.values() for s in values]
        kinds = {k: _stats(v) for k, v in sorted(self.latencies.items())}
        return {
            "phase": self.name,
            "requests": len(every),
            "errors": len(self.errors),
            "cache_hits": self.hits,
            "wall_s": round(self.wall, 2),
            "all": _stats(every),
            "kinds": kinds,
            "first_errors": self.errors[:5],
        }


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def check_body(target: Target, plan_id: str, response: httpx.Response) -> str | None:
    """Why the answer is wrong, or None."""
    if response.status_code != 200:
        return f"{target.url}: HTTP {response.status_code}"
    try:
        if target.expect == "itinerary":
            body = response.json()
            ok = (body["plan_id"], body["van_id"], body["date"]) == (
                plan_id,
                target.van_id,
                target.day,
            ) and bool(body["stops"])
        elif target.expect == "geojson":
            body = response.json()
            ok = body["type"] == "FeatureCollection" and bool(body["features"])
        else:
            ok = response.text.lstrip().lower().startswith("<!doctype html")
    except (ValueError, KeyError):
        ok = False
    return None if ok else f"{target.url}: unexpected body"


async def read_all(
    base: str,
    token: str,
    plan_id: str,
    order: list[list[Target]],
    phase: Phase,
    reference: dict[str, bytes],
) -> None:
    """Each reader reads its list of targets in turn, all readers at once."""
    limits = httpx.Limits(max_connections=len(order), max_keepalive_connections=len(order))
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        cookies={"vanplan_token": token},
        limits=limits,
        timeout=120,
    ) as client:

        async def reader(mine: list[Target]) -> None:
            for target in mine:
                started = time.perf_counter()
                try:
                    response = await client.get(target.url)
                except httpx.HTTPError as exc:
                    phase.errors.append(f"{target.url}: {type(exc).__name__}")
                    continue
                phase.add(target.kind, time.perf_counter() - started)
                problem = check_body(target, plan_id, response)
                if problem is None:
                    first = reference.setdefault(target.url, response.content)
                    if first != response.content:
                        problem = f"{target.url}: bytes differ from the first answer"
                if problem is not None:
                    phase.errors.append(problem)
                elif response.headers.get("x-render-cache") == "hit":
                    phase.hits += 1

        started = time.perf_counter()
        await asyncio.gather(*(reader(mine) for mine in order))
        phase.wall = time.perf_counter() - started


def run(
    *,
    database_url: str,
    redis_url: str,
    readers: int,
    rounds: int,
    clients: int,
    workers: int,
    time_limit: float,
    seed: int,
    log: Path,
) -> list[dict[str, Any]]:
    """Set up, measure, tear down; the summaries of the phases (cold, warm)."""
    with fresh_schema(database_url) as url:
        store_sample_week(url, clients, seed)
        token = create_token(Role.DISPATCHER, name="readload", settings=Settings(database_url=url))
        with server(url, workers, redis_url, log) as base:
            plan_id, plan = plan_and_publish(base, token.secret, time_limit)
            every = targets(plan_id, plan)
            rng = random.Random(seed)
            reference: dict[str, bytes] = {}
            cold = Phase("cold")
            asyncio.run(read_all(base, token.secret, plan_id, [every] * readers, cold, reference))
            warm = Phase("warm")
            orders = []
            for _ in range(readers):
                mine = [t for _ in range(rounds) for t in every]
                rng.shuffle(mine)
                orders.append(mine)
            asyncio.run(read_all(base, token.secret, plan_id, orders, warm, reference))
    summaries = [cold.summary(), warm.summary()]
    for s in summaries:
        s |= {"readers": readers, "workers": workers, "outputs": len(every), "clients": clients}
    return summaries


def print_table(summaries: list[dict[str, Any]]) -> None:
    print(f"{'phase':<6} {'kind':<10} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for s in summaries:
        for kind, st in [("all", s["all"]), *s["kinds"].items()]:
            print(
                f"{s['phase']:<6} {kind:<10} {st['n']:>6} {st['p50_ms']:>9.1f} "
                f"{st['p95_ms']:>9.1f} {st['max_ms']:>9.1f}"
            )
        print(
            f"{s['phase']:<6} errors {s['errors']}, cache hits {s['cache_hits']} of "
            f"{s['requests']}, {s['wall_s']} s, {s['readers']} readers, {s['workers']} "
            f"server process(es), {s['outputs']} outputs"
        )
        for e in s["first_errors"]:
            print(f"       {e}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--readers", type=int, default=50, help="concurrent readers (default 50)")
    p.add_argument("--rounds", type=int, default=3, help="warm passes per reader (default 3)")
    p.add_argument("--clients", type=int, default=34, help="clients in the sample week")
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--time-limit", type=float, default=5.0, help="solver time of the week plan")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "VANPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL (a fresh schema is made and dropped)",
    )
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="for --workers > 1")
    p.add_argument("--log", type=Path, default=None, help="server log (default: a temp file)")
    p.add_argument("--json", action="store_true", help="also print one JSON line per phase")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = args.log or Path(tempfile.mkdtemp(prefix="vanplan-readload-")) / "server.log"
    summaries = run(
        database_url=args.database_url,
        redis_url=args.redis_url,
        readers=args.readers,
        rounds=args.rounds,
        clients=args.clients,
        workers=args.workers,
        time_limit=args.time_limit,
        seed=args.seed,
        log=log,
    )
    print_table(summaries)
    if args.json:
        for s in summaries:
            print(json.dumps(s))
    return 1 if any(s["errors"] for s in summaries) else 0


if __name__ == "__main__":
    raise SystemExit(main())
