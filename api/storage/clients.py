"""Erasure of a client (right to erasure, GDPR Art. 17 / SGB X).

:func:`erase_client` clears every personal field of the client (name, address, position, phone,
language, notes), cancels its open visits and clears their addresses and positions, and has
stored plans lose the client's personal fields: the plan part is
:func:`api.storage.plans.erase_client` (owned by the planning side), called inside the same
transaction. In plans and exports the client is then known only by its pseudonym. When the
transaction commits, a SQLite database is checkpointed (:func:`api.db.base.purge_freed_content`):
with ``secure_delete`` on, the old content is then gone from the file and its write-ahead log.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from api.db.base import purge_freed_content, utcnow
from api.db.core_models import ClientRow, VisitRow
from api.storage.plans import erase_client as erase_from_plans

logger = logging.getLogger(__name__)


class UnknownClientError(KeyError):
    """No client with this id."""


@dataclass(frozen=True)
class Erasure:
    client_id: str
    pseudonym: str
    visits_cancelled: int
    plans_updated: int


def pseudonym_for(client_id: str) -> str:
    """Stable pseudonym: the same client always gets the same one, and it reveals nothing."""
    return "erased-" + hashlib.sha256(client_id.encode()).hexdigest()[:10]


def erase_client(session: Session, client_id: str) -> Erasure:
    """Erase a client's personal data everywhere (caller commits). Idempotent."""
    client = session.get(ClientRow, client_id)
    if client is None:
        raise UnknownClientError(client_id)
    pseudonym = pseudonym_for(client_id)
    client.name = None
    client.address = None
    client.lon = None
    client.lat = None
    client.phone = None
    client.language = None
    client.notes = None
    if client.erased_at is None:
        client.erased_at = utcnow()
    cancelled = 0
    for visit in session.scalars(select(VisitRow).where(VisitRow.client_id == client_id)):
        visit.address = None
        visit.lon = None
        visit.lat = None
        if visit.status != "cancelled":
            visit.status = "cancelled"
            cancelled += 1
    plans = erase_from_plans(session, client_id)
    session.flush()
    bind = session.get_bind()
    if isinstance(bind, Engine) and not event.contains(session, "after_commit", _purge_after):
        event.listen(session, "after_commit", _purge_after, once=True)
    logger.info("client erased (%d visits cancelled, %d plans)", cancelled, plans)  # no id
    return Erasure(client_id, pseudonym, cancelled, plans)


def _purge_after(session: Session) -> None:
    """``after_commit`` of an erasure: the erased content leaves the database file too."""
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    purge_freed_content(bind)
