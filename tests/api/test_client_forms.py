"""The visit form's time windows (:mod:`api.client_forms`) without a server: a window on one
day, over midnight, over several days (an end day), and the refusals naming the row's field in
German and English."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from api.client_forms import VisitForm, WindowRow
from api.forms import FormError
from api.i18n import Language

BERLIN = ZoneInfo("Europe/Berlin")


def _form(*rows: WindowRow) -> VisitForm:
    return VisitForm(client_id="c-1", duration_minutes="45", windows=rows)


def _window(form: VisitForm) -> tuple[datetime, datetime]:
    (window,) = form.create(BERLIN).windows
    return window.start, window.end


def _refusal(form: VisitForm) -> tuple[list[str], list[str]]:
    with pytest.raises(FormError) as caught:
        form.create(BERLIN)
    problems = caught.value.problems
    return [p.text(Language("de")) for p in problems], [p.text(Language("en")) for p in problems]


@pytest.mark.parametrize(
    ("row", "start", "end"),
    [
        (WindowRow("07.12.2026", "09:00", "12:00"), (7, 9), (7, 12)),
        (WindowRow("07.12.2026", "22:00", "2:00"), (7, 22), (8, 2)),  # past midnight
        (WindowRow("07.12.2026", "09:00", "12:00", "09.12.2026"), (7, 9), (9, 12)),
        (WindowRow("07.12.2026", "22:00", "02:00", "08.12.2026"), (7, 22), (8, 2)),
        (WindowRow("7.12.2026", "14:00", "10:00", "2026-12-11"), (7, 14), (11, 10)),
        # over the end of summer time is no issue in December; over a week boundary is fine
        (WindowRow("11.12.2026", "08:00", "18:00", "15.12.2026"), (11, 8), (15, 18)),
    ],
)
def test_a_window_row_gives_start_and_end(
    row: WindowRow, start: tuple[int, int], end: tuple[int, int]
) -> None:
    got = _window(_form(row))
    assert got == (
        datetime(2026, 12, start[0], start[1], tzinfo=BERLIN),
        datetime(2026, 12, end[0], end[1], tzinfo=BERLIN),
    )


def test_a_window_over_several_days_shows_again_as_it_was_entered() -> None:
    for row in (
        WindowRow("07.12.2026", "09:00", "12:00", "09.12.2026"),
        WindowRow("07.12.2026", "22:00", "02:00", "08.12.2026"),
        WindowRow("07.12.2026", "09:00", "12:00"),
    ):
        start, end = _window(_form(row))
        assert WindowRow.of([start.isoformat(), end.isoformat()], BERLIN) == row


def test_an_end_day_with_an_end_not_after_the_start_is_refused_naming_the_end() -> None:
    german, english = _refusal(
        _form(
            WindowRow("07.12.2026", "09:00", "12:00"),
            WindowRow("09.12.2026", "09:00", "12:00", "08.12.2026"),  # ends before it starts
            WindowRow("09.12.2026", "09:00", "09:00", "09.12.2026"),  # ends as it starts
        )
    )
    assert german == [
        "Zeitfenster 2 · Bis: das Ende muss nach dem Beginn liegen",
        "Zeitfenster 3 · Bis: das Ende muss nach dem Beginn liegen",
    ]
    assert english == [
        "Time window 2 · To: end must be after start",
        "Time window 3 · To: end must be after start",
    ]


def test_unreadable_end_days_and_the_apis_rules_name_their_row() -> None:
    german, english = _refusal(
        _form(
            WindowRow("07.12.2026", "09:00", "12:00", "9.12."),
            WindowRow("07.12.2026", "09:00", "12:00", "09.12.2101"),  # past the API's years
            WindowRow("", "", "", "09.12.2026"),  # an end day alone: no start
        )
    )
    assert german == [
        "Zeitfenster 1 · Bis: Tag (TT.MM.JJJJ) und Uhrzeit (HH:MM) angeben, erhalten: 9.12. 12:00",
        "Zeitfenster 3 · Von: Tag (TT.MM.JJJJ) und Uhrzeit (HH:MM) angeben, erhalten: ",
        "Zeitfenster 2 · Bis: das Jahr muss zwischen 2000 und 2100 liegen",
    ]
    assert english[0].startswith("Time window 1 · To: give a day (DD.MM.YYYY) and a time")
    assert english[2] == "Time window 2 · To: year must be 2000..2100"
