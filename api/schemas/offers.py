"""Request and response models of the slot offers: ``POST /v1/weeks/{iso_week}/offers`` (the
best bookable slots for a new visit) and ``POST /v1/weeks/{iso_week}/offers/book`` (book one).

Times are ISO-8601 with the zone of the week's plan; the answer's ``slot`` of each offer is what
the booking sends back.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.core import VisitOut
from api.schemas.planning import AwareDatetime, Identifier, Place, PlanVersionSummary, Window

_EXAMPLE_VISIT: dict[str, Any] = {
    "client_id": "c1",
    "duration_minutes": 45,
    "skills": [],
    "dates": ["2026-11-23", "2026-11-24"],
    "windows": [
        {"start": "2026-11-23T09:00:00+01:00", "end": "2026-11-23T15:00:00+01:00"},
        {"start": "2026-11-24T09:00:00+01:00", "end": "2026-11-24T12:00:00+01:00"},
    ],
}
_EXAMPLE_SLOT: dict[str, Any] = {
    "plan_id": "0f3c9d6a2b8e4f1d9c7a5b3e1d2f4a6c",
    "van_id": "van-1",
    "date": "2026-11-23",
    "start": "2026-11-23T10:12:00+01:00",
}


class OfferVisitIn(BaseModel):
    """The new visit: whose (``client_id``) and where (the client's place unless ``place``), how
    long, which skills, and when the client can (``dates`` and/or ``windows``; omitted: any day
    of the week, any time inside a shift)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_VISIT]})

    client_id: Identifier | None = Field(
        default=None, description="A stored client; gives the place unless ``place`` is set."
    )
    place: Place | None = Field(default=None, description="Default: the client's place.")
    duration_minutes: int = Field(gt=0, le=600)
    skills: list[Identifier] = Field(default_factory=list, max_length=20)
    dates: list[dt.date] | None = Field(
        default=None, max_length=7, description="Days the client can do; omitted: any."
    )
    windows: list[Window] = Field(
        default_factory=list,
        max_length=14,
        description="Times the client can do (the whole visit inside one); empty: any time.",
    )

    @model_validator(mode="after")
    def _somewhere(self) -> OfferVisitIn:
        if self.client_id is None and self.place is None:
            raise ValueError("give client_id (the client's place) or place")
        return self


class OffersIn(OfferVisitIn):
    """The new visit and how many offers to return."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{**_EXAMPLE_VISIT, "limit": 3}]}
    )

    limit: int = Field(default=5, ge=1, le=20, description="Offers to return at most.")
    per_van_day: int = Field(
        default=1, ge=1, le=5, description="Offers from one van on one day at most."
    )


class SlotIn(BaseModel):
    """The slot to book, as an offer's ``slot`` gives it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_SLOT]})

    plan_id: str | None = Field(
        default=None,
        max_length=32,
        description="The plan version the offer came from (informative: the booking checks the"
        " slot against the newest version).",
    )
    van_id: Identifier
    date: dt.date
    start: AwareDatetime = Field(description="Start of the visit (service) as offered.")


class BookIn(BaseModel):
    """Book an offered slot: the same visit as asked for, the offer's ``slot``, optionally the id
    the new visit gets (default: generated)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"id": "visit-new-1", "visit": _EXAMPLE_VISIT, "slot": _EXAMPLE_SLOT}]
        },
    )

    id: Identifier | None = None
    visit: OfferVisitIn
    slot: SlotIn

    @model_validator(mode="after")
    def _client(self) -> BookIn:
        if self.visit.client_id is None:
            raise ValueError("a booked visit belongs to a client: give visit.client_id")
        return self


class OfferOut(BaseModel):
    """One bookable slot, feasible with every visit of the plan version."""

    rank: int = Field(description="1 is the best (least added drive time).")
    van_id: str
    van_name: str
    date: dt.date
    arrival: datetime
    start: datetime
    end: datetime
    added_drive_seconds: int
    added_distance_m: int
    previous_visit_id: str | None = Field(description="The stop before; null: the depot.")
    next_visit_id: str | None = Field(description="The stop after; null: the depot.")
    stops_moved: list[str] = Field(
        description="Planned visits of that van-day whose start moves later with this booking."
    )
    slot: SlotIn = Field(description="Send this back to book the offer.")


class OffersOut(BaseModel):
    """The best offers, cheapest first; when there is none, ``reason`` and ``message`` say why."""

    week: str
    plan_id: str
    plan_version: int
    timezone: str
    offers: list[OfferOut]
    reason: str | None = Field(
        default=None, description="Reason code when no slot fits (no_room, no_skilled_van, ...)."
    )
    message: str | None = None
    evaluated: int = Field(description="Insertion positions tried.")
    feasible: int = Field(description="Van-day positions kept before the limit was applied.")


class BookingOut(BaseModel):
    """The booked visit (stored, pinned to the van and date, its window the booked time) and the
    new draft plan version with the visit in it."""

    visit: VisitOut
    offer: OfferOut
    plan: PlanVersionSummary
