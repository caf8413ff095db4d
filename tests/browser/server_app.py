"""App factory for the browser tests' uvicorn server: the API plus the pages, no map tiles
(the test machine has no network; the routes must show without tiles)."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.routers.pages import PageSettings, install


def make_app() -> FastAPI:
    app = create_app()  # settings from VANPLAN_* environment variables
    install(app, PageSettings(tiles_url=None))
    return app
