"""``vanplan serve --workers 2`` as a real process tree: its processes share one cap on
synchronous solves (Redis slots, as ``VANPLAN_JOB_RUNNER=celery`` configures), and it stops
cleanly on SIGTERM and SIGINT (exit code 0, no failed application shutdown in its log)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from api.auth import create_token
from api.settings import Settings
from api.solve_slots import RedisSolveSlots
from tests.api.test_e2e_uvicorn import ROOT, free_port, wait_ready
from tests.api.test_solve_slots import REDIS_URL


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_two_server_processes_shut_down_cleanly(
    stop_signal: signal.Signals, tmp_path: Path
) -> None:
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'vanplan.db'}"
    prefix = f"vp-serve-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VANPLAN_DATABASE_URL": database_url,
        "VANPLAN_JOB_RUNNER": "celery",
        "VANPLAN_REDIS_URL": REDIS_URL,
        "VANPLAN_REDIS_PREFIX": prefix,
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(process, f"http://127.0.0.1:{port}", timeout=120.0)
            _wait_for_line(log_path, "Application startup complete.", count=2, timeout=120.0)
            _solves_are_capped_across_processes(port, database_url, prefix)
            process.send_signal(stop_signal)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = log_path.read_text()
    assert code == 0, text
    assert text.count("Application startup complete.") == 2, text
    assert "Application shutdown failed" not in text, text
    assert "Traceback" not in text, text
    assert text.count("Finished server process") == 2, text


def _wait_for_line(path: Path, line: str, *, count: int, timeout: float) -> None:
    """Wait until ``line`` stands ``count`` times in the log (every server process started)."""
    deadline = time.monotonic() + timeout
    while path.read_text().count(line) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} not {count} times in time:\n{path.read_text()}")
        time.sleep(0.2)


def _solves_are_capped_across_processes(port: int, database_url: str, prefix: str) -> None:
    """With the deployment's two slots held by another process (this test), every synchronous
    solve gets 429, whichever server process answers; with one slot free, a solve runs."""
    token = create_token("dispatcher", name="cap", settings=Settings(database_url=database_url))
    problem = json.loads((ROOT / "examples" / "solve.json").read_text(encoding="utf-8"))
    # The solve with a free slot only has to run: it ends at a solution limit, not after the
    # example's 3 s of search.
    problem["options"]["solution_limit"] = 20
    client = redis.Redis.from_url(REDIS_URL)
    slots = RedisSolveSlots(2, client, prefix)
    held = [slots.try_acquire(), slots.try_acquire()]
    try:
        assert None not in held
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token.secret}"},
            timeout=120,
        ) as http:
            for _ in range(4):  # new connections: both server processes get some
                refused = http.post("/v1/solve", json=problem, headers={"Connection": "close"})
                assert refused.status_code == 429, refused.text
                assert refused.json()["code"] == "too_many_solves"
            lease = held.pop()
            assert lease is not None
            lease.release()
            solved = http.post("/v1/solve", json=problem)
            assert solved.status_code == 200, solved.text
    finally:
        for lease in held:
            if lease is not None:
                lease.release()
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
