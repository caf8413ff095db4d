"""The error body {code, message, details} for every kind of failure; CORS and size limits."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from api.logging import MASK, PersonalDataFilter, RedactingFormatter, Redactor
from api.settings import Settings
from optimizer.errors import Issue, ValidationError

Headers = dict[str, str]


def assert_error_body(body: dict[str, object], code: str) -> None:
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]


def test_unknown_route_and_method(client: TestClient, dispatcher: Headers) -> None:
    r = client.get("/v1/nothing-here", headers=dispatcher)
    assert r.status_code == 404
    assert_error_body(r.json(), "not_found")
    r = client.put("/v1/vans", headers=dispatcher)
    assert r.status_code == 405
    assert_error_body(r.json(), "method_not_allowed")


def test_method_not_allowed_names_the_documented_methods(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    paths = app.openapi()["paths"]
    for path, concrete in [
        ("/v1/vans", "/v1/vans"),
        ("/v1/vans/{van_id}", "/v1/vans/van-9"),
        ("/v1/clients/{client_id}/erase", "/v1/clients/c9/erase"),
    ]:
        documented = sorted(m.upper() for m in paths[path])
        for method in ("OPTIONS", "TRACE"):
            r = client.request(method, concrete, headers=dispatcher)
            assert r.status_code == 405, (method, concrete)
            assert_error_body(r.json(), "method_not_allowed")
            assert r.headers["allow"].split(", ") == documented, concrete


def test_every_error_status_is_documented_with_the_error_body(app: FastAPI) -> None:
    ref = "#/components/schemas/ErrorBody"
    schema = app.openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), f"{method} {path}"
            for status, response in responses.items():
                if status[0] in "45":
                    assert response["content"] == {"application/json": {"schema": {"$ref": ref}}}, (
                        f"{method} {path} {status}"
                    )


def test_an_unreadable_body_is_a_422(client: TestClient, dispatcher: Headers) -> None:
    r = client.post(
        "/v1/clients",
        content=b"\x19\xff\xfeM",  # not UTF-8: FastAPI's own 400 "error parsing the body"
        headers={**dispatcher, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert_error_body(r.json(), "validation_error")
    assert [d["field"] for d in r.json()["details"]] == ["body"]


def test_malformed_json_names_the_body(client: TestClient, dispatcher: Headers) -> None:
    r = client.post(
        "/v1/vans",
        content=b'{"name": "A",',
        headers={**dispatcher, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert_error_body(r.json(), "validation_error")
    assert r.json()["details"][0]["field"].startswith("body")


def test_bad_path_id_and_query(client: TestClient, dispatcher: Headers) -> None:
    r = client.get("/v1/vans/bad id!", headers=dispatcher)
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["details"]] == ["path.van_id"]
    r = client.get("/v1/visits?status=done", headers=dispatcher)
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["details"]] == ["query.status"]


def test_nul_bytes_and_far_dates_are_input_errors(client: TestClient, dispatcher: Headers) -> None:
    r = client.post("/v1/clients", json={"name": "a\x00b"}, headers=dispatcher)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "body.name"
    client.post("/v1/vans", json={"id": "v", "name": "A"}, headers=dispatcher)
    r = client.post(
        "/v1/vans/v/shifts",
        json={"start": "0001-01-01T00:00:00+01:00", "end": "9999-12-31T23:00:00-01:00"},
        headers=dispatcher,
    )
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"body.start", "body.end"}


@pytest.fixture
def raising_client(app: FastAPI) -> Iterator[TestClient]:
    """The app plus three routes that raise what deeper layers may raise."""

    @app.get("/test/optimizer")
    def optimizer_error() -> None:
        raise ValidationError(
            [Issue("visits[2].windows[0]", "outside the horizon"), Issue("vans", "x")]
        )

    @app.get("/test/integrity")
    def integrity() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    @app.get("/test/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_deeper_errors_map_to_the_body(raising_client: TestClient) -> None:
    r = raising_client.get("/test/optimizer")
    assert r.status_code == 422
    assert_error_body(r.json(), "validation_error")
    assert r.json()["details"] == [
        {"field": "visits[2].windows[0]", "message": "outside the horizon"},
        {"field": "vans", "message": "x"},
    ]
    r = raising_client.get("/test/integrity")
    assert r.status_code == 409
    assert_error_body(r.json(), "conflict")
    r = raising_client.get("/test/bug")
    assert r.status_code == 500
    assert_error_body(r.json(), "internal_error")
    assert "secret" not in r.text


def _small_app(database_url: str, **kw: object) -> FastAPI:
    return create_app(Settings(database_url=database_url, **kw))  # type: ignore[arg-type]


def test_request_size_limit(database_url: str) -> None:
    app = _small_app(database_url, max_body_bytes=1024)
    with TestClient(app) as client:
        big = {"name": "x" * 2000}
        r = client.post("/v1/vans", json=big)
        assert r.status_code == 413
        assert_error_body(r.json(), "payload_too_large")

        # A chunked body (no Content-Length) is counted while it arrives.
        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b"x" * 100

        r = client.post("/v1/vans", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        # Small bodies pass through untouched (here: to the auth check).
        assert client.post("/v1/vans", json={"name": "A"}).status_code == 401


def test_cors_allows_only_configured_origins(database_url: str) -> None:
    app = _small_app(database_url, cors_origins=["https://dispo.example"])
    with TestClient(app) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        r = client.options("/v1/vans", headers={"Origin": "https://dispo.example", **preflight})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://dispo.example"
        r = client.options("/v1/vans", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in r.headers
        assert r.status_code == 403  # with the error body, not a plain-text 400
        assert_error_body(r.json(), "cors_refused")
        r = client.get("/health", headers={"Origin": "https://dispo.example"})
        assert r.headers["access-control-allow-origin"] == "https://dispo.example"


def test_no_cors_headers_by_default(client: TestClient) -> None:
    r = client.get("/health", headers={"Origin": "https://dispo.example"})
    assert "access-control-allow-origin" not in r.headers


# --- logs without personal data -------------------------------------------------------------


def test_redactor_masks_known_values_and_address_shapes() -> None:
    redactor = Redactor()
    redactor.add("Erika Mustermann", None, "ab")  # None and very short values are ignored
    text = redactor.redact(
        "visit for erika mustermann at Bahnhofstr. 7a, 64720 Michelstadt; van-1 at 08:00 ab"
    )
    assert text == f"visit for {MASK} at {MASK}, {MASK}; van-1 at 08:00 ab"


def test_app_teaches_its_redactor_and_records_are_masked(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    body = {"id": "c1", "name": "Zacharias Quellenhof", "address": "Am Anger 3, Bad König"}
    assert client.post("/v1/clients", json=body, headers=dispatcher).status_code == 201
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PersonalDataFilter(app.state.redactor))
    handler.setFormatter(RedactingFormatter("%(message)s", redactor=app.state.redactor))
    log = logging.getLogger("vanplan.test.redaction")
    log.addHandler(handler)
    try:
        log.warning("client %s moved to %s", "Zacharias Quellenhof", "Am Anger 3, Bad König")
        try:
            raise ValueError("no route to Zacharias Quellenhof")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    assert "Zacharias" not in output and "Am Anger" not in output
    assert f"client {MASK} moved to {MASK}" in output and "ValueError" in output


def test_a_restarted_app_knows_the_stored_names(settings: Settings, dispatcher: Headers) -> None:
    # ``dispatcher`` started the first app and stored the token; a new app learns names at startup.
    first = create_app(settings)
    with TestClient(first) as c:
        c.post("/v1/clients", json={"id": "c2", "name": "Quirina Vogelsang"}, headers=dispatcher)
    second = create_app(settings)
    with TestClient(second):
        assert second.state.redactor.redact("Quirina Vogelsang") == MASK
