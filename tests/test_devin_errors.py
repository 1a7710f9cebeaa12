"""dashboard.devin's errors: which DevinError each failure becomes, and the data it carries (kind,
whose request, status, retry_after, detail, maybe_applied). The words are tested in
test_wording.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from dashboard.devin import (
    BadCredentials,
    BadResponse,
    Conflict,
    DevinError,
    Forbidden,
    Invalid,
    Kind,
    NotFound,
    RateLimited,
    Unavailable,
)
from tests.devin_api import (
    ORG,
    TOKEN,
    FakeApi,
    Outcome,
    archive_error,
    assert_no_token,
    page_json,
    problem,
    rate_limited,
    session_json,
)

# --- HTTP answers -----------------------------------------------------------------------------


def test_401_is_bad_credentials_and_says_whose_request_it_was() -> None:
    error = archive_error(problem(401, "Invalid or expired token"))

    assert type(error) is BadCredentials
    assert (error.kind, error.status_code, error.detail) == (
        Kind.BAD_CREDENTIALS,
        401,
        "Invalid or expired token",
    )
    assert (error.org, error.org_name, error.host) == (ORG, "Acme", "api.devin.test")
    assert (error.operation, error.session_id) == ("archive", "devin-abc123")
    assert (error.retry_after, error.maybe_applied) == (None, False)


def test_403_keeps_the_problem_detail() -> None:
    error = archive_error(
        problem(403, "Service user lacks the ManageOrgSessions permission", title="Forbidden")
    )

    assert type(error) is Forbidden
    assert (error.kind, error.status_code) == (Kind.FORBIDDEN, 403)
    assert error.detail == "Service user lacks the ManageOrgSessions permission"


@pytest.mark.parametrize("response", [httpx.Response(403), httpx.Response(403, json={})])
def test_403_without_detail_has_an_empty_detail(response: httpx.Response) -> None:
    error = archive_error(response)

    assert type(error) is Forbidden
    assert (error.kind, error.detail) == (Kind.FORBIDDEN, "")


def test_404_is_not_found_for_the_session() -> None:
    error = archive_error(problem(404, "Session not found"))

    assert type(error) is NotFound
    assert (error.kind, error.status_code, error.session_id) == (
        Kind.NOT_FOUND,
        404,
        "devin-abc123",
    )
    assert error.detail == "Session not found"


def test_409_is_conflict() -> None:
    error = archive_error(problem(409, "Session is already archived"))

    assert type(error) is Conflict
    assert (error.kind, error.detail) == (Kind.CONFLICT, "Session is already archived")


def test_422_problem_json_with_errors_is_one_readable_detail() -> None:
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
    assert error.kind == Kind.INVALID
    assert error.detail == (
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


def test_429_with_seconds_carries_retry_after() -> None:
    error = archive_error(rate_limited("30"))

    assert type(error) is RateLimited
    assert (error.kind, error.status_code, error.retry_after) == (Kind.RATE_LIMITED, 429, 30.0)
    assert error.maybe_applied is False  # a 429 refused the request


def test_429_with_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)

    error = archive_error(rate_limited(when))

    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 290 <= error.retry_after <= 300


@pytest.mark.parametrize("header", [None, "soon", "-3"])
def test_429_without_usable_retry_after(header: str | None) -> None:
    error = archive_error(rate_limited(header))

    assert isinstance(error, RateLimited)
    assert error.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable_and_keeps_the_body_in_detail(status: int) -> None:
    error = archive_error(httpx.Response(status, text="<html><h1>Bad Gateway</h1></html>"))

    assert type(error) is Unavailable
    assert (error.kind, error.status_code) == (Kind.UNAVAILABLE, status)
    assert error.detail == "<html><h1>Bad Gateway</h1></html>"


def test_other_4xx_is_plain_devin_error() -> None:
    error = archive_error(httpx.Response(418, json={"detail": "I'm a teapot"}))

    assert type(error) is DevinError
    assert (error.kind, error.status_code, error.detail) == (
        Kind.HTTP_ERROR,
        418,
        "I'm a teapot",
    )


def test_garbage_error_body_is_capped_and_flattened() -> None:
    body = "line\n\x00\x1b[31m" + "A" * 10_000

    error = archive_error(httpx.Response(400, text=body))

    assert len(error.detail) <= 300
    assert "\n" not in str(error)
    assert "\x00" not in str(error) and "\x1b" not in str(error)
    assert len(str(error)) < 400


@pytest.mark.parametrize(
    "body",
    [[1, 2], "just a string", {"detail": 5, "errors": "nope"}, {"detail": {"nested": []}}],
)
def test_odd_json_error_bodies_do_not_crash(body: object) -> None:
    error = archive_error(httpx.Response(409, json=body))

    assert type(error) is Conflict
    assert len(error.detail) <= 300


def test_server_echoing_the_token_is_redacted() -> None:
    error = archive_error(problem(401, f"Token {TOKEN} is not valid"))

    assert error.detail == "Token [redacted] is not valid"


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
    assert caught.value.status_code == 200
    assert len(caught.value.detail) <= 300
    assert_no_token(caught.value)


def test_a_page_that_does_not_match_the_contract_says_whose_it_was() -> None:
    body = {**page_json([session_json()]), "has_next_page": "yes"}
    api = FakeApi(httpx.Response(200, json=body))

    with pytest.raises(BadResponse) as caught:
        api.client().list_page()

    assert caught.value.kind == Kind.BAD_RESPONSE
    assert caught.value.detail == "sessions page.has_next_page should be a boolean, got a string"
    assert (caught.value.org, caught.value.operation) == (ORG, "list")
    assert caught.value.maybe_applied is False


# --- no HTTP answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("timed out"), Kind.TIMEOUT),
        (httpx.ConnectTimeout("timed out"), Kind.CONNECT_TIMEOUT),
        (httpx.ConnectError("[Errno 111] Connection refused"), Kind.REFUSED),
        (httpx.ConnectError("[Errno -2] Name or service not known"), Kind.DNS),
        (
            httpx.ConnectError(
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                "self-signed certificate (_ssl.c:1000)"
            ),
            Kind.TLS,
        ),
        (httpx.ConnectError("[Errno 101] Network is unreachable"), Kind.CONNECT_FAILED),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            Kind.CONNECTION_LOST,
        ),
    ],
    ids=["read-timeout", "connect-timeout", "refused", "dns", "tls", "other", "protocol"],
)
def test_network_failures_are_unavailable(exc: Exception, kind: Kind) -> None:
    api = FakeApi(exc)

    with pytest.raises(Unavailable) as caught:
        api.client().get_session("devin-abc123")

    assert caught.value.kind == kind
    assert caught.value.host == "api.devin.test"
    assert caught.value.status_code is None
    assert type(exc).__name__ in caught.value.detail
    assert_no_token(caught.value)


def test_a_broken_content_encoding_is_bad_response() -> None:
    api = FakeApi(httpx.DecodingError("invalid gzip"))

    with pytest.raises(BadResponse) as caught:
        api.client().archive_session("devin-abc123")

    assert caught.value.kind == Kind.UNDECODABLE
    assert len(api.requests) == 1


# --- whether a failed POST may have taken effect ----------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "maybe_applied"),
    [
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("Server disconnected"), True),
        (httpx.Response(502), True),
        (httpx.Response(200, text="<html>"), True),
        (httpx.Response(200, json=session_json(url=None)), True),
        (problem(403, "nope"), False),
        (problem(409), False),
        (rate_limited("999"), False),
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
    ],
    ids=[
        "read-timeout",
        "dropped",
        "502",
        "not-json",
        "bad-session",
        "403",
        "409",
        "429",
        "connect-timeout",
        "refused",
    ],
)
def test_a_failed_post_says_whether_it_may_have_taken_effect(
    outcome: Outcome, maybe_applied: bool
) -> None:
    api = FakeApi(outcome)

    with pytest.raises(DevinError) as caught:
        api.client().archive_session("devin-abc123")

    assert caught.value.maybe_applied is maybe_applied


@pytest.mark.parametrize(
    "outcome", [httpx.ReadTimeout("slow"), httpx.Response(500), httpx.Response(200, text="x")]
)
def test_a_failed_get_never_claims_to_have_changed_anything(outcome: Outcome) -> None:
    api = FakeApi(outcome)

    with pytest.raises(DevinError) as caught:
        api.client().get_session("devin-abc123")

    assert caught.value.maybe_applied is False


# --- str() is for logs ------------------------------------------------------------------------


def test_str_is_a_terse_line_with_the_facts_not_a_sentence() -> None:
    error = archive_error(rate_limited("30"))

    assert str(error) == (
        "rate_limited (HTTP 429, archive devin-abc123, org org-test123, at api.devin.test, "
        "retry after 30s): Too Many Requests"
    )
    assert repr(error) == f"<RateLimited {error}>"
