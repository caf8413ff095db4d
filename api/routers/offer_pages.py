"""The dispatcher page's slot offers form: ask for the best slots for a new visit and book one,
through the API's own service functions (:func:`api.offers.week_offers`, :func:`api.offers.book`).

Asking shows the week again with the offers (a refusal: with every problem, naming the field,
and the API's status). Booking stores the visit pinned to the slot and a new draft version, then
opens that version with the booked visit named and marked (post/redirect/get).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api import offers
from api.deps import SessionDep
from api.errors import ApiError
from api.forms import FormError, refusal
from api.offer_form import OfferAsk, OffersForm, book_in, offers_in
from api.reasons import reason_message
from api.routers import pages
from api.routers.page_forms import dispatcher_principal, status_of
from api.routers.solve import PlannerDep

router = APIRouter(include_in_schema=False)

WEEK = r"^\d{4}-W\d{2}$"


@router.post("/dispatcher/offers", response_model=None)
def ask_offers(
    request: Request,
    session: SessionDep,
    planner: PlannerDep,
    week: Annotated[str, Form(pattern=WEEK)],
    client_id: Annotated[str, Form()] = "",
    duration_minutes: Annotated[str, Form()] = "",
    skills: Annotated[str, Form()] = "",
    dates: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The best slots (at most one per van-day) for the visit described by the form."""
    principal = dispatcher_principal(request, session)
    if isinstance(principal, Response):
        return principal
    ask = OfferAsk(client_id, duration_minutes, skills, tuple(dates or ()))
    try:
        answer = offers.week_offers(session, planner, week, offers_in(ask))
    except (ApiError, FormError) as exc:
        session.rollback()
        form = OffersForm(ask, errors=refusal(exc, pages._language(request)))
        return pages._dispatcher(
            request, session, principal, week, None, offers=form, status_code=status_of(exc)
        )
    why = None
    if not answer.offers and answer.reason:
        why = reason_message(answer.reason, pages._language(request), answer.message or "")
    form = OffersForm(ask, answer, why=why)
    return pages._dispatcher(request, session, principal, week, None, offers=form)


@router.post("/dispatcher/offers/book", response_model=None)
def book_offer(
    request: Request,
    session: SessionDep,
    planner: PlannerDep,
    week: Annotated[str, Form(pattern=WEEK)],
    van_id: Annotated[str, Form()],
    day: Annotated[str, Form()],
    start: Annotated[str, Form()],
    client_id: Annotated[str, Form()] = "",
    duration_minutes: Annotated[str, Form()] = "",
    skills: Annotated[str, Form()] = "",
    dates: Annotated[list[str] | None, Form()] = None,
    plan_id: Annotated[str, Form()] = "",
) -> Response:
    """Book an offered slot; the page then shows the new draft version with the visit in it.
    A slot taken meanwhile: the week again with the reason (409)."""
    principal = dispatcher_principal(request, session)
    if isinstance(principal, Response):
        return principal
    ask = OfferAsk(client_id, duration_minutes, skills, tuple(dates or ()))
    try:
        booking = offers.book(session, planner, week, book_in(ask, van_id, day, start, plan_id))
        session.commit()
    except (ApiError, FormError) as exc:
        session.rollback()
        form = OffersForm(ask, errors=refusal(exc, pages._language(request)))
        return pages._dispatcher(
            request, session, principal, week, None, offers=form, status_code=status_of(exc)
        )
    target = (
        f"/dispatcher?week={quote(week)}&plan={quote(booking.version.id)}"
        f"&booked={quote(booking.visit.id)}#timeline-card"
    )
    return RedirectResponse(target, status_code=303)
