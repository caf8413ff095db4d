"""The log redactor masks personal values as whole words, never protocol tokens, and masks
caller-chosen client ids in request paths."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.logging import MASK, PersonalDataFilter, Redactor

Headers = dict[str, str]
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access-log message


def _access_line(redactor: Redactor, method: str, path: str, status: int = 200) -> str:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        ACCESS_FORMAT,
        ("127.0.0.1:50312", method, path, "1.1", status),
        None,
    )
    assert PersonalDataFilter(redactor).filter(record)
    return record.getMessage()


def test_protocol_words_as_names_leave_access_lines_readable() -> None:
    redactor = Redactor()
    redactor.add("HTTP", "Post", "GET", "Options", "https")
    for method in ("GET", "POST", "OPTIONS"):
        line = _access_line(redactor, method, "/v1/solve")
        assert line == f'127.0.0.1:50312 - "{method} /v1/solve HTTP/1.1" 200'
    assert redactor.redact("tiles from https://tile.example.org") == (
        "tiles from https://tile.example.org"
    )
    # Elsewhere the same words are masked like any other known name.
    assert redactor.redact("letter to Post / Options, http") == f"letter to {MASK} / {MASK}, {MASK}"


def test_known_values_are_masked_as_whole_words_only() -> None:
    redactor = Redactor()
    redactor.add("Anna", "Erika Mustermann")
    text = redactor.redact("anna, Annabel, Johanna and ERIKA MUSTERMANN.")
    assert text == f"{MASK}, Annabel, Johanna and {MASK}."


def test_client_ids_in_paths_and_queries_are_masked() -> None:
    redactor = Redactor()
    line = _access_line(redactor, "POST", "/v1/clients/erika-mustermann/erase")
    assert line == f'127.0.0.1:50312 - "POST /v1/clients/{MASK}/erase HTTP/1.1" 200'
    line = _access_line(redactor, "GET", "/v1/visits?client_id=erika.m&limit=5")
    assert line == f'127.0.0.1:50312 - "GET /v1/visits?client_id={MASK}&limit=5 HTTP/1.1" 200'
    # Other ids stay: they are the service's own or a van's.
    assert _access_line(redactor, "GET", "/v1/vans/van-1") == (
        '127.0.0.1:50312 - "GET /v1/vans/van-1 HTTP/1.1" 200'
    )


def test_a_client_called_http_does_not_blank_the_access_log(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    body = {"id": "erika-mustermann", "name": "HTTP", "notes": "Post"}
    assert client.post("/v1/clients", json=body, headers=dispatcher).status_code == 201
    redactor: Redactor = app.state.redactor
    line = _access_line(redactor, "GET", "/v1/clients/erika-mustermann")
    assert line == f'127.0.0.1:50312 - "GET /v1/clients/{MASK} HTTP/1.1" 200'
    assert redactor.redact("the client HTTP called") == f"the client {MASK} called"
