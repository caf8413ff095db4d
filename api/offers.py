"""Slot offers on a stored week: the newest plan version, the new visit, :mod:`optimizer.offers`.

The week's problem is the request the newest plan version was planned for, with the new visit
appended last (so the location ids of the stored plan stay valid) and mapped as a plan is; the
plan is the version's stored optimizer plan; its confirmed visits keep their times. Booking checks
the slot again against the newest version (409 when it no longer fits), stores the visit pinned
to the van and date with the booked time as its window, and stores a new draft version: the
previous plan with the visit inserted, the visit confirmed (status ``BOOKED``; its cost is still
the searched version's). A later offer therefore sees it.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db.core_models import ClientRow, VisitRow
from api.db.planning_models import PlanRow
from api.errors import ConflictError, InvalidInputError
from api.mapping import MappedProblem, plan_to_out
from api.planner import Planner
from api.schemas.offers import BookIn, OfferOut, OffersIn, OffersOut, OfferVisitIn, SlotIn
from api.schemas.planning import PinIn, Place, SolveRequest, VisitIn, Window
from api.storage import plans as store
from optimizer.domain import Problem, Visit
from optimizer.errors import ValidationError
from optimizer.offers import Offer, OfferResult, apply_offer, find_offers
from optimizer.plan import Plan

log = logging.getLogger(__name__)

NEW_VISIT_ID = "_offer"
"""Id of the asked-for visit while offers are computed (suffixed if the week has such a visit)."""

OFFER_GRANULARITY = 300
"""Offered starts lie on the 5-minute marks of the clock (what a client can be told)."""


@dataclass(frozen=True)
class WeekState:
    """The newest version of a week, mapped, with the new visit beside it."""

    row: PlanRow
    request: SolveRequest  # the version's request (without the new visit)
    place: Place  # the new visit's
    mapped: MappedProblem  # the version's request plus the new visit
    problem: Problem  # the version's problem (without the new visit)
    plan: Plan
    visit: Visit


def newest_version(session: Session, week: str) -> PlanRow:
    """The week's newest plan version; 409 ``no_plan`` when there is none yet."""
    row = store.latest(session, week)
    if row is None:
        raise ConflictError(
            f"week {week} has no plan yet: plan it first (POST /v1/weeks/{week}/plan)",
            [("path.iso_week", "no plan version")],
            code="no_plan",
        )
    return row


def week_state(
    session: Session,
    planner: Planner,
    week: str,
    body: OfferVisitIn,
    *,
    prefix: str = "body",
    visit_id: str | None = None,
    pin: PinIn | None = None,
) -> WeekState:
    """Map the newest version of ``week`` with the new visit; 422 naming ``prefix``'s field at
    fault for a visit the week cannot take (date outside it, unknown client, ...)."""
    row = newest_version(session, week)
    request = SolveRequest.model_validate(row.request)
    days = _dates(request.horizon.start_date, request.horizon.days)
    taken = {v.id for v in request.visits}
    if visit_id is None:
        visit_id = NEW_VISIT_ID
        while visit_id in taken:
            visit_id += "_"
    problems: list[tuple[str, str]] = []
    for i, d in enumerate(body.dates or []):
        if d not in days:
            problems.append((f"{prefix}.dates[{i}]", f"{d.isoformat()} is not in week {week}"))
    for i, w in enumerate(body.windows):
        if w.end.date() < days[0] or w.start.date() > days[-1]:
            problems.append((f"{prefix}.windows[{i}]", f"does not touch week {week}"))
    place = _place(session, body, prefix)
    if problems:
        raise InvalidInputError(f"the visit cannot be offered in week {week}", problems)
    new = VisitIn(
        id=visit_id,
        place=place,
        duration_minutes=body.duration_minutes,
        windows=body.windows,
        dates=body.dates,
        skills=body.skills,
        pin=pin,
        client_ref=body.client_id,
    )
    combined = request.model_copy(update={"visits": [*request.visits, new]})
    index = len(request.visits)
    try:
        mapped = planner.map(combined)
    except ValidationError as exc:
        raise _visit_error(exc, index, prefix, week) from exc
    problem = mapped.problem
    visit = problem.visit(visit_id)
    base = dataclasses.replace(problem, visits=tuple(v for v in problem.visits if v.id != visit_id))
    plan = store.plan_from_json(row.domain_plan)
    return WeekState(row, request, place, mapped, base, plan, visit)


def _place(session: Session, body: OfferVisitIn, prefix: str) -> Place:
    """The visit's place: as given, else its client's position or address."""
    client = session.get(ClientRow, body.client_id) if body.client_id is not None else None
    if body.client_id is not None and client is None:
        raise InvalidInputError(
            f"unknown client {body.client_id!r}", [(f"{prefix}.client_id", "unknown client id")]
        )
    if client is not None and client.erased_at is not None:
        raise ConflictError(
            f"client {body.client_id!r} was erased", [(f"{prefix}.client_id", "client was erased")]
        )
    if body.place is not None:
        return body.place
    assert client is not None  # the schema asks for client_id or place
    if client.lon is not None and client.lat is not None:
        return Place(coordinates=(client.lon, client.lat))
    if client.address:
        return Place(address=client.address)
    raise InvalidInputError(
        f"client {client.id!r} has no position or address stored",
        [(f"{prefix}.place", "give the place: the client has none stored")],
    )


def _visit_error(exc: ValidationError, index: int, prefix: str, week: str) -> InvalidInputError:
    """Issues about the appended visit name the body's fields; others the stored week."""
    own = f"visits[{index}]"
    names = {"days": "dates", "duration": "duration_minutes"}
    details = []
    for issue in exc.issues:
        if issue.field.startswith(own):
            rest = issue.field[len(own) :].lstrip(".")
            head, _, tail = rest.partition("[")
            rest = names.get(head, head) + (f"[{tail}" if tail else "")
            details.append((f"{prefix}.{rest}" if rest else prefix, issue.message))
        else:
            details.append((f"stored.{issue.field}", issue.message))
    return InvalidInputError(f"the visit cannot be offered in week {week}", details)


def offer_out(state: WeekState, offer: Offer, rank: int) -> OfferOut:
    """An offer as the API answers it (times in the week's zone)."""
    horizon = state.problem.horizon
    t = horizon.to_datetime
    old = state.plan.route(offer.van_id, offer.day)
    before = {s.visit_id: s.start for s in old.stops} if old is not None else {}
    moved = [s.visit_id for s in offer.route.stops if s.visit_id in before]
    moved = [vid for vid in moved if before[vid] != _start(offer, vid)]
    day = horizon.date_of(offer.day)
    return OfferOut(
        rank=rank,
        van_id=offer.van_id,
        van_name=state.problem.van(offer.van_id).name,
        date=day,
        arrival=t(offer.arrival),
        start=t(offer.start),
        end=t(offer.end),
        added_drive_seconds=offer.added_drive_time,
        added_distance_m=offer.added_distance,
        previous_visit_id=offer.previous,
        next_visit_id=offer.next,
        stops_moved=moved,
        slot=SlotIn(plan_id=state.row.id, van_id=offer.van_id, date=day, start=t(offer.start)),
    )


def _start(offer: Offer, visit_id: str) -> int:
    return next(s.start for s in offer.route.stops if s.visit_id == visit_id)


def _search(state: WeekState, limit: int, per_van_day: int, granularity: int) -> OfferResult:
    return find_offers(
        state.problem,
        state.plan,
        state.visit,
        limit=limit,
        per_van_day=per_van_day,
        fixed_times=frozenset(state.row.confirmed or ()),
        granularity=granularity,
    )


def _without_id(message: str, visit_id: str) -> str:
    """The optimizer's reason names the visit by its id; the new visit has none yet."""
    return message.replace(f"Visit {visit_id}", "The new visit").replace(visit_id, "the new visit")


def week_offers(session: Session, planner: Planner, week: str, body: OffersIn) -> OffersOut:
    """The best slots for the new visit in the newest plan version of ``week``."""
    state = week_state(session, planner, week, body)
    result = _search(state, body.limit, body.per_van_day, OFFER_GRANULARITY)
    log.info(
        "offers for week %s (version %d): %d of %d positions hold",
        week,
        state.row.version,
        result.feasible,
        result.evaluated,
    )
    reason = result.reason
    return OffersOut(
        week=week,
        plan_id=state.row.id,
        plan_version=state.row.version,
        timezone=state.problem.horizon.timezone,
        offers=[offer_out(state, o, n) for n, o in enumerate(result.offers, start=1)],
        reason=str(reason.reason) if reason is not None else None,
        message=_without_id(reason.message, state.visit.id) if reason is not None else None,
        evaluated=result.evaluated,
        feasible=result.feasible,
    )


@dataclass(frozen=True)
class Booking:
    visit: VisitRow
    offer: OfferOut
    version: PlanRow


def book(session: Session, planner: Planner, week: str, body: BookIn) -> Booking:
    """Book the slot (see the module doc); the caller commits."""
    visit_id = body.id or f"visit_{secrets.token_hex(6)}"
    if session.get(VisitRow, visit_id) is not None:
        raise ConflictError(f"visit {visit_id!r} exists already", [("body.id", "id already used")])
    slot = body.slot
    row = newest_version(session, week)
    request = SolveRequest.model_validate(row.request)
    if visit_id in {v.id for v in request.visits}:
        raise ConflictError(f"visit {visit_id!r} exists already", [("body.id", "id already used")])
    if slot.van_id not in {v.id for v in request.vans}:
        raise InvalidInputError(
            f"van {slot.van_id!r} is not planned in week {week}",
            [("body.slot.van_id", "no such van in the week's plan")],
        )
    start = request.horizon.start_date
    if not 0 <= (slot.date - start).days < request.horizon.days:
        raise InvalidInputError(
            f"{slot.date.isoformat()} is not in week {week}",
            [("body.slot.date", "not a day of the week")],
        )
    if slot.start.astimezone(ZoneInfo(request.horizon.timezone)).date() != slot.date:
        raise InvalidInputError(
            "the slot's start is not on its date", [("body.slot.start", "not on slot.date")]
        )
    pin = PinIn(van_id=slot.van_id, date=slot.date, start=slot.start)
    state = week_state(
        session, planner, week, body.visit, prefix="body.visit", visit_id=visit_id, pin=pin
    )
    result = _search(state, 1, 1, 1)
    if not result.offers:
        why = result.reason.message if result.reason is not None else "it no longer fits"
        raise ConflictError(
            f"the slot is no longer available: {why}",
            [("body.slot", "no longer feasible with the week's newest plan; ask for offers again")],
            code="slot_unavailable",
        )
    offer = result.offers[0]
    out = offer_out(state, offer, 1)
    duration = body.visit.duration_minutes
    end = state.problem.horizon.to_datetime(offer.end)
    begin = state.problem.horizon.to_datetime(offer.start)
    given = body.visit.place
    coordinates = given.coordinates if given is not None else None
    client_id = body.visit.client_id
    assert client_id is not None  # BookIn asks for it
    visit_row = VisitRow(
        id=visit_id,
        client_id=client_id,
        duration_minutes=duration,
        windows=[[_utc_iso(begin), _utc_iso(end)]],
        skills=list(body.visit.skills),
        priority=1,
        address=given.address if given is not None else None,
        lon=coordinates[0] if coordinates is not None else None,
        lat=coordinates[1] if coordinates is not None else None,
        status="open",
        pinned_van_id=slot.van_id,
        pinned_date=slot.date,
    )
    stored_visit = VisitIn(
        id=visit_id,
        place=state.place,
        duration_minutes=duration,
        windows=[Window(start=begin, end=end)],
        skills=body.visit.skills,
        pin=PinIn(van_id=slot.van_id, date=slot.date),
        client_ref=client_id,
    )
    new_request = request.model_copy(update={"visits": [*request.visits, stored_visit]})
    plan = apply_offer(state.plan, offer)
    plan = dataclasses.replace(
        plan,
        # No search ran: the status says so; the cost stays the searched version's.
        stats=dataclasses.replace(plan.stats, status="BOOKED", wall_time=0.0),
    )
    mapped = dataclasses.replace(
        state.mapped,
        problem=dataclasses.replace(state.problem, visits=(*state.problem.visits, state.visit)),
    )
    confirmed = sorted({*(row.confirmed or ()), visit_id})
    session.add(visit_row)
    try:
        with session.begin_nested():
            if store.next_version(session, week) != row.version + 1:
                raise _changed(week)
            version = store.create_version(
                session,
                week,
                request=new_request.model_dump(mode="json"),
                payload=plan_to_out(plan, mapped).model_dump(mode="json"),
                plan=plan,
                parent_id=row.id,
                confirmed=confirmed,
            )
    except IntegrityError as exc:  # another version of the week was stored meanwhile
        raise _changed(week) from exc
    log.info(
        "week %s: visit %s booked on %s/%s, version %d",
        week,
        visit_id,
        slot.van_id,
        slot.date,
        version.version,
    )
    return Booking(visit_row, out, version)


def _changed(week: str) -> ConflictError:
    return ConflictError(
        f"week {week} was changed meanwhile; ask for offers again",
        [("body.slot.plan_id", "a newer plan version exists")],
        code="slot_unavailable",
    )


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _dates(start: date, days: int) -> list[date]:
    return [date.fromordinal(start.toordinal() + d) for d in range(days)]
