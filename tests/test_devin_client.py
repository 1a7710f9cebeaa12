"""dashboard.devin against httpx.MockTransport: parsing, error mapping, retries, paging, secrecy."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from django.views.debug import ExceptionReporter

import dashboard
from dashboard.devin import (
    BadCredentials,
    BadResponse,
    Conflict,
    DevinClient,
    DevinError,
    Forbidden,
    Invalid,
    Kind,
    Misconfigured,
    NotFound,
    PullRequest,
    RateLimited,
    Session,
    SessionQuery,
    Unavailable,
    normalize_session_id,
    parse_session,
    transport,
)
from dashboard.wording import describe, not_a_session_ref

# Built at runtime so the literal never sits in the source next to "Bearer".
TOKEN = "cog_test_" + "x" * 40
ORG = "org-test123"
BASE = "https://api.devin.test"
SESSION_PATH = f"/v3/organizations/{ORG}/sessions/devin-abc123"

Outcome = httpx.Response | Exception
# For clients that must fail before sending anything.
UNUSED_HTTP = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(599)))


def session_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "session_id": "devin-abc123",
        "url": "https://app.devin.ai/sessions/abc123",
        "status": "running",
        "status_detail": "working",
        "tags": ["nightly", "infra"],
        "org_id": ORG,
        "created_at": 1_700_000_000,
        "updated_at": 1_700_000_600,
        "acus_consumed": 2.5,
        "pull_requests": [{"pr_url": "https://github.com/o/r/pull/1", "pr_state": "open"}],
        "title": "Fix the flaky test",
        "category": "bug_fixing",
        "subcategory": "Other",
        "origin": "api",
        "is_archived": False,
        "parent_session_id": None,
        "child_session_ids": ["devin-child1"],
        "user_id": "user-1",
        "service_user_id": None,
        "playbook_id": None,
        "automation_id": None,
        "devin_mode": "normal",
        "structured_output": {"ok": True},
    }
    data.update(overrides)
    return data


def page_json(
    items: list[dict[str, Any]],
    *,
    end_cursor: str | None = None,
    has_next_page: bool = False,
    total: int | None = None,
) -> dict[str, Any]:
    return {
        "items": items,
        "end_cursor": end_cursor,
        "has_next_page": has_next_page,
        "total": total,
    }


def problem(status: int, detail: str | None = None, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": "Error", "status": status, "detail": detail, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def _rate_limited(retry_after: str | None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(429, json={"title": "Too Many Requests", "status": 429}, headers=headers)


class FakeApi:
    """Answers requests with scripted outcomes (responses or exceptions to raise), in order."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def client(self, **kwargs: Any) -> DevinClient:
        return DevinClient(
            base_url=BASE,
            org_id=ORG,
            token=TOKEN,
            label="Acme",
            http=httpx.Client(transport=httpx.MockTransport(self.handler)),
            sleep=self.sleeps.append,
            **kwargs,
        )


@pytest.fixture(autouse=True)
def budget(settings: Any) -> float:
    settings.DEVIN_RETRY_BUDGET = 10.0
    return 10.0


@pytest.fixture
def max_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make 'full jitter' always wait its ceiling, so waits are predictable."""
    monkeypatch.setattr(transport.random, "uniform", lambda low, high: high)


def assert_no_token(error: BaseException) -> None:
    """The token is nowhere a person or a log could see it: message, repr, attributes, chain,
    and the local variables of every frame the traceback holds (what Django's 500 page shows)."""
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert all(TOKEN not in repr(value) for value in vars(error).values())
    # Nothing chained: an httpx exception would bring its request, and the request its headers.
    assert error.__cause__ is None
    assert error.__context__ is None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != __file__:
            for name, value in tb.tb_frame.f_locals.items():
                assert TOKEN not in repr(value), name
        tb = tb.tb_next


# --- the request ------------------------------------------------------------------------------


def test_request_carries_bearer_token_user_agent_and_timeouts(settings: Any) -> None:
    settings.DEVIN_CONNECT_TIMEOUT = 1.5
    settings.DEVIN_READ_TIMEOUT = 7.0
    api = FakeApi(httpx.Response(200, json=session_json()))

    api.client().get_session("abc123")

    (request,) = api.requests
    assert request.method == "GET"
    assert str(request.url) == BASE + SESSION_PATH
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"] == f"devin-sessions-dashboard/{dashboard.__version__}"
    assert request.extensions["timeout"] == {"connect": 1.5, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_timeouts_and_budget_default_when_settings_do_not_name_them(settings: Any) -> None:
    for name in ("DEVIN_CONNECT_TIMEOUT", "DEVIN_READ_TIMEOUT", "DEVIN_RETRY_BUDGET"):
        if hasattr(settings, name):
            delattr(settings, name)
    api = FakeApi(httpx.Response(503), httpx.Response(200, json=session_json()))

    api.client().get_session("devin-abc123")

    assert api.requests[0].extensions["timeout"] == {
        "connect": 5.0,
        "read": 20.0,
        "write": 20.0,
        "pool": 20.0,
    }
    assert len(api.sleeps) == 1
    assert 0 <= api.sleeps[0] <= 10.0


def test_base_url_trailing_slash_and_path_prefix_are_kept_clean() -> None:
    api = FakeApi(httpx.Response(200, json=session_json()))
    client = DevinClient(
        base_url="https://devin.example.com/proxy/",
        org_id=ORG,
        token=TOKEN,
        http=httpx.Client(transport=httpx.MockTransport(api.handler)),
    )

    client.archive_session("https://app.devin.ai/sessions/abc123")

    assert api.requests[0].method == "POST"
    assert str(api.requests[0].url) == f"https://devin.example.com/proxy{SESSION_PATH}/archive"


def test_clients_without_http_share_one_pool() -> None:
    first = DevinClient(base_url=BASE, org_id=ORG, token=TOKEN)
    second = DevinClient(base_url="https://other.test", org_id="org-2", token=TOKEN + "y")

    assert first._transport.http is second._transport.http
    assert isinstance(first._transport.http, httpx.Client)


def test_shared_client_is_created_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_shared_http", None)
    barrier = threading.Barrier(8)
    made: list[httpx.Client] = []

    def grab() -> None:
        barrier.wait()
        made.append(transport.shared_client())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(made) == 8
    assert len({id(client) for client in made}) == 1
    made[0].close()


# --- whoami -----------------------------------------------------------------------------------


def test_whoami_service_user_with_null_org() -> None:
    body = {
        "principal_type": "service_user",
        "service_user_id": "su-1",
        "service_user_name": "dashboard",
        "org_id": None,
    }
    api = FakeApi(httpx.Response(200, json=body))

    identity = api.client().whoami()

    assert api.requests[0].url.path == "/v3/self"
    assert identity.kind == "service_user"
    assert identity.org_id is None
    assert identity.service_user_id == "su-1"
    assert identity.name == "dashboard"
    assert identity.raw == body


def test_whoami_pat_user_and_unknown_kind() -> None:
    pat = {
        "principal_type": "pat_user",
        "user_id": "u-1",
        "user_name": "Ada",
        "api_key_id": "k-1",
        "api_key_name": "laptop",
        "org_id": ORG,
    }
    api = FakeApi(
        httpx.Response(200, json=pat),
        httpx.Response(200, json={"principal_type": "robot_overlord", "org_id": ORG}),
    )
    client = api.client()

    first = client.whoami()
    second = client.whoami()

    assert (first.kind, first.user_name, first.api_key_name, first.org_id) == (
        "pat_user",
        "Ada",
        "laptop",
        ORG,
    )
    assert (second.kind, second.org_id, second.name) == ("robot_overlord", ORG, "robot_overlord")


def test_whoami_missing_required_field_is_bad_response() -> None:
    api = FakeApi(httpx.Response(200, json={"principal_type": "service_user"}))

    with pytest.raises(BadResponse) as caught:
        api.client().whoami()

    assert caught.value.detail == "identity.service_user_id is missing"
    assert describe(caught.value) == (
        "The Devin API sent data the dashboard cannot read: identity.service_user_id is missing."
    )


# --- parsing ----------------------------------------------------------------------------------


def test_session_is_parsed_into_typed_fields() -> None:
    data = session_json()

    session = parse_session(data)

    assert session == Session(
        session_id="devin-abc123",
        url="https://app.devin.ai/sessions/abc123",
        status="running",
        status_detail="working",
        tags=("nightly", "infra"),
        org_id=ORG,
        created_at=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        updated_at=datetime(2023, 11, 14, 22, 23, 20, tzinfo=UTC),
        acus_consumed=2.5,
        pull_requests=(PullRequest("https://github.com/o/r/pull/1", "open"),),
        title="Fix the flaky test",
        category="bug_fixing",
        subcategory="Other",
        origin="api",
        is_archived=False,
        parent_session_id=None,
        child_session_ids=("devin-child1",),
        user_id="user-1",
        service_user_id=None,
        playbook_id=None,
        automation_id=None,
        devin_mode="normal",
        structured_output={"ok": True},
    )
    assert session.raw is data


def test_session_id_without_prefix_becomes_canonical() -> None:
    assert parse_session(session_json(session_id="abc123")).session_id == "devin-abc123"


def test_unknown_enum_values_are_kept_and_extra_fields_ignored() -> None:
    session = parse_session(
        session_json(
            status="hibernating",
            status_detail="dreaming",
            category="astrology",
            origin="carrier_pigeon",
            devin_mode="turbo",
            brand_new_field={"x": 1},
        )
    )

    assert (session.status, session.status_detail, session.category) == (
        "hibernating",
        "dreaming",
        "astrology",
    )
    assert (session.origin, session.devin_mode) == ("carrier_pigeon", "turbo")
    assert session.raw["brand_new_field"] == {"x": 1}


def test_nullable_and_absent_optional_fields() -> None:
    data = session_json(
        status_detail=None, category=None, structured_output=None, child_session_ids=None
    )
    for key in ("title", "is_archived", "devin_mode", "automation_id", "subcategory"):
        del data[key]
    data["pull_requests"] = [{"pr_url": "https://github.com/o/r/pull/2", "pr_state": None}]

    session = parse_session(data)

    assert session.status_detail is None
    assert session.category is None
    assert session.structured_output is None
    assert session.child_session_ids == ()
    assert session.title is None
    assert session.is_archived is False
    assert session.pull_requests == (PullRequest("https://github.com/o/r/pull/2", None),)


def test_millisecond_timestamps_and_integer_acus() -> None:
    session = parse_session(session_json(created_at=1_700_000_000_123, acus_consumed=3))

    assert session.created_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert session.created_at.tzinfo is UTC
    assert session.acus_consumed == 3.0


@pytest.mark.parametrize(
    "field",
    ["session_id", "url", "status", "tags", "org_id", "created_at", "updated_at", "acus_consumed"],
)
def test_missing_required_field_names_the_field(field: str) -> None:
    data = session_json()
    del data[field]

    with pytest.raises(BadResponse) as caught:
        parse_session(data)

    assert caught.value.kind == Kind.BAD_RESPONSE
    assert caught.value.detail == f"session.{field} is missing"
    assert caught.value.status_code is None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("session_id", 123, "session.session_id should be a string, got a number"),
        ("session_id", "devin-a b", "session.session_id is not a session id"),
        ("url", None, "session.url should be a string, got null"),
        ("tags", "nightly", "session.tags should be a list of strings, got a string"),
        ("tags", ["ok", 5], "session.tags[1] should be a string, got a number"),
        ("created_at", "2024-01-01", "session.created_at should be Unix seconds, got a string"),
        ("created_at", True, "session.created_at should be Unix seconds, got a boolean"),
        ("updated_at", -5, "session.updated_at is not a plausible time"),
        ("updated_at", 10**17, "session.updated_at is not a plausible time"),
        ("acus_consumed", True, "session.acus_consumed should be a number, got a boolean"),
        ("acus_consumed", "2.5", "session.acus_consumed should be a number, got a string"),
        ("pull_requests", {}, "session.pull_requests should be a list, got an object"),
        ("pull_requests", [{"pr_state": "open"}], "session.pull_requests[0].pr_url is missing"),
        ("title", 7, "session.title should be a string or null, got a number"),
        ("is_archived", "no", "session.is_archived should be a boolean, got a string"),
        ("structured_output", [1], "session.structured_output should be an object or null"),
    ],
)
def test_wrong_type_names_the_field(field: str, value: object, expected: str) -> None:
    with pytest.raises(BadResponse) as caught:
        parse_session(session_json(**{field: value}))

    assert expected in caught.value.detail


@pytest.mark.parametrize("data", [None, [], "session", 42])
def test_session_that_is_not_an_object(data: object) -> None:
    with pytest.raises(BadResponse) as caught:
        parse_session(data)

    assert "session should be an object" in caught.value.detail


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>Login</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b"\xff\xfe garbage"),
        httpx.Response(200, content=b"[" * 100_000),
        httpx.Response(200, content=b""),
    ],
    ids=["html", "binary", "deeply-nested", "empty"],
)
def test_non_json_body_is_bad_response(response: httpx.Response) -> None:
    api = FakeApi(response)

    with pytest.raises(BadResponse) as caught:
        api.client().get_session("devin-abc123")

    assert caught.value.kind == Kind.NOT_JSON
    assert describe(caught.value) == (
        "Devin API at api.devin.test answered HTTP 200 with a body that is not JSON. "
        "Check the base URL."
    )
    assert caught.value.status_code == 200
    assert len(caught.value.detail) <= 300
    assert_no_token(caught.value)


# --- error mapping ----------------------------------------------------------------------------


def archive_error(response: httpx.Response) -> DevinError:
    """The error a POST (never retried on these) raises for this response."""
    api = FakeApi(response)
    with pytest.raises(DevinError) as caught:
        api.client().archive_session("devin-abc123")
    assert len(api.requests) == 1
    assert api.sleeps == []
    assert_no_token(caught.value)
    return caught.value


def test_401_says_who_and_what_to_do() -> None:
    error = archive_error(problem(401, "Invalid or expired token"))

    assert type(error) is BadCredentials
    assert (error.kind, error.org, error.org_name, error.host) == (
        "bad_credentials",
        ORG,
        "Acme",
        "api.devin.test",
    )
    assert (error.operation, error.session_id) == ("archive", "devin-abc123")
    assert describe(error) == (
        "The token for Acme (org-test123) was rejected (401). "
        "An admin can replace it on the Organizations page."
    )
    assert error.status_code == 401
    assert error.detail == "Invalid or expired token"


def test_403_with_problem_detail_shows_it() -> None:
    error = archive_error(
        problem(403, "Service user lacks the ManageOrgSessions permission", title="Forbidden")
    )

    assert type(error) is Forbidden
    assert error.detail == "Service user lacks the ManageOrgSessions permission"
    assert describe(error) == (
        "Devin refused this for Acme (org-test123) (403): "
        "Service user lacks the ManageOrgSessions permission"
    )
    assert error.status_code == 403


@pytest.mark.parametrize("response", [httpx.Response(403), httpx.Response(403, json={})])
def test_403_without_detail_says_the_token_lacks_permission(response: httpx.Response) -> None:
    error = archive_error(response)

    assert type(error) is Forbidden
    assert (error.kind, error.detail) == (Kind.FORBIDDEN, "")
    assert "The token for Acme (org-test123) lacks permission for this action (403)" in describe(
        error
    )
    assert "ManageOrgSessions" in describe(error)


def test_404_names_the_session() -> None:
    error = archive_error(problem(404, "Session not found"))

    assert type(error) is NotFound
    assert describe(error).startswith(
        "Devin found no session devin-abc123 in Acme (org-test123) (404)"
    )
    assert error.detail == "Session not found"


def test_409_says_state_and_what_to_do() -> None:
    error = archive_error(problem(409, "Session is already archived"))

    assert type(error) is Conflict
    assert describe(error) == (
        "Devin refused to change session devin-abc123 in its current state (409): "
        "Session is already archived. Refresh to see its state, then try again."
    )


def test_422_problem_json_with_errors_is_readable() -> None:
    response = problem(
        422,
        "Validation failed",
        title="Unprocessable Content",
        instance=f"/v3/organizations/{ORG}/sessions",
        errors=[
            {"loc": ["query", "first"], "msg": "Input should be less than or equal to 200"},
            {"field": "after", "message": "bad cursor"},
        ],
    )

    error = archive_error(response)

    assert type(error) is Invalid
    assert describe(error) == (
        "Devin rejected the request for session devin-abc123 as invalid (422): "
        "Validation failed: query.first: Input should be less than or equal to 200; "
        "after: bad cursor"
    )


def test_422_legacy_fastapi_shape_is_readable() -> None:
    body = {
        "detail": [
            {"loc": ["path", "devin_id"], "msg": "field required", "type": "value_error.missing"},
            {"loc": ["query", "archive"], "msg": "not a boolean", "type": "type_error.bool"},
        ]
    }

    error = archive_error(httpx.Response(422, json=body))

    assert type(error) is Invalid
    assert error.detail == "path.devin_id: field required; query.archive: not a boolean"
    assert describe(error).endswith(
        "(422): path.devin_id: field required; query.archive: not a boolean"
    )


def test_429_with_seconds_says_when_to_retry() -> None:
    error = archive_error(_rate_limited("30"))

    assert type(error) is RateLimited
    assert error.retry_after == 30.0
    assert describe(error) == (
        "Devin is rate limiting requests for Acme (org-test123) (429). Try again in 30 seconds."
    )


def test_429_with_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)

    error = archive_error(_rate_limited(when))

    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 290 <= error.retry_after <= 300
    assert "Try again in 5 minutes." in describe(error)


@pytest.mark.parametrize("header", [None, "soon", "-3"])
def test_429_without_usable_retry_after(header: str | None) -> None:
    error = archive_error(_rate_limited(header))

    assert isinstance(error, RateLimited)
    assert error.retry_after is None
    assert describe(error).endswith("(429). Try again in a minute.")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable_without_the_body(status: int) -> None:
    error = archive_error(httpx.Response(status, text="<html><h1>Bad Gateway</h1></html>"))

    assert type(error) is Unavailable
    assert error.status_code == status
    assert describe(error) == (
        f"Devin API at api.devin.test is having trouble (HTTP {status}). "
        "Try again in a few minutes."
    )
    assert error.detail == "<html><h1>Bad Gateway</h1></html>"


def test_other_4xx_is_plain_devin_error() -> None:
    error = archive_error(httpx.Response(418, json={"detail": "I'm a teapot"}))

    assert type(error) is DevinError
    assert error.status_code == 418
    assert describe(error) == (
        "Devin API at api.devin.test answered HTTP 418 for session devin-abc123: I'm a teapot"
    )


def test_garbage_error_body_is_capped_and_flattened() -> None:
    body = "line\n\x00\x1b[31m" + "A" * 10_000

    error = archive_error(httpx.Response(400, text=body))

    assert len(error.detail) <= 300
    for text in (str(error), describe(error)):
        assert "\n" not in text
        assert "\x00" not in text and "\x1b" not in text
        assert len(text) < 400


@pytest.mark.parametrize(
    "body",
    [[1, 2], "just a string", {"detail": 5, "errors": "nope"}, {"detail": {"nested": []}}],
)
def test_odd_json_error_bodies_do_not_crash(body: object) -> None:
    error = archive_error(httpx.Response(409, json=body))

    assert type(error) is Conflict
    assert describe(error).startswith("Devin refused to change session devin-abc123")


def test_server_echoing_the_token_is_redacted() -> None:
    error = archive_error(problem(401, f"Token {TOKEN} is not valid"))

    assert error.detail == "Token [redacted] is not valid"


# --- network failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("timed out"), "Devin API at api.devin.test did not answer in time."),
        (httpx.ConnectTimeout("timed out"), "Devin API at api.devin.test did not answer in time"),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "Devin API at api.devin.test refused the connection.",
        ),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "Could not find the Devin API host api.devin.test.",
        ),
        (
            httpx.ConnectError(
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                "self-signed certificate (_ssl.c:1000)"
            ),
            "Could not make a secure (TLS) connection to the Devin API at api.devin.test",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "The connection to the Devin API at api.devin.test broke before it answered.",
        ),
    ],
    ids=["read-timeout", "connect-timeout", "refused", "dns", "tls", "protocol"],
)
def test_network_failures_are_unavailable(exc: Exception, expected: str) -> None:
    api = FakeApi(exc)

    with pytest.raises(Unavailable) as caught:
        api.client().get_session("devin-abc123")

    assert expected in describe(caught.value)
    assert caught.value.status_code is None
    assert type(exc).__name__ in caught.value.detail
    assert_no_token(caught.value)


def test_tls_failure_is_not_retried_even_for_get() -> None:
    api = FakeApi(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))

    with pytest.raises(Unavailable):
        api.client().get_session("devin-abc123")

    assert len(api.requests) == 1
    assert api.sleeps == []


# --- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected"),
    ],
    ids=["429", "502", "503", "504", "read-timeout", "connect-error", "protocol-error"],
)
def test_get_retries_then_succeeds(failure: Outcome) -> None:
    api = FakeApi(failure, failure, httpx.Response(200, json=session_json()))

    session = api.client().get_session("devin-abc123")

    assert session.session_id == "devin-abc123"
    assert len(api.requests) == 3
    assert len(api.sleeps) == 2
    assert sum(api.sleeps) <= 10.0


def test_get_does_not_retry_500() -> None:
    api = FakeApi(httpx.Response(500), httpx.Response(200, json=session_json()))

    with pytest.raises(Unavailable):
        api.client().get_session("devin-abc123")

    assert len(api.requests) == 1


def test_get_honours_retry_after() -> None:
    api = FakeApi(
        httpx.Response(503, headers={"retry-after": "2"}),
        _rate_limited("1.5"),
        httpx.Response(200, json=session_json()),
    )

    api.client().get_session("devin-abc123")

    assert api.sleeps == [2.0, 1.5]


def test_backoff_grows_exponentially(max_jitter: None) -> None:
    api = FakeApi(*[httpx.Response(503)] * 4, httpx.Response(200, json=session_json()))

    api.client().get_session("devin-abc123")

    assert api.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_get_gives_up_within_the_budget(settings: Any, max_jitter: None) -> None:
    settings.DEVIN_RETRY_BUDGET = 3.0
    api = FakeApi(httpx.Response(503))

    with pytest.raises(Unavailable) as caught:
        api.client().get_session("devin-abc123")

    assert caught.value.status_code == 503
    assert api.sleeps == [0.5, 1.0, 1.5]  # the last wait is cut to what the budget has left
    assert sum(api.sleeps) <= 3.0
    assert len(api.requests) == 4


def test_get_attempts_are_capped_even_with_budget_left(settings: Any) -> None:
    settings.DEVIN_RETRY_BUDGET = 1000.0
    api = FakeApi(httpx.ReadTimeout("slow"))

    with pytest.raises(Unavailable):
        api.client().get_session("devin-abc123")

    assert len(api.requests) == transport.MAX_ATTEMPTS
    assert len(api.sleeps) == transport.MAX_ATTEMPTS - 1


def test_get_retry_after_beyond_budget_raises_at_once() -> None:
    api = FakeApi(_rate_limited("60"), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().get_session("devin-abc123")

    assert caught.value.retry_after == 60.0
    assert "Try again in 60 seconds." in describe(caught.value)
    assert api.sleeps == []
    assert len(api.requests) == 1


def test_get_retry_after_beyond_what_is_left_of_budget(settings: Any) -> None:
    settings.DEVIN_RETRY_BUDGET = 5.0
    api = FakeApi(_rate_limited("3"), _rate_limited("3"), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().get_session("devin-abc123")

    assert api.sleeps == [3.0]
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503),
        httpx.Response(502),
        httpx.Response(503, headers={"retry-after": "1"}),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected"),
        httpx.WriteError("broken pipe"),
    ],
    ids=["503", "502", "503-retry-after", "read-timeout", "protocol-error", "write-error"],
)
@pytest.mark.parametrize("action", ["archive_session", "unarchive_session"])
def test_post_is_not_retried_when_it_may_have_arrived(failure: Outcome, action: str) -> None:
    api = FakeApi(failure, httpx.Response(200, json=session_json()))

    with pytest.raises(Unavailable):
        getattr(api.client(), action)("devin-abc123")

    assert len(api.requests) == 1
    assert api.sleeps == []


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("[Errno 111] Connection refused"), httpx.ConnectTimeout("timed out")],
    ids=["connect-error", "connect-timeout"],
)
@pytest.mark.parametrize(
    ("action", "suffix"), [("archive_session", "archive"), ("unarchive_session", "unarchive")]
)
def test_post_is_retried_when_it_never_left(failure: Outcome, action: str, suffix: str) -> None:
    api = FakeApi(failure, httpx.Response(200, json=session_json(is_archived=True)))

    session = getattr(api.client(), action)("devin-abc123")

    assert session.is_archived is True
    assert [r.url.path for r in api.requests] == [f"{SESSION_PATH}/{suffix}"] * 2
    assert len(api.sleeps) == 1


def test_post_is_retried_on_429_with_small_retry_after() -> None:
    api = FakeApi(_rate_limited("2"), httpx.Response(200, json=session_json(is_archived=True)))

    session = api.client().archive_session("devin-abc123")

    assert session.is_archived is True
    assert api.sleeps == [2.0]
    assert len(api.requests) == 2


@pytest.mark.parametrize("header", ["120", None])
def test_post_is_not_retried_on_429_with_large_or_no_retry_after(header: str | None) -> None:
    api = FakeApi(_rate_limited(header), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().archive_session("devin-abc123")

    assert caught.value.retry_after == (120.0 if header else None)
    assert len(api.requests) == 1
    assert api.sleeps == []


# --- listing and paging -----------------------------------------------------------------------


def test_list_page_sends_flat_params_with_repeated_keys() -> None:
    api = FakeApi(httpx.Response(200, json=page_json([session_json()], total=1)))

    query = SessionQuery(
        first=50,
        updated_after=1_700_000_000,
        updated_before=1_700_000_100,
        created_after=1_600_000_000,
        created_before=1_600_000_100,
        is_archived=False,
        session_ids=["abc", "devin-def", "https://app.devin.ai/sessions/ghi"],
        tags=["a", "b c"],
    )

    page = api.client().list_page(query, after="cursor-1")

    (request,) = api.requests
    assert request.url.path == f"/v3/organizations/{ORG}/sessions"
    assert request.url.params.multi_items() == [
        ("first", "50"),
        ("after", "cursor-1"),
        ("updated_after", "1700000000"),
        ("updated_before", "1700000100"),
        ("created_after", "1600000000"),
        ("created_before", "1600000100"),
        ("is_archived", "false"),
        ("session_ids", "devin-abc"),
        ("session_ids", "devin-def"),
        ("session_ids", "devin-ghi"),
        ("tags", "a"),
        ("tags", "b c"),
    ]
    assert "qs" not in request.url.params
    assert [s.session_id for s in page.items] == ["devin-abc123"]
    assert (page.end_cursor, page.has_next_page, page.total) == (None, False, 1)


def test_list_page_defaults_and_true_boolean() -> None:
    api = FakeApi(httpx.Response(200, json=page_json([])))

    api.client().list_page(SessionQuery(is_archived=True))

    assert api.requests[0].url.params.multi_items() == [("first", "200"), ("is_archived", "true")]


def test_list_page_with_empty_session_ids_asks_nothing() -> None:
    api = FakeApi(httpx.Response(500))

    page = api.client().list_page(SessionQuery(session_ids=[]))

    assert page.items == []
    assert page.has_next_page is False
    assert api.requests == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"first": 0}, ValueError),
        ({"first": 201}, ValueError),
        ({"tags": "nightly"}, TypeError),
        ({"session_ids": "devin-abc"}, TypeError),
        ({"updated_after": 1.5}, TypeError),
        ({"session_ids": ["not an id"]}, ValueError),
    ],
)
def test_list_page_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    api = FakeApi(httpx.Response(200, json=page_json([])))

    with pytest.raises(error):
        api.client().list_page(SessionQuery(**kwargs))

    assert api.requests == []


def test_list_sessions_walks_every_page() -> None:
    api = FakeApi(
        httpx.Response(
            200,
            json=page_json(
                [session_json(session_id="devin-a")], end_cursor="c1", has_next_page=True
            ),
        ),
        httpx.Response(
            200,
            json=page_json(
                [session_json(session_id="devin-b")], end_cursor="c2", has_next_page=True
            ),
        ),
        httpx.Response(
            200,
            json=page_json(
                [session_json(session_id="devin-c")], end_cursor="c3", has_next_page=False
            ),
        ),
    )

    query = SessionQuery(first=1, is_archived=False, tags=["x", "y"])

    pages = list(api.client().list_sessions(query))

    assert [[s.session_id for s in page.items] for page in pages] == [
        ["devin-a"],
        ["devin-b"],
        ["devin-c"],
    ]
    assert [r.url.params.get("after") for r in api.requests] == [None, "c1", "c2"]
    for request in api.requests:
        assert request.url.params.get_list("tags") == ["x", "y"]
        assert request.url.params["first"] == "1"
        assert request.url.params["is_archived"] == "false"


def test_list_sessions_stops_on_a_repeated_cursor() -> None:
    api = FakeApi(
        httpx.Response(200, json=page_json([session_json()], end_cursor="c1", has_next_page=True)),
        httpx.Response(200, json=page_json([session_json()], end_cursor="c2", has_next_page=True)),
        httpx.Response(200, json=page_json([session_json()], end_cursor="c1", has_next_page=True)),
        AssertionError("the client asked past a repeated cursor"),
    )

    pages = list(api.client().list_sessions())

    assert len(pages) == 3
    assert [r.url.params.get("after") for r in api.requests] == [None, "c1", "c2"]


def test_list_sessions_stops_on_a_null_cursor() -> None:
    api = FakeApi(
        httpx.Response(200, json=page_json([session_json()], end_cursor=None, has_next_page=True)),
        httpx.Response(200, json=page_json([session_json()], end_cursor="c2", has_next_page=True)),
    )

    pages = list(api.client().list_sessions())

    assert len(pages) == 1
    assert len(api.requests) == 1


def test_list_sessions_is_lazy() -> None:
    api = FakeApi(
        httpx.Response(200, json=page_json([session_json()], end_cursor="c1", has_next_page=True))
    )

    pages: Iterator[Any] = api.client().list_sessions()
    assert api.requests == []
    next(pages)

    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"end_cursor": None, "has_next_page": False}, "sessions page.items is missing"),
        ({"items": {}, "has_next_page": False}, "sessions page.items should be a list"),
        ({"items": [], "has_next_page": "yes"}, "sessions page.has_next_page should be a boolean"),
        ({"items": [], "has_next_page": True, "end_cursor": 5}, "sessions page.end_cursor"),
        ({"items": [], "total": "many"}, "sessions page.total should be an integer"),
        ([], "sessions page should be an object"),
        (
            {"items": [session_json(), session_json(created_at=None)]},
            "items[1].created_at should be Unix seconds, got null",
        ),
    ],
)
def test_bad_envelope_is_bad_response(body: object, expected: str) -> None:
    api = FakeApi(httpx.Response(200, json=body))

    with pytest.raises(BadResponse) as caught:
        api.client().list_page()

    assert expected in caught.value.detail
    assert_no_token(caught.value)


def test_envelope_without_optional_keys_uses_spec_defaults() -> None:
    api = FakeApi(httpx.Response(200, json={"items": [session_json()]}))

    page = api.client().list_page()

    assert (len(page.items), page.end_cursor, page.has_next_page, page.total) == (
        1,
        None,
        False,
        None,
    )


# --- session ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("devin-abc123", "devin-abc123"),
        ("abc123", "devin-abc123"),
        ("  devin-abc123\n", "devin-abc123"),
        ("DEVIN-abc123", "devin-abc123"),
        ("https://app.devin.ai/sessions/abc123", "devin-abc123"),
        ("https://app.devin.ai/sessions/devin-abc123/", "devin-abc123"),
        ("https://acme.devinenterprise.com/sessions/abc123?tab=shell#x", "devin-abc123"),
        ("app.devin.ai/sessions/abc_12-3", "devin-abc_12-3"),
    ],
)
def test_normalize_session_id(value: str, expected: str) -> None:
    assert normalize_session_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "devin-",
        "devin-abc 123",
        "abc/../..",
        "https://app.devin.ai/",
        "javascript://x/abc",
        "abc<script>",
        "abc%2F",
        "a" * 200,
    ],
)
def test_normalize_session_id_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize_session_id(value)

    assert "is not a Devin session id" in str(caught.value)
    # What the person who typed it is told: what was wrong, and what to type instead.
    told = not_a_session_ref(value)
    assert "is not a session id or URL" in told
    assert "devin-abc123" in told and "https://app.devin.ai/sessions/abc123" in told


def test_get_session_rejects_a_bad_id_before_any_request() -> None:
    api = FakeApi(httpx.Response(200, json=session_json()))

    with pytest.raises(ValueError):
        api.client().get_session("../../self")

    assert api.requests == []


# --- configuration and secrecy ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://api.devin.ai"},
        {"base_url": "api.devin.ai"},
        {"base_url": f"https://user:{TOKEN}@api.devin.ai"},
        {"base_url": "https://api.devin.ai/?x=1"},
        {"org_id": "org-1/../../v3/self"},
        {"org_id": ""},
        {"token": ""},
        {"token": "   "},
        {"token": TOKEN + " extra"},
        {"token": TOKEN + "\u00e9"},
    ],
)
def test_bad_configuration_is_misconfigured(kwargs: dict[str, str]) -> None:
    config = {"base_url": BASE, "org_id": ORG, "token": TOKEN, **kwargs}

    with pytest.raises(Misconfigured) as caught:
        DevinClient(
            base_url=config["base_url"],
            org_id=config["org_id"],
            token=config["token"],
            http=UNUSED_HTTP,
        )

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, DevinError)
    assert caught.value.kind == Kind.MISCONFIGURED
    assert caught.value.field == next(iter(kwargs))
    assert "Organizations page" in describe(caught.value)
    for text in (str(caught.value), repr(caught.value), describe(caught.value)):
        assert TOKEN not in text


def test_pasted_surrounding_whitespace_in_token_is_forgiven() -> None:
    api = FakeApi(httpx.Response(200, json=session_json()))
    client = DevinClient(
        base_url=BASE + "/",
        org_id=ORG,
        token=f"  {TOKEN}\n",
        http=httpx.Client(transport=httpx.MockTransport(api.handler)),
    )

    client.get_session("devin-abc123")

    assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_client_repr_hides_the_token() -> None:
    client = FakeApi(httpx.Response(200)).client()

    assert repr(client) == (
        "<DevinClient 'Acme' org_id='org-test123' base_url='https://api.devin.test'>"
    )
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    assert all(TOKEN not in repr(value) for value in vars(client).values())


@pytest.mark.parametrize(
    "outcome",
    [
        problem(401, "nope"),
        problem(403, "nope"),
        problem(404),
        problem(409),
        problem(422, errors=[{"loc": ["x"], "msg": "bad"}]),
        _rate_limited("999"),
        httpx.Response(503),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"session_id": 1}),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectError("[SSL] certificate verify failed"),
    ],
)
@pytest.mark.parametrize("call", ["get", "archive"])
def test_token_never_appears_in_any_error(outcome: Outcome, call: str) -> None:
    api = FakeApi(outcome)
    client = api.client()
    action: Callable[[str], Session] = (
        client.get_session if call == "get" else client.archive_session
    )

    with pytest.raises(DevinError) as caught:
        action("devin-abc123")

    assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert_no_token(caught.value)
    assert TOKEN not in describe(caught.value)
    assert caught.value.__context__ is None
    assert TOKEN not in json.dumps(vars(caught.value), default=repr)


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: FakeApi(httpx.ConnectError("refused")).client().archive_session("devin-abc123"),
        lambda: FakeApi(problem(401)).client().get_session("devin-abc123"),
        lambda: DevinClient(base_url="nope", org_id=ORG, token=TOKEN, http=UNUSED_HTTP),
    ],
    ids=["network", "http", "constructor"],
)
def test_django_error_report_does_not_show_the_token(make_error: Callable[[], object]) -> None:
    try:
        make_error()
    except DevinError:
        # The HTML page is the one that lists every frame's local variables.
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    else:
        raise AssertionError("expected a DevinError")

    assert "&lt;DevinClient " in report  # frame locals were rendered
    assert TOKEN not in report
