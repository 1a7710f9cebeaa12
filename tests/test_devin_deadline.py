"""dashboard.devin's deadlines: a call with one ends by it, retries and waits included; a call
without one (sync) keeps the timeouts and the retry budget alone.

The clock is scripted: each request and each wait moves it on, so the tests measure what the
client decided, not how fast this machine is.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dashboard.devin import DevinClient, Kind, RateLimited, Unavailable, transport
from dashboard.wording import describe
from tests.devin_api import BASE, ORG, TOKEN, rate_limited, session_json

Outcome = httpx.Response | Exception


class Clocked:
    """A scripted API whose every request takes `cost` seconds of a fake clock."""

    def __init__(self, *outcomes: Outcome, cost: float = 0.0) -> None:
        self.outcomes = list(outcomes)
        self.cost = cost
        self.now = 1000.0
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        # An answer slower than the attempt's read timeout is a timeout, as httpx would see it.
        timeout = request.extensions["timeout"]["read"]
        if self.cost > timeout:
            self.now += timeout
            raise httpx.ReadTimeout("slow")
        self.now += self.cost
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def client(self) -> DevinClient:
        return DevinClient(
            base_url=BASE,
            org_id=ORG,
            token=TOKEN,
            label="Acme",
            http=httpx.Client(transport=httpx.MockTransport(self.handler)),
            sleep=self.sleep,
            clock=lambda: self.now,
        )

    def timeouts(self) -> list[dict[str, float]]:
        return [request.extensions["timeout"] for request in self.requests]


@pytest.fixture(autouse=True)
def defaults(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.DEVIN_RETRY_BUDGET = 10.0
    settings.DEVIN_READ_TIMEOUT = 20.0
    settings.DEVIN_CONNECT_TIMEOUT = 5.0
    # "Full jitter" always waits its ceiling here, so waits are predictable.
    monkeypatch.setattr(transport.random, "uniform", lambda low, high: high)


def test_each_attempt_gets_at_most_the_time_left() -> None:
    # Devin takes 2 s to answer each time; the first answer is a 502.
    api = Clocked(httpx.Response(502), httpx.Response(200, json=session_json()), cost=2.0)

    with pytest.raises(Unavailable) as caught:
        api.client().get_session("devin-abc123", deadline=api.now + 3.0)

    first, second = api.timeouts()
    assert (first["read"], first["connect"]) == (3.0, 3.0)
    # 2 s went on the first attempt and 0.5 s on the backoff: 0.5 s is left for the second,
    # which times out at the deadline instead of waiting its 20 s read timeout.
    assert api.sleeps == [0.5]
    assert second["read"] == pytest.approx(0.5)
    assert caught.value.kind == Kind.TIMEOUT
    assert api.now == pytest.approx(1000.0 + 3.0)


def test_without_a_deadline_the_timeouts_are_the_settings() -> None:
    api = Clocked(httpx.Response(200, json=session_json()), cost=1.0)

    api.client().get_session("devin-abc123")

    assert api.timeouts()[0] == {"connect": 5.0, "read": 20.0, "write": 20.0, "pool": 20.0}


def test_no_wait_ends_past_the_deadline() -> None:
    # Retry-After 2 fits the retry budget (10 s) but not the 1.5 s left of the deadline.
    api = Clocked(rate_limited("2"), httpx.Response(200, json=session_json()))

    with pytest.raises(RateLimited) as caught:
        api.client().get_session("devin-abc123", deadline=api.now + 1.5)

    assert api.sleeps == []
    assert len(api.requests) == 1
    assert caught.value.retry_after == 2.0


def test_backoff_is_cut_to_leave_time_for_one_more_attempt() -> None:
    api = Clocked(httpx.Response(503), cost=0.2)

    with pytest.raises(Unavailable):
        api.client().get_session("devin-abc123", deadline=api.now + 1.5)

    # The second wait (1.0 s) is cut to leave a last attempt, whose timeout ends at the deadline.
    assert api.sleeps == [0.5, pytest.approx(0.5)]
    assert api.now == pytest.approx(1000.0 + 1.5)
    assert api.timeouts()[-1]["read"] == pytest.approx(transport.MIN_ATTEMPT_SECONDS)


def test_the_same_failures_without_a_deadline_keep_retrying_within_the_budget() -> None:
    api = Clocked(httpx.Response(503), cost=0.2)

    with pytest.raises(Unavailable):
        api.client().get_session("devin-abc123")

    assert api.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert len(api.requests) == transport.MAX_ATTEMPTS


def test_a_deadline_already_past_sends_nothing() -> None:
    api = Clocked(httpx.Response(200, json=session_json()))

    with pytest.raises(Unavailable) as caught:
        api.client().archive_session("devin-abc123", deadline=api.now + 0.01)

    assert api.requests == []
    assert caught.value.kind == Kind.OUT_OF_TIME
    assert caught.value.maybe_applied is False
    assert caught.value.operation == "archive"
    assert "ran out before Devin API at api.devin.test could be asked" in describe(caught.value)


def test_a_post_that_times_out_at_the_deadline_may_have_been_applied() -> None:
    api = Clocked(httpx.ReadTimeout("slow"), httpx.Response(200, json=session_json()), cost=1.0)

    with pytest.raises(Unavailable) as caught:
        api.client().archive_session("devin-abc123", deadline=api.now + 1.0)

    assert len(api.requests) == 1
    assert api.timeouts()[0]["read"] == 1.0
    assert caught.value.kind == Kind.TIMEOUT
    assert caught.value.maybe_applied is True


@pytest.mark.parametrize("call", ["whoami", "list_page", "get_session", "unarchive_session"])
def test_every_call_takes_a_deadline(call: str) -> None:
    api = Clocked(httpx.Response(200, json=session_json()), cost=60.0)
    client = api.client()
    args = ("devin-abc123",) if call.endswith("session") else ()

    with pytest.raises(Unavailable):
        getattr(client, call)(*args, deadline=api.now + 0.75)

    assert api.timeouts()[0]["read"] == 0.75
    assert api.now == pytest.approx(1000.0 + 0.75)
