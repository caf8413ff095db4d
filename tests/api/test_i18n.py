"""The pages' one translation mechanism (api/i18n.py): the catalogue is complete, languages are
chosen as documented, dates and reasons come out German by default."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from api.crew import day_items
from api.i18n import (
    LANGUAGES,
    Language,
    catalogue_path,
    choose_language,
    environment,
    from_accept_language,
    js_messages,
    translations,
)
from api.reasons import REASON_MESSAGES, reason_message
from geo.view import BreakView, ClientDisplay
from optimizer.plan import Reason
from tests.geo.sample_view import sample_view

ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


def _source_messages() -> dict[str, tuple[str, str]]:
    """msgid -> (file, line) of every marked string, extracted as ``babel.cfg`` says."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: dict[str, tuple[str, str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, (filename, str(lineno)))
    return found


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_every_marked_string_is_translated(lang: str) -> None:
    """Extract the strings as ``pybabel extract`` does and compare with the committed .po: no
    string missing or untranslated (no English gaps in the German pages), none fuzzy, none
    left over, placeholders intact."""
    source = _source_messages()
    assert len(source) > 100  # templates, Python (api and geo renderers) and the page script
    with catalogue_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    entries = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalog if m.id}
    missing = sorted(f"{m!r} ({source[m][0]}:{source[m][1]})" for m in set(source) - set(entries))
    assert not missing, "not in the catalogue (pybabel update, then translate): " + ", ".join(
        missing
    )
    untranslated = sorted(
        k
        for k, m in entries.items()
        if not (all(m.string) if isinstance(m.string, tuple) else m.string)
    )
    assert not untranslated, f"without a translation: {untranslated}"
    assert not [k for k, m in entries.items() if m.fuzzy], "fuzzy entries are not used"
    assert not sorted(set(entries) - set(source)), "entries no source marks any more"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems


def test_the_catalogue_is_used() -> None:
    assert translations("de").gettext("Log out") == "Abmelden"
    assert translations("de").ngettext("%(count)s stop", "%(count)s stops", 2) == "%(count)s Halte"
    assert translations("en").gettext("Log out") == "Log out"
    assert environment("de").from_string("{{ _('Break') }}").render() == "Pause"
    assert js_messages("de")["Stopped: best plan kept"] == "Abgebrochen: bester Plan behalten"
    assert "Publishing…" in js_messages("en")


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        (None, None, None, "de"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "fr-FR, en;q=0.3, de;q=0.8", "de"),
        (None, None, "fr, it", "de"),
        (None, None, "de;q=0.5, en;q=0.5", "de"),  # equal weight: the first
        (None, "en", "de", "en"),
        ("de", "en", "en", "de"),
        ("EN", None, None, "en"),
        ("xx", None, "en", "en"),  # unknown choices are ignored
        (None, None, "en;q=zero, de", "de"),
    ],
)
def test_choose_language(
    query: str | None, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert choose_language(query, cookie, accept) == expected


def test_accept_language_zero_weight() -> None:
    assert from_accept_language("en;q=0") is None


def test_dates_and_times() -> None:
    de, en = Language("de"), Language("en")
    monday = date(2026, 3, 2)
    assert de.day_label(monday) == "Montag, 02.03.2026"
    assert de.day_label(monday, short=True) == "Mo. 02.03."
    assert en.day_label(monday) == "Monday, 02.03.2026"
    # 24 h in Europe/Berlin, whatever zone the moment comes in.
    assert de.format_time(datetime(2026, 3, 2, 16, 5, tzinfo=ZoneInfo("UTC"))) == "17:05"
    assert de.format_time(datetime(2026, 7, 2, 16, 5, tzinfo=ZoneInfo("UTC"))) == "18:05"


def test_every_reason_has_a_german_message() -> None:
    de = Language("de")
    assert set(REASON_MESSAGES) == set(Reason)
    for code in Reason:
        german = reason_message(code, de)
        assert german and german != REASON_MESSAGES[code], code
    assert reason_message("no_room", Language("en")).startswith("Possible on its own")
    assert reason_message("new_code", de, "detail") == "detail"


def test_day_items_in_time_order_with_breaks_and_next_stop() -> None:
    vd = sample_view().van_day("v1", 0)
    at = datetime(2026, 3, 2, 9, 40, tzinfo=BERLIN)
    vd = replace(
        vd,
        breaks=(BreakView(at, at + timedelta(minutes=10), 0, 0),),
        departure=datetime(2026, 3, 2, 8, 0, tzinfo=BERLIN),
        back=datetime(2026, 3, 2, 12, 30, tzinfo=BERLIN),
    )
    now = datetime(2026, 3, 2, 9, 45, tzinfo=BERLIN)  # after a1 (08:30-09:30)
    items = day_items(vd, ClientDisplay.PSEUDONYM, now)
    assert [i.kind for i in items] == ["departure", "stop", "break", "stop", "back"]
    assert [i.next for i in items] == [False, False, False, True, False]
    assert items[1].osm.startswith("https://www.openstreetmap.org/directions")
    assert not any(i.next for i in day_items(vd, ClientDisplay.PSEUDONYM, None))
    # Another day: nothing is under way on this one.
    assert not any(i.next for i in day_items(vd, ClientDisplay.PSEUDONYM, now - timedelta(days=1)))
