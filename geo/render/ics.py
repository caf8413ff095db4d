"""iCalendar (RFC 5545) of one van-day: one event per stop, for the crew's phone calendar.

Events run from service start to end in the horizon's time zone (with its VTIMEZONE). Whether a
client appears by name or pseudonym is :attr:`RenderOptions.client_display`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from icalendar import Calendar, Event

from geo.render.base import Renderer, RenderOptions, Selection
from geo.view import ClientDisplay, PlanView, StopView, VanDayView


def _summary(stop: StopView, display: ClientDisplay) -> str:
    if stop.consultation:
        return f"{stop.order}. Sprechstunde {stop.name}"
    return f"{stop.order}. {stop.name} – {stop.client_label(display)}"


def van_day_ics(
    vd: VanDayView,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    uid_domain: str = "vanplan.invalid",
    stamp: datetime | None = None,
) -> bytes:
    """An iCalendar file with one VEVENT per stop. ``stamp`` (DTSTAMP) defaults to now; pass it
    for reproducible output. The library does the RFC 5545 escaping, line folding and CRLF
    endings."""
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    day: date = vd.date
    cal = Calendar()
    cal.add("prodid", "-//vanplan//crew day//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{vd.van_name} {day.isoformat()}")
    for stop in vd.stops:
        ev = Event()
        ev.add("uid", f"{stop.visit_id}-{vd.van_id}-{day.isoformat()}@{uid_domain}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", stop.start)
        ev.add("dtend", stop.end)
        ev.add("summary", _summary(stop, display))
        ev.add("location", ", ".join(p for p in (stop.name, stop.info.address) if p))
        lon, lat = stop.coord
        ev.add("geo", (lat, lon))
        lines = [
            f"Ankunft / arrival {stop.arrival:%H:%M}",
            f"Navigation: {stop.osm_directions()}",
        ]
        if stop.info.notes:
            lines.append(stop.info.notes)
        ev.add("description", "\n".join(lines))
        ev.add("categories", [str(stop.kind)])
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
    )


RENDERER = Renderer(
    name="ics",
    media_type="text/calendar",
    render=_render,
    per_van_day=True,
    description="iCalendar of one van-day: one event per stop",
)
