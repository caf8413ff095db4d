"""The README's curl round trip, as written in the README, and examples/roundtrip.sh, each against
a real `vanplan serve` process. Every HTTP error stops the run (curl runs with --fail-with-body)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

# The server's synchronous solves (the stored week's plan has no time limit of its own) search for
# as long as examples/solve.json asks (3 s; a longer ask would be refused), not the default 10 s:
# the round trip checks the answers' shape and the workflow, not how good the one-visit week is.
SYNC_SOLVE_TIME_LIMIT = "3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_round_trip(tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is part of the README's round trip"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VANPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'vanplan.db'}",
        "VANPLAN_SYNC_SOLVE_TIME_LIMIT": SYNC_SOLVE_TIME_LIMIT,
    }
    env.pop("VANPLAN_OSM_FILE", None)
    cli = [sys.executable, "-m", "api.cli"]
    token = subprocess.run(
        [*cli, "token", "create", "--role", "dispatcher", "--name", "readme"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert token.startswith("vp_") and "\n" not in token  # stdout carries only the secret
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        proc = subprocess.run(
            ["bash", str(ROOT / "examples" / "roundtrip.sh")],
            env={**env, "BASE": base, "VANPLAN_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "'reason': 'no_skilled_van'" in out  # the Farsi-speaking client has no van
    assert "succeeded" in out and "published" in out and "FeatureCollection" in out
    assert "'visit_id': 'visit-1'" in out
    # a slot was offered on Monday and booked as version 2
    assert '"van_id": "van-1", "date": "2026-11-23"' in out
    # the re-plan job ended and stored version 3
    assert out.rstrip().endswith("week_replan\nsucceeded\n3"), out[-300:]
    # Client names never reach the service's log.
    assert "Mustermann" not in (tmp_path / "serve.log").read_text()


def _readme_block() -> str:
    """The bash block of the README's round trip, exactly as written."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index("A complete round trip with curl") :]
    match = re.search(r"```bash\n(.*?)```", after, re.DOTALL)
    assert match is not None, "the README's round trip block is missing"
    return match.group(1)


def _shims(bin_dir: Path) -> None:
    """``vanplan`` runs this tree's CLI; ``curl`` fails on any HTTP error (>= 400) and still shows
    the error body (``--fail-with-body``, which replaces the README's own ``-f``)."""
    bin_dir.mkdir()
    curl = shutil.which("curl")
    shims = {
        "vanplan": f"import os, sys\nos.execv({sys.executable!r}, "
        "[sys.executable, '-m', 'api.cli', *sys.argv[1:]])\n",
        "curl": "import os, sys\n"
        "args = ['-s' if a == '-sf' else a for a in sys.argv[1:] if a != '-f']\n"
        f"os.execv({curl!r}, ['curl', '--fail-with-body', *args])\n",
    }
    for name, body in shims.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)


def test_the_readme_round_trip_runs_as_written(tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is part of the README's round trip"
    block = _readme_block()
    assert "localhost:8000" in block
    port = _free_port()
    script = "set -euo pipefail\n" + block.replace("8000", str(port))
    _shims(tmp_path / "bin")
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "VANPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'vanplan.db'}",
        "VANPLAN_SYNC_SOLVE_TIME_LIMIT": SYNC_SOLVE_TIME_LIMIT,
    }
    env.pop("VANPLAN_OSM_FILE", None)
    # A session of its own: the server the block starts in the background is stopped with it.
    # Output into a file: the server keeps the descriptors it inherits open.
    log_path = tmp_path / "readme.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    out = log_path.read_text()
    assert proc.returncode == 0, out[-3000:]
    # The job's plan was fetched after the job ended, the week planned, published and re-planned.
    assert '"unassigned"' in out and '"status":"published"' in out
    assert '"type":"FeatureCollection"' in out and '"kind":"week_replan"' in out
    # A slot was offered and booked as draft version 2.
    assert '"id":"visit-2"' in out
    assert '"week":"2026-W48","version":2,"status":"draft"' in out
