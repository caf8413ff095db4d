"""CSV of one van-day: one row per stop, in order, the date as ``dd.mm.yyyy`` and times as local
``HH:MM``; the place is the stop's one name (the name every format uses).

The file starts with a UTF-8 byte order mark, so that Excel reads umlauts right. Free text is
protected against spreadsheet formulas (CSV injection). Whether a client appears by name or
pseudonym is :attr:`RenderOptions.client_display`.
"""

from __future__ import annotations

import csv
import io

from geo.render.base import Renderer, RenderOptions, Selection
from geo.view import ClientDisplay, PlanView, VanDayView

BOM = "\ufeff"
CSV_COLUMNS = (
    "order",
    "date",
    "arrival",
    "start",
    "end",
    "place",
    "client",
    "notes",
    "kind",
    "visit_id",
    "lat",
    "lon",
)


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def van_day_csv(
    vd: VanDayView,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    delimiter: str = ",",
) -> str:
    """The table of one van-day (CRLF line ends, no BOM), the columns of :data:`CSV_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in vd.stops:
        lon, lat = s.coord
        writer.writerow(
            [
                s.order,
                s.start.strftime("%d.%m.%Y"),
                s.arrival.strftime("%H:%M"),
                s.start.strftime("%H:%M"),
                s.end.strftime("%H:%M"),
                _cell(s.name),
                _cell(s.client_label(display)),
                _cell(s.info.notes),
                str(s.kind),
                s.visit_id,
                f"{lat:.6f}",
                f"{lon:.6f}",
            ]
        )
    return buf.getvalue()


def _render(view: PlanView, selection: Selection | None, options: RenderOptions) -> bytes:
    if selection is None:
        raise ValueError("the CSV table is made per van-day: give a van and a day")
    text = van_day_csv(
        selection.van_day(view), display=options.client_display, delimiter=options.csv_delimiter
    )
    return (BOM + text).encode("utf-8")


RENDERER = Renderer(
    name="csv",
    media_type="text/csv; charset=utf-8",
    render=_render,
    per_van_day=True,
    description="table of one van-day: one row per stop",
)
