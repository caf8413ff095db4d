"""API errors and their mapping to the error body ``{code, message, details}``.

Routes raise :class:`ApiError` subclasses; the handlers installed by :func:`install_handlers` turn
those, request validation errors, optimizer validation errors and database conflicts into the one
error body. Field paths look like ``body.windows[0].end`` or ``path.van_id``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from optimizer.errors import ValidationError as OptimizerValidationError

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. body.windows[0].end")
    message: str = Field(description="Human-readable problem (English)")
    reason: str | None = Field(
        default=None,
        description="Stable machine-readable cause where the API names one (e.g. the refused "
        "pin's `pin_no_shift`); the pages show their own translation of `code` and `reason`. "
        "Left out when there is none.",
    )


class ErrorBody(BaseModel):
    """Body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "validation_error",
                    "message": "1 problem in the request",
                    "details": [{"field": "body.duration_minutes", "message": "must be > 0"}],
                }
            ]
        }
    )

    code: str = Field(description="Stable machine-readable error code")
    message: str = Field(description="Human-readable summary")
    details: list[ErrorDetail] = Field(default_factory=list)


class ApiError(Exception):
    """An error with an HTTP status; ``details`` lists ``(field, message)`` pairs, or
    ``(field, message, reason)`` with a stable reason code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        details: Iterable[tuple[str, str] | tuple[str, str, str]] = (),
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = [
            ErrorDetail(field=d[0], message=d[1], reason=d[2] if len(d) > 2 else None)
            for d in details
        ]
        if code is not None:
            self.code = code
        self.headers = headers

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message, details=self.details)


class InvalidInputError(ApiError):
    status_code = 422
    code = "validation_error"


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"


class ConflictError(ApiError):
    status_code = 409
    code = "conflict"


class UnauthorizedError(ApiError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "a valid bearer token is required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ForbiddenError(ApiError):
    status_code = 403
    code = "forbidden"


class PayloadTooLargeError(ApiError):
    status_code = 413
    code = "payload_too_large"


class TooManySolvesError(ApiError):
    """Every synchronous solve slot is taken (:mod:`api.solve_slots`); carries Retry-After."""

    status_code = 429
    code = "too_many_solves"


def not_found(kind: str, ident: str, field: str = "path.id") -> NotFoundError:
    return NotFoundError(f"{kind} {ident!r} not found", [(field, f"unknown {kind} id")])


def check_sync_time_limit(limit: float | None, cap: float, field: str, job_endpoint: str) -> None:
    """Refuse (422) a synchronous solve asking for more than ``cap`` seconds (the service's
    ``VANPLAN_SYNC_SOLVE_TIME_LIMIT``): longer searches belong to ``job_endpoint``."""
    if limit is not None and limit > cap:
        raise InvalidInputError(
            f"time limit {limit:g} s is longer than the {cap:g} s of a synchronous solve; "
            f"submit it to {job_endpoint} instead",
            [(field, f"at most {cap:g} s here")],
        )


def loc_to_path(loc: Sequence[int | str]) -> str:
    """``("body", "windows", 0, "end")`` -> ``body.windows[0].end``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _plural(n: int) -> str:
    return f"{n} problem{'s' if n != 1 else ''}"


def error_response(
    status: int, body: ErrorBody, headers: dict[str, str] | None = None
) -> JSONResponse:
    # exclude_none: a detail without a reason code has no ``reason`` key.
    return JSONResponse(
        status_code=status, content=body.model_dump(exclude_none=True), headers=headers
    )


def clean_message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    # pydantic prefixes messages from our own validators with "Value error, ".
    return message.removeprefix("Value error, ")


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.body(), exc.headers)


async def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    details = [
        ErrorDetail(field=loc_to_path(e.get("loc", ())), message=clean_message(e)) for e in errors
    ]
    body = ErrorBody(
        code="validation_error", message=f"{_plural(len(details))} in the request", details=details
    )
    return error_response(422, body)


async def _optimizer_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OptimizerValidationError)
    details = [ErrorDetail(field=i.field, message=i.message) for i in exc.issues]
    body = ErrorBody(
        code="validation_error", message=f"{_plural(len(details))} in the input", details=details
    )
    return error_response(422, body)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (e.g. a body that is not UTF-8): bad input, a 422
        # like every other, so each operation's documented statuses hold.
        body = ErrorBody(
            code="validation_error",
            message="1 problem in the request",
            details=[ErrorDetail(field="body", message=str(exc.detail))],
        )
        return error_response(422, body)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
    code = codes.get(exc.status_code, "http_error")
    body = ErrorBody(code=code, message=str(exc.detail))
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        # Starlette names the methods of one matching route only; a path's operations may be
        # spread over several (GET and POST /v1/vans). Answer what the schema documents.
        documented = documented_methods(request.app.openapi(), request.url.path)
        if documented:
            headers["Allow"] = ", ".join(documented)
    return error_response(exc.status_code, body, headers or None)


def documented_methods(openapi: dict[str, Any], path: str) -> list[str]:
    """The methods the OpenAPI document lists for the concrete ``path`` (upper case, sorted)."""
    methods: set[str] = set()
    for template, operations in openapi.get("paths", {}).items():
        parts = re.split(r"\{[^}]+\}", template)
        pattern = "[^/]+".join(re.escape(part) for part in parts)
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in operations if m in _HTTP_METHODS}
    return sorted(methods)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # Backstop for races the routes' own checks cannot see (e.g. two creates with one id).
    logger.info("integrity error mapped to 409: %s", type(exc).__name__)
    body = ErrorBody(code="conflict", message="the change conflicts with stored data")
    return error_response(409, body)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    body = ErrorBody(code="internal_error", message="internal server error")
    return error_response(500, body)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(OptimizerValidationError, _optimizer_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def document_errors(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the handlers do, for every operation (in place):

    - every error status (4xx/5xx) answers ``application/json`` with :class:`ErrorBody` (also
      for the HTML pages and the map, and instead of FastAPI's own ``HTTPValidationError``);
    - an operation with a request body may answer 413 (the app's body-size limit) and 422.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    assert "ErrorBody" in schemas, "no operation documents the error body"
    content = {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for status in (413, 422):
                    responses.setdefault(
                        str(status), {"description": _ERROR_TEXT.get(status, "Error")}
                    )
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = dict(content)
    # FastAPI's default 422 models are replaced everywhere by ErrorBody.
    text = str(openapi["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            schemas.pop(unused, None)
    return openapi


_ERROR_TEXT = {
    401: "Missing, unknown or revoked token",
    403: "The token's role may not do this",
    404: "Unknown id",
    409: "Conflicting change",
    413: "Request too large",
    429: "Too many synchronous solves at once: retry after Retry-After seconds or use the job",
    422: "Invalid input (every problem listed with its field path)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error body for ``statuses`` (see also
    :func:`document_errors`, which the app applies to the whole document)."""
    return {s: {"model": ErrorBody, "description": _ERROR_TEXT.get(s, "Error")} for s in statuses}
