"""Keep client names and addresses out of the logs.

The service never logs personal fields on purpose (routes log ids only). As a safety net, a
:class:`Redactor` knows the personal strings the service has handled (names, addresses, notes it has
stored or served) and masks them, together with anything shaped like a German street address or
postcode + town and the client id of a request path (``/v1/clients/{id}``, ``?client_id=``: ids
are chosen by the caller and may be names), in every record that passes a
:class:`PersonalDataFilter` or is formatted by a :class:`RedactingFormatter` (which also covers
tracebacks).

Known values are masked as whole words only ("Anna" leaves "Annabel" alone), and never where they
stand as a protocol token of an access-log line: a client called "HTTP", "Post" or "Get" does not
blank ``"POST /v1/solve HTTP/1.1"``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

MASK = "[redacted]"

# "Hauptstraße 12", "Am Markt 3a", "Bahnhofstr. 7", "Lindenweg 5": street word + house number.
_STREET = re.compile(
    r"\b[\wÄÖÜäöüß.-]*(?:stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|ring|pfad|ufer|damm|steig)"
    r"\s+\d+\s?[a-zA-Z]?\b",
    re.IGNORECASE,
)
# "64711 Erbach": five-digit postcode followed by a capitalised town name.
_POSTCODE_TOWN = re.compile(r"\b\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+")
# The id segment after /clients/ and the value of a client_id query parameter.
_CLIENT_ID_IN_PATH = re.compile(r"(?<=/clients/)[^/\s?#\"']+|(?<=[?&]client_id=)[^&\s#\"']+")
# A known value counts only as a whole word ...
_WORD_START, _WORD_END = r"(?<!\w)", r"(?!\w)"
# ... and not as a protocol token: a method before its path ("GET /v1"), the protocol of a request
# line ("HTTP/1.1") or a URL scheme ("https://").
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
_SCHEMES = frozenset({"HTTP", "HTTPS"})


def _mask_known(match: re.Match[str]) -> str:
    word = match.group(0).upper()
    after = match.string[match.end() : match.end() + 3]
    if match.group(0) in _METHODS and after.startswith(" /"):  # methods are upper case
        return match.group(0)
    if word in _SCHEMES and (after.startswith("://") or after[:2] in {f"/{d}" for d in "0123"}):
        return match.group(0)
    return MASK


class Redactor:
    """Masks known personal strings and address-shaped text. Thread-safe, bounded memory."""

    def __init__(self, max_values: int = 50_000) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._max = max_values
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        """Remember personal strings (short ones, under 3 characters, are ignored)."""
        with self._lock:
            for value in values:
                if value is None or len(value.strip()) < 3:
                    continue
                self._values[value.strip()] = None
                self._values.move_to_end(value.strip())
            while len(self._values) > self._max:
                self._values.popitem(last=False)
            self._pattern = None

    def add_all(self, values: Iterable[str | None]) -> None:
        self.add(*values)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first so "Erika Mustermann" wins over "Erika".
                parts = sorted(self._values, key=len, reverse=True)
                alternatives = "|".join(re.escape(p) for p in parts)
                self._pattern = re.compile(
                    f"{_WORD_START}(?:{alternatives}){_WORD_END}", re.IGNORECASE
                )
            return self._pattern

    def redact(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(_mask_known, text)
        text = _STREET.sub(MASK, text)
        text = _POSTCODE_TOWN.sub(MASK, text)
        return _CLIENT_ID_IN_PATH.sub(MASK, text)


class PersonalDataFilter(logging.Filter):
    """Rewrites each record's message with personal data masked (never drops a record)."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template only
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output (message, traceback, extras) is redacted."""

    def __init__(self, *args: Any, redactor: Redactor | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact(super().format(record))


def logging_config(redactor: Redactor, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict (also usable as uvicorn's ``log_config``) whose every
    handler redacts through ``redactor``."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal": {"()": lambda: PersonalDataFilter(redactor)}},
        "formatters": {
            "redacting": {"()": lambda: RedactingFormatter(fmt, redactor=redactor)},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["personal"],
                "formatter": "redacting",
            }
        },
        "loggers": {
            "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.access": {"level": level, "handlers": ["stderr"], "propagate": False},
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def protect_handlers(redactor: Redactor, logger: logging.Logger | None = None) -> None:
    """Attach a :class:`PersonalDataFilter` to every handler of ``logger`` (root by default) that
    does not have one yet; for embedding the app in a process whose logging is set up elsewhere."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
            handler.addFilter(PersonalDataFilter(redactor))
