"""App factory for the browser tests' uvicorn server: the API plus the pages, no map tiles
(the test machine has no network; the routes must show without tiles)."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.settings import PageSettings, Settings


def make_app() -> FastAPI:
    # Everything else from VANPLAN_* environment variables.
    return create_app(Settings(pages=PageSettings(tiles_url=None)))
