"""Logging that never prints a token: a redacting filter and a one-line formatter."""

from __future__ import annotations

import copy
import logging
import re

TOKEN_RE = re.compile(r"cog_[A-Za-z0-9_\-]+")
AUTH_RE = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',}]+")


def redact(text: str) -> str:
    text = AUTH_RE.sub(r"\1[redacted]", text)
    return TOKEN_RE.sub("cog_[redacted]", text)


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    # Anything else (dicts of headers, exceptions, objects) is replaced by its redacted repr only
    # when that differs: an Authorization header in a dict is a secret too, not just `cog_`.
    text = repr(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactTokens(logging.Filter):
    """Rewrites a record so that no `cog_...` token or Authorization value survives in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


def scrub(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    else:
        record.msg = _redact_value(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_value(a) for a in record.args)
    elif isinstance(record.args, dict):
        # A copy of the same type: gunicorn's access log passes a dict subclass that answers "-"
        # for a header the response lacks; a plain dict would raise KeyError on it instead.
        args = copy.copy(record.args)
        for key, value in args.items():
            # A mapping's Authorization entry (gunicorn's is "{authorization}i") is a secret.
            secret = "authorization" in str(key).lower() and value not in (None, "", "-")
            args[key] = "[redacted]" if secret else _redact_value(value)
        record.args = args
    if record.exc_info and record.exc_info[1] is not None:
        # Format the traceback now, redacted, so no handler formats the raw one later.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    for key, value in list(vars(record).items()):
        if key not in _STANDARD and isinstance(value, str):
            setattr(record, key, redact(value))


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def install_record_factory() -> None:
    """Redact every record where it is made, so that any handler (tests' too) sees clean text."""
    base = logging.getLogRecordFactory()
    if getattr(base, "redacting", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        scrub(record)
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class LineFormatter(logging.Formatter):
    """`time level logger message key=value ...`: one line per event, easy to grep and to ship."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD
            and key not in {"message", "asctime"}
            # Plain values only: Django attaches the request and server objects to some records,
            # whose reprs are noise (and would carry the query string).
            and isinstance(value, (str, int, float))
        )
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        if extras:
            line += " " + extras
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line += "\n" + record.exc_text
        return redact(line)
