"""ORM models of the dispatcher's data: tenants (job centres), vans, shifts (with crews), clients,
visits (appointments), recurring village consultation hours, and API tokens.

Every row but a tenant's belongs to one tenant (:class:`TenantOwned`); sessions bound to a tenant
(:mod:`api.db.tenancy`) see and write only its rows.

Times are stored as naive UTC (:class:`~api.db.base.UtcDateTime`); consultation hours are wall-clock
times in the service's zone (they recur weekly, so DST must not shift them). Coordinates are
``lon``/``lat`` columns. Personal fields of a client (``name``, ``address``, ``phone``, ``notes``,
position, language) are nullable because erasure clears them.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    Time,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.db.base import Base, UtcDateTime, utcnow

ID = String(64)


class TenantRow(Base):
    """A job centre using this installation. ``id`` is its slug (``[a-z0-9-]``);
    ``service_area``: the service-area file its road network and maps use (None: the configured
    one, see ``geo.service_area``)."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    service_area: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TenantOwned:
    """Marks a model whose rows belong to one tenant (``tenant_id``); a tenant-bound session
    (:mod:`api.db.tenancy`) reads and writes only that tenant's rows. Models whose ids are
    chosen by users declare the primary key ``(tenant_id, id)`` so two tenants can both have
    van ``van-1``; the others (server-made ids) keep ``id`` and an indexed ``tenant_id``."""

    tenant_id: Mapped[str] = mapped_column(
        ID, ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False
    )


def _keyed(table: str) -> PrimaryKeyConstraint:
    return PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}")


def _to_van(column: str, table: str, ondelete: str | None = None) -> ForeignKeyConstraint:
    """``(tenant_id, column)`` -> ``vans (tenant_id, id)``: a reference stays in its tenant."""
    return ForeignKeyConstraint(
        ["tenant_id", column],
        ["vans.tenant_id", "vans.id"],
        name=f"fk_{table}_{column}_vans",
        ondelete=ondelete,
    )


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class VanRow(TenantOwned, Timestamped, Base):
    __tablename__ = "vans"
    __table_args__ = (_keyed("vans"),)

    id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(200))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Start/end of every route; None: the service area's base (geo.service_area).
    base_lon: Mapped[float | None] = mapped_column(Float)
    base_lat: Mapped[float | None] = mapped_column(Float)
    cost_per_hour: Mapped[float] = mapped_column(Float, default=30.0)
    cost_per_km: Mapped[float] = mapped_column(Float, default=0.35)

    shifts: Mapped[list[ShiftRow]] = relationship(
        back_populates="van", cascade="all, delete-orphan", passive_deletes=True
    )


class ShiftRow(TenantOwned, Timestamped, Base):
    """One van's working window on one day, with the crew on board."""

    __tablename__ = "shifts"
    __table_args__ = (_keyed("shifts"), _to_van("van_id", "shifts", ondelete="CASCADE"))

    id: Mapped[str] = mapped_column(ID)
    van_id: Mapped[str] = mapped_column(ID, index=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    crew: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_work_minutes: Mapped[int | None] = mapped_column(Integer)

    van: Mapped[VanRow] = relationship(back_populates="shifts")


class ClientRow(TenantOwned, Timestamped, Base):
    __tablename__ = "clients"
    # A van's deletion clears references to it (api.routers.resources.delete_van): a composite
    # key cannot SET NULL one of its columns on SQLite.
    __table_args__ = (_keyed("clients"), _to_van("preferred_van_id", "clients"))

    id: Mapped[str] = mapped_column(ID)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    # Revision 0007: shown to crews as a tel: link; cleared by erasure.
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    language: Mapped[str | None] = mapped_column(String(35))
    notes: Mapped[str | None] = mapped_column(Text)
    preferred_van_id: Mapped[str | None] = mapped_column(ID)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class VisitRow(TenantOwned, Timestamped, Base):
    """A client appointment to be planned. ``windows`` is a list of ``[start, end]`` ISO strings in
    UTC (empty: any time inside a shift); position None: the client's position."""

    __tablename__ = "visits"
    __table_args__ = (
        _keyed("visits"),
        ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name="fk_visits_client_id_clients",
            ondelete="RESTRICT",
        ),
        _to_van("preferred_van_id", "visits"),
    )

    id: Mapped[str] = mapped_column(ID)
    client_id: Mapped[str] = mapped_column(ID, index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    windows: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=1)
    preferred_van_id: Mapped[str | None] = mapped_column(ID)
    address: Mapped[str | None] = mapped_column(String(500))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Dispatcher's pin (revision 0003): the next plan keeps the visit on this van and/or date.
    pinned_van_id: Mapped[str | None] = mapped_column(ID, nullable=True, default=None)
    pinned_date: Mapped[date | None] = mapped_column(Date, nullable=True, default=None)


class ConsultationHoursRow(TenantOwned, Timestamped, Base):
    """Recurring village consultation hours: every ``every_weeks`` weeks on ``weekday`` (ISO, 1 =
    Monday) from ``valid_from`` (inclusive) to ``valid_until`` (inclusive, None: open-ended),
    ``start_time``-``end_time`` local wall-clock time."""

    __tablename__ = "consultation_hours"
    __table_args__ = (_keyed("consultation_hours"), _to_van("van_id", "consultation_hours"))

    id: Mapped[str] = mapped_column(ID)
    title: Mapped[str] = mapped_column(String(200))
    municipality: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    every_weeks: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    van_id: Mapped[str | None] = mapped_column(ID)


class TokenRow(TenantOwned, Base):
    """An API token of one tenant; only the SHA-256 of its secret is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        _to_van("van_id", "api_tokens", ondelete="CASCADE"),
        Index("ix_api_tokens_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    van_id: Mapped[str | None] = mapped_column(ID)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
