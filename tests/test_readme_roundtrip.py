"""The README's curl round trip (examples/roundtrip.sh) against a real `vanplan serve` process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


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
    # the re-plan job ended and stored version 2
    assert out.rstrip().endswith("week_replan\nsucceeded\n2"), out[-300:]
    # Client names never reach the service's log.
    assert "Mustermann" not in (tmp_path / "serve.log").read_text()
