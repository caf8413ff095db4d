"""Sessions bound to one tenant: the isolation of every job centre's data in one place.

A :class:`TenantSession` (``Database.session(tenant_id)``, ``Database.sessions``; see
:class:`api.db.database.Database`) carries its tenant in ``session.info``. Two hooks on the session
class make the tenant's rows the only rows it sees or changes, so no storage function or route can
forget the filter:

- reads (``do_orm_execute``): every ORM ``SELECT``, ``UPDATE`` and ``DELETE`` gets
  ``with_loader_criteria(TenantOwned, tenant_id == bound tenant)``; this also covers
  ``session.get``, relationship loads and subqueries of ORM entities;
- writes (``before_flush``): a new tenant-owned object gets the bound tenant stamped on it (one
  naming another tenant is refused), and changing or deleting an object of another tenant is
  refused (:class:`TenantMismatchError`).

A session of this class that is not bound yet (the pages' session before the cookie was read)
refuses every ORM statement on a tenant-owned model (:class:`TenantNotBoundError`) instead of
reading all tenants. Plain sessions (:meth:`api.db.database.Database.unscoped`) are the deliberate
cross-tenant ones: authentication by token hash, the job runners' bookkeeping by job id (ids are
random), the tenant CLI.

``TenantSession.get(Model, "van-1")`` accepts the bare id of a model keyed by
``(tenant_id, id)`` and adds the bound tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from api.db.core_models import TenantOwned

TENANT_KEY = "tenant_id"
"""Key of the bound tenant in ``session.info``."""


class TenantNotBoundError(RuntimeError):
    """A tenant-owned model was queried through a session bound to no tenant."""


class TenantMismatchError(RuntimeError):
    """A write would put or change a row in a tenant other than the session's."""


class TenantSession(Session):
    """A session whose ORM statements see only the rows of ``info["tenant_id"]``."""

    @property
    def tenant_id(self) -> str | None:
        value = self.info.get(TENANT_KEY)
        return None if value is None else str(value)

    def bind_tenant(self, tenant_id: str) -> None:
        """Bind a not yet bound session (binding again to the same tenant is a no-op)."""
        current = self.tenant_id
        if current is not None and current != tenant_id:
            raise TenantMismatchError(
                f"session bound to tenant {current!r} cannot serve tenant {tenant_id!r}"
            )
        self.info[TENANT_KEY] = tenant_id

    def get(self, entity: Any, ident: Any, **kw: Any) -> Any:
        """``get(VanRow, "van-1")``: a bare id of a ``(tenant_id, id)`` model gets the tenant."""
        if isinstance(entity, type) and issubclass(entity, TenantOwned):
            keys = [c.key for c in inspect(entity).primary_key]
            if len(keys) == 2 and not isinstance(ident, tuple | dict):
                ident = {"tenant_id": self.tenant_id, "id": ident}
        return super().get(entity, ident, **kw)


def _owned(state: ORMExecuteState) -> bool:
    """Whether the statement touches a tenant-owned mapped class."""
    return any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers)


@event.listens_for(TenantSession, "do_orm_execute")
def _filter_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria of the statement that loaded the object apply already
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None:
        if _owned(state):
            raise TenantNotBoundError("a tenant's data was queried before a tenant was bound")
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


@event.listens_for(TenantSession, "before_flush")
def _stamp_tenant(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    touched = [o for o in (*session.new, *session.dirty, *session.deleted) if _is_owned(o)]
    if touched and tenant_id is None:
        raise TenantNotBoundError("a tenant's data was written before a tenant was bound")
    for obj in session.new:
        if not _is_owned(obj):
            continue
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantMismatchError(
                f"a {type(obj).__name__} of tenant {obj.tenant_id!r} cannot be added in "
                f"tenant {tenant_id!r}"
            )
    for obj in (*session.dirty, *session.deleted):
        if not _is_owned(obj):
            continue
        history = inspect(obj).attrs.tenant_id.history
        owners = {*history.deleted, *history.unchanged, *history.added} - {None}
        if owners - {tenant_id}:
            raise TenantMismatchError(
                f"a {type(obj).__name__} of tenant {sorted(owners)} cannot be changed in "
                f"tenant {tenant_id!r}"
            )


def _is_owned(obj: object) -> bool:
    return isinstance(obj, TenantOwned)


def session_tenant(session: Session) -> str:
    """The tenant ``session`` is bound to (:class:`TenantNotBoundError` if none)."""
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        raise TenantNotBoundError("this session is bound to no tenant")
    return str(tenant_id)
