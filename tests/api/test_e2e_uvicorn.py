"""End to end: the real server (``python -m api.server``) in its own process on a free port,
driven over HTTP: token, CRUD round trip, roles, restart, and no personal data in its logs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.auth import create_token
from api.logging import MASK
from api.settings import Settings
from tests.api.test_jobs import PATIENCE

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerExitedError(AssertionError):
    """The server process ended before it was ready."""


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = PATIENCE) -> None:
    """Wait until the server ``process`` answers ``GET {url}/ready`` with 200 (its start imports
    OR-Tools and migrates the database: on a loaded machine that takes a minute or more)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExitedError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=10.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


PORT_TAKEN = b"address already in use"
"""uvicorn's words when its port was taken between :func:`free_port` and its bind."""


class Server:
    def __init__(self, database_url: str, log_path: Path) -> None:
        env = {**os.environ, "VANPLAN_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
        self.log = log_path.open("ab")
        for attempt in range(5):
            # Another process may bind the free port first (a race): start again on another.
            start = log_path.stat().st_size
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "api.server"),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                ],
                cwd=ROOT,
                env=env,
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_ready(self.process, self.url)
                return
            except ServerExitedError:
                with log_path.open("rb") as log:
                    log.seek(start)
                    if attempt == 4 or PORT_TAKEN not in log.read().lower():
                        self.log.close()
                        raise
            except BaseException:  # not ready in time, or interrupted: no server left behind
                self.stop()
                raise

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


@pytest.fixture
def server(database_url: str, log_path: Path) -> Iterator[Server]:
    running = Server(database_url, log_path)
    try:
        yield running
    finally:
        running.stop()


def test_round_trip_over_http(server: Server, database_url: str, log_path: Path) -> None:
    settings = Settings(database_url=database_url)
    token = create_token("dispatcher", name="e2e", settings=settings)
    auth = {"Authorization": f"Bearer {token.secret}"}
    with httpx.Client(base_url=server.url, timeout=PATIENCE) as http:
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/v1/vans").status_code == 401

        r = http.post("/v1/vans", json={"id": "van-1", "name": "Mobiles Büro 1"}, headers=auth)
        assert r.status_code == 201, r.text
        person = {
            "id": "client-1",
            "name": "Zacharias Quellenhof",
            "address": "Lindenweg 5, 64711 Erbach",
            "location": [8.99, 49.65],
        }
        assert http.post("/v1/clients", json=person, headers=auth).status_code == 201
        # A validation error that echoes nothing personal, and a client read.
        r = http.post("/v1/clients", json={**person, "id": "client-2", "x": 1}, headers=auth)
        assert r.status_code == 422
        assert http.get("/v1/clients/client-1", headers=auth).json()["name"] == person["name"]

        crew = create_token("crew", van_id="van-1", settings=settings)
        crew_auth = {"Authorization": f"Bearer {crew.secret}"}
        assert http.get("/v1/vans/van-1", headers=crew_auth).status_code == 200
        assert http.get("/v1/clients/client-1", headers=crew_auth).status_code == 403

    # Restart on the same database: everything is still there.
    server.stop()
    again = Server(database_url, log_path)
    try:
        with httpx.Client(base_url=again.url, timeout=PATIENCE) as http:
            r = http.get("/v1/clients/client-1", headers=auth)
            assert r.status_code == 200 and r.json()["address"] == person["address"]
    finally:
        again.stop()

    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert f"GET /v1/clients/{MASK}" in log  # access log written, the client id masked ...
    for secret in ("client-1", "Zacharias", "Quellenhof", "Lindenweg", token.secret, crew.secret):
        assert secret not in log  # ... without personal data or tokens
