"""Unit tests for dashboard.logs: no `cog_` token or Authorization value survives in a log line."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from dashboard.logs import LineFormatter, RedactTokens, redact

TOKEN = "cog_" + "Zz9" * 13 + "_-q"
SECRET = "s3cr3t-Bearer-value-42"


@pytest.mark.parametrize(
    "text",
    [
        f"token {TOKEN} used",
        f"{TOKEN}",
        f"url=https://api.example/?key={TOKEN}&x=1",
        f"Authorization: Bearer {TOKEN}",
        f"authorization: bearer {SECRET}",
        f"AUTHORIZATION={SECRET}",
        f"{{'Authorization': 'Bearer {SECRET}'}}",
        f'{{"authorization": "Bearer {SECRET}", "accept": "json"}}',
        f"Headers({{'authorization': 'Bearer {SECRET}'}})",
        f"b'Authorization: Bearer {SECRET}\\r\\nHost: x'",
    ],
)
def test_redact_removes_tokens_and_authorization_values(text: str) -> None:
    out = redact(text)
    assert TOKEN not in out and SECRET not in out
    assert "cog_[redacted]" in out or "[redacted]" in out


def test_redact_keeps_the_rest_of_the_line() -> None:
    out = redact(f'GET /v3/sessions failed: 401 "Authorization: Bearer {TOKEN}" accept=json')
    assert out == 'GET /v3/sessions failed: 401 "Authorization: [redacted]" accept=json'
    assert redact("nothing secret here: cog of a wheel") == "nothing secret here: cog of a wheel"


def make_record(
    msg: Any, args: Any = None, exc_info: Any = None, **extra: Any
) -> logging.LogRecord:
    """A record made the plain way, without the redacting record factory."""
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


class Holder:
    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"Holder(token={self.token!r})"


def raised(message: str) -> Any:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return sys.exc_info()


@pytest.mark.parametrize(
    "record",
    [
        make_record(f"calling with {TOKEN}"),
        make_record("calling with %s", (TOKEN,)),
        make_record("headers %r", ({"Authorization": f"Bearer {SECRET}"},)),
        make_record("calling %(who)s with %(token)s", ({"who": "me", "token": TOKEN},)),
        # gunicorn's access log: a mapping whose request headers are "{name}i".
        make_record(
            '%(h)s "%(r)s" %({authorization}i)s',
            ({"h": "192.0.2.1", "r": "GET / HTTP/1.1", "{authorization}i": f"Bearer {SECRET}"},),
        ),
        make_record("object %r", (Holder(TOKEN),)),
        make_record("bytes %r", (TOKEN.encode(),)),
        make_record(RuntimeError(f"bad token {TOKEN}")),
        make_record("failed", exc_info=raised(f"token {TOKEN} rejected")),
        make_record("extra", token=TOKEN, header=f"Authorization: Bearer {SECRET}"),
    ],
)
def test_the_filter_scrubs_message_args_traceback_and_extras(record: logging.LogRecord) -> None:
    assert RedactTokens().filter(record) is True
    line = LineFormatter().format(record)
    everything = " ".join(
        [line, record.getMessage(), str(record.exc_text), *map(str, vars(record).values())]
    )
    assert TOKEN not in everything
    assert SECRET not in everything
    assert TOKEN.encode() not in str(record.args).encode()


def test_the_formatter_alone_redacts_a_record_it_was_handed_raw() -> None:
    record = make_record("raw %s", (TOKEN,), exc_info=raised(TOKEN))
    line = LineFormatter().format(record)
    assert TOKEN not in line
    assert "raw cog_[redacted]" in line
    assert "RuntimeError: cog_[redacted]" in line


def test_every_logger_scrubs_at_the_source(caplog: pytest.LogCaptureFixture) -> None:
    # The app installs a record factory: even handlers without the filter (pytest's) see no token.
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("some.library")
    logger.debug("sending %s", {"headers": {"Authorization": f"Bearer {SECRET}"}})
    logger.info("token is %s", TOKEN)
    try:
        raise ValueError(f"bad {TOKEN}")
    except ValueError:
        logger.exception("oops")
    assert len(caplog.records) == 3
    for record in caplog.records:
        text = " ".join([record.getMessage(), str(record.exc_text), caplog.text])
        assert TOKEN not in text and SECRET not in text
    assert "cog_[redacted]" in caplog.text


def test_line_formatter_keeps_plain_extras_and_drops_object_reprs() -> None:

    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/x",), None
    )
    record.status_code = 404
    record.request = object()  # Django attaches the WSGIRequest, whose repr has the query string
    line = LineFormatter().format(record)
    assert line.endswith("Not Found: /x status_code=404")


def test_gunicorn_access_lines_survive_the_redacting_record_factory() -> None:
    """gunicorn formats its access line from a mapping that answers "-" for absent headers
    (static files carry no X-Request-ID): redaction must keep that mapping's behaviour."""
    from gunicorn.glogging import SafeAtoms

    atoms = SafeAtoms({"s": "200", "{authorization}i": "Bearer cog_abcdef123456"})
    record = logging.getLogRecordFactory()(
        "gunicorn.access", logging.INFO, __file__, 1, "%(s)s %({x-request-id}o)s", (atoms,), None
    )
    assert record.getMessage() == "200 -"
    assert "cog_abcdef" not in str(record.args)
