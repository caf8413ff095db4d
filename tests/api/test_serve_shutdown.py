"""``vanplan serve --workers 2`` as a real process tree: it stops cleanly on SIGTERM and SIGINT
(exit code 0, no failed application shutdown in its log)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.test_e2e_uvicorn import ROOT, free_port, wait_ready


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_two_server_processes_shut_down_cleanly(
    stop_signal: signal.Signals, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VANPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'vanplan.db'}",
        "VANPLAN_JOB_RUNNER": "celery",
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
