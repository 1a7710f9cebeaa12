"""dashboard.devin's retries: which failures are tried again, how long it waits, and when a POST
must not be sent twice.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dashboard.devin import RateLimited, Unavailable, transport
from dashboard.wording import describe
from tests.devin_api import SESSION_PATH, FakeApi, Outcome, rate_limited, session_json


# tests/settings.py keeps retries short for the page tests; these count them at the default.
@pytest.fixture(autouse=True)
def budget(settings: Any) -> float:
    settings.DEVIN_RETRY_BUDGET = 10.0
    return 10.0


@pytest.fixture
def max_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make 'full jitter' always wait its ceiling, so waits are predictable."""
    monkeypatch.setattr(transport.random, "uniform", lambda low, high: high)


# --- GET --------------------------------------------------------------------------------------


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


def test_tls_failure_is_not_retried_even_for_get() -> None:
    api = FakeApi(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))

    with pytest.raises(Unavailable):
        api.client().get_session("devin-abc123")

    assert len(api.requests) == 1
    assert api.sleeps == []


def test_get_honours_retry_after() -> None:
    api = FakeApi(
        httpx.Response(503, headers={"retry-after": "2"}),
        rate_limited("1.5"),
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
    api = FakeApi(rate_limited("60"), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().get_session("devin-abc123")

    assert caught.value.retry_after == 60.0
    assert "Try again in 60 seconds." in describe(caught.value)
    assert api.sleeps == []
    assert len(api.requests) == 1


def test_get_retry_after_beyond_what_is_left_of_budget(settings: Any) -> None:
    settings.DEVIN_RETRY_BUDGET = 5.0
    api = FakeApi(rate_limited("3"), rate_limited("3"), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().get_session("devin-abc123")

    assert api.sleeps == [3.0]
    assert caught.value.retry_after == 3.0


# --- POST -------------------------------------------------------------------------------------


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
    api = FakeApi(rate_limited("2"), httpx.Response(200, json=session_json(is_archived=True)))

    session = api.client().archive_session("devin-abc123")

    assert session.is_archived is True
    assert api.sleeps == [2.0]
    assert len(api.requests) == 2


@pytest.mark.parametrize("header", ["120", None])
def test_post_is_not_retried_on_429_with_large_or_no_retry_after(header: str | None) -> None:
    api = FakeApi(rate_limited(header), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().archive_session("devin-abc123")

    assert caught.value.retry_after == (120.0 if header else None)
    assert len(api.requests) == 1
    assert api.sleeps == []
