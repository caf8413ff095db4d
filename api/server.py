"""Run the service with uvicorn: ``run(host, port)`` (used by ``vanplan serve``) or
``python -m api.server --host 127.0.0.1 --port 8000 [--workers N]``.

Logging goes to stderr through the personal-data redactor (see :mod:`api.logging`); the same
redactor is handed to the app, which teaches it the client names and addresses it stores.

With ``workers`` above 1, uvicorn starts that many server processes on the one port. Each builds
its app with :func:`worker_app` from the environment (``VANPLAN_*``; ``run`` exports the service
area of the settings it was given, so ``vanplan serve --area`` holds), with its own redactor,
database pool (``VANPLAN_DB_POOL_SIZE`` + ``VANPLAN_DB_MAX_OVERFLOW`` connections each) and
render cache front; the solve cap (``VANPLAN_MAX_CONCURRENT_SOLVES``) holds for all of them
together (:mod:`api.solve_slots`). The migrations run once,
before the processes start. Jobs must then run on Celery workers (``VANPLAN_JOB_RUNNER=celery``):
in-process job runners in several servers would each resume the same unfinished jobs.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.db.database import Database
from api.logging import Redactor, logging_config
from api.settings import Settings

logger = logging.getLogger(__name__)

LOG_LEVEL_VARIABLE = "VANPLAN_SERVE_LOG_LEVEL"
"""Set by :func:`run` for its worker processes (the log level of ``--log-level``)."""
WORKER_HEALTHCHECK_S = 60
"""Seconds a server process may take to answer uvicorn's supervisor (startup included)."""
KEEP_ALIVE_S = 20
"""Seconds an idle keep-alive connection stays open (uvicorn's default, 5 s, lets a busy client
race the server's close and lose a request)."""


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    settings: Settings | None = None,
    log_level: str = "info",
    workers: int = 1,
) -> None:
    """Serve the API until interrupted (blocking); ``workers`` server processes."""
    settings = settings or Settings()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1:
        _run_workers(host, port, settings, log_level, workers)
        return
    redactor = Redactor()
    app = create_app(settings, redactor=redactor)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=logging_config(redactor, log_level.upper()),
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def _run_workers(host: str, port: int, settings: Settings, log_level: str, workers: int) -> None:
    if settings.job_runner != "celery":
        raise ValueError(
            f"--workers {workers} needs VANPLAN_JOB_RUNNER=celery (and `vanplan worker` "
            "processes): in-process job runners in several servers would each resume the same "
            "unfinished jobs"
        )
    logging.config.dictConfig(logging_config(Redactor(), log_level.upper()))
    if settings.run_migrations:  # once, not in every worker at the same time
        db = Database(settings.database_url)
        try:
            db.migrate()
        finally:
            db.dispose()
    os.environ["VANPLAN_RUN_MIGRATIONS"] = "false"
    if settings.geo.service_area is not None:
        os.environ["VANPLAN_SERVICE_AREA"] = str(settings.geo.service_area)
    os.environ[LOG_LEVEL_VARIABLE] = log_level
    logger.info("starting %d server processes on %s:%d", workers, host, port)
    uvicorn.run(
        "api.server:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # a worker imports the whole service (OR-Tools, folium, ...) before it answers the
        # supervisor's health check: 5 s (uvicorn's default) is too short on a busy machine
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        log_config=None,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def worker_app() -> FastAPI:
    """The app of one of several server processes (uvicorn's factory): settings from the
    environment, logging through a redactor of its own."""
    redactor = Redactor()
    level = os.environ.get(LOG_LEVEL_VARIABLE, "info").upper()
    logging.config.dictConfig(logging_config(redactor, level))
    return create_app(Settings(), redactor=redactor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the vanplan API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    run(args.host, args.port, log_level=args.log_level, workers=args.workers)


if __name__ == "__main__":
    main()
