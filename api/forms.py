"""Server-side forms of the dispatcher pages: reading fields into the JSON API's request schemas,
and refusals in the page's language, each naming its field.

Every page form (vans and shifts, :mod:`api.fleet`; clients and visits, :mod:`api.client_forms`;
slot offers, :mod:`api.offer_form`) builds the API's own request models with :func:`form_model`
and calls the API's handlers, so the pages and the API follow one set of rules. What they refuse
comes back as :class:`Problem` lines: a field path and an English message id with placeholders,
translated only when shown (:func:`refusal`), so the JSON API keeps its English messages and the
pages speak German by default.

Refusals have two sources, both mapped here: pydantic's validation errors (by error type, with
the schema's limits) and the handlers' :class:`api.errors.ApiError` details (by their message,
see :data:`API_MESSAGES`). A message this module does not know is shown as it came.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from api.errors import ApiError
from api.i18n import N_, Language

ModelT = TypeVar("ModelT", bound=BaseModel)

FIELD_LABELS: Mapping[str, str] = {
    "id": N_("Id"),
    "name": N_("Name"),
    "skills": N_("Skills"),
    "crew": N_("Crew"),
    "day": N_("Day"),
    "start": N_("From"),
    "end": N_("To"),
    "van_id": N_("Van"),
    "shift_id": N_("Shift"),
    "client_id": N_("Client"),
    "visit_id": N_("Visit"),
    "phone": N_("Phone"),
    "address": N_("Address"),
    "location": N_("Position (lon, lat)"),
    "language": N_("Language"),
    "notes": N_("Notes"),
    "preferred_van_id": N_("Preferred van"),
    "duration_minutes": N_("Duration (min)"),
    "windows": N_("Time window"),
    "priority": N_("Priority"),
    "status": N_("Status"),
    "pinned_van_id": N_("Pinned van"),
    "pinned_date": N_("Pinned day"),
    "max_work_minutes": N_("Maximum work (min)"),
    "dates": N_("Days"),
    "slot": N_("Slot"),
    "visit": N_("Visit"),
}
"""Form field -> its label (English message id), as the forms name them."""

_IDENTIFIER_FIELDS = {"id", "van_id", "client_id", "preferred_van_id", "pinned_van_id", "visit_id"}

_TYPE_MESSAGES: Mapping[str, str] = {
    "missing": N_("required"),
    "string_too_long": N_("at most %(max_length)s characters"),
    "too_long": N_("at most %(max_length)s entries"),
    "too_short": N_("at least %(min_length)s entries"),
    "greater_than": N_("must be greater than %(gt)s"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than": N_("must be less than %(lt)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "int_parsing": N_("a whole number"),
    "int_type": N_("a whole number"),
    "int_from_float": N_("a whole number"),
    "float_parsing": N_("a number"),
    "float_type": N_("a number"),
    "date_parsing": N_("a date"),
    "date_from_datetime_parsing": N_("a date"),
    "date_type": N_("a date"),
    "datetime_parsing": N_("a date and a time"),
    "datetime_from_date_parsing": N_("a date and a time"),
    "datetime_type": N_("a date and a time"),
    "time_parsing": N_("a time (HH:MM)"),
    "literal_error": N_("one of %(expected)s"),
    "extra_forbidden": N_("unknown field"),
}

_PATTERN_MESSAGES: Mapping[str, str] = {
    "skills": N_("lower-case names such as wheelchair or lang:ar"),
    "language": N_("a language code such as de, ar or uk"),
}

API_MESSAGES: Sequence[tuple[re.Pattern[str], str]] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (r"overlaps shift (?P<shift>\S+)", N_("overlaps shift %(shift)s")),
        (r"id already used", N_("id already used")),
        (r"unknown van id", N_("unknown van")),
        (r"unknown client id", N_("unknown client")),
        (r"unknown visit id", N_("unknown visit")),
        (r"unknown shift id", N_("unknown shift")),
        (r"client was erased", N_("was erased")),
        (r"client has visits", N_("has visits: delete them first")),
        # pins that can never hold (api.pins)
        (
            r"van (?P<van>\S+) lacks the skill\(s\) (?P<skills>.+) the visit needs",
            N_("van %(van)s lacks the skill(s) %(skills)s the visit needs"),
        ),
        (
            r"(?P<day>\S+) lies outside all the visit's time windows",
            N_("%(day)s lies outside all the visit's time windows"),
        ),
        (
            r"van (?P<van>\S+) has no shift on (?P<day>\S+)",
            N_("van %(van)s has no shift on %(day)s"),
        ),
        (
            r"no van with the needed skills has a shift on (?P<day>\S+)",
            N_("no van with the needed skills has a shift on %(day)s"),
        ),
        (
            r"the visit's (?P<minutes>\d+) min are longer than (?:the|every) shift on (?P<day>\S+) "
            r"\(longest (?P<longest>[^)]+)\)",
            N_("the visit's %(minutes)s min are longer than the shifts on %(day)s (%(longest)s)"),
        ),
        (
            r"no time window of the visit leaves (?P<minutes>\d+) min inside .* on (?P<day>\S+)",
            N_("no time window of the visit leaves %(minutes)s min inside a shift on %(day)s"),
        ),
    )
)
"""Messages of the API's handlers (:mod:`api.routers.resources`) -> the page's message id; the
named groups are its placeholders."""

VALIDATOR_MESSAGES: Sequence[tuple[re.Pattern[str], str]] = (
    (re.compile(r"year must be (?P<min>\d+)\.\.(?P<max>\d+)"), N_("year must be %(min)s..%(max)s")),
)
"""Messages of the schemas' validators that carry values -> the page's message id (the others
are message ids themselves, marked ``N_()`` in :mod:`api.schemas.core`)."""


@dataclass(frozen=True)
class Problem:
    """One refused field: ``field`` a form field path (``windows[0].end``; empty: the whole
    form), ``message`` an English message id with ``%(name)s`` placeholders."""

    field: str
    message: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def text(self, lang: Language) -> str:
        """``Label: message`` in ``lang``."""
        message = lang.gettext(self.message)
        if self.params:
            message = message % dict(self.params)
        label = field_label(self.field, lang)
        return f"{label}: {message}" if label else message

    def __str__(self) -> str:
        return self.text(Language("en"))


class FormError(Exception):
    """Form fields that could not be read or were refused."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def field_label(path: str, lang: Language) -> str:
    """``windows[0].end`` -> ``Zeitfenster 1 · bis`` (unknown parts as they are)."""
    parts = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?", path):
        label = lang.gettext(FIELD_LABELS[name]) if name in FIELD_LABELS else name
        parts.append(f"{label} {int(index) + 1}" if index else label)
    return " · ".join(parts)


def _loc_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def pydantic_problem(error: Mapping[str, Any]) -> Problem:
    """One pydantic error as a :class:`Problem` (message by error type, limits from its
    context; the schema validators' own messages as they are)."""
    loc = [p for p in error.get("loc", ()) if p not in ("body", "path", "query")]
    path = _loc_path(loc)
    kind = str(error.get("type", ""))
    ctx = dict(error.get("ctx") or {})
    names = [p for p in loc if isinstance(p, str)]
    last = names[-1] if names else ""
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", error.get("msg", ""))).removeprefix("Value error, ")
        for pattern, message in VALIDATOR_MESSAGES:
            if m := pattern.fullmatch(text):
                return Problem(path, message, m.groupdict())
        return Problem(path, text)
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return Problem(path, N_("must not be empty"))
        return Problem(path, N_("at least %(min_length)s characters"), ctx)
    if kind == "string_pattern_mismatch":
        if last in _IDENTIFIER_FIELDS:
            return Problem(path, N_("letters, digits, '_', '.' and '-' only, at most 64"))
        for name in reversed(names):
            if name in _PATTERN_MESSAGES:
                return Problem(path, _PATTERN_MESSAGES[name])
        return Problem(path, N_("no line breaks or control characters"))
    if kind in _TYPE_MESSAGES:
        return Problem(path, _TYPE_MESSAGES[kind], {k: str(v) for k, v in ctx.items()})
    return Problem(path, str(error.get("msg", "invalid")))


def form_model(
    model: type[ModelT], data: Mapping[str, Any], earlier: Sequence[Problem] = ()
) -> ModelT:
    """The API's schema from form data; its validation errors name the form's fields. Problems
    found ``earlier`` (fields the form could not read, left out of ``data``) are raised with
    them, so one answer lists every problem."""
    try:
        model_obj = model.model_validate(dict(data))
    except PydanticValidationError as exc:
        raise FormError([*earlier, *(pydantic_problem(e) for e in exc.errors())]) from None
    if earlier:
        raise FormError(earlier)
    return model_obj


def form_patch(patch: type[ModelT], checked: BaseModel, fields: Iterable[str]) -> ModelT:
    """A form's change as the API's ``patch`` model: the resource ``checked`` as a whole (its
    ``*Create`` model), sent as every field the form shows, so an empty field clears the stored
    value."""
    return patch.model_validate(checked.model_dump(include=set(fields)))


def api_problems(exc: ApiError) -> list[Problem]:
    """An API handler's refusal as problems of the form's fields."""
    if not exc.details:
        return [Problem("", exc.message)]
    out = []
    for d in exc.details:
        path = re.sub(r"^(body|path|query)\.?", "", d.field)
        for pattern, message in API_MESSAGES:
            if m := pattern.search(d.message):
                out.append(Problem(path, message, m.groupdict()))
                break
        else:
            out.append(Problem(path, d.message))
    return out


def refusal(exc: ApiError | FormError, lang: Language) -> list[str]:
    """What the page shows for a refused form: one line per problem, in ``lang``."""
    found = exc.problems if isinstance(exc, FormError) else api_problems(exc)
    return [p.text(lang) for p in found]


def items(text: str) -> list[str]:
    """A comma- or semicolon-separated field as its items."""
    return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]


def optional(text: str) -> str | None:
    """A text field: None when left empty."""
    return text.strip() or None


# German spelling of a day (one-digit day and month allowed) and a 24 h clock time; the pages'
# date and time fields and the appointment upload (:mod:`api.imports`) both read them here.
GERMAN_DAY = r"\d{1,2}\.\d{1,2}\.\d{4}"
CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?"


def local_moment(day: str, clock: str, field: str, tz: ZoneInfo) -> datetime:
    """A day (``DD.MM.YYYY`` as the pages' fields take it, or ``YYYY-MM-DD``) and a 24 h
    wall-clock time (``9:00``, ``09:00``) in ``tz``."""
    try:
        return datetime.combine(parse_day(day), parse_clock(clock), tzinfo=tz)
    except ValueError:
        message = N_("give a day (DD.MM.YYYY) and a time (HH:MM), got %(value)s")
        raise FormError([Problem(field, message, {"value": f"{day} {clock}".strip()})]) from None


def parse_day(text: str) -> date:
    """``07.12.2026``, ``7.12.2026`` or ``2026-12-07``; ValueError otherwise."""
    text = text.strip()
    if re.fullmatch(GERMAN_DAY, text):
        day, month, year = (int(part) for part in text.split("."))
        return date(year, month, day)
    return date.fromisoformat(text)


def parse_clock(text: str) -> time:
    """``9:00``, ``09:00`` or ``09:00:30`` (24 h); ValueError otherwise."""
    text = text.strip()
    if not re.fullmatch(CLOCK, text):
        raise ValueError(f"not a 24 h time (HH:MM): {text!r}")
    hour, minute, *second = (int(part) for part in text.split(":"))
    return time(hour, minute, second[0] if second else 0)


def iso_day(text: str) -> str | None:
    """A day field as ``YYYY-MM-DD`` for the schema (German spelling accepted); None when
    empty; unreadable text is passed on unchanged so the schema names the field."""
    text = text.strip()
    if not text:
        return None
    try:
        return parse_day(text).isoformat()
    except ValueError:
        return text
