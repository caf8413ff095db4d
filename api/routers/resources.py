"""CRUD of the dispatcher's data: vans (+ shifts), clients (+ erasure), visits, consultation hours.

Dispatchers read and write everything; crews read their own van and its shifts; system tokens see
none of this. Routes log ids only; personal strings they handle are registered with the app's
redactor so that they are masked should they ever reach a log.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from api.auth import Role
from api.db.base import Base
from api.db.core_models import ClientRow, ConsultationHoursRow, ShiftRow, VanRow, VisitRow
from api.deps import Dispatcher, Reader, SessionDep, SettingsDep, ensure_van_visible
from api.errors import (
    ConflictError,
    InvalidInputError,
    clean_message,
    error_responses,
    loc_to_path,
    not_found,
)
from api.logging import Redactor
from api.pins import pin_problems
from api.schemas.core import (
    ClientCreate,
    ClientOut,
    ClientPatch,
    ConsultationHoursCreate,
    ConsultationHoursOut,
    ConsultationHoursPatch,
    ErasureOut,
    Page,
    ShiftCreate,
    ShiftOut,
    ShiftPatch,
    VanCreate,
    VanOut,
    VanPatch,
    VisitCreate,
    VisitOut,
    VisitPatch,
    WindowOut,
)
from api.storage.clients import erase_client

logger = logging.getLogger(__name__)

router = APIRouter()

PathId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

READ_ERRORS = error_responses(401, 403, 404, 422)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 422)

RowT = TypeVar("RowT", bound=Base)
OutT = TypeVar("OutT", bound=BaseModel)


# --- helpers ----------------------------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _get(session: Session, model: type[RowT], ident: str, kind: str, field: str) -> RowT:
    row = session.get(model, ident)
    if row is None:
        raise not_found(kind, ident, field)
    return row


def _page(
    session: Session,
    stmt: Select[Any],
    limit: int,
    offset: int,
    order: Any,
    to_out: Callable[[Any], OutT],
) -> Page[OutT]:
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(order).limit(limit).offset(offset)).all()
    return Page[Any](items=[to_out(r) for r in rows], total=total, limit=limit, offset=offset)


def _merge(model: type[OutT], current: dict[str, Any], patch: BaseModel) -> OutT:
    """Validate ``current`` updated by the fields set in ``patch`` as a whole ``model``."""
    data = {**current, **patch.model_dump(exclude_unset=True)}
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        details = [(loc_to_path(("body", *e["loc"])), clean_message(dict(e))) for e in exc.errors()]
        raise InvalidInputError(
            f"{len(details)} problem(s) in the changed resource", details
        ) from None


def _ensure_new(session: Session, model: type[Base], ident: str, kind: str) -> None:
    if session.get(model, ident) is not None:
        raise ConflictError(f"{kind} {ident!r} exists already", [("body.id", "id already used")])


def _ensure_van(session: Session, van_id: str | None, field: str) -> None:
    if van_id is not None and session.get(VanRow, van_id) is None:
        raise InvalidInputError(f"unknown van {van_id!r}", [(field, "unknown van id")])


def _redactor(request: Request) -> Redactor:
    redactor: Redactor = request.app.state.redactor
    return redactor


def _lonlat(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    return None if lon is None or lat is None else (lon, lat)


def _split(point: Sequence[float] | None) -> tuple[float | None, float | None]:
    return (None, None) if point is None else (point[0], point[1])


# --- vans -------------------------------------------------------------------------------------


def van_out(row: VanRow, tz: ZoneInfo) -> VanOut:
    return VanOut(
        id=row.id,
        name=row.name,
        skills=list(row.skills),
        base=_lonlat(row.base_lon, row.base_lat),
        cost_per_hour=row.cost_per_hour,
        cost_per_km=row.cost_per_km,
        created_at=_local(row.created_at, tz),
        updated_at=_local(row.updated_at, tz),
    )


def _van_fields(body: VanCreate) -> dict[str, Any]:
    lon, lat = _split(body.base)
    return {
        "name": body.name,
        "skills": list(body.skills),
        "base_lon": lon,
        "base_lat": lat,
        "cost_per_hour": body.cost_per_hour,
        "cost_per_km": body.cost_per_km,
    }


def _van_current(row: VanRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "skills": row.skills,
        "base": _lonlat(row.base_lon, row.base_lat),
        "cost_per_hour": row.cost_per_hour,
        "cost_per_km": row.cost_per_km,
    }


@router.get("/vans", tags=["vans"], responses=READ_ERRORS)
def list_vans(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[VanOut]:
    """All vans (a crew token sees only its own van)."""
    tz = ZoneInfo(settings.timezone)
    stmt = select(VanRow)
    if principal.role is Role.CREW:
        stmt = stmt.where(VanRow.id == principal.van_id)
    return _page(session, stmt, limit, offset, VanRow.id, lambda r: van_out(r, tz))


@router.post("/vans", status_code=201, tags=["vans"], responses=WRITE_ERRORS)
def create_van(
    body: VanCreate, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> VanOut:
    ident = body.id or _new_id("van")
    _ensure_new(session, VanRow, ident, "van")
    row = VanRow(id=ident, **_van_fields(body))
    session.add(row)
    session.commit()
    logger.info("van %s created", ident)
    return van_out(row, ZoneInfo(settings.timezone))


@router.get("/vans/{van_id}", tags=["vans"], responses=READ_ERRORS)
def get_van(
    van_id: PathId, session: SessionDep, settings: SettingsDep, principal: Reader
) -> VanOut:
    ensure_van_visible(principal, van_id)
    row = _get(session, VanRow, van_id, "van", "path.van_id")
    return van_out(row, ZoneInfo(settings.timezone))


@router.patch("/vans/{van_id}", tags=["vans"], responses=WRITE_ERRORS)
def update_van(
    van_id: PathId, body: VanPatch, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> VanOut:
    row = _get(session, VanRow, van_id, "van", "path.van_id")
    merged = _merge(VanCreate, _van_current(row), body)
    for key, value in _van_fields(merged).items():
        setattr(row, key, value)
    session.commit()
    logger.info("van %s updated", van_id)
    return van_out(row, ZoneInfo(settings.timezone))


@router.delete("/vans/{van_id}", status_code=204, tags=["vans"], responses=WRITE_ERRORS)
def delete_van(van_id: PathId, session: SessionDep, _: Dispatcher) -> Response:
    """Delete a van with its shifts; crew tokens bound to it stop working."""
    row = _get(session, VanRow, van_id, "van", "path.van_id")
    # References to the van are cleared here, not by the database: the keys include the tenant,
    # and a composite key cannot set one of its columns null on SQLite.
    for model, column in (
        (ClientRow, ClientRow.preferred_van_id),
        (VisitRow, VisitRow.preferred_van_id),
        (ConsultationHoursRow, ConsultationHoursRow.van_id),
    ):
        session.execute(update(model).where(column == van_id).values({column.key: None}))
    session.delete(row)
    session.commit()
    logger.info("van %s deleted", van_id)
    return Response(status_code=204)


# --- shifts -----------------------------------------------------------------------------------


def shift_out(row: ShiftRow, tz: ZoneInfo) -> ShiftOut:
    return ShiftOut(
        id=row.id,
        van_id=row.van_id,
        start=_local(row.start, tz),
        end=_local(row.end, tz),
        crew=list(row.crew),
        max_work_minutes=row.max_work_minutes,
        created_at=_local(row.created_at, tz),
        updated_at=_local(row.updated_at, tz),
    )


def _ensure_no_overlap(session: Session, van_id: str, body: ShiftCreate, own: str) -> None:
    clash = session.scalars(
        select(ShiftRow.id).where(
            ShiftRow.van_id == van_id,
            ShiftRow.id != own,
            ShiftRow.start < body.end,
            ShiftRow.end > body.start,
        )
    ).first()
    if clash is not None:
        raise ConflictError(
            f"the shift overlaps shift {clash!r} of van {van_id!r}",
            [("body.start", f"overlaps shift {clash}")],
        )


@router.get("/vans/{van_id}/shifts", tags=["vans"], responses=READ_ERRORS)
def list_shifts(
    van_id: PathId,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    start_after: Annotated[
        datetime | None, Query(description="Only shifts ending after this moment")
    ] = None,
    start_before: Annotated[
        datetime | None, Query(description="Only shifts starting before this moment")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ShiftOut]:
    ensure_van_visible(principal, van_id)
    _get(session, VanRow, van_id, "van", "path.van_id")
    stmt = select(ShiftRow).where(ShiftRow.van_id == van_id)
    for name, moment in (("start_after", start_after), ("start_before", start_before)):
        if moment is not None and (moment.tzinfo is None or not 2000 <= moment.year <= 2100):
            raise InvalidInputError(
                "bad time filter", [(f"query.{name}", "needs a zone and a year 2000..2100")]
            )
    if start_after is not None:
        stmt = stmt.where(ShiftRow.end > start_after)
    if start_before is not None:
        stmt = stmt.where(ShiftRow.start < start_before)
    tz = ZoneInfo(settings.timezone)
    return _page(session, stmt, limit, offset, ShiftRow.start, lambda r: shift_out(r, tz))


@router.post("/vans/{van_id}/shifts", status_code=201, tags=["vans"], responses=WRITE_ERRORS)
def create_shift(
    van_id: PathId, body: ShiftCreate, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> ShiftOut:
    _get(session, VanRow, van_id, "van", "path.van_id")
    ident = body.id or _new_id("shift")
    _ensure_new(session, ShiftRow, ident, "shift")
    _ensure_no_overlap(session, van_id, body, ident)
    row = ShiftRow(
        id=ident,
        van_id=van_id,
        start=body.start,
        end=body.end,
        crew=list(body.crew),
        max_work_minutes=body.max_work_minutes,
    )
    session.add(row)
    session.commit()
    logger.info("shift %s of van %s created", ident, van_id)
    return shift_out(row, ZoneInfo(settings.timezone))


def _shift(session: Session, van_id: str, shift_id: str) -> ShiftRow:
    row = session.get(ShiftRow, shift_id)
    if row is None or row.van_id != van_id:
        raise not_found("shift", shift_id, "path.shift_id")
    return row


@router.get("/vans/{van_id}/shifts/{shift_id}", tags=["vans"], responses=READ_ERRORS)
def get_shift(
    van_id: PathId, shift_id: PathId, session: SessionDep, settings: SettingsDep, principal: Reader
) -> ShiftOut:
    ensure_van_visible(principal, van_id)
    return shift_out(_shift(session, van_id, shift_id), ZoneInfo(settings.timezone))


@router.patch("/vans/{van_id}/shifts/{shift_id}", tags=["vans"], responses=WRITE_ERRORS)
def update_shift(
    van_id: PathId,
    shift_id: PathId,
    body: ShiftPatch,
    session: SessionDep,
    settings: SettingsDep,
    _: Dispatcher,
) -> ShiftOut:
    row = _shift(session, van_id, shift_id)
    current = {
        "start": row.start,
        "end": row.end,
        "crew": row.crew,
        "max_work_minutes": row.max_work_minutes,
    }
    merged = _merge(ShiftCreate, current, body)
    _ensure_no_overlap(session, van_id, merged, shift_id)
    row.start, row.end = merged.start, merged.end
    row.crew, row.max_work_minutes = list(merged.crew), merged.max_work_minutes
    session.commit()
    logger.info("shift %s updated", shift_id)
    return shift_out(row, ZoneInfo(settings.timezone))


@router.delete(
    "/vans/{van_id}/shifts/{shift_id}", status_code=204, tags=["vans"], responses=WRITE_ERRORS
)
def delete_shift(van_id: PathId, shift_id: PathId, session: SessionDep, _: Dispatcher) -> Response:
    session.delete(_shift(session, van_id, shift_id))
    session.commit()
    logger.info("shift %s deleted", shift_id)
    return Response(status_code=204)


# --- clients ----------------------------------------------------------------------------------


def client_out(row: ClientRow, tz: ZoneInfo) -> ClientOut:
    return ClientOut(
        id=row.id,
        name=row.name,
        address=row.address,
        location=_lonlat(row.lon, row.lat),
        phone=row.phone,
        language=row.language,
        notes=row.notes,
        preferred_van_id=row.preferred_van_id,
        erased=row.erased_at is not None,
        erased_at=None if row.erased_at is None else _local(row.erased_at, tz),
        created_at=_local(row.created_at, tz),
        updated_at=_local(row.updated_at, tz),
    )


def _client_fields(body: ClientCreate) -> dict[str, Any]:
    lon, lat = _split(body.location)
    return {
        "name": body.name,
        "address": body.address,
        "lon": lon,
        "lat": lat,
        "phone": body.phone,
        "language": body.language,
        "notes": body.notes,
        "preferred_van_id": body.preferred_van_id,
    }


def _remember(request: Request, row: ClientRow) -> None:
    _redactor(request).add(row.name, row.address, row.notes, row.phone)


@router.get("/clients", tags=["clients"], responses=READ_ERRORS)
def list_clients(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Dispatcher,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ClientOut]:
    tz = ZoneInfo(settings.timezone)

    def out(row: ClientRow) -> ClientOut:
        _remember(request, row)
        return client_out(row, tz)

    return _page(session, select(ClientRow), limit, offset, ClientRow.id, out)


@router.post("/clients", status_code=201, tags=["clients"], responses=WRITE_ERRORS)
def create_client(
    request: Request, body: ClientCreate, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> ClientOut:
    ident = body.id or _new_id("client")
    _ensure_new(session, ClientRow, ident, "client")
    _ensure_van(session, body.preferred_van_id, "body.preferred_van_id")
    row = ClientRow(id=ident, **_client_fields(body))
    _remember(request, row)
    session.add(row)
    session.commit()
    logger.info("client created")  # no id: caller-chosen ids may be personal
    return client_out(row, ZoneInfo(settings.timezone))


@router.get("/clients/{client_id}", tags=["clients"], responses=READ_ERRORS)
def get_client(
    request: Request, client_id: PathId, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> ClientOut:
    row = _get(session, ClientRow, client_id, "client", "path.client_id")
    _remember(request, row)
    return client_out(row, ZoneInfo(settings.timezone))


@router.patch("/clients/{client_id}", tags=["clients"], responses=WRITE_ERRORS)
def update_client(
    request: Request,
    client_id: PathId,
    body: ClientPatch,
    session: SessionDep,
    settings: SettingsDep,
    _: Dispatcher,
) -> ClientOut:
    row = _get(session, ClientRow, client_id, "client", "path.client_id")
    if row.erased_at is not None:
        raise ConflictError(f"client {client_id!r} was erased and cannot be changed")
    current = {
        "name": row.name,
        "address": row.address,
        "location": _lonlat(row.lon, row.lat),
        "phone": row.phone,
        "language": row.language,
        "notes": row.notes,
        "preferred_van_id": row.preferred_van_id,
    }
    merged = _merge(ClientCreate, current, body)
    _ensure_van(session, merged.preferred_van_id, "body.preferred_van_id")
    for key, value in _client_fields(merged).items():
        setattr(row, key, value)
    _remember(request, row)
    session.commit()
    logger.info("client %s updated", client_id)
    return client_out(row, ZoneInfo(settings.timezone))


@router.post("/clients/{client_id}/erase", tags=["clients"], responses=WRITE_ERRORS)
def erase(client_id: PathId, session: SessionDep, _: Dispatcher) -> ErasureOut:
    """Erase the client's personal data: clears name, address, position, phone, language and notes,
    cancels its visits and pseudonymises it in stored plans. The id stays (for statistics)."""
    _get(session, ClientRow, client_id, "client", "path.client_id")
    result = erase_client(session, client_id)
    session.commit()
    return ErasureOut(
        client_id=result.client_id,
        pseudonym=result.pseudonym,
        visits_cancelled=result.visits_cancelled,
        plans_updated=result.plans_updated,
    )


@router.delete("/clients/{client_id}", status_code=204, tags=["clients"], responses=WRITE_ERRORS)
def delete_client(client_id: PathId, session: SessionDep, _: Dispatcher) -> Response:
    """Delete a client without visits (409 otherwise: delete them, or erase the client)."""
    _get(session, ClientRow, client_id, "client", "path.client_id")
    visits = session.scalar(
        select(func.count()).select_from(VisitRow).where(VisitRow.client_id == client_id)
    )
    if visits:
        raise ConflictError(
            f"client {client_id!r} has {visits} visit(s); delete them first or erase the client",
            [("path.client_id", "client has visits")],
        )
    # Erase first so stored plans lose the personal fields too.
    erase_client(session, client_id)
    session.delete(session.get(ClientRow, client_id))
    session.commit()
    logger.info("client %s deleted", client_id)
    return Response(status_code=204)


# --- visits -----------------------------------------------------------------------------------


def visit_out(row: VisitRow, tz: ZoneInfo) -> VisitOut:
    windows = [
        WindowOut(
            start=_local(datetime.fromisoformat(a), tz), end=_local(datetime.fromisoformat(b), tz)
        )
        for a, b in row.windows
    ]
    return VisitOut(
        id=row.id,
        client_id=row.client_id,
        duration_minutes=row.duration_minutes,
        windows=windows,
        skills=list(row.skills),
        priority=row.priority,
        preferred_van_id=row.preferred_van_id,
        location=_lonlat(row.lon, row.lat),
        address=row.address,
        status="cancelled" if row.status == "cancelled" else "open",
        pinned_van_id=row.pinned_van_id,
        pinned_date=row.pinned_date,
        created_at=_local(row.created_at, tz),
        updated_at=_local(row.updated_at, tz),
    )


def _visit_fields(
    session: Session, body: VisitCreate, tz: ZoneInfo, *, check_pin: bool = True
) -> dict[str, Any]:
    """The stored fields of a visit; with ``check_pin``, a pin that can never hold is refused
    (:func:`api.pins.pin_problems`, 422 naming the field and the reason)."""
    client = session.get(ClientRow, body.client_id)
    if client is None:
        raise InvalidInputError(
            f"unknown client {body.client_id!r}", [("body.client_id", "unknown client id")]
        )
    if client.erased_at is not None and body.status == "open":
        raise ConflictError(
            f"client {body.client_id!r} was erased", [("body.client_id", "client was erased")]
        )
    _ensure_van(session, body.preferred_van_id, "body.preferred_van_id")
    _ensure_van(session, body.pinned_van_id, "body.pinned_van_id")
    problems = pin_problems(session, body, tz) if check_pin else []
    if problems:
        raise InvalidInputError(
            f"the pin cannot be honoured: {'; '.join(p[1] for p in problems)}", problems
        )
    lon, lat = _split(body.location)
    return {
        "client_id": body.client_id,
        "duration_minutes": body.duration_minutes,
        "windows": [[_utc_iso(w.start), _utc_iso(w.end)] for w in body.windows],
        "skills": list(body.skills),
        "priority": body.priority,
        "preferred_van_id": body.preferred_van_id,
        "address": body.address,
        "lon": lon,
        "lat": lat,
        "status": body.status,
        "pinned_van_id": body.pinned_van_id,
        "pinned_date": body.pinned_date,
    }


@router.get("/visits", tags=["visits"], responses=READ_ERRORS)
def list_visits(
    session: SessionDep,
    settings: SettingsDep,
    _: Dispatcher,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(open|cancelled)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[VisitOut]:
    stmt = select(VisitRow)
    if client_id is not None:
        stmt = stmt.where(VisitRow.client_id == client_id)
    if status is not None:
        stmt = stmt.where(VisitRow.status == status)
    tz = ZoneInfo(settings.timezone)
    return _page(session, stmt, limit, offset, VisitRow.id, lambda r: visit_out(r, tz))


@router.post("/visits", status_code=201, tags=["visits"], responses=WRITE_ERRORS)
def create_visit(
    body: VisitCreate, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> VisitOut:
    ident = body.id or _new_id("visit")
    _ensure_new(session, VisitRow, ident, "visit")
    row = VisitRow(id=ident, **_visit_fields(session, body, ZoneInfo(settings.timezone)))
    session.add(row)
    session.commit()
    logger.info("visit %s created", ident)
    return visit_out(row, ZoneInfo(settings.timezone))


@router.get("/visits/{visit_id}", tags=["visits"], responses=READ_ERRORS)
def get_visit(
    visit_id: PathId, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> VisitOut:
    row = _get(session, VisitRow, visit_id, "visit", "path.visit_id")
    return visit_out(row, ZoneInfo(settings.timezone))


@router.patch("/visits/{visit_id}", tags=["visits"], responses=WRITE_ERRORS)
def update_visit(
    visit_id: PathId, body: VisitPatch, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> VisitOut:
    row = _get(session, VisitRow, visit_id, "visit", "path.visit_id")
    current = {
        "client_id": row.client_id,
        "duration_minutes": row.duration_minutes,
        "windows": [{"start": a, "end": b} for a, b in row.windows],
        "skills": row.skills,
        "priority": row.priority,
        "preferred_van_id": row.preferred_van_id,
        "location": _lonlat(row.lon, row.lat),
        "address": row.address,
        "status": row.status,
        "pinned_van_id": row.pinned_van_id,
        "pinned_date": row.pinned_date,
    }
    merged = _merge(VisitCreate, current, body)
    # the pin is checked when it is set or the fields it depends on change
    touched = body.model_fields_set & {
        "pinned_van_id",
        "pinned_date",
        "windows",
        "skills",
        "duration_minutes",
    }
    fields = _visit_fields(session, merged, ZoneInfo(settings.timezone), check_pin=bool(touched))
    for key, value in fields.items():
        setattr(row, key, value)
    session.commit()
    logger.info("visit %s updated", visit_id)
    return visit_out(row, ZoneInfo(settings.timezone))


@router.delete("/visits/{visit_id}", status_code=204, tags=["visits"], responses=WRITE_ERRORS)
def delete_visit(visit_id: PathId, session: SessionDep, _: Dispatcher) -> Response:
    session.delete(_get(session, VisitRow, visit_id, "visit", "path.visit_id"))
    session.commit()
    logger.info("visit %s deleted", visit_id)
    return Response(status_code=204)


# --- consultation hours -----------------------------------------------------------------------


def consultation_out(row: ConsultationHoursRow, tz: ZoneInfo) -> ConsultationHoursOut:
    return ConsultationHoursOut(
        id=row.id,
        title=row.title,
        municipality=row.municipality,
        address=row.address,
        location=(row.lon, row.lat),
        weekday=row.weekday,
        start_time=row.start_time,
        end_time=row.end_time,
        every_weeks=row.every_weeks,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        skills=list(row.skills),
        van_id=row.van_id,
        created_at=_local(row.created_at, tz),
        updated_at=_local(row.updated_at, tz),
    )


def _consultation_fields(session: Session, body: ConsultationHoursCreate) -> dict[str, Any]:
    _ensure_van(session, body.van_id, "body.van_id")
    fields = body.model_dump(exclude={"id", "location"})
    fields["lon"], fields["lat"] = body.location
    return fields


CH = "/consultation-hours"


@router.get(CH, tags=["consultation hours"], responses=READ_ERRORS)
def list_consultation_hours(
    session: SessionDep,
    settings: SettingsDep,
    _: Dispatcher,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ConsultationHoursOut]:
    tz = ZoneInfo(settings.timezone)
    stmt = select(ConsultationHoursRow)
    return _page(
        session, stmt, limit, offset, ConsultationHoursRow.id, lambda r: consultation_out(r, tz)
    )


@router.post(CH, status_code=201, tags=["consultation hours"], responses=WRITE_ERRORS)
def create_consultation_hours(
    body: ConsultationHoursCreate, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> ConsultationHoursOut:
    ident = body.id or _new_id("ch")
    _ensure_new(session, ConsultationHoursRow, ident, "consultation hours")
    row = ConsultationHoursRow(id=ident, **_consultation_fields(session, body))
    session.add(row)
    session.commit()
    logger.info("consultation hours %s created", ident)
    return consultation_out(row, ZoneInfo(settings.timezone))


@router.get(CH + "/{ch_id}", tags=["consultation hours"], responses=READ_ERRORS)
def get_consultation_hours(
    ch_id: PathId, session: SessionDep, settings: SettingsDep, _: Dispatcher
) -> ConsultationHoursOut:
    row = _get(session, ConsultationHoursRow, ch_id, "consultation hours", "path.ch_id")
    return consultation_out(row, ZoneInfo(settings.timezone))


@router.patch(CH + "/{ch_id}", tags=["consultation hours"], responses=WRITE_ERRORS)
def update_consultation_hours(
    ch_id: PathId,
    body: ConsultationHoursPatch,
    session: SessionDep,
    settings: SettingsDep,
    _: Dispatcher,
) -> ConsultationHoursOut:
    row = _get(session, ConsultationHoursRow, ch_id, "consultation hours", "path.ch_id")
    tz = ZoneInfo(settings.timezone)
    current = consultation_out(row, tz).model_dump(exclude={"id", "created_at", "updated_at"})
    merged = _merge(ConsultationHoursCreate, current, body)
    for key, value in _consultation_fields(session, merged).items():
        setattr(row, key, value)
    session.commit()
    logger.info("consultation hours %s updated", ch_id)
    return consultation_out(row, tz)


@router.delete(
    CH + "/{ch_id}", status_code=204, tags=["consultation hours"], responses=WRITE_ERRORS
)
def delete_consultation_hours(ch_id: PathId, session: SessionDep, _: Dispatcher) -> Response:
    session.delete(_get(session, ConsultationHoursRow, ch_id, "consultation hours", "path.ch_id"))
    session.commit()
    logger.info("consultation hours %s deleted", ch_id)
    return Response(status_code=204)


# --- lifecycle --------------------------------------------------------------------------------


def startup(app: FastAPI) -> None:
    """Teach the redactor the personal strings already stored (names, addresses, notes)."""
    redactor: Redactor = app.state.redactor
    with app.state.db.unscoped() as session:  # the redactor serves every tenant's logs
        rows = session.execute(
            select(ClientRow.name, ClientRow.address, ClientRow.notes, ClientRow.phone)
        ).all()
    for name, address, notes, phone in rows:
        redactor.add(name, address, notes, phone)
