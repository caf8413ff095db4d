"""Request and response models of the dispatcher's resources: vans, shifts (with crews), clients,
visits (appointments) and recurring consultation hours.

Conventions: snake_case; times ISO-8601 with a zone (answers in the service zone, Europe/Berlin);
coordinates ``[lon, lat]``; unknown fields are rejected; every string is bounded and free of control
characters. ``*Create`` bodies create, ``*Patch`` bodies change only the fields they contain.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from api.i18n import N_
from api.recurrence import Recurrence, session_days
from optimizer.domain import MAX_COST_PER_HOUR, MAX_COST_PER_KM, MAX_PRIORITY, MAX_YEAR, MIN_YEAR

# --- shared pieces ----------------------------------------------------------------------------

# No C0 control characters except tab/newline (PostgreSQL rejects NUL; logs should stay clean).
_PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_PRINTABLE_LINE = r"^[^\x00-\x1f\x7f]*$"

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"),
    Field(description="Letters, digits, '_', '.', '-'; at most 64", examples=["van-1"]),
]
Skill = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}(:[a-z0-9][a-z0-9_\-]{0,39})?$"),
    Field(
        description="Lower-case skill name, optionally with a namespace: 'lang:ar', 'team:u25', "
        "'wheelchair'",
        examples=["lang:ar"],
    ),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE_LINE),
]
Address = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=_PRINTABLE_LINE),
]
Notes = Annotated[str, StringConstraints(max_length=4000, pattern=_PRINTABLE)]
Language = Annotated[
    str,
    # 35 characters: the longest tag RFC 5646 asks implementations to keep (and the column's size).
    StringConstraints(max_length=35, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
    Field(description="BCP 47 language tag, at most 35 characters", examples=["de", "ar", "uk"]),
]
PHONE_MESSAGE = N_(
    "a phone number: digits, spaces and ( ) / - only, an optional leading +, 5 to 15 digits"
)


def normalise_phone(value: str) -> str:
    """A phone number as people write it (``+49 6062 70-0``, ``06062 / 700``), spaces
    collapsed; 5 to 15 digits (E.164 allows 15)."""
    text = " ".join(value.split())
    digits = sum(c.isdigit() for c in text)
    if not re.fullmatch(r"\+?[0-9 ()/.\-]+", text) or not 5 <= digits <= 15:
        raise ValueError(PHONE_MESSAGE)
    return text


Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(normalise_phone),
    Field(
        description="Phone number: digits, spaces, ( ) / - and a leading +; 5 to 15 digits",
        examples=["+49 6062 70-0"],
    ),
]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
LonLat = Annotated[
    tuple[Lon, Lat], Field(description="[lon, lat], WGS84", examples=[[8.9923, 49.6580]])
]


def aware_in_range(value: datetime) -> datetime:
    """An aware datetime in the years the domain plans (:data:`optimizer.domain.MIN_YEAR`..)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(N_("needs a time zone, e.g. 2026-11-23T08:00:00+01:00"))
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be {MIN_YEAR}..{MAX_YEAR}")
    return value


def date_in_range(value: date) -> date:
    """A date in the years the domain plans (:data:`optimizer.domain.MIN_YEAR`..)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be {MIN_YEAR}..{MAX_YEAR}")
    return value


def _wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local wall-clock time without zone, e.g. 09:30")
    return value


Moment = Annotated[
    datetime,
    AfterValidator(aware_in_range),
    Field(description="ISO-8601 with zone", examples=["2026-11-23T08:00:00+01:00"]),
]
Day = Annotated[date, AfterValidator(date_in_range)]
WallClock = Annotated[time, AfterValidator(_wall_clock), Field(examples=["09:00"])]


def _unique_sorted(values: list[str]) -> list[str]:
    return sorted(set(values))


Skills = Annotated[list[Skill], Field(max_length=20), AfterValidator(_unique_sorted)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items`` from ``offset``, ``total`` matching items in all."""

    items: list[T]
    total: int
    limit: int
    offset: int


# --- vans -------------------------------------------------------------------------------------


class VanCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "van-1",
                    "name": "Mobiles Büro 1",
                    "skills": ["arabic", "wheelchair"],
                    "cost_per_hour": 30.0,
                    "cost_per_km": 0.35,
                }
            ]
        },
    )

    id: Identifier | None = Field(
        default=None, description="Chosen by the caller; default: generated"
    )
    name: Name
    skills: Skills = Field(default_factory=list)
    base: LonLat | None = Field(
        default=None, description="Start and end of routes; default: the base"
    )
    cost_per_hour: float = Field(default=30.0, ge=0, le=MAX_COST_PER_HOUR)
    cost_per_km: float = Field(default=0.35, ge=0, le=MAX_COST_PER_KM)


class VanPatch(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"skills": []}]})

    name: Name | None = None
    skills: Skills | None = None
    base: LonLat | None = None
    cost_per_hour: float | None = Field(default=None, ge=0, le=MAX_COST_PER_HOUR)
    cost_per_km: float | None = Field(default=None, ge=0, le=MAX_COST_PER_KM)


class VanOut(_Out):
    id: str
    name: str
    skills: list[str]
    base: LonLat | None
    cost_per_hour: float
    cost_per_km: float
    created_at: datetime
    updated_at: datetime


# --- shifts -----------------------------------------------------------------------------------

MAX_SHIFT = timedelta(hours=16)


class ShiftCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-11-23T08:00:00+01:00",
                    "end": "2026-11-23T16:00:00+01:00",
                    "crew": ["A. Becker", "M. Yilmaz"],
                }
            ]
        },
    )

    id: Identifier | None = None
    start: Moment
    end: Moment
    crew: list[Name] = Field(default_factory=list, max_length=8, description="Staff on board")
    max_work_minutes: int | None = Field(default=None, gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _ordered(self) -> ShiftCreate:
        if self.end <= self.start:
            raise ValueError(N_("end must be after start"))
        if self.end - self.start > MAX_SHIFT:
            raise ValueError(N_("a shift lasts at most 16 hours"))
        return self


class ShiftPatch(_In):
    start: Moment | None = None
    end: Moment | None = None
    crew: list[Name] | None = Field(default=None, max_length=8)
    max_work_minutes: int | None = Field(default=None, gt=0, le=24 * 60)


class ShiftOut(_Out):
    id: str
    van_id: str
    start: datetime
    end: datetime
    crew: list[str]
    max_work_minutes: int | None
    created_at: datetime
    updated_at: datetime


# --- clients ----------------------------------------------------------------------------------


class ClientCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "client-17",
                    "name": "Erika Mustermann",
                    "address": "Hauptstraße 12, 64711 Erbach",
                    "location": [8.9931, 49.6571],
                    "phone": "+49 6062 123456",
                    "language": "de",
                    "notes": "Prefers mornings.",
                }
            ]
        },
    )

    id: Identifier | None = None
    name: Name
    address: Address | None = None
    location: LonLat | None = Field(
        default=None, description="Home position; default: from the address"
    )
    phone: Phone | None = Field(default=None, description="Shown to crews as a tel: link")
    language: Language = "de"
    notes: Notes | None = None
    preferred_van_id: Identifier | None = Field(
        default=None, description="Continuity: the usual van"
    )


class ClientPatch(_In):
    name: Name | None = None
    address: Address | None = None
    location: LonLat | None = None
    phone: Phone | None = None
    language: Language | None = None
    notes: Notes | None = None
    preferred_van_id: Identifier | None = None


class ClientOut(_Out):
    id: str
    name: str | None = Field(description="None once erased")
    address: str | None
    location: LonLat | None
    phone: str | None = None
    language: str | None
    notes: str | None
    preferred_van_id: str | None
    erased: bool
    erased_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ErasureOut(BaseModel):
    """What erasing a client did."""

    client_id: str
    pseudonym: str = Field(description="Stands for the client in stored plans from now on")
    visits_cancelled: int
    plans_updated: int


# --- visits -----------------------------------------------------------------------------------


class WindowIn(_In):
    start: Moment
    end: Moment

    @model_validator(mode="after")
    def _ordered(self) -> WindowIn:
        if self.end <= self.start:
            raise ValueError(N_("end must be after start"))
        return self


class WindowOut(BaseModel):
    start: datetime
    end: datetime


VisitStatus = Literal["open", "cancelled"]


class VisitCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "visit-1",
                    "client_id": "client-17",
                    "duration_minutes": 45,
                    "windows": [
                        {"start": "2026-11-24T09:00:00+01:00", "end": "2026-11-24T12:00:00+01:00"}
                    ],
                    "skills": ["arabic"],
                    "priority": 1,
                }
            ]
        },
    )

    id: Identifier | None = None
    client_id: Identifier
    duration_minutes: int = Field(gt=0, le=600)
    windows: list[WindowIn] = Field(
        default_factory=list, max_length=14, description="Empty: any time in a shift"
    )
    skills: Skills = Field(default_factory=list)
    priority: int = Field(
        default=1, ge=1, le=MAX_PRIORITY, description="1: must; 2, 3, ...: optional"
    )
    preferred_van_id: Identifier | None = None
    location: LonLat | None = Field(default=None, description="Default: the client's position")
    address: Address | None = Field(default=None, description="Default: the client's address")
    status: VisitStatus = "open"
    pinned_van_id: Identifier | None = Field(
        default=None, description="Pin: the next plan keeps the visit on this van"
    )
    pinned_date: date | None = Field(
        default=None, description="Pin: the next plan of that date's week keeps it on this day"
    )

    @model_validator(mode="after")
    def _windows_fit(self) -> VisitCreate:
        for w in self.windows:
            if (w.end - w.start).total_seconds() < self.duration_minutes * 60:
                raise ValueError(N_("every window must be at least duration_minutes long"))
        return self


class VisitPatch(_In):
    client_id: Identifier | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=600)
    windows: list[WindowIn] | None = Field(default=None, max_length=14)
    skills: Skills | None = None
    priority: int | None = Field(default=None, ge=1, le=MAX_PRIORITY)
    preferred_van_id: Identifier | None = None
    location: LonLat | None = None
    address: Address | None = None
    status: VisitStatus | None = None
    pinned_van_id: Identifier | None = Field(default=None, description="null: unpin the van")
    pinned_date: date | None = Field(default=None, description="null: unpin the date")


class VisitOut(_Out):
    id: str
    client_id: str
    duration_minutes: int
    windows: list[WindowOut]
    skills: list[str]
    priority: int
    preferred_van_id: str | None
    location: LonLat | None
    address: str | None
    status: VisitStatus
    pinned_van_id: str | None = None
    pinned_date: date | None = None
    created_at: datetime
    updated_at: datetime


# --- consultation hours -----------------------------------------------------------------------


class ConsultationHoursCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "ch-beerfelden",
                    "title": "Sprechstunde Beerfelden",
                    "municipality": "Oberzent",
                    "address": "Metzkeil 1, 64760 Oberzent",
                    "location": [8.9767, 49.5674],
                    "weekday": 2,
                    "start_time": "09:00",
                    "end_time": "11:00",
                    "every_weeks": 2,
                    "valid_from": "2026-11-03",
                }
            ]
        },
    )

    id: Identifier | None = None
    title: Name
    municipality: Name
    address: Address | None = None
    location: LonLat
    weekday: int = Field(ge=1, le=7, description="ISO weekday, 1 = Monday")
    start_time: WallClock = Field(description="Local time in the service zone")
    end_time: WallClock
    every_weeks: int = Field(
        default=1, ge=1, le=8, description="1: weekly, 2: every other week, ..."
    )
    valid_from: Day = Field(
        description="First possible day: the first session is the first `weekday` on or after "
        "it, then one every `every_weeks` weeks"
    )
    valid_until: Day | None = None
    skills: Skills = Field(default_factory=list)
    van_id: Identifier | None = Field(default=None, description="Van that usually holds them")

    @model_validator(mode="after")
    def _consistent(self) -> ConsultationHoursCreate:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class ConsultationHoursPatch(_In):
    title: Name | None = None
    municipality: Name | None = None
    address: Address | None = None
    location: LonLat | None = None
    weekday: int | None = Field(default=None, ge=1, le=7)
    start_time: WallClock | None = None
    end_time: WallClock | None = None
    every_weeks: int | None = Field(default=None, ge=1, le=8)
    valid_from: Day | None = None
    valid_until: Day | None = None
    skills: Skills | None = None
    van_id: Identifier | None = None


class ConsultationHoursOut(_Out):
    id: str
    title: str
    municipality: str
    address: str | None
    location: LonLat
    weekday: int
    start_time: time
    end_time: time
    every_weeks: int
    valid_from: date
    valid_until: date | None
    skills: list[str]
    van_id: str | None
    created_at: datetime
    updated_at: datetime

    def occurrences(
        self, first: date, last: date, timezone: str = "Europe/Berlin"
    ) -> list[tuple[datetime, datetime]]:
        """Aware ``(start, end)`` of every session on days ``first``..``last`` (inclusive)."""
        tz = ZoneInfo(timezone)
        rule = Recurrence(self.weekday, self.every_weeks, self.valid_from, self.valid_until)
        return [
            (
                datetime.combine(day, self.start_time, tzinfo=tz),
                datetime.combine(day, self.end_time, tzinfo=tz),
            )
            for day in session_days(rule, first, last)
        ]


def example(model: type[BaseModel]) -> dict[str, Any]:
    """The first OpenAPI example of ``model`` (for docs and tests)."""
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict)
    examples = extra["examples"]
    assert isinstance(examples, list)
    first = examples[0]
    assert isinstance(first, dict)
    return first
