"""Why a visit stayed unassigned, in words: the optimizer's reason codes
(:class:`optimizer.plan.Reason`) to messages of the interface's language.

The optimizer stays language-free (codes plus an English detail); the pages translate the code
here, at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.i18n import N_, Language
from optimizer.plan import Reason

REASON_MESSAGES: Mapping[str, str] = {
    Reason.NO_SKILLED_VAN: N_("No van has the skills this visit needs."),
    Reason.NO_SHIFT_IN_WINDOW: N_("No shift overlaps the visit's days and time windows."),
    Reason.SERVICE_TOO_LONG: N_("The visit is longer than any shift allows."),
    Reason.UNREACHABLE: N_("The place cannot be reached by road from the van's base."),
    Reason.PIN_IMPOSSIBLE: N_("The visit's pin cannot be honoured: no fitting shift that day."),
    Reason.PIN_NOT_HONOURED: N_(
        "The pin could not be honoured: its van-day has no room left for the visit."
    ),
    Reason.NO_ROOM: N_("Possible on its own, but the week is full: other visits take the room."),
    Reason.BREAKS_DO_NOT_FIT: N_(
        "Possible only without breaks: the breaks leave no room for the visit."
    ),
    Reason.NOT_PLANNED: N_(
        "Not planned: the search was stopped or ran out of time before its first plan."
    ),
    Reason.CANCELLED: N_("The visit was cancelled."),
}


def reason_message(code: str, language: Language, fallback: str = "") -> str:
    """The message of a reason code in ``language``; ``fallback`` (the optimizer's English
    detail) for a code this table does not know."""
    message = REASON_MESSAGES.get(code)
    return language.gettext(message) if message else (fallback or code)
