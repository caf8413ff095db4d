"""Run the service with uvicorn: ``run(host, port)`` (used by ``vanplan serve``) or
``python -m api.server --host 127.0.0.1 --port 8000``.

Logging goes to stderr through the personal-data redactor (see :mod:`api.logging`); the same
redactor is handed to the app, which teaches it the client names and addresses it stores.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from api.app import create_app
from api.logging import Redactor, logging_config
from api.settings import Settings

logger = logging.getLogger(__name__)


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    settings: Settings | None = None,
    log_level: str = "info",
) -> None:
    """Serve the API until interrupted (blocking)."""
    redactor = Redactor()
    app = create_app(settings or Settings(), redactor=redactor)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=logging_config(redactor, log_level.upper()),
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the vanplan API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    run(args.host, args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
