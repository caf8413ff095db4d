"""Tenants: the job centres one installation serves, and what belongs to each besides its rows.

A tenant is a slug (``[a-z0-9]`` and inner ``-``, at most 64 characters), a name and optionally a
service-area file (``geo.service_area``): its vans start at that area's bases, its road network and
cache are that area's, its maps label that area's places. Without one, the installation's
configured area (``VANPLAN_GEO__SERVICE_AREA``, default the shipped one) applies.

:func:`create_tenant` / :func:`list_tenants` serve ``vanplan tenant``; :class:`TenantPlanners`
gives the planner of a tenant (one per service area, made when first needed).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.base import DEFAULT_TENANT
from api.db.core_models import TenantRow
from api.db.database import Database
from api.db.tenancy import TENANT_KEY
from api.planner import Planner, planner_from_settings
from api.settings import Settings
from geo.service_area import configured_area
from optimizer.errors import Collector

log = logging.getLogger(__name__)

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class TenantExistsError(ValueError):
    """A tenant with this slug exists already."""


@dataclass(frozen=True)
class TenantInfo:
    id: str
    name: str
    service_area: str | None
    created_at: datetime


def _info(row: TenantRow) -> TenantInfo:
    return TenantInfo(row.id, row.name, row.service_area, row.created_at)


def check_tenant(slug: str, name: str, service_area: Path | None) -> None:
    """Raise :class:`optimizer.errors.ValidationError` naming every field at fault."""
    c = Collector()
    c.check(
        bool(SLUG.match(slug)),
        "slug",
        f"{slug!r}: lower-case letters, digits and inner '-', at most 64 characters",
    )
    c.check(0 < len(name.strip()) <= 200, "name", "must be 1 to 200 characters")
    if service_area is not None:
        try:
            configured_area(service_area)
        except ValueError as exc:  # ServiceAreaError names the file and field
            c.add("service_area", str(exc))
    c.raise_if_any()


def create_tenant(
    db: Database, slug: str, name: str, service_area: Path | None = None
) -> TenantInfo:
    """Add a tenant (validated; :class:`TenantExistsError` if the slug is taken)."""
    check_tenant(slug, name, service_area)
    with db.unscoped() as session:
        if session.get(TenantRow, slug) is not None:
            raise TenantExistsError(f"tenant {slug!r} exists already")
        area = str(service_area.resolve()) if service_area is not None else None
        row = TenantRow(id=slug, name=name.strip(), service_area=area)
        session.add(row)
        session.flush()
        log.info("tenant %s created", slug)
        return _info(row)


def list_tenants(db: Database) -> list[TenantInfo]:
    with db.unscoped() as session:
        return [_info(r) for r in session.scalars(select(TenantRow).order_by(TenantRow.id))]


def tenant_exists(db: Database, slug: str) -> bool:
    with db.unscoped() as session:
        return session.get(TenantRow, slug) is not None


def planner_of(state: Any, session: Session) -> Planner | None:
    """The planner of the tenant ``session`` is bound to (``app.state.planners``), else the
    app's planner (None before the planning side started)."""
    planners = getattr(state, "planners", None)
    tenant_id = session.info.get(TENANT_KEY)
    if planners is not None and tenant_id is not None:
        planner: Planner = planners(tenant_id)
        return planner
    return getattr(state, "planner", None)


def network_of(state: Any, session: Session) -> Any:
    """The loaded road network for drawing the plans of ``session``'s tenant: the app's
    (``app.state.road_network``) when the tenant plans in the configured area; None (straight
    legs, flagged approximate) for a tenant with an area of its own, whose network is loaded by
    its planner's matrix provider only when it plans."""
    if planner_of(state, session) is not getattr(state, "planner", None):
        return None
    return getattr(state, "road_network", None)


class TenantPlanners:
    """The planner of each tenant: the default planner for tenants without a service area of
    their own, else one planner per area file (made on first use, then kept)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        default: Planner,
        make: Callable[[Settings], Planner] = planner_from_settings,
    ) -> None:
        self.db = db
        self.settings = settings
        self.default = default
        self._make = make
        self._areas: dict[str, str | None] = {DEFAULT_TENANT: None}
        self._by_area: dict[str, Planner] = {}
        self._lock = threading.Lock()

    def area_of(self, tenant_id: str) -> str | None:
        """The tenant's own service-area file, or None (the configured one)."""
        with self._lock:
            if tenant_id in self._areas:
                return self._areas[tenant_id]
        with self.db.unscoped() as session:
            row = session.get(TenantRow, tenant_id)
            area = row.service_area if row is not None else None
        with self._lock:
            self._areas[tenant_id] = area
        return area

    def __call__(self, tenant_id: str) -> Planner:
        area = self.area_of(tenant_id)
        if area is None:
            return self.default
        with self._lock:
            planner = self._by_area.get(area)
            if planner is None:
                geo = self.settings.geo.model_copy(update={"service_area": Path(area)})
                planner = self._make(self.settings.model_copy(update={"geo": geo}))
                self._by_area[area] = planner
                log.info("planner for service area %s (%s)", planner.area.name, area)
            return planner
