"""HTTP routers; assembled by api.app.create_app under /v1."""
