"""The one recurrence rule of consultation hours (api.recurrence) and its two callers: planning a
stored week (api.storage.weeks.week_request) and listing sessions (ConsultationHoursOut)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.db.core_models import ConsultationHoursRow, ShiftRow, VanRow
from api.db.database import Database
from api.recurrence import Recurrence, session_days
from api.routers.resources import consultation_out
from api.storage.weeks import week_request

BERLIN = ZoneInfo("Europe/Berlin")
# Every other Tuesday, valid from Wednesday 4 November 2026: the first session is Tuesday the
# 10th (the first Tuesday on or after valid_from), then the 24th, 8 December, ...
TUESDAYS = Recurrence(weekday=2, every_weeks=2, valid_from=date(2026, 11, 4))


def test_first_session_is_the_first_weekday_on_or_after_valid_from() -> None:
    assert TUESDAYS.first == date(2026, 11, 10)
    assert session_days(TUESDAYS, date(2026, 11, 1), date(2026, 12, 10)) == [
        date(2026, 11, 10),
        date(2026, 11, 24),
        date(2026, 12, 8),
    ]
    # valid_from on the weekday itself is the first session; valid_until is inclusive.
    same_day = Recurrence(2, 1, date(2026, 11, 3), valid_until=date(2026, 11, 17))
    assert session_days(same_day, date(2026, 11, 1), date(2026, 12, 31)) == [
        date(2026, 11, 3),
        date(2026, 11, 10),
        date(2026, 11, 17),
    ]
    assert session_days(same_day, date(2026, 11, 18), date(2026, 12, 31)) == []
    assert session_days(TUESDAYS, date(2026, 11, 11), date(2026, 11, 23)) == []


@pytest.mark.parametrize(
    ("weekday", "every_weeks", "field"), [(0, 1, "weekday"), (8, 1, "weekday"), (2, 0, "every")]
)
def test_an_impossible_rule_names_its_field(weekday: int, every_weeks: int, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        Recurrence(weekday, every_weeks, date(2026, 1, 1))


@st.composite
def rules(draw: st.DrawFn) -> Recurrence:
    valid_from = draw(st.dates(date(2024, 1, 1), date(2030, 12, 31)))
    length = draw(st.none() | st.integers(0, 400))
    return Recurrence(
        weekday=draw(st.integers(1, 7)),
        every_weeks=draw(st.integers(1, 8)),
        valid_from=valid_from,
        valid_until=None if length is None else valid_from + timedelta(days=length),
    )


def oracle(rule: Recurrence, first: date, last: date) -> list[date]:
    """The rule stated another way, day by day: the right weekday inside the validity, a whole
    multiple of the rhythm's weeks after the week-long stretch that starts at valid_from."""
    days = []
    day = first
    while day <= last:
        valid = rule.valid_from <= day and (rule.valid_until is None or day <= rule.valid_until)
        weeks = (day - rule.valid_from).days // 7
        if valid and day.isoweekday() == rule.weekday and weeks % rule.every_weeks == 0:
            days.append(day)
        day += timedelta(days=1)
    return days


@given(rules(), st.dates(date(2023, 6, 1), date(2032, 6, 1)), st.integers(0, 120))
def test_session_days_follow_the_rule(rule: Recurrence, first: date, span: int) -> None:
    last = first + timedelta(days=span)
    days = session_days(rule, first, last)
    assert days == oracle(rule, first, last)
    assert all(first <= d <= last and d.isoweekday() == rule.weekday for d in days)
    assert all((d - rule.first).days % (7 * rule.every_weeks) == 0 for d in days)
    assert 0 <= (rule.first - rule.valid_from).days <= 6
    # Week by week (as a week is planned) gives the same days as the whole period at once.
    weekly: list[date] = []
    start = first
    while start <= last:
        end = min(start + timedelta(days=6), last)
        weekly += session_days(rule, start, end)
        start = end + timedelta(days=1)
    assert weekly == days


# --- both callers -------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'vanplan.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_week_planning_and_the_session_list_agree(db: Database) -> None:
    """The case that once differed: week_request planned 10 November, the list said the 17th."""
    weeks = {"2026-W46": date(2026, 11, 9), "2026-W47": date(2026, 11, 16)}
    weeks["2026-W48"] = date(2026, 11, 23)
    with db.session() as s:
        s.add(VanRow(id="van-1", name="Mobiles Büro 1", skills=[]))
        s.flush()
        for n, monday in enumerate(weeks.values()):
            start = datetime.combine(monday, time(8), tzinfo=BERLIN)
            s.add(ShiftRow(id=f"s{n}", van_id="van-1", start=start, end=start + timedelta(hours=8)))
        s.add(
            ConsultationHoursRow(
                id="ch1",
                title="Sprechstunde",
                municipality="Bad König",
                lon=9.0093,
                lat=49.7413,
                weekday=2,
                start_time=time(10),
                end_time=time(11),
                every_weeks=2,
                valid_from=date(2026, 11, 4),
            )
        )
    planned: list[date] = []
    with db.session() as s:
        for week in weeks:
            request = week_request(s, week, "Europe/Berlin")
            planned += [d for v in request.visits if v.id.startswith("ch-") for d in v.dates or []]
        row = s.get(ConsultationHoursRow, "ch1")
        assert row is not None
        listed = consultation_out(row, BERLIN).occurrences(date(2026, 11, 9), date(2026, 11, 29))
    assert planned == [date(2026, 11, 10), date(2026, 11, 24)]
    assert [start.date() for start, _ in listed] == planned
    assert all(start.hour == 10 for start, _ in listed)
