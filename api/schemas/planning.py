"""Request and response models of the planning endpoints (solve, jobs, weekly plans).

A plain, VROOM-like JSON: the request lists vans, shifts and visits with ISO-8601 times (with a
zone) and places as ``[lon, lat]`` coordinates or addresses; the answer lists routes with typed
steps (``start``, ``visit``, ``break``, ``end``), a summary and the unassigned visits with a
stable reason code and a message for people.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.schemas.core import aware_in_range, date_in_range
from optimizer.domain import (
    MAX_COST_PER_HOUR,
    MAX_COST_PER_KM,
    MAX_FIXED_COST_PER_DAY,
    MAX_PRIORITY,
)

# --- shared pieces ----------------------------------------------------------------------------

# Aware, and in the years the domain plans (date arithmetic far from them would overflow).
AwareDatetime = Annotated[datetime, AfterValidator(aware_in_range)]
PlanDate = Annotated[dt.date, AfterValidator(date_in_range)]


def _lon_lat(value: tuple[float, float]) -> tuple[float, float]:
    lon, lat = value
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} outside -180..180 (coordinates are [lon, lat])")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} outside -90..90 (coordinates are [lon, lat])")
    return value


LonLat = Annotated[tuple[float, float], AfterValidator(_lon_lat)]

Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Place(_Model):
    """A place: ``coordinates`` ([lon, lat], WGS84) or an ``address`` (looked up offline)."""

    coordinates: LonLat | None = None
    address: str | None = Field(default=None, min_length=1, max_length=300)

    @model_validator(mode="after")
    def _one_of(self) -> Place:
        if (self.coordinates is None) == (self.address is None):
            raise ValueError("give exactly one of coordinates ([lon, lat]) or address")
        return self


class Window(_Model):
    """A time window; the whole service must fit inside it."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


# --- request ----------------------------------------------------------------------------------


class HorizonIn(_Model):
    start_date: PlanDate = Field(
        description="First day of the planning horizon (local date); year 2000..2100."
    )
    days: int = Field(default=5, ge=1, le=31)
    timezone: str = Field(default="Europe/Berlin", description="IANA time zone of the district.")


class VanIn(_Model):
    id: Identifier
    name: str = Field(default="", max_length=100)
    skills: list[Identifier] = Field(default_factory=list)
    start: Place | None = Field(default=None, description="Start place; default: the base.")
    end: Place | None = Field(default=None, description="End place; default: the start place.")
    cost_per_hour: float = Field(default=30.0, ge=0, le=MAX_COST_PER_HOUR)
    cost_per_km: float = Field(default=0.35, ge=0, le=MAX_COST_PER_KM)
    fixed_cost_per_day: float = Field(default=0.0, ge=0, le=MAX_FIXED_COST_PER_DAY)


class BreakIn(_Model):
    earliest_start: AwareDatetime
    latest_end: AwareDatetime
    duration_minutes: int = Field(gt=0, le=24 * 60)


class ShiftIn(_Model):
    van_id: Identifier
    start: AwareDatetime
    end: AwareDatetime
    max_work_minutes: int | None = Field(default=None, gt=0, le=24 * 60)
    breaks: list[BreakIn] | None = Field(
        default=None, description="Explicit breaks; omitted: the statutory rule (ArbZG §4)."
    )


class PinIn(_Model):
    van_id: Identifier | None = None
    date: PlanDate | None = None
    start: AwareDatetime | None = None


class VisitIn(_Model):
    id: Identifier
    place: Place
    duration_minutes: int = Field(ge=0, le=24 * 60)
    windows: list[Window] = Field(default_factory=list, description="Empty: any time in a shift.")
    dates: list[PlanDate] | None = Field(default=None, description="Allowed days; omitted: any.")
    skills: list[Identifier] = Field(default_factory=list)
    priority: int = Field(
        default=1, ge=1, le=MAX_PRIORITY, description="1: must; 2, 3, ...: optional."
    )
    kind: Literal["appointment", "consultation_hours"] = "appointment"
    preferred_van: Identifier | None = None
    pin: PinIn | None = None
    client_ref: str | None = Field(
        default=None, max_length=100, description="Opaque client reference (no names here)."
    )


class SolveOptions(_Model):
    time_limit_seconds: float | None = Field(default=None, gt=0, le=3600)
    seed: int | None = Field(default=None, ge=0)
    solution_limit: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Stop after this many solutions."
    )
    use_road_network: bool = Field(
        default=True, description="Use the configured road network when one is loaded."
    )
    engines: Literal["auto", "ortools"] | None = Field(
        default=None,
        description="Search engines: 'auto' (the default) lets PyVRP search first where it can "
        "express the problem (no breaks, no re-plan anchors) and OR-Tools polish its checked "
        "plan; 'ortools' searches with OR-Tools alone. summary.engine says which made the plan.",
    )


_EXAMPLE_REQUEST: dict[str, Any] = {
    "horizon": {"start_date": "2026-11-23", "days": 1, "timezone": "Europe/Berlin"},
    "vans": [{"id": "van-1", "name": "Mobiles Büro 1", "skills": ["arabic"]}],
    "shifts": [
        {
            "van_id": "van-1",
            "start": "2026-11-23T08:00:00+01:00",
            "end": "2026-11-23T16:00:00+01:00",
        }
    ],
    "visits": [
        {
            "id": "v1",
            "place": {"coordinates": [8.839, 49.7121]},
            "duration_minutes": 45,
            "windows": [{"start": "2026-11-23T09:00:00+01:00", "end": "2026-11-23T12:00:00+01:00"}],
        },
        {
            "id": "v2",
            "place": {"coordinates": [8.8844, 49.7739]},
            "duration_minutes": 30,
            "skills": ["arabic"],
        },
    ],
    "options": {"time_limit_seconds": 2, "seed": 1},
}


class SolveRequest(_Model):
    """A whole problem for stateless solving (``POST /v1/solve``, ``POST /v1/jobs``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_REQUEST]})

    horizon: HorizonIn
    vans: list[VanIn] = Field(min_length=1, max_length=50)
    shifts: list[ShiftIn] = Field(min_length=1, max_length=2000)
    # The largest size accepted (a 422 names it): 5,000 visits on 250 van-days answered within
    # seconds of a 30 s limit at 2.6 GB peak (benchmarks/limits.py, benchmarks/RESULTS.md).
    visits: list[VisitIn] = Field(default_factory=list, max_length=5000)
    options: SolveOptions = Field(default_factory=SolveOptions)


# --- response ---------------------------------------------------------------------------------


class StepType(StrEnum):
    START = "start"
    VISIT = "visit"
    BREAK = "break"
    END = "end"


class Step(BaseModel):
    type: StepType
    visit_id: str | None = None
    location: LonLat | None = Field(default=None, description="[lon, lat]; none for breaks.")
    arrival: datetime
    start: datetime
    end: datetime
    waiting_seconds: int = 0
    travel_seconds: int = Field(default=0, description="Travel of the leg arriving here.")
    distance_m: int = Field(default=0, description="Length of the leg arriving here.")


class RouteOut(BaseModel):
    van_id: str
    date: dt.date
    steps: list[Step]
    drive_seconds: int
    distance_m: int
    service_seconds: int
    waiting_seconds: int
    break_seconds: int
    working_seconds: int


class UnassignedOut(BaseModel):
    visit_id: str
    reason: str = Field(description="Stable reason code, e.g. no_skilled_van, no_room.")
    message: str
    conflicts: list[str] = Field(default_factory=list)


class MatrixInfo(BaseModel):
    source: Literal["road_network", "approximate"]
    approximate: bool
    note: str


class Summary(BaseModel):
    cost: float | None = Field(description="Objective in euros; null when no solution was found.")
    status: str = Field(
        description="The solver's status: SUCCESS when the search ran to its limit, STOPPED when "
        "it was stopped early (the best plan found until then), or OR-Tools' own status "
        "(e.g. FAIL_TIMEOUT, NO_MODEL when nothing could be modelled); GREEDY when the plan is "
        "the quick greedy one (no heuristic finished within the time limit, the model was too "
        "large to build in it, or a stop came first; a warning says which).",
        examples=["SUCCESS"],
    )
    routes: int
    assigned: int
    unassigned: int
    drive_seconds: int
    distance_m: int
    service_seconds: int
    waiting_seconds: int
    working_seconds: int
    wall_time_seconds: float
    solutions: int
    workers: int = Field(
        default=1,
        description="Search processes of the solve: 1, or the size of a portfolio of "
        "differently seeded searches whose best plan this is (the service's solver_workers).",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What must not be missed: no plan found in time, or most visits "
        "unassigned with their causes counted (e.g. breaks that cannot fit).",
    )
    engine: str | None = Field(
        default=None,
        description="Which engine made the plan: ortools, pyvrp, pyvrp+ortools (PyVRP's plan "
        "polished by OR-Tools), pyvrp-days (the greedy plan improved by PyVRP one day at a "
        "time, for a problem too large for one plan in the time limit) or greedy (no first "
        "solution in time); null when nothing was searched or for plans stored before it was "
        "recorded.",
        examples=["ortools"],
    )


_EXAMPLE_PLAN: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "matrix": {
        "source": "approximate",
        "approximate": True,
        "note": "no road network configured: straight-line distances with a detour factor",
    },
    "summary": {
        "cost": 112.4,
        "status": "SUCCESS",
        "routes": 1,
        "assigned": 1,
        "unassigned": 0,
        "drive_seconds": 2400,
        "distance_m": 31000,
        "service_seconds": 2700,
        "waiting_seconds": 0,
        "working_seconds": 5100,
        "wall_time_seconds": 2.0,
        "solutions": 12,
        "workers": 1,
    },
    "routes": [
        {
            "van_id": "van-1",
            "date": "2026-11-23",
            "steps": [
                {
                    "type": "start",
                    "location": [8.994, 49.6615],
                    "arrival": "2026-11-23T08:40:00+01:00",
                    "start": "2026-11-23T08:40:00+01:00",
                    "end": "2026-11-23T08:40:00+01:00",
                },
                {
                    "type": "visit",
                    "visit_id": "v1",
                    "location": [8.839, 49.7121],
                    "arrival": "2026-11-23T09:00:00+01:00",
                    "start": "2026-11-23T09:00:00+01:00",
                    "end": "2026-11-23T09:45:00+01:00",
                    "travel_seconds": 1200,
                    "distance_m": 15500,
                },
                {
                    "type": "end",
                    "location": [8.994, 49.6615],
                    "arrival": "2026-11-23T10:05:00+01:00",
                    "start": "2026-11-23T10:05:00+01:00",
                    "end": "2026-11-23T10:05:00+01:00",
                    "travel_seconds": 1200,
                    "distance_m": 15500,
                },
            ],
            "drive_seconds": 2400,
            "distance_m": 31000,
            "service_seconds": 2700,
            "waiting_seconds": 0,
            "break_seconds": 0,
            "working_seconds": 5100,
        }
    ],
    "unassigned": [
        {
            "visit_id": "v2",
            "reason": "no_skilled_van",
            "message": "no van has the skills ['arabic']",
            "conflicts": [],
        }
    ],
}


class PlanOut(BaseModel):
    """A plan: routes with typed steps, a summary and unassigned visits with reasons."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_PLAN]})

    timezone: str
    matrix: MatrixInfo
    summary: Summary
    routes: list[RouteOut]
    unassigned: list[UnassignedOut]


# --- jobs -------------------------------------------------------------------------------------


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"  # stopped early; the best plan found is kept
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.CANCELLED, JobStatus.FAILED)


class JobKind(StrEnum):
    """What a job does."""

    SOLVE = "solve"
    WEEK_PLAN = "week_plan"
    WEEK_REPLAN = "week_replan"


class JobOut(BaseModel):
    """State of a solve job."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f0c1b8e6a2d4e0f9b7c5a1d2e3f4a5b",
                    "kind": "week_plan",
                    "week": "2026-W48",
                    "plan_id": None,
                    "status": "running",
                    "progress": 0.4,
                    "best_cost": 812.5,
                    "solutions": 7,
                    "has_plan": False,
                    "error": None,
                    "created_at": "2026-11-23T07:59:58+01:00",
                    "started_at": "2026-11-23T08:00:00+01:00",
                    "finished_at": None,
                }
            ]
        }
    )

    id: str
    kind: JobKind = Field(
        default=JobKind.SOLVE,
        description="solve: a submitted problem; week_plan / week_replan: a stored week, "
        "whose plan is stored as a new draft version when the job ends",
    )
    week: str | None = Field(default=None, description="ISO week of a week job")
    plan_id: str | None = Field(
        default=None,
        description="Week jobs: the draft version stored (GET /v1/plans/{plan_id}); "
        "null until the job has ended with a plan",
    )
    status: JobStatus
    progress: float = Field(ge=0, le=1, description="Share of the time limit used (0..1).")
    best_cost: float | None = Field(description="Objective of the best solution so far.")
    solutions: int
    has_plan: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


# --- weekly plans -----------------------------------------------------------------------------

IsoWeek = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-W\d{2}$",
        description="ISO week, e.g. 2026-W48",
        examples=["2026-W48"],
    ),
]


class PlanWeekIn(_Model):
    """Options of planning (or re-planning) a week from the stored data."""

    time_limit_seconds: float | None = Field(default=None, gt=0, le=3600)
    seed: int | None = Field(default=None, ge=0)
    solution_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    allow_moving_confirmed: bool = Field(
        default=False,
        description="Re-plan only: confirmed visits may move (a cost per moved visit keeps them "
        "where they were if it can). Default: each keeps its published van, day and start "
        "within +/- 5 minutes where that is still possible.",
    )


class ConfirmIn(_Model):
    """Visits confirmed with the clients: a re-plan keeps them where they are."""

    visit_ids: list[Identifier] = Field(max_length=5000)


class VisitMove(BaseModel):
    visit_id: str
    before: str | None = Field(description="van_id@date before, null: was not planned")
    after: str | None = Field(description="van_id@date now, null: no longer planned")
    start_before: datetime | None = None
    start_after: datetime | None = None


class VisitChangeStatus(StrEnum):
    """What a re-plan did with one visit (``optimizer.replan.Status``)."""

    UNCHANGED = "unchanged"
    TIME_CHANGED = "time_changed"
    MOVED = "moved"
    NEWLY_ASSIGNED = "newly_assigned"
    NEWLY_UNASSIGNED = "newly_unassigned"
    STILL_UNASSIGNED = "still_unassigned"
    CANCELLED = "cancelled"


class PlacementOut(BaseModel):
    """Where and when a visit is served: van, date and start time."""

    van_id: str
    date: dt.date
    start: datetime


class VisitChangeOut(BaseModel):
    """One visit in a re-plan: its status, where it was (``before``) and is (``after``)."""

    visit_id: str
    status: VisitChangeStatus
    before: PlacementOut | None = Field(description="null: was not planned")
    after: PlacementOut | None = Field(description="null: is not planned now")
    confirmed: bool = Field(default=False, description="confirmed in the base version")
    reason: str | None = Field(default=None, description="why it is unassigned now")
    message: str | None = None


_EXAMPLE_CHANGES: dict[str, Any] = {
    "base_plan_id": "3f1c9a0e5b7d4c2a9e8f6a1b2c3d4e5f",
    "base_version": 1,
    "visits": [
        {
            "visit_id": "v1",
            "status": "unchanged",
            "before": {
                "van_id": "van-1",
                "date": "2026-11-23",
                "start": "2026-11-23T09:20:00+01:00",
            },
            "after": {
                "van_id": "van-1",
                "date": "2026-11-23",
                "start": "2026-11-23T09:20:00+01:00",
            },
            "confirmed": True,
        },
        {
            "visit_id": "v2",
            "status": "moved",
            "before": {
                "van_id": "van-2",
                "date": "2026-11-23",
                "start": "2026-11-23T10:05:00+01:00",
            },
            "after": {
                "van_id": "van-2",
                "date": "2026-11-24",
                "start": "2026-11-24T08:40:00+01:00",
            },
        },
        {
            "visit_id": "v4",
            "status": "cancelled",
            "before": {
                "van_id": "van-2",
                "date": "2026-11-23",
                "start": "2026-11-23T11:00:00+01:00",
            },
            "after": None,
        },
        {
            "visit_id": "v5",
            "status": "newly_assigned",
            "before": None,
            "after": {
                "van_id": "van-1",
                "date": "2026-11-24",
                "start": "2026-11-24T13:15:00+01:00",
            },
        },
    ],
    "moved": [
        {
            "visit_id": "v2",
            "before": "van-2@2026-11-23",
            "after": "van-2@2026-11-24",
            "start_before": "2026-11-23T10:05:00+01:00",
            "start_after": "2026-11-24T08:40:00+01:00",
        }
    ],
    "retimed": [],
    "added": ["v5"],
    "dropped": ["v4"],
    "unchanged": 1,
    "confirmed_kept": ["v1"],
    "confirmed_moved": [],
    "pins_dropped": [],
}


class PlanChanges(BaseModel):
    """What a re-plan changed compared with the version it started from (per visit in
    ``visits``, from ``optimizer.replan``; the other lists are views of it)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_CHANGES]})

    base_plan_id: str
    base_version: int
    visits: list[VisitChangeOut] = Field(
        default_factory=list, description="Every visit of the base version or the week, once."
    )
    moved: list[VisitMove] = Field(description="Visits on another van or day than before.")
    retimed: list[VisitMove] = Field(description="Same van and day, other start time.")
    added: list[str] = Field(description="Visits planned now that were not planned before.")
    dropped: list[str] = Field(
        description="Visits planned before that are not planned now (cancelled or unassigned)."
    )
    unchanged: int
    confirmed_kept: list[str]
    confirmed_moved: list[str]
    pins_dropped: list[str] = Field(
        default_factory=list,
        description="Confirmed visits that could not be pinned to their van and day any more "
        "(kept there only if the search could).",
    )
    times_released: list[str] = Field(
        default_factory=list,
        description="Confirmed visits kept on their van and day whose start could not stay "
        "within 5 minutes of the published one (e.g. their window changed).",
    )


class DiffKind(StrEnum):
    """How a visit differs from the published version (``optimizer.diff.ChangeKind``)."""

    MOVED = "moved"
    RETIMED = "retimed"
    ADDED = "added"
    DROPPED = "dropped"


class DiffVisitOut(BaseModel):
    """One visit that differs from the published version."""

    visit_id: str
    kind: DiffKind
    before: PlacementOut | None = Field(description="In the published version; null: not there.")
    after: PlacementOut | None = Field(description="In this version; null: not planned here.")
    shift_minutes: int | None = Field(
        default=None, description="Start after minus start before (visits planned in both)."
    )
    confirmed: bool = Field(
        default=False, description="Confirmed with the client (in either version)."
    )
    reason: str | None = Field(
        default=None,
        description="Dropped visits: the reason code it is unassigned now, or `removed` when "
        "the visit is no longer part of the week (cancelled or deleted).",
    )
    message: str | None = None


_EXAMPLE_DIFF: dict[str, Any] = {
    "plan_id": "8d2e6b1c0a9f4e3d8c7b6a5f4e3d2c1b",
    "published_plan_id": "3f1c9a0e5b7d4c2a9e8f6a1b2c3d4e5f",
    "published_version": 1,
    "moved": [
        {
            "visit_id": "v2",
            "kind": "moved",
            "before": {
                "van_id": "van-2",
                "date": "2026-11-27",
                "start": "2026-11-27T10:05:00+01:00",
            },
            "after": {
                "van_id": "van-1",
                "date": "2026-11-27",
                "start": "2026-11-27T11:20:00+01:00",
            },
            "shift_minutes": 75,
            "confirmed": False,
        }
    ],
    "retimed": [
        {
            "visit_id": "v7",
            "kind": "retimed",
            "before": {
                "van_id": "van-1",
                "date": "2026-11-27",
                "start": "2026-11-27T09:00:00+01:00",
            },
            "after": {
                "van_id": "van-1",
                "date": "2026-11-27",
                "start": "2026-11-27T09:40:00+01:00",
            },
            "shift_minutes": 40,
            "confirmed": False,
        }
    ],
    "added": [
        {
            "visit_id": "v9",
            "kind": "added",
            "before": None,
            "after": {
                "van_id": "van-2",
                "date": "2026-11-26",
                "start": "2026-11-26T13:15:00+01:00",
            },
        }
    ],
    "dropped": [
        {
            "visit_id": "v4",
            "kind": "dropped",
            "before": {
                "van_id": "van-2",
                "date": "2026-11-23",
                "start": "2026-11-23T11:00:00+01:00",
            },
            "after": None,
            "reason": "removed",
        }
    ],
    "published_changed": 3,
}


class PlanDiffOut(BaseModel):
    """What a version changes against the week's published version (``optimizer.diff``): visits
    on another van or day (``moved``), at another start on the same van-day by at least a minute
    (``retimed``), planned only here (``added``), planned only there (``dropped``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_DIFF]})

    plan_id: str
    published_plan_id: str | None = Field(
        description="The version compared with: the week's newest published version (for a "
        "published version, the one published before it); null: none, every visit is added."
    )
    published_version: int | None
    moved: list[DiffVisitOut] = Field(default_factory=list)
    retimed: list[DiffVisitOut] = Field(default_factory=list)
    added: list[DiffVisitOut] = Field(default_factory=list)
    dropped: list[DiffVisitOut] = Field(default_factory=list)
    published_changed: int = Field(
        default=0,
        description="Published visits that change (moved + retimed + dropped): publishing "
        "asks for `accept_changes=true` when this is not 0.",
    )


class PlanVersionOut(BaseModel):
    """One version of a weekly plan."""

    id: str
    week: str
    version: int
    status: Literal["draft", "published"]
    parent_id: str | None
    confirmed: list[str]
    created_at: datetime
    published_at: datetime | None
    changes: PlanChanges | None = None
    published_diff: PlanDiffOut | None = Field(
        default=None,
        description="What this version changes against the week's published version (also at "
        "`GET /v1/plans/{id}/changes`); in the answers of plan, re-plan and get.",
    )
    plan: PlanOut


class PlanVersionSummary(BaseModel):
    id: str
    week: str
    version: int
    status: Literal["draft", "published"]
    parent_id: str | None
    created_at: datetime
    published_at: datetime | None
    cost: float | None
    assigned: int
    unassigned: int


class ItineraryStop(BaseModel):
    type: StepType
    visit_id: str | None = None
    kind: str | None = Field(default=None, description="appointment or consultation_hours")
    location: LonLat | None = None
    arrival: datetime
    start: datetime
    end: datetime
    client_name: str | None = Field(default=None, description="For the crew on the day only.")
    address: str | None = None


class ItineraryOut(BaseModel):
    """A crew's day: where to be when, in order."""

    plan_id: str
    week: str
    version: int
    van_id: str
    date: dt.date
    timezone: str
    stops: list[ItineraryStop]
    drive_seconds: int
    distance_m: int
