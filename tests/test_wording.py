"""dashboard.wording: the sentence a person reads for each failure of a call to Devin.

Errors come from the real client (over httpx.MockTransport), as the views get them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from dashboard.crypto import CredentialDecryptError
from dashboard.devin import BadResponse, DevinError, Kind, Misconfigured
from dashboard.wording import _wait_words, describe, not_a_session_ref
from tests.devin_api import (
    ORG,
    TOKEN,
    FakeApi,
    archive_error,
    misconfigured,
    problem,
    rate_limited,
)

# --- HTTP answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "sentence"),
    [
        (
            problem(401, "Invalid or expired token"),
            "The token for Acme (org-test123) was rejected (401). "
            "An admin can replace it on the Organizations page.",
        ),
        (
            problem(403, "Service user lacks the ManageOrgSessions permission", title="Forbidden"),
            "Devin refused this for Acme (org-test123) (403): "
            "Service user lacks the ManageOrgSessions permission",
        ),
        (
            problem(409, "Session is already archived"),
            "Devin refused to change session devin-abc123 in its current state (409): "
            "Session is already archived. Refresh to see its state, then try again.",
        ),
        (
            problem(
                422,
                "Validation failed",
                title="Unprocessable Content",
                errors=[
                    {"loc": ["query", "first"], "msg": "Input should be less than or equal to 200"},
                    {"field": "after", "message": "bad cursor"},
                ],
            ),
            "Devin rejected the request for session devin-abc123 as invalid (422): "
            "Validation failed: query.first: Input should be less than or equal to 200; "
            "after: bad cursor",
        ),
        (
            rate_limited("30"),
            "Devin is rate limiting requests for Acme (org-test123) (429). "
            "Try again in 30 seconds.",
        ),
        (
            httpx.Response(418, json={"detail": "I'm a teapot"}),
            "Devin API at api.devin.test answered HTTP 418 for session devin-abc123: I'm a teapot",
        ),
    ],
    ids=["401", "403", "409", "422", "429", "418"],
)
def test_http_failures_say_what_happened_and_what_to_do(
    response: httpx.Response, sentence: str
) -> None:
    assert describe(archive_error(response)) == sentence


@pytest.mark.parametrize("response", [httpx.Response(403), httpx.Response(403, json={})])
def test_403_without_detail_says_the_token_lacks_permission(response: httpx.Response) -> None:
    said = describe(archive_error(response))

    assert "The token for Acme (org-test123) lacks permission for this action (403)" in said
    assert "ManageOrgSessions" in said


def test_404_names_the_session() -> None:
    said = describe(archive_error(problem(404, "Session not found")))

    assert said.startswith("Devin found no session devin-abc123 in Acme (org-test123) (404)")


def test_404_of_the_list_names_the_list() -> None:
    api = FakeApi(problem(404))

    with pytest.raises(DevinError) as caught:
        api.client().list_page()

    assert describe(caught.value) == (
        "Devin found nothing for the sessions list in Acme (org-test123) (404). "
        "The org id or base URL may be wrong."
    )


def test_422_legacy_fastapi_shape_is_readable() -> None:
    body = {
        "detail": [
            {"loc": ["path", "devin_id"], "msg": "field required", "type": "value_error.missing"},
            {"loc": ["query", "archive"], "msg": "not a boolean", "type": "type_error.bool"},
        ]
    }

    said = describe(archive_error(httpx.Response(422, json=body)))

    assert said.endswith("(422): path.devin_id: field required; query.archive: not a boolean")


def test_429_with_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)

    assert "Try again in 5 minutes." in describe(archive_error(rate_limited(when)))


@pytest.mark.parametrize("header", [None, "soon", "-3"])
def test_429_without_usable_retry_after(header: str | None) -> None:
    assert describe(archive_error(rate_limited(header))).endswith("(429). Try again in a minute.")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_worded_without_the_body(status: int) -> None:
    error = archive_error(httpx.Response(status, text="<html><h1>Bad Gateway</h1></html>"))

    assert describe(error) == (
        f"Devin API at api.devin.test is having trouble (HTTP {status}). "
        "Try again in a few minutes."
    )


def test_garbage_error_body_stays_one_short_line() -> None:
    said = describe(archive_error(httpx.Response(409, text="line\n\x00\x1b[31m" + "A" * 10_000)))

    assert "\n" not in said
    assert "\x00" not in said and "\x1b" not in said
    assert len(said) < 500


@pytest.mark.parametrize(
    "body",
    [[1, 2], "just a string", {"detail": 5, "errors": "nope"}, {"detail": {"nested": []}}],
)
def test_odd_json_error_bodies_are_still_worded(body: object) -> None:
    said = describe(archive_error(httpx.Response(409, json=body)))

    assert said.startswith("Devin refused to change session devin-abc123")


def test_not_json_says_to_check_the_base_url() -> None:
    api = FakeApi(httpx.Response(200, text="<html>Login</html>", headers={"content-type": "html"}))

    with pytest.raises(BadResponse) as caught:
        api.client().get_session("devin-abc123")

    assert describe(caught.value) == (
        "Devin API at api.devin.test answered HTTP 200 with a body that is not JSON. "
        "Check the base URL."
    )


def test_data_that_does_not_match_the_contract_names_the_field() -> None:
    api = FakeApi(httpx.Response(200, json={"principal_type": "service_user"}))

    with pytest.raises(BadResponse) as caught:
        api.client().whoami()

    assert describe(caught.value) == (
        "The Devin API sent data the dashboard cannot read: identity.service_user_id is missing."
    )


# --- no HTTP answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            httpx.ReadTimeout("timed out"),
            "Devin API at api.devin.test did not answer in time. Try again in a minute.",
        ),
        (
            httpx.ConnectTimeout("timed out"),
            "Devin API at api.devin.test did not answer in time (could not connect). "
            "Try again in a minute; if it keeps happening, check the base URL.",
        ),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "Devin API at api.devin.test refused the connection. "
            "Try again in a minute; if it keeps happening, check the base URL.",
        ),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "Could not find the Devin API host api.devin.test. Check the base URL.",
        ),
        (
            httpx.ConnectError(
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                "self-signed certificate (_ssl.c:1000)"
            ),
            "Could not make a secure (TLS) connection to the Devin API at api.devin.test: "
            "its certificate was not accepted. Check the base URL.",
        ),
        (
            httpx.ConnectError("[Errno 101] Network is unreachable"),
            "Could not connect to the Devin API at api.devin.test. Try again in a minute.",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "The connection to the Devin API at api.devin.test broke before it answered. "
            "Try again in a minute.",
        ),
    ],
    ids=["read-timeout", "connect-timeout", "refused", "dns", "tls", "other", "protocol"],
)
def test_network_failures_say_what_to_do(exc: Exception, expected: str) -> None:
    api = FakeApi(exc)

    with pytest.raises(DevinError) as caught:
        api.client().get_session("devin-abc123")

    assert describe(caught.value) == expected


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        (
            {"base_url": "ftp://api.devin.ai"},
            "The API base URL for Acme (org-test123) must be an http(s) URL like "
            "https://api.devin.ai, not 'ftp://api.devin.ai'. "
            "An admin can fix it on the Organizations page.",
        ),
        (
            {"base_url": f"https://user:{TOKEN}@api.devin.ai"},
            "The API base URL for Acme (org-test123) must be an http(s) URL like "
            "https://api.devin.ai, not one with a user name or password. "
            "An admin can fix it on the Organizations page.",
        ),
        (
            {"org_id": "org-1/../../v3/self"},
            "'org-1/../../v3/self' is not a Devin org id (expected something like org-abc123). "
            "An admin can fix it on the Organizations page.",
        ),
        (
            {"token": TOKEN + " extra"},
            "The token for Acme (org-test123) is empty or contains spaces or non-ASCII "
            "characters. An admin can replace it on the Organizations page.",
        ),
    ],
    ids=["scheme", "user-info", "org-id", "token"],
)
def test_misconfiguration_says_what_to_fix_and_where(kwargs: dict[str, str], sentence: str) -> None:
    said = describe(misconfigured(**kwargs))

    assert said == sentence
    assert TOKEN not in said


# --- everything else --------------------------------------------------------------------------


def test_every_kind_has_its_own_words() -> None:
    facts: dict[str, Any] = {"org": ORG, "org_name": "Acme", "host": "api.devin.test"}
    said = {
        kind: describe(
            Misconfigured("token", org=ORG, org_name="Acme")
            if kind == Kind.MISCONFIGURED
            else DevinError(kind, status_code=500, detail="", **facts)
        )
        for kind in Kind
    }

    assert len(set(said.values())) == len(Kind)
    for words in said.values():
        assert words[0].isupper() and "None" not in words


def test_a_credential_that_cannot_be_decrypted_keeps_its_own_words() -> None:
    error = CredentialDecryptError()

    assert describe(error) == str(error)
    assert "DASHBOARD_CREDENTIAL_KEYS" in describe(error)


@pytest.mark.parametrize("value", ["", "devin-abc 123", "https://app.devin.ai/", "a" * 200])
def test_a_bad_session_reference_says_what_to_type_instead(value: str) -> None:
    said = not_a_session_ref(value)

    assert "is not a session id or URL" in said
    assert "devin-abc123" in said and "https://app.devin.ai/sessions/abc123" in said
    assert len(said) < 250


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "1 second"),
        (0.2, "1 second"),
        (1, "1 second"),
        (30, "30 seconds"),
        (119, "119 seconds"),
        (120, "2 minutes"),
        (299.5, "5 minutes"),
        (7200, "2 hours"),
    ],
)
def test_wait_words(seconds: float, words: str) -> None:
    assert _wait_words(seconds) == words


def test_a_detail_that_echoes_the_token_is_shown_redacted() -> None:
    said = describe(archive_error(problem(403, f"Token {TOKEN} may not archive")))

    assert (
        said == "Devin refused this for Acme (org-test123) (403): Token [redacted] may not archive"
    )
