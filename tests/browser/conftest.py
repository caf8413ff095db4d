"""A real uvicorn server on 127.0.0.1 and Debian's Chromium driven by Playwright.

Chromium comes from Debian (``apt-get install -y chromium``), never from ``playwright install``.
Screenshots go to ``test-artifacts/`` at the project root (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("VANPLAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Server:
    url: str
    database_url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Extra environment of a module's server (a module may override this fixture)."""
    return {}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]
) -> Iterator[Server]:
    db = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'vanplan.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "VANPLAN_DATABASE_URL": db,
        "VANPLAN_SYNC_SOLVE_TIME_LIMIT": "3",
        "VANPLAN_WEEK_TIME_LIMIT": "4",  # the page plans as a job: long enough to see progress
        **server_env,
    }
    env.pop("VANPLAN_OSM_FILE", None)
    log = tmp_path_factory.mktemp("browser-log") / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.browser.server_app:make_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield Server(url, db)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One Chromium per test process (each test opens contexts of its own in it)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
