"""The one translation mechanism of the pages: gettext catalogues managed with Babel.

Source strings are English and marked where they are written: ``{% trans %}``/``_()`` in the
templates (Jinja2's i18n extension), ``_()`` in Python (``geo`` renderers get the catalogue as
``RenderOptions.messages``), ``N_()`` for strings translated later (tables of messages), and
``_()`` in ``api/static/*.js`` (the page hands the script its messages, :func:`js_messages`).
German is the default language; English is the source language, so it needs no catalogue.

The catalogues are the committed ``api/locale/<lang>/LC_MESSAGES/messages.po`` files, read and
compiled in memory when first used (no ``.mo`` build step). Updating them is described in the
README ("Translations"): ``pybabel extract -F babel.cfg`` then ``pybabel update``.

Dates are shown as ``dd.mm.yyyy`` and times as 24 h ``HH:MM`` in the plan's zone (Europe/Berlin)
in every language; weekday names come from Babel's locale data.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.messages.extract import extract_javascript
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, select_autoescape

from geo.render.base import format_duration

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
DOMAIN = "messages"
LANGUAGES: Mapping[str, str] = {"de": "Deutsch", "en": "English"}
DEFAULT_LANGUAGE = "de"
SOURCE_LANGUAGE = "en"
COOKIE = "vanplan_lang"
QUERY = "lang"
DEFAULT_TIMEZONE = "Europe/Berlin"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark a string for the catalogue without translating it here."""
    return message


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (fuzzy entries left out); the source language and
    unknown languages translate nothing."""
    if lang == SOURCE_LANGUAGE or lang not in LANGUAGES:
        return gettext.NullTranslations()
    with catalogue_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


_ACCEPT = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an ``Accept-Language`` header (q-values respected)."""
    best: tuple[float, str] | None = None
    for n, part in enumerate((header or "").split(",")):
        m = _ACCEPT.match(part)
        if not m:
            continue
        lang = m.group(1).lower()
        try:
            q = float(m.group(2)) if m.group(2) else 1.0
        except ValueError:
            continue
        if lang in LANGUAGES and q > 0 and (best is None or q > best[0]):
            best = (q - n * 1e-6, lang)  # equal q: the earlier one wins
    return best[1] if best else None


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the ``lang`` query parameter, else the cookie, else the browser's
    ``Accept-Language``, else German."""
    for candidate in (query, cookie):
        if candidate and candidate.lower() in LANGUAGES:
            return candidate.lower()
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Language:
    """One language of the interface: its catalogue and its date and time formats."""

    code: str
    timezone: str = DEFAULT_TIMEZONE

    @property
    def catalogue(self) -> gettext.NullTranslations:
        return translations(self.code)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def gettext(self, message: str) -> str:
        return self.catalogue.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogue.ngettext(singular, plural, n)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz) if moment.tzinfo else moment

    def format_date(self, day: date | datetime) -> str:
        """``02.03.2026``."""
        return f"{day:%d.%m.%Y}"

    def format_short_date(self, day: date | datetime) -> str:
        """``02.03.``."""
        return f"{day:%d.%m.}"

    def format_time(self, moment: datetime) -> str:
        """``09:05`` (24 h, in the interface's zone)."""
        return f"{self.local(moment):%H:%M}"

    def weekday(self, day: date | datetime, *, short: bool = False) -> str:
        """``Montag`` / ``Monday`` (``Mo.`` / ``Mon`` when short)."""
        d = day.date() if isinstance(day, datetime) else day
        return format_date(d, "EEE" if short else "EEEE", locale=self.code)

    def day_label(self, day: date | datetime, *, short: bool = False) -> str:
        """``Montag, 02.03.2026``; short: ``Mo. 02.03.``."""
        if short:
            return f"{self.weekday(day, short=True)} {self.format_short_date(day)}"
        return f"{self.weekday(day)}, {self.format_date(day)}"


@cache
def environment(lang: str) -> Environment:
    """The page templates' Jinja2 environment in ``lang``: the i18n extension with the
    catalogue installed (``{% trans %}``, ``_()``), and filters for dates and times."""
    language = Language(lang)
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(language.catalogue, newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = language.format_date
    env.filters["short_date"] = language.format_short_date
    env.filters["time"] = language.format_time
    env.filters["weekday"] = language.weekday
    env.filters["day_label"] = language.day_label
    env.filters["duration"] = format_duration
    env.globals["lang"] = lang
    env.globals["languages"] = LANGUAGES
    return env


@cache
def _js_source_messages() -> tuple[str, ...]:
    """Every ``_("...")`` of the page scripts, in order of appearance."""
    found: list[str] = []
    for path in sorted(STATIC_DIR.glob("*.js")):
        with path.open("rb") as f:
            for _line, _func, message, _comments in extract_javascript(f, {"_": None}, [], {}):
                if isinstance(message, str) and message not in found:
                    found.append(message)
    return tuple(found)


def js_messages(lang: str) -> dict[str, str]:
    """The page scripts' strings in ``lang`` (the script's ``_()`` looks them up)."""
    catalogue = translations(lang)
    return {m: catalogue.gettext(m) for m in _js_source_messages()}
