"""The cap on synchronous solves holds across the processes of a deployment
(:mod:`api.solve_slots`), on the real backends: lock files beside the SQLite file, PostgreSQL
advisory locks (127.0.0.1:5432) and Redis leases (127.0.0.1:6379). Never skipped: a server that
is down fails these tests. A holder killed with SIGKILL frees its slot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from api.settings import Settings
from api.solve_slots import (
    FileSolveSlots,
    Lease,
    PostgresSolveSlots,
    RedisSolveSlots,
    SolveSlots,
    solve_slots_for,
)
from tests.api.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("VANPLAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LEASE_SECONDS = 1.0
"""The Redis lease of these tests: short, so a killed holder's slot frees soon."""


def make_slots(backend: str, limit: int, where: dict[str, str]) -> SolveSlots:
    """Slots of ``backend`` at ``where`` (the same arguments give the same slots in any
    process)."""
    if backend == "file":
        return FileSolveSlots(limit, Path(where["base"]))
    if backend == "postgresql":
        return PostgresSolveSlots(limit, PG_URL, where["name"])
    if backend == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        return RedisSolveSlots(limit, client, where["name"], lease_seconds=LEASE_SECONDS)
    raise ValueError(backend)


def hold_until_killed(backend: str, limit: int, where_json: str) -> None:
    """Run in a child process: take one slot, say so on stdout, then wait to be killed."""
    lease = make_slots(backend, limit, json.loads(where_json)).try_acquire()
    print("held" if lease is not None else "refused", flush=True)
    while True:
        time.sleep(60)


@pytest.fixture(params=["file", "postgresql", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    name = f"vp-test-{uuid.uuid4().hex[:12]}"
    where = {"base": str(tmp_path / "vanplan.db"), "name": name}
    if request.param == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.ConnectionError as exc:
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
        yield request.param, where
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)
        client.close()
        return
    yield request.param, where


def _take_all(slots: SolveSlots) -> list[Lease]:
    leases = []
    while (lease := slots.try_acquire()) is not None:
        leases.append(lease)
    return leases


def test_slots_are_shared_between_instances_and_given_back(
    backend: tuple[str, dict[str, str]],
) -> None:
    kind, where = backend
    one, two = make_slots(kind, 2, where), make_slots(kind, 2, where)
    try:
        first = one.try_acquire()
        second = two.try_acquire()
        assert first is not None and second is not None
        assert one.try_acquire() is None and two.try_acquire() is None
        second.release()
        second.release()  # a second release gives back nothing more
        third = one.try_acquire()
        assert third is not None
        assert two.try_acquire() is None
        for lease in (first, third):
            lease.release()
        leases = _take_all(two)
        assert len(leases) == 2
        for lease in leases:
            lease.release()
    finally:
        one.close()
        two.close()


def test_a_killed_holder_frees_its_slot(backend: tuple[str, dict[str, str]]) -> None:
    kind, where = backend
    code = (
        "import sys; from tests.api.test_solve_slots import hold_until_killed; "
        "hold_until_killed(sys.argv[1], 2, sys.argv[2])"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, kind, json.dumps(where)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    slots = make_slots(kind, 2, where)
    leases: list[Any] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        leases.append(slots.try_acquire())
        assert leases[0] is not None  # the second of two
        if kind == "redis":
            time.sleep(3 * LEASE_SECONDS)  # the holder renews its lease while it lives
        assert slots.try_acquire() is None  # the other process holds the first
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        deadline = time.monotonic() + 30  # a freed slot (a Redis lease expires in 1 s)
        while (lease := slots.try_acquire()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lease is not None, "the killed holder's slot was not freed"
        leases.append(lease)
        assert slots.try_acquire() is None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
        for held in leases:
            if held is not None:
                held.release()
        slots.close()


def test_the_deployment_decides_where_the_slots_live(tmp_path: Path) -> None:
    celery = Settings(job_runner="celery", database_url=PG_URL, redis_url=REDIS_URL)
    postgres = Settings(database_url=PG_URL)
    sqlite = Settings(database_url=f"sqlite:///{tmp_path / 'vanplan.db'}")
    memory = Settings(database_url="sqlite://")
    kinds = [solve_slots_for(s) for s in (celery, postgres, sqlite, memory)]
    try:
        assert [s.kind for s in kinds] == ["redis", "postgresql", "file", "process"]
        assert all(s.limit == 2 for s in kinds)
        file_slots = kinds[2]
        assert isinstance(file_slots, FileSolveSlots)
        assert file_slots.paths[0] == tmp_path / "vanplan.db.solve-slot-0.lock"
    finally:
        for slots in kinds:
            slots.close()


def test_a_process_semaphore_caps_its_own_threads() -> None:
    slots = SolveSlots(1)
    lease = slots.try_acquire()
    assert lease is not None and slots.try_acquire() is None
    lease.release()
    lease.release()
    again = slots.try_acquire()
    assert again is not None and slots.try_acquire() is None
    again.release()
    with pytest.raises(ValueError, match="max_concurrent_solves"):
        SolveSlots(0)
