"""dashboard.devin.schema: answers parsed into typed objects, tolerant where the API is open, strict
where the dashboard depends on a value; and session ids in every form a person pastes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from dashboard.devin import (
    BadResponse,
    Kind,
    PullRequest,
    Session,
    normalize_session_id,
    parse_session,
)
from tests.devin_api import ORG, FakeApi, assert_no_token, session_json

# --- sessions ---------------------------------------------------------------------------------


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


# --- the sessions page envelope ---------------------------------------------------------------


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


# --- identity ---------------------------------------------------------------------------------


def test_whoami_missing_required_field_is_bad_response() -> None:
    api = FakeApi(httpx.Response(200, json={"principal_type": "service_user"}))

    with pytest.raises(BadResponse) as caught:
        api.client().whoami()

    assert caught.value.kind == Kind.BAD_RESPONSE
    assert caught.value.detail == "identity.service_user_id is missing"


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
