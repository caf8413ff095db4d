"""The dispatcher page's slot offers form: what was asked, the answer and its problems, and the
request models (:mod:`api.schemas.offers`) read from the form's fields. The work itself is the
API's (:func:`api.offers.week_offers`, :func:`api.offers.book`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.core_models import ClientRow
from api.forms import FormError, Problem, form_model, items
from api.i18n import N_
from api.schemas.offers import BookIn, OffersIn, OffersOut
from geo.view import ClientDisplay

OFFERS_SHOWN = 5
"""Slots the page lists (at most one per van-day)."""


@dataclass(frozen=True)
class OfferAsk:
    """The form as sent (shown again with the answer, and sent along by every Book button)."""

    client_id: str = ""
    duration_minutes: str = "45"
    skills: str = ""
    dates: tuple[str, ...] = ()

    def visit(self) -> dict[str, object]:
        """The new visit as :class:`api.schemas.offers.OfferVisitIn` data (field names kept, so
        a refusal names the form's field)."""
        return {
            "client_id": self.client_id.strip() or None,
            "duration_minutes": self.duration_minutes.strip() or None,
            "skills": items(self.skills),
            "dates": list(self.dates) or None,
        }


@dataclass(frozen=True)
class OffersForm:
    """The offers card's state: the ask, the API's answer, problems, the visit just booked."""

    ask: OfferAsk = field(default_factory=OfferAsk)
    answer: OffersOut | None = None
    errors: Sequence[str] = ()
    booked: str | None = None
    why: str | None = None  # no slot: the reason in the page's language


def offers_in(ask: OfferAsk) -> OffersIn:
    """The offers request of the form; :class:`api.forms.FormError` naming the field."""
    if not ask.client_id.strip():
        raise FormError([Problem("client_id", N_("choose a client"))])
    return form_model(OffersIn, {**ask.visit(), "limit": OFFERS_SHOWN, "per_van_day": 1})


def book_in(ask: OfferAsk, van_id: str, day: str, start: str, plan_id: str) -> BookIn:
    """The booking of one offered slot (the same visit as asked for)."""
    slot = {"plan_id": plan_id or None, "van_id": van_id, "date": day, "start": start}
    return form_model(BookIn, {"visit": ask.visit(), "slot": slot})


def offer_clients(
    session: Session, display: ClientDisplay, pseudonym: str = "Client %(id)s"
) -> list[tuple[str, str]]:
    """(id, label) of the clients a visit can be offered for (not erased, with a position or an
    address), labelled as the pages show clients: the name only when ``display`` asks for it,
    else ``pseudonym`` (with ``%(id)s``)."""
    rows = session.scalars(
        select(ClientRow).where(ClientRow.erased_at.is_(None)).order_by(ClientRow.id)
    )
    out = []
    for c in rows:
        if (c.lon is None or c.lat is None) and not c.address:
            continue
        name = c.name if display is ClientDisplay.NAME and c.name else None
        out.append((c.id, f"{name} ({c.id})" if name else pseudonym % {"id": c.id}))
    return out


def week_days(start: date, days: int) -> list[date]:
    return [date.fromordinal(start.toordinal() + d) for d in range(days)]
