"""Appointment slot offers on a stored week: ask for the best slots for a new visit, book one.

Dispatchers (the page) and other systems (role ``system``) may ask and book. See
:mod:`api.offers` for what is computed and :mod:`optimizer.offers` for the rules a slot keeps.
"""

from __future__ import annotations

import logging
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, status

from api import offers
from api.deps import SessionDep, SettingsDep, SolveCaller
from api.errors import error_responses
from api.routers.plans import version_summary
from api.routers.resources import visit_out
from api.routers.solve import PlannerDep
from api.schemas.offers import BookIn, BookingOut, OffersIn, OffersOut

log = logging.getLogger(__name__)

router = APIRouter(tags=["offers"])

WeekPath = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W48")]


@router.post(
    "/weeks/{iso_week}/offers",
    response_model=OffersOut,
    summary="The best bookable slots for a new visit (ranked by added drive time)",
    responses=error_responses(401, 403, 409, 422),
)
def week_offers(
    iso_week: WeekPath,
    body: OffersIn,
    _caller: SolveCaller,
    session: SessionDep,
    planner: PlannerDep,
) -> OffersOut:
    """Try the new visit at every position of every van-day of the week's newest plan version
    that may serve it (skills, the days and times the client can do, shifts, breaks, maximum
    working time, the windows of the visits after it) and return the ``limit`` cheapest by added
    drive time, at most ``per_van_day`` from one van on one day. Planned visits never move
    earlier; confirmed ones keep their times. No slot: ``offers`` is empty and ``reason`` and
    ``message`` say why. 409 ``no_plan`` when the week has not been planned yet."""
    return offers.week_offers(session, planner, iso_week, body)


@router.post(
    "/weeks/{iso_week}/offers/book",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingOut,
    summary="Book an offered slot: store the visit pinned to it and a new draft plan version",
    responses=error_responses(401, 403, 409, 422),
)
def book_offer(
    iso_week: WeekPath,
    body: BookIn,
    _caller: SolveCaller,
    session: SessionDep,
    settings: SettingsDep,
    planner: PlannerDep,
) -> BookingOut:
    """Check the slot (an offer's ``slot``) against the week's newest plan version, store the
    visit (pinned to the van and date, its window the booked time) and a new draft version with
    the visit inserted and confirmed. 409 ``slot_unavailable`` when the slot no longer fits (the
    week changed meanwhile): ask for offers again."""
    booking = offers.book(session, planner, iso_week, body)
    session.commit()
    return BookingOut(
        visit=visit_out(booking.visit, ZoneInfo(settings.timezone)),
        offer=booking.offer,
        plan=version_summary(booking.version),
    )
