"""What every form of the dispatcher pages does around its work: only a logged-in dispatcher may
send it; the work runs through the JSON API's handlers; a success redirects (post/redirect/get),
a refusal shows the page again with every problem in the page's language, naming the field
(:func:`api.forms.refusal`), with the API's status (422, 404, 409)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from api.auth import Principal, Role
from api.errors import ApiError
from api.forms import FormError, refusal
from api.routers import pages

T = TypeVar("T")


def dispatcher_principal(request: Request, session: Session) -> Principal | Response:
    """The logged-in dispatcher, else the login page (303) or a refusal (403)."""
    principal = pages._principal(request, session)
    if principal is None:
        return pages._login_redirect(request)
    if principal.role is not Role.DISPATCHER:
        message = pages._language(request).gettext(
            "Only dispatchers edit vans, shifts, clients and visits."
        )
        return pages._error(request, 403, message)
    return principal


def status_of(exc: ApiError | FormError) -> int:
    return exc.status_code if isinstance(exc, ApiError) else 422


def submit(
    request: Request,
    session: Session,
    action: Callable[[Principal], T],
    success: str | Callable[[T], str],
    refused: Callable[[Principal, list[str], int], Response],
) -> Response:
    """Run ``action`` as the logged-in dispatcher; then redirect (303) to ``success`` (or to
    ``success(result)``, e.g. naming a created id), or, when the form or the API refuses it,
    answer ``refused(principal, problems, status)``."""
    principal = dispatcher_principal(request, session)
    if isinstance(principal, Response):
        return principal
    try:
        result = action(principal)
    except (ApiError, FormError) as exc:
        session.rollback()
        lines = refusal(exc, pages._language(request))
        return refused(principal, lines, status_of(exc))
    target = success if isinstance(success, str) else success(result)
    return RedirectResponse(target, status_code=303)
