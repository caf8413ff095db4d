"""App factory for the browser tests' uvicorn server: the API plus the pages, no map tiles
(the test machine has no network; the routes must show without tiles).

``VANPLAN_TEST_NOW`` (ISO date-time with offset), when set, fixes the pages' clock (what "today"
and "the next stop" mean) for the test."""

from __future__ import annotations

import os
from datetime import datetime

from fastapi import FastAPI

from api.app import create_app
from api.settings import PageSettings, Settings


def make_app() -> FastAPI:
    # Everything else from VANPLAN_* environment variables.
    app = create_app(Settings(pages=PageSettings(tiles_url=None)))
    now = os.environ.get("VANPLAN_TEST_NOW")
    if now:
        fixed = datetime.fromisoformat(now)
        app.state.clock = lambda: fixed
    return app
