"""dashboard.devin.schema: answers parsed into typed objects, tolerant where the API is open, strict
where the dashboard depends on a value; and session ids in every form a person pastes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
from dashboard.devin.schema import SkippedItem
from tests.devin_api import ORG, FakeApi, assert_no_token, page_json, session_json

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


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("devin-a b", "devin-a b"),
        ("devin-ä.ß/ü?#%", "devin-ä.ß/ü?#%"),
        ("  spaced  ", "devin-  spaced  "),
        ("devin-" + "x" * 494, "devin-" + "x" * 494),
        ("../../self", "devin-../../self"),
    ],
)
def test_any_non_empty_string_is_a_session_id_as_the_spec_says(given: str, stored: str) -> None:
    assert parse_session(session_json(session_id=given)).session_id == stored


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (-86_400, datetime(1969, 12, 31, tzinfo=UTC)),
        (-62_135_596_800, datetime(1, 1, 1, tzinfo=UTC)),
        (253_402_300_799, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (1.5, datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
    ],
)
def test_odd_timestamps_are_kept_as_given(when: float, expected: datetime) -> None:
    session = parse_session(session_json(created_at=when, updated_at=when))

    assert session.created_at == session.updated_at == expected


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
        ("session_id", "", "session.session_id is empty"),
        ("session_id", "devin-", "session.session_id is empty"),
        ("session_id", "x" * 501, "session.session_id is longer than 500 characters"),
        ("session_id", "devin-a\x00b", "session.session_id holds a character no database"),
        ("url", None, "session.url should be a string, got null"),
        ("tags", "nightly", "session.tags should be a list of strings, got a string"),
        ("tags", ["ok", 5], "session.tags[1] should be a string, got a number"),
        ("created_at", "2024-01-01", "session.created_at should be Unix seconds, got a string"),
        ("created_at", True, "session.created_at should be Unix seconds, got a boolean"),
        ("updated_at", -(10**12), "session.updated_at is not a time any calendar holds"),
        ("updated_at", 10**17, "session.updated_at is not a time any calendar holds"),
        ("updated_at", float("nan"), "session.updated_at should be Unix seconds, got a number"),
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
    ],
)
def test_bad_envelope_is_bad_response(body: object, expected: str) -> None:
    api = FakeApi(httpx.Response(200, json=body))

    with pytest.raises(BadResponse) as caught:
        api.client().list_page()

    assert expected in caught.value.detail
    assert_no_token(caught.value)


def test_an_unreadable_item_is_skipped_and_named_and_the_rest_kept() -> None:
    items: list[Any] = [
        session_json(session_id="devin-one"),
        session_json(session_id="devin-two", created_at=None),
        "not a session",
        {"session_id": 5},
        session_json(session_id="devin-five", tags="x"),
        session_json(session_id="devin-six"),
    ]
    body = {**page_json([]), "items": items, "end_cursor": "c1", "has_next_page": True}
    api = FakeApi(httpx.Response(200, json=body))

    page = api.client().list_page()

    assert [s.session_id for s in page.items] == ["devin-one", "devin-six"]
    assert page.skipped == [
        SkippedItem("devin-two", "items[1].created_at should be Unix seconds, got null"),
        SkippedItem("item 2", "items[2] should be an object, got a string"),
        SkippedItem("item 3", "items[3].session_id should be a string, got a number"),
        SkippedItem("devin-five", "items[4].tags should be a list of strings, got a string"),
    ]
    assert (page.end_cursor, page.has_next_page) == ("c1", True)


def test_a_session_of_another_org_in_a_page_is_skipped() -> None:
    body = page_json([session_json(session_id="devin-mine"), session_json(org_id="org-other")])
    api = FakeApi(httpx.Response(200, json=body))

    page = api.client().list_page()

    assert [s.session_id for s in page.items] == ["devin-mine"]
    assert page.skipped == [SkippedItem("devin-abc123", "belongs to org-other, not this org")]


def test_an_unreadable_item_is_named_without_its_control_characters() -> None:
    api = FakeApi(httpx.Response(200, json=page_json([session_json(session_id="a\x00\nb")])))

    [skipped] = api.client().list_page().skipped

    assert skipped.ref == "a\ufffd b"
    assert "NUL" in skipped.reason


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
        ("devin-a.b~c<d>", "devin-a.b~c<d>"),
        ("https://app.devin.ai/sessions/d%C3%A9j%C3%A0", "devin-déjà"),
        ("a" * 200, "devin-" + "a" * 200),
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
        "abc\x00",
        "a\tb",
        "a" * 501,
    ],
)
def test_normalize_session_id_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize_session_id(value)

    assert "is not a Devin session id" in str(caught.value)
