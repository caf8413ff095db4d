"""iCalendar (RFC 5545) of one van-day: one event per stop and per break, for the crew's phone
calendar.

Events run from service start to end in the horizon's time zone (with its VTIMEZONE). A stop's
LOCATION is its one name (the name every format uses), written once. Whether a client appears by
name or pseudonym is :attr:`RenderOptions.client_display`; the words are
:attr:`RenderOptions.messages` (English by default).
"""

from __future__ import annotations

import gettext
from datetime import UTC, date, datetime

from geo.render.base import Messages, Renderer, RenderOptions, Selection
from geo.view import ClientDisplay, PlanView, StopView, VanDayView


def _summary(stop: StopView, display: ClientDisplay, messages: Messages) -> str:
    _ = messages.gettext
    if stop.consultation:
        return _("%(order)s. Consultation hours %(place)s") % {
            "order": stop.order,
            "place": stop.name,
        }
    return f"{stop.order}. {stop.name} – {stop.client_label(display)}"


def van_day_ics(
    vd: VanDayView,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    uid_domain: str = "vanplan.invalid",
    stamp: datetime | None = None,
    messages: Messages | None = None,
) -> bytes:
    """An iCalendar file with one VEVENT per stop and per break. ``stamp`` (DTSTAMP) defaults
    to now; pass it for reproducible output. The library does the RFC 5545 escaping, line
    folding and CRLF endings."""
    from icalendar import Calendar, Event  # here: only a calendar download needs it

    messages = messages or gettext.NullTranslations()
    _ = messages.gettext
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    day: date = vd.date
    cal = Calendar()
    cal.add("prodid", "-//vanplan//crew day//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{vd.van_name} {day:%d.%m.%Y}")
    for stop in vd.stops:
        ev = Event()
        ev.add("uid", f"{stop.visit_id}-{vd.van_id}-{day.isoformat()}@{uid_domain}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", stop.start)
        ev.add("dtend", stop.end)
        ev.add("summary", _summary(stop, display, messages))
        ev.add("location", stop.name)
        lon, lat = stop.coord
        ev.add("geo", (lat, lon))
        lines = [
            _("Arrival %(time)s") % {"time": f"{stop.arrival:%H:%M}"},
            _("Navigation: %(link)s") % {"link": stop.osm_directions()},
        ]
        if stop.info.notes:
            lines.append(stop.info.notes)
        ev.add("description", "\n".join(lines))
        ev.add("categories", [str(stop.kind)])
        cal.add_component(ev)
    for n, brk in enumerate(vd.breaks, start=1):
        ev = Event()
        ev.add("uid", f"break-{n}-{vd.van_id}-{day.isoformat()}@{uid_domain}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", brk.start)
        ev.add("dtend", brk.end)
        ev.add("summary", _("Break"))
        ev.add("categories", ["break"])
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _render(view: PlanView, selection: Selection | None, options: RenderOptions) -> bytes:
    if selection is None:
        raise ValueError("iCalendar is made per van-day: give a van and a day")
    return van_day_ics(
        selection.van_day(view),
        display=options.client_display,
        uid_domain=options.uid_domain,
        stamp=options.stamp,
        messages=options.messages,
    )


RENDERER = Renderer(
    name="ics",
    media_type="text/calendar",
    render=_render,
    per_van_day=True,
    description="iCalendar of one van-day: one event per stop and per break",
)
