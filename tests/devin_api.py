"""A scripted Devin API on httpx.MockTransport, and what the dashboard.devin tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.devin import DevinClient, DevinError, Misconfigured

# Built at runtime so the literal never sits in the source next to "Bearer".
TOKEN = "cog_test_" + "x" * 40
ORG = "org-test123"
BASE = "https://api.devin.test"
SESSION_PATH = f"/v3/organizations/{ORG}/sessions/devin-abc123"

Outcome = httpx.Response | Exception
# For clients that must fail before sending anything.
UNUSED_HTTP = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(599)))
# Frames of the tests themselves hold the token on purpose; the client's frames must not.
TESTS_DIR = str(Path(__file__).parent)


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


def message_json(**overrides: Any) -> dict[str, Any]:
    """A SessionMessage."""
    return {
        "event_id": "event-1",
        "source": "devin",
        "message": "Done: see ```python\nprint(1)\n```",
        "created_at": 1_700_000_100,
        **overrides,
    }


def attachment_json(**overrides: Any) -> dict[str, Any]:
    """A SessionAttachment."""
    return {
        "attachment_id": "attachment-1",
        "name": "error.log",
        "url": "https://app.devin.ai/attachments/1/error.log",
        "source": "user",
        "content_type": "text/plain",
        **overrides,
    }


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


def rate_limited(retry_after: str | None) -> httpx.Response:
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
        if not tb.tb_frame.f_code.co_filename.startswith(TESTS_DIR):
            for name, value in tb.tb_frame.f_locals.items():
                assert TOKEN not in repr(value), name
        tb = tb.tb_next


def archive_error(response: httpx.Response) -> DevinError:
    """The error a POST (never retried on these) raises for this response."""
    api = FakeApi(response)
    with pytest.raises(DevinError) as caught:
        api.client().archive_session("devin-abc123")
    assert len(api.requests) == 1
    assert api.sleeps == []
    assert_no_token(caught.value)
    return caught.value


def misconfigured(**settings: str) -> Misconfigured:
    """The error a client raises when made with these settings (and valid others)."""
    config = {"base_url": BASE, "org_id": ORG, "token": TOKEN, **settings}
    with pytest.raises(Misconfigured) as caught:
        DevinClient(
            base_url=config["base_url"],
            org_id=config["org_id"],
            token=config["token"],
            label="Acme",
            http=UNUSED_HTTP,
        )
    return caught.value
