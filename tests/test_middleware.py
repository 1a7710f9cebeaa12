"""dashboard.middleware: every request gets an id (the proxy's, if sane), echoed back and carried
by every log line made while it is served, and one request line once it is answered."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.logs import LineFormatter
from dashboard.models import Session

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def stdout_log() -> Iterator[io.StringIO]:
    """What the configured stdout handler writes (settings.LOGGING: its filters and format)."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, LineFormatter)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    if previous is not None:
        handler.setStream(previous)


def request_lines(buffer: io.StringIO) -> list[str]:
    return [line for line in buffer.getvalue().splitlines() if " dashboard.request " in line]


def test_a_sane_request_id_from_the_proxy_is_echoed_and_logged(
    client: Client, stdout_log: io.StringIO
) -> None:
    response = client.get("/login/", headers={"X-Request-ID": "edge-42.a_B"})
    assert response["X-Request-ID"] == "edge-42.a_B"
    [line] = request_lines(stdout_log)
    assert " INFO dashboard.request request method=GET path=/login/ status=302 " in line
    assert re.search(r" duration_ms=\d+ user_id=- request_id=edge-42\.a_B$", line)


@pytest.mark.parametrize(
    "given",
    ["", "has space", "x" * 65, "semi;colon", "new\\nline", "ünïcode", "<script>"],
    ids=["empty", "space", "too-long", "semicolon", "backslash", "unicode", "markup"],
)
def test_a_missing_or_garbage_request_id_is_replaced_by_a_generated_one(
    client: Client, stdout_log: io.StringIO, given: str
) -> None:
    response = client.get("/login/", headers={"X-Request-ID": given} if given else {})
    rid = response["X-Request-ID"]
    assert GENERATED.fullmatch(rid)
    [line] = request_lines(stdout_log)
    assert line.endswith(f"request_id={rid}")
    if given:
        assert given not in line


def test_each_request_gets_its_own_id(client: Client) -> None:
    ids = {client.get("/login/")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_one_line_per_request_with_the_user_and_without_the_query_string(
    client: Client, stdout_log: io.StringIO, make_user: Any
) -> None:
    user = make_user("op")
    client.force_login(user)
    response = client.get("/?q=cog_secretsecret1234&status=running")
    assert response.status_code == 200
    [line] = request_lines(stdout_log)
    assert " path=/ status=200 " in line
    assert f"user_id={user.pk} request_id={response['X-Request-ID']}" in line
    assert "cog_" not in stdout_log.getvalue()
    assert "status=running" not in line


def test_a_path_with_spaces_stays_on_one_line_as_one_field(
    client: Client, stdout_log: io.StringIO, make_user: Any
) -> None:
    client.force_login(make_user("op"))
    client.get("/no%20such%0Apage/")
    [line] = request_lines(stdout_log)
    assert " path=/no%20such%0Apage/ status=404 " in line


def test_log_lines_made_during_the_request_carry_its_id(
    client: Client, stdout_log: io.StringIO, make_user: Any
) -> None:
    client.force_login(make_user("op"))
    client.get("/nothing-here/", headers={"X-Request-ID": "trace-404"})
    lines = stdout_log.getvalue().splitlines()
    not_found = [line for line in lines if " WARNING django.request Not Found" in line]
    assert len(not_found) == 1
    assert not_found[0].endswith("request_id=trace-404")


def test_an_action_line_from_a_view_carries_the_request_id(
    client: Client, stdout_log: io.StringIO, operator: Any, acme: Any, fake: Any
) -> None:
    created = fake.add_session("org-acme", title="Flaky", status="running", is_archived=False)
    assert sync.sync_org(acme).state == "ok"
    session = Session.objects.get(session_id=created["session_id"])
    client.force_login(operator)
    # The archive succeeds, the re-read after it fails: the door logs that, mid-request.
    fake.inject("status", status=503, count=None, method="GET")
    try:
        response = client.post(
            f"/sessions/{session.pk}/archive/",
            headers={"X-Request-ID": "archive-1", "HX-Request": "true"},
        )
    finally:
        fake.clear_faults()
    assert response.status_code == 200
    action = [
        line
        for line in stdout_log.getvalue().splitlines()
        if " dashboard.answers re-read of " in line
    ]
    assert len(action) == 1
    assert action[0].endswith("request_id=archive-1")
    [line] = request_lines(stdout_log)
    assert "method=POST" in line and line.endswith("request_id=archive-1")


def test_lines_outside_a_request_have_no_request_id(
    stdout_log: io.StringIO, acme: Any, fake: Any
) -> None:
    assert sync.sync_org(acme).state == "ok"
    [line] = [line for line in stdout_log.getvalue().splitlines() if " dashboard.sync " in line]
    assert "sync of org-acme ok" in line
    assert "request_id" not in line


def test_healthz_successes_are_logged_only_at_debug(
    client: Client, stdout_log: io.StringIO
) -> None:
    assert client.get("/healthz").status_code == 200
    assert request_lines(stdout_log) == []
    logger = logging.getLogger("dashboard.request")
    logger.setLevel(logging.DEBUG)
    try:
        client.get("/healthz")
    finally:
        logger.setLevel(logging.NOTSET)
    [line] = request_lines(stdout_log)
    assert " DEBUG dashboard.request request method=GET path=/healthz status=200 " in line


def test_static_files_are_served_without_a_request_line(
    client: Client, stdout_log: io.StringIO
) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)  # type: ignore[attr-defined]
    response.close()
    assert request_lines(stdout_log) == []
