"""How fast slot offers answer on a 100-visit week.

The week: :func:`api.sample_week.sample_week` with 97 clients and its 3 consultation hours (100
visits), plus two more vans with the same shifts as the sample's two (so most visits are planned
and the routes are full), on the straight-line matrix (offline). It is solved once
(``--time-limit``, not measured). Then ``--asks`` new visits (clients of another sample seed) are
offered, each measured two ways:

- ``search``: :func:`optimizer.offers.find_offers` alone (problem and plan in memory);
- ``http``: ``POST /v1/weeks/{week}/offers`` through the app (SQLite, the week stored as a plan
  version): reading the version, mapping the week with the new visit (travel matrix of every
  place), the search, the answer.

It prints the figures (median and maximum seconds per ask, the first HTTP answer separately as
it includes warm-up, positions evaluated) as JSON. The target: an answer within 2 s.

    python3 benchmarks/offers.py --asks 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role, issue_token
from api.mapping import build_problem, plan_to_out
from api.sample_week import sample_week
from api.schemas.planning import SolveRequest, VisitIn
from api.settings import Settings
from api.storage import plans as store
from geo.providers import approximate_provider
from optimizer.checker import check_plan
from optimizer.offers import find_offers
from optimizer.settings import SolverSettings
from optimizer.solve import solve

MONDAY = date(2026, 11, 23)  # ISO week 2026-W48


def week_request(clients: int, seed: int) -> SolveRequest:
    """The sample week with two more vans working the same shifts."""
    request = sample_week(MONDAY, clients=clients, seed=seed)
    extra_vans = [v.model_copy(update={"id": f"{v.id}b"}) for v in request.vans]
    extra_shifts = [s.model_copy(update={"van_id": f"{s.van_id}b"}) for s in request.shifts]
    return request.model_copy(
        update={
            "vans": [*request.vans, *extra_vans],
            "shifts": [*request.shifts, *extra_shifts],
        }
    )


def new_visits(count: int, seed: int) -> list[VisitIn]:
    """Clients of another sample seed, renamed: the visits to offer slots for."""
    other = sample_week(MONDAY, clients=count, seed=seed)
    asks = [v for v in other.visits if v.kind == "appointment"][:count]
    return [v.model_copy(update={"id": f"ask-{i}"}) for i, v in enumerate(asks)]


def _stats(values: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(values), 4), "max_s": round(max(values), 4)}


def run(clients: int, asks: int, time_limit: float, seed: int) -> dict[str, Any]:
    request = week_request(clients, seed)
    mapped = build_problem(request, approximate_provider())
    problem = mapped.problem
    plan = solve(problem, SolverSettings(time_limit=time_limit, seed=0))
    check_plan(problem, plan).assert_ok()
    wanted = new_visits(asks, seed + 1)

    # The search alone: one mapping holds the week and every new visit's place.
    combined = build_problem(
        request.model_copy(update={"visits": [*request.visits, *wanted]}), approximate_provider()
    ).problem
    week_ids = {v.id for v in problem.visits}
    base = replace(combined, visits=tuple(v for v in combined.visits if v.id in week_ids))
    search: list[float] = []
    offered = evaluated = 0
    for ask in wanted:
        visit = combined.visit(ask.id)
        t0 = time.perf_counter()
        result = find_offers(base, plan, visit, limit=5)
        search.append(time.perf_counter() - t0)
        offered += bool(result.offers)
        evaluated += result.evaluated

    # The whole answer through the app.
    http: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", osm_file=None)
        app = create_app(settings)
        with TestClient(app) as client:
            with app.state.db.session() as session:
                token = issue_token(session, Role.SYSTEM, name="bench").secret
                store.create_version(
                    session,
                    "2026-W48",
                    request=request.model_dump(mode="json"),
                    payload=plan_to_out(plan, mapped).model_dump(mode="json"),
                    plan=plan,
                )
            headers = {"Authorization": f"Bearer {token}"}
            for ask in wanted:
                body = {
                    "place": ask.place.model_dump(mode="json", exclude_none=True),
                    "duration_minutes": ask.duration_minutes,
                    "skills": ask.skills,
                    "windows": [w.model_dump(mode="json") for w in ask.windows],
                    "limit": 5,
                }
                t0 = time.perf_counter()
                response = client.post("/v1/weeks/2026-W48/offers", json=body, headers=headers)
                http.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    raise RuntimeError(f"offers answered {response.status_code}: {response.text}")
    return {
        "visits": len(problem.visits),
        "vans": len(problem.vans),
        "planned": len(plan.assigned),
        "routes": len(plan.routes),
        "asks": len(wanted),
        "asks_with_offers": offered,
        "positions_per_ask": round(evaluated / max(1, len(wanted)), 1),
        "search": _stats(search),
        "http_first_s": round(http[0], 4),  # includes the app's first-request warm-up
        "http": _stats(http),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=97, help="clients (+3 consultation hours)")
    parser.add_argument("--asks", type=int, default=20, help="new visits to offer slots for")
    parser.add_argument("--time-limit", type=float, default=10.0, help="solve of the week (s)")
    parser.add_argument("--seed", type=int, default=7, help="sample week seed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(json.dumps(run(args.clients, args.asks, args.time_limit, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
