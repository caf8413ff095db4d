"""benchmarks/readload.py run tiny against the real server on PostgreSQL, its readers in two
processes: every answer of every reader is a 200 with the right kind of body, the same bytes for
the same URL, and warm reads come from the render cache; the server's CPU is counted. (No
timing: the figures are printed by the script and go in the README.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.readload import build_parser, run
from tests.api.conftest import PG_URL

pytestmark = pytest.mark.slow


def test_a_tiny_run_reads_every_output_without_errors(tmp_path: Path) -> None:
    summaries = run(
        database_url=PG_URL,
        redis_url="redis://127.0.0.1:6379/0",
        readers=3,
        rounds=1,
        clients=8,
        workers=1,
        time_limit=1.0,
        seed=3,
        log=tmp_path / "server.log",
        client_procs=2,
    )
    cold, warm = summaries
    assert cold["phase"] == "cold" and warm["phase"] == "warm"
    for phase in summaries:
        assert phase["errors"] == 0, phase["first_errors"]
        assert phase["requests"] == 3 * phase["outputs"]
        assert {"itinerary", "geojson", "week_map", "crew_page", "crew_map"} <= set(phase["kinds"])
        assert phase["server_cpu_ms_per_read"] > 0 and phase["reads_per_s"] > 0
    assert warm["cache_hits"] == warm["requests"]  # everything was rendered in the cold pass
    assert cold["cache_hits"] < cold["requests"]  # ... where some readers rendered


def test_the_defaults_are_fifty_readers() -> None:
    args = build_parser().parse_args([])
    assert args.readers == 50 and args.workers == 1 and args.rounds >= 1
