"""Read paths under load: many concurrent readers of a published week's itineraries, GeoJSON,
week maps and crew pages, against the real server (uvicorn) on PostgreSQL.

Stores a sample week (:func:`api.sample_week.sample_week`: vans, shifts, clients and their
visits) in a fresh PostgreSQL schema, starts ``python -m api.server`` on a free port (``--workers``
server processes; above one with the Celery job runner on a fresh Redis prefix, which the reads
never touch), plans the week through ``POST /v1/weeks/{week}/plan``, publishes it, and then lets
``--readers`` concurrent readers read every output:

- ``cold``: one pass over all outputs by every reader at once, right after publishing (the
  first readers of each output wait for its one render);
- ``warm``: ``--rounds`` more passes, in a shuffled order per reader.

The readers are keep-alive HTTP/1.1 connections of a small asyncio client (one connection per
reader, uvloop when installed), spread over ``--client-procs`` processes, so that the load
generator costs little of the CPU it shares with the server: httpx spent more CPU per read than
the server did.

Every answer must be 200 with the same bytes as every other answer for that URL (in every
process and both phases), and of the right kind (JSON of the plan and van-day, a GeoJSON
FeatureCollection, an HTML page): anything else counts as an error. Prints p50/p95/max latency
and errors per phase and output kind, reads per second, and the CPU per read of the server
processes, of the readers and of the PostgreSQL processes of the machine (those alive through
the phase, from ``/proc``; these hold even on a machine loaded by other work, the latencies do
not, though the PostgreSQL figure includes whatever else uses the database server), and one
JSON line per phase (``--json``).

    python3 benchmarks/readload.py --readers 50 --rounds 3 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
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
import uvloop  # noqa: E402  (uvicorn[standard]: the server's loop too)

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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used) of every process of the machine."""
    out: dict[int, tuple[int, str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[1]: ppid; fields[11], fields[12]: utime, stime (stat fields 4, 14 and 15)
        out[int(entry.name)] = (
            int(fields[1]),
            name,
            (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        )
    return out


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by a process tree and by each PostgreSQL process."""

    server: float
    postgres: dict[int, float]

    def postgres_since(self, before: CpuSample) -> float:
        """CPU seconds of the PostgreSQL processes alive at both samples, between them."""
        return sum(
            cpu - before.postgres[pid]
            for pid, cpu in self.postgres.items()
            if pid in before.postgres
        )


def cpu_sample(root: int) -> CpuSample:
    """The CPU seconds of ``root`` and its descendants (the server processes) and of each
    ``postgres`` process (shared with whatever else uses the database server)."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree += stats[pid][2]
        todo += children.get(pid, [])
    postgres = {pid: cpu for pid, (_, name, cpu) in stats.items() if name.startswith("postgres")}
    return CpuSample(tree, postgres)


@dataclass(frozen=True)
class Server:
    """A running server: its base URL and the pid of its (first) process."""

    url: str
    pid: int

    def cpu(self) -> CpuSample:
        return cpu_sample(self.pid)


@contextmanager
def server(database_url: str, workers: int, redis_url: str, log: Path) -> Iterator[Server]:
    """``python -m api.server`` on a free port until the block ends."""
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
            yield Server(url, process.pid)
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
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    postgres_cpu: float = 0.0

    def summary(self) -> dict[str, Any]:
        every = [s for values in self.latencies.values() for s in values]
        kinds = {k: _stats(v) for k, v in sorted(self.latencies.items())}
        n = max(len(every), 1)
        return {
            "phase": self.name,
            "requests": len(every),
            "errors": len(self.errors),
            "cache_hits": self.hits,
            "wall_s": round(self.wall, 2),
            "reads_per_s": round(len(every) / self.wall, 1) if self.wall else 0.0,
            "server_cpu_ms_per_read": round(self.server_cpu * 1000 / n, 2),
            "client_cpu_ms_per_read": round(self.client_cpu * 1000 / n, 2),
            "postgres_cpu_ms_per_read": round(self.postgres_cpu * 1000 / n, 2),
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


def check_body(target: Target, plan_id: str, status: int, body: bytes) -> str | None:
    """Why the answer is wrong, or None."""
    if status != 200:
        return f"{target.url}: HTTP {status}"
    try:
        if target.expect == "itinerary":
            found = json.loads(body)
            ok = (found["plan_id"], found["van_id"], found["date"]) == (
                plan_id,
                target.van_id,
                target.day,
            ) and bool(found["stops"])
        elif target.expect == "geojson":
            found = json.loads(body)
            ok = found["type"] == "FeatureCollection" and bool(found["features"])
        else:
            ok = body.decode("utf-8").lstrip().lower().startswith("<!doctype html")
    except (ValueError, KeyError, TypeError):
        ok = False
    return None if ok else f"{target.url}: unexpected body"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection of a reader: ``GET`` with fixed headers, answers with
    a ``Content-Length`` or chunked body. Reconnects when the server closed it."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        lines = [f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def get(self, path: str) -> Answer:
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(b"GET " + path.encode("ascii") + b" HTTP/1.1\r\n" + self._head)
            head = await self._reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = await self._reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._chunks()
            elif status in (204, 304):
                body = b""
            else:
                raise ValueError("an answer without Content-Length or chunks")
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, headers, body)

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append((await self._reader.readexactly(size + 2))[:-2])


@dataclass
class Share:
    """What one reader process did: latencies by kind, errors, cache hits, the digest of the
    first body per URL, its CPU seconds while reading."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    hits: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    cpu: float = 0.0


async def _read_share(
    base: str,
    token: str,
    plan_id: str,
    order: list[list[Target]],
    start: Any,
) -> Share:
    """The readers of ``order`` (one list of targets each), all at once, on connections opened
    before ``start`` (a barrier of every reader process and the caller) is passed."""
    host, _, port = base.removeprefix("http://").partition(":")
    headers = {"Authorization": f"Bearer {token}", "Cookie": f"vanplan_token={token}"}
    connections = [Connection(host, int(port), headers) for _ in order]
    await asyncio.gather(*(c.open() for c in connections))
    share = Share()
    first: dict[str, bytes] = {}

    async def reader(connection: Connection, mine: list[Target]) -> None:
        for target in mine:
            started = time.perf_counter()
            try:
                answer = await connection.get(target.url)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                share.errors.append(f"{target.url}: {type(exc).__name__}")
                continue
            share.latencies.setdefault(target.kind, []).append(time.perf_counter() - started)
            known = first.get(target.url)
            if answer.status != 200:
                problem: str | None = f"{target.url}: HTTP {answer.status}"
            elif known is None:
                # the first answer of a URL in this process: its kind is checked; later ones
                # must be the same bytes (and the first bodies of all processes the same digest)
                problem = check_body(target, plan_id, answer.status, answer.body)
                if problem is None:
                    first[target.url] = answer.body
            else:
                same = known == answer.body
                problem = None if same else f"{target.url}: bytes differ from the first answer"
            if problem is not None:
                share.errors.append(problem)
            elif answer.headers.get("x-render-cache") == "hit":
                share.hits += 1

    await asyncio.to_thread(start.wait)
    cpu = time.process_time()
    await asyncio.gather(*(reader(c, mine) for c, mine in zip(connections, order, strict=True)))
    share.cpu = time.process_time() - cpu
    for connection in connections:
        connection.close()
    share.digests = {url: hashlib.sha256(body).hexdigest() for url, body in first.items()}
    return share


def _reader_process(
    base: str, token: str, plan_id: str, order: list[list[Target]], start: Any, results: Any
) -> None:
    """A reader process (forked): its share of the readers; the :class:`Share` to ``results``."""
    try:
        share = uvloop.run(_read_share(base, token, plan_id, order, start))
    except BaseException as exc:  # reported, not lost with the process
        share = Share(errors=[f"reader process failed: {exc!r}"])
        start.abort()
    results.put(share)


def read_all(
    server: Server,
    token: str,
    plan_id: str,
    order: list[list[Target]],
    phase: Phase,
    reference: dict[str, str],
    processes: int,
) -> None:
    """Each reader reads its list of targets in turn, all readers at once, spread over
    ``processes`` forked processes; ``reference``: URL -> digest of its first body (filled
    by the first phase, checked by the later ones)."""
    processes = max(1, min(processes, len(order)))
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    results = context.Queue()
    shares = [order[i::processes] for i in range(processes)]
    workers = [
        context.Process(
            target=_reader_process,
            args=(server.url, token, plan_id, mine, start, results),
            daemon=True,
        )
        for mine in shares
    ]
    for worker in workers:
        worker.start()
    start.wait(timeout=120)
    before, started = server.cpu(), time.perf_counter()
    done = [results.get(timeout=3600) for _ in workers]
    phase.wall = time.perf_counter() - started
    after = server.cpu()
    for worker in workers:
        worker.join()
    phase.server_cpu = after.server - before.server
    phase.postgres_cpu = after.postgres_since(before)
    for share in done:
        for kind, values in share.latencies.items():
            phase.latencies.setdefault(kind, []).extend(values)
        phase.errors += share.errors
        phase.hits += share.hits
        phase.client_cpu += share.cpu
        for url, digest in share.digests.items():
            if reference.setdefault(url, digest) != digest:
                phase.errors.append(f"{url}: bytes differ from the first answer")


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
    client_procs: int = 1,
) -> list[dict[str, Any]]:
    """Set up, measure, tear down; the summaries of the phases (cold, warm)."""
    with fresh_schema(database_url) as url:
        store_sample_week(url, clients, seed)
        token = create_token(Role.DISPATCHER, name="readload", settings=Settings(database_url=url))
        with server(url, workers, redis_url, log) as running:
            plan_id, plan = plan_and_publish(running.url, token.secret, time_limit)
            every = targets(plan_id, plan)
            rng = random.Random(seed)
            reference: dict[str, str] = {}
            cold = Phase("cold")
            cold_order = [every] * readers
            read_all(running, token.secret, plan_id, cold_order, cold, reference, client_procs)
            warm = Phase("warm")
            orders = []
            for _ in range(readers):
                mine = [t for _ in range(rounds) for t in every]
                rng.shuffle(mine)
                orders.append(mine)
            read_all(running, token.secret, plan_id, orders, warm, reference, client_procs)
    summaries = [cold.summary(), warm.summary()]
    for s in summaries:
        s |= {
            "readers": readers,
            "workers": workers,
            "client_procs": client_procs,
            "outputs": len(every),
            "clients": clients,
        }
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
        print(
            f"{s['phase']:<6} {s['reads_per_s']} reads/s; CPU ms per read: server "
            f"{s['server_cpu_ms_per_read']}, readers {s['client_cpu_ms_per_read']} "
            f"({s['client_procs']} process(es)), PostgreSQL {s['postgres_cpu_ms_per_read']} "
            "(its processes alive through the phase)"
        )
        for e in s["first_errors"]:
            print(f"       {e}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--readers", type=int, default=50, help="concurrent readers (default 50)")
    p.add_argument("--rounds", type=int, default=3, help="warm passes per reader (default 3)")
    p.add_argument("--clients", type=int, default=34, help="clients in the sample week")
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--client-procs", type=int, default=1, help="reader processes (default 1)")
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
        client_procs=args.client_procs,
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
