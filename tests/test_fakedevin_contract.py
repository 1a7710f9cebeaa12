"""Every normal response of the fake validates against the published v3 spec, and every request
sent to it (these tests' own, and DevinClient's) validates too (tests/spec_requests.py).

The schemas come from the operations in ``tests/spec/devin-v3-sessions.openapi.yaml`` (the
response declared for that path, method and status), not hand-written ones. The spec is
OpenAPI 3.1, whose schemas are JSON Schema 2020-12: the whole document is registered as one
resource so its ``#/components/schemas/...`` references resolve as written.

The spec declares error bodies as ``application/json``; the fake (like the real API, RFC
9457) sends ``application/problem+json``. The body schema is what is checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from dashboard.devin import DevinClient, SessionQuery
from fakedevin import FakeDevin
from fakedevin.seed import STATUS_COMBOS
from tests.spec_requests import SpecRequests

SPEC_PATH = Path(__file__).parent / "spec" / "devin-v3-sessions.openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
SPEC_URI = "urn:devin-v3-openapi"
REGISTRY: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))

SELF = "/v3/self"
LIST = "/v3/organizations/{org_id}/sessions"
ONE = "/v3/organizations/{org_id}/sessions/{devin_id}"
ARCHIVE = "/v3/organizations/{org_id}/sessions/{devin_id}/archive"
UNARCHIVE = "/v3/organizations/{org_id}/sessions/{devin_id}/unarchive"
MESSAGES = "/v3/organizations/{org_id}/sessions/{devin_id}/messages"
TAGS = "/v3/organizations/{org_id}/sessions/{devin_id}/tags"
ATTACHMENTS = "/v3/organizations/{org_id}/sessions/{devin_id}/attachments"

ORG = "org-acme"
NOW = 1_760_000_000


@cache
def validator(path: str, method: str, status: int) -> Draft202012Validator:
    """The validator for the response the spec declares for this operation and status."""
    operation = SPEC["paths"][path][method]
    assert str(status) in operation["responses"], f"spec has no {status} for {method} {path}"
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ["", "paths", path, method, "responses", str(status), "content"]
        + ["application/json", "schema"]
    )
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{quote(pointer)}"}, registry=REGISTRY)


def assert_valid(response: httpx.Response, path: str, status: int) -> Any:
    assert response.status_code == status, response.text
    expected_type = "application/json" if status < 400 else "application/problem+json"
    assert response.headers["content-type"] == expected_type
    body = response.json()
    errors = [
        error.message
        for error in validator(path, response.request.method.lower(), status).iter_errors(body)
    ]
    assert errors == []
    return body


def is_valid(body: Any, path: str, method: str, status: int) -> bool:
    return bool(validator(path, method, status).is_valid(body))


def spec_enum(schema_name: str, field: str) -> set[Any]:
    schema = SPEC["components"]["schemas"][schema_name]["properties"][field]
    for option in schema.get("anyOf", [schema]):
        if "enum" in option:
            return set(option["enum"])
    raise AssertionError(f"{schema_name}.{field} has no enum")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDevin]:
    # Module-scoped: the walk over thousands of sessions is done once. Tests that change
    # state use their own sessions (add_session) or the fault book, cleared after each test.
    with FakeDevin(seed=5, sessions_per_org=2_000, now=NOW) as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(fake: FakeDevin) -> Iterator[None]:
    yield
    fake.clear_faults()


# Every request these tests send is checked against the spec; one that breaks it on purpose says
# so with @pytest.mark.bad_request and is then expected to be caught.
SENT = SpecRequests()


@pytest.fixture(autouse=True)
def requests_follow_the_spec(request: pytest.FixtureRequest) -> Iterator[None]:
    SENT.reset()
    yield
    if request.node.get_closest_marker("bad_request") is None:
        assert SENT.problems == []
    else:
        assert SENT.problems, "a request that breaks the spec on purpose was not caught"


def api_client(fake: FakeDevin, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=fake.url,
        headers={"Authorization": f"Bearer {token}"},
        event_hooks={"request": [SENT.hook]},
    )


@pytest.fixture
def client(fake: FakeDevin) -> Iterator[httpx.Client]:
    with api_client(fake, fake.tokens[ORG]["manage"]) as c:
        yield c


def sessions_url(session_id: str = "", action: str = "") -> str:
    url = f"/v3/organizations/{ORG}/sessions"
    if session_id:
        url += f"/{session_id}"
    if action:
        url += f"/{action}"
    return url


def test_the_spec_resolves_and_rejects_garbage() -> None:
    # Guards against a validator that accepts anything (e.g. an unresolved reference).
    assert not is_valid({"items": [{"session_id": 1}]}, LIST, "get", 200)
    assert not is_valid({"title": "x"}, ONE, "get", 404)
    assert not is_valid({}, SELF, "get", 200)


def test_self(fake: FakeDevin) -> None:
    for org, kinds in fake.tokens.items():
        for token in kinds.values():
            with api_client(fake, token) as c:
                body = assert_valid(c.get("/v3/self"), SELF, 200)
            assert body["org_id"] == org


def test_every_list_page_validates_and_covers_every_enum(client: httpx.Client) -> None:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"first": 200}
        if after:
            params["after"] = after
        page = assert_valid(client.get(sessions_url(), params=params), LIST, 200)
        items.extend(page["items"])
        if not page["has_next_page"]:
            break
        after = page["end_cursor"]
    assert len(items) >= 2_000  # plus any added by other tests in this module

    assert {(s["status"], s["status_detail"]) for s in items} == {
        (status, detail) for status, detail, _ in STATUS_COMBOS
    }
    # Everything the spec can say, the fake says (and nothing else, or validation failed).
    assert {s["status"] for s in items} == spec_enum("SessionResponse", "status")
    assert {s["status_detail"] for s in items} == spec_enum("SessionResponse", "status_detail") | {
        None
    }
    assert {s["category"] for s in items} == spec_enum("SessionResponse", "category") | {None}
    assert {s["origin"] for s in items} == spec_enum("SessionResponse", "origin")
    assert {s["devin_mode"] for s in items} == spec_enum("SessionResponse", "devin_mode") | {None}
    assert {pr["pr_state"] for s in items for pr in s["pull_requests"]} == {
        "open",
        "draft",
        "merged",
        "closed",
        None,
    }
    assert {s["is_archived"] for s in items} == {True, False}
    assert any(s["child_session_ids"] for s in items)
    assert any(s["structured_output"] for s in items)


def test_filtered_and_empty_pages_validate(client: httpx.Client) -> None:
    queries: list[dict[str, Any]] = [
        {"is_archived": "true", "tags": ["urgent", "infra"], "first": 5},
        {"session_ids": "devin-none"},
        {"updated_after": NOW + 10**6},
    ]
    for params in queries:
        assert_valid(client.get(sessions_url(), params=params), LIST, 200)


def test_get_validates_for_every_status_combination(fake: FakeDevin, client: httpx.Client) -> None:
    examples: dict[tuple[str, str | None], str] = {}
    for session in fake.sessions(ORG):
        examples.setdefault((session["status"], session["status_detail"]), session["session_id"])
    assert len(examples) == len(STATUS_COMBOS)
    for session_id in examples.values():
        assert_valid(client.get(sessions_url(session_id)), ONE, 200)


def test_actions_validate(fake: FakeDevin, client: httpx.Client) -> None:
    for status, detail, _ in STATUS_COMBOS:
        session_id = fake.add_session(ORG, status=status, status_detail=detail)["session_id"]
        archived = assert_valid(client.post(sessions_url(session_id, "archive")), ARCHIVE, 200)
        unarchived = assert_valid(
            client.post(sessions_url(session_id, "unarchive")), UNARCHIVE, 200
        )
        assert archived["is_archived"] is True
        assert unarchived["is_archived"] is False
        assert archived["status_detail"] is unarchived["category"] is None
        terminated = client.delete(sessions_url(session_id), params={"archive": "true"})
        assert_valid(terminated, ONE, 200)


def test_added_session_defaults_validate(fake: FakeDevin, client: httpx.Client) -> None:
    session_id = fake.add_session(ORG)["session_id"]
    assert_valid(client.get(sessions_url(session_id)), ONE, 200)


def _view_client(fake: FakeDevin) -> httpx.Client:
    return api_client(fake, fake.tokens[ORG]["view"])


def _other_org_client(fake: FakeDevin) -> httpx.Client:
    return api_client(fake, fake.tokens["org-globex"]["manage"])


def _anonymous_client(fake: FakeDevin) -> httpx.Client:
    return api_client(fake, "cog_unknown")


def _manage_client(fake: FakeDevin) -> httpx.Client:
    return api_client(fake, fake.tokens[ORG]["manage"])


def _some_session(fake: FakeDevin) -> str:
    return str(fake.sessions(ORG)[0]["session_id"])


ERROR_CASES: list[
    tuple[str, Callable[[FakeDevin], httpx.Client], str, str, Callable[[FakeDevin], str], int]
] = [
    # (case, client, method, spec path, url, status)
    ("401 self", _anonymous_client, "GET", SELF, lambda f: "/v3/self", 401),
    ("401 list", _anonymous_client, "GET", LIST, lambda f: sessions_url(), 401),
    (
        "401 archive",
        _anonymous_client,
        "POST",
        ARCHIVE,
        lambda f: sessions_url("x", "archive"),
        401,
    ),
    ("403 other org list", _other_org_client, "GET", LIST, lambda f: sessions_url(), 403),
    ("403 other org get", _other_org_client, "GET", ONE, lambda f: sessions_url("x"), 403),
    (
        "403 view-only archive",
        _view_client,
        "POST",
        ARCHIVE,
        lambda f: sessions_url(_some_session(f), "archive"),
        403,
    ),
    (
        "403 view-only unarchive",
        _view_client,
        "POST",
        UNARCHIVE,
        lambda f: sessions_url(_some_session(f), "unarchive"),
        403,
    ),
    ("404 get", _manage_client, "GET", ONE, lambda f: sessions_url("devin-nope"), 404),
    (
        "404 archive",
        _manage_client,
        "POST",
        ARCHIVE,
        lambda f: sessions_url("nope", "archive"),
        404,
    ),
    (
        "404 unarchive",
        _manage_client,
        "POST",
        UNARCHIVE,
        lambda f: sessions_url("nope", "unarchive"),
        404,
    ),
    (
        "422 messages first=500",
        _manage_client,
        "GET",
        MESSAGES,
        lambda f: sessions_url(_some_session(f), "messages") + "?first=500",
        422,
    ),
    (
        "422 messages after=garbage",
        _manage_client,
        "GET",
        MESSAGES,
        lambda f: sessions_url(_some_session(f), "messages") + "?after=garbage",
        422,
    ),
    (
        "422 message without a body",
        _manage_client,
        "POST",
        MESSAGES,
        lambda f: sessions_url(_some_session(f), "messages"),
        422,
    ),
    (
        "422 tags without a body",
        _manage_client,
        "PUT",
        TAGS,
        lambda f: sessions_url(_some_session(f), "tags"),
        422,
    ),
    ("422 first=0", _manage_client, "GET", LIST, lambda f: sessions_url() + "?first=0", 422),
    ("422 first=500", _manage_client, "GET", LIST, lambda f: sessions_url() + "?first=500", 422),
    (
        "422 updated_after",
        _manage_client,
        "GET",
        LIST,
        lambda f: sessions_url() + "?updated_after=soon&is_archived=perhaps",
        422,
    ),
]


def _part_url(part: str, session: Callable[[FakeDevin], str]) -> Callable[[FakeDevin], str]:
    return lambda f: sessions_url(session(f), part)


# Terminate and a session's parts: (method, spec path, the part after the session id).
PART_CALLS = [("DELETE", ONE, ""), ("GET", MESSAGES, "messages"), ("POST", MESSAGES, "messages")]
PART_CALLS += [("GET", TAGS, "tags"), ("POST", TAGS, "tags"), ("PUT", TAGS, "tags")]
PART_CALLS += [("GET", ATTACHMENTS, "attachments")]
ERROR_CASES += [
    (
        f"{status} {make.__name__.strip('_').removesuffix('_client')} {method} {part or 'session'}",
        make,
        method,
        spec_path,
        url,
        status,
    )
    for method, spec_path, part in PART_CALLS
    for status, make, url in [
        (401, _anonymous_client, _part_url(part, _some_session)),
        (403, _other_org_client, _part_url(part, _some_session)),
        (404, _manage_client, _part_url(part, lambda f: "devin-nope")),
    ]
    + ([(403, _view_client, _part_url(part, _some_session))] if method != "GET" else [])
]


# The error cases whose request itself breaks the spec (a body it lacks is not checked here).
OFF_SPEC = {"422 messages first=500", "422 first=0", "422 first=500", "422 updated_after"}


@pytest.mark.parametrize(
    ("make_client", "method", "spec_path", "url", "status"),
    [
        pytest.param(*case[1:], id=case[0], marks=[pytest.mark.bad_request] * (case[0] in OFF_SPEC))
        for case in ERROR_CASES
    ],
)
def test_error_responses_validate(
    fake: FakeDevin,
    make_client: Callable[[FakeDevin], httpx.Client],
    method: str,
    spec_path: str,
    url: Callable[[FakeDevin], str],
    status: int,
) -> None:
    with make_client(fake) as c:
        body = assert_valid(c.request(method, url(fake)), spec_path, status)
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    if status == 422:
        assert body["errors"]


@pytest.mark.parametrize("retry_after", [None, "3"])
@pytest.mark.parametrize(
    ("method", "spec_path", "url"),
    [
        ("GET", SELF, lambda f: "/v3/self"),
        ("GET", LIST, lambda f: sessions_url()),
        ("GET", ONE, lambda f: sessions_url(_some_session(f))),
        ("POST", ARCHIVE, lambda f: sessions_url(_some_session(f), "archive")),
        ("POST", UNARCHIVE, lambda f: sessions_url(_some_session(f), "unarchive")),
        ("DELETE", ONE, lambda f: sessions_url(_some_session(f))),
        ("GET", MESSAGES, lambda f: sessions_url(_some_session(f), "messages")),
        ("POST", MESSAGES, lambda f: sessions_url(_some_session(f), "messages")),
        ("GET", TAGS, lambda f: sessions_url(_some_session(f), "tags")),
        ("POST", TAGS, lambda f: sessions_url(_some_session(f), "tags")),
        ("PUT", TAGS, lambda f: sessions_url(_some_session(f), "tags")),
        ("GET", ATTACHMENTS, lambda f: sessions_url(_some_session(f), "attachments")),
    ],
)
def test_rate_limit_responses_validate(
    fake: FakeDevin,
    client: httpx.Client,
    method: str,
    spec_path: str,
    url: Callable[[FakeDevin], str],
    retry_after: str | None,
) -> None:
    fake.inject("429", retry_after=retry_after)
    response = client.request(method, url(fake))
    assert_valid(response, spec_path, 429)
    assert response.headers.get("retry-after") == retry_after


def test_missing_fields_fault_really_fails_validation(
    fake: FakeDevin, client: httpx.Client
) -> None:
    # The broken faults are exempt from the contract, but this one must be caught by it,
    # which shows the checks above can fail.
    session_id = _some_session(fake)
    fake.inject("missing_fields", count=3)
    assert not is_valid(client.get(sessions_url()).json(), LIST, "get", 200)
    assert not is_valid(client.get(sessions_url(session_id)).json(), ONE, "get", 200)
    assert not is_valid(client.get("/v3/self").json(), SELF, "get", 200)


def test_unknown_enum_fault_fails_validation(fake: FakeDevin, client: httpx.Client) -> None:
    fake.inject("unknown_enum")
    assert not is_valid(client.get(sessions_url(_some_session(fake))).json(), ONE, "get", 200)


# The odd-data faults send what the spec allows (long strings, odd ids and times); the bad item
# does not, so a client's per-item tolerance is tested against a real contract violation.
@pytest.mark.parametrize("kind", ["odd_ids", "odd_times", "other_session", "other_org"])
def test_odd_but_valid_faults_stay_within_the_spec(
    fake: FakeDevin, client: httpx.Client, kind: str
) -> None:
    fake.inject(kind, count=2)
    assert_valid(client.get(sessions_url(), params={"first": 10}), LIST, 200)
    assert_valid(client.get(sessions_url(_some_session(fake))), ONE, 200)


def test_bad_item_fault_breaks_only_the_middle_item(fake: FakeDevin, client: httpx.Client) -> None:
    fake.inject("bad_item")
    page = client.get(sessions_url(), params={"first": 5}).json()
    assert not is_valid(page, LIST, "get", 200)
    valid = [is_valid(item, ONE, "get", 200) for item in page["items"]]
    assert valid == [True, True, False, True, True]


def test_long_strings_break_the_spec_only_in_its_enums(
    fake: FakeDevin, client: httpx.Client
) -> None:
    # 10 kB in every text field: the spec bounds no string, but it lists the enums' values.
    fake.inject("long_strings")
    session = client.get(sessions_url(_some_session(fake))).json()
    assert len(session["subcategory"]) == 10_000 and not is_valid(session, ONE, "get", 200)
    enums = {"status": "running", "status_detail": "working", "category": "other"}
    session.update(enums, origin="api", devin_mode="normal")
    assert is_valid(session, ONE, "get", 200)


# --- what DevinClient sends -------------------------------------------------------------------


@pytest.fixture
def own_fake() -> Iterator[FakeDevin]:
    """A fake of its own, for a test that adds a session the module's fake must not keep."""
    with FakeDevin(seed=9, sessions_per_org=250, now=NOW) as server:
        yield server


def test_every_request_the_dashboards_client_sends_follows_the_spec(own_fake: FakeDevin) -> None:
    fake = own_fake
    added = fake.add_session(ORG, session_id="devin-ä b/c?#%", tags=["x", "y z"])
    every_filter = SessionQuery(
        first=3,
        updated_after=0,
        updated_before=NOW * 2,
        created_after=0,
        created_before=NOW * 2,
        is_archived=False,
        session_ids=[added["session_id"], "devin-abc"],
        tags=["x", "y z"],
    )
    with httpx.Client(event_hooks={"request": [SENT.hook]}) as http:
        token = fake.tokens[ORG]["manage"]
        devin = DevinClient(base_url=fake.url, org_id=ORG, token=token, http=http)
        devin.whoami()
        pages = list(devin.list_sessions(every_filter))
        walked = list(devin.list_sessions(SessionQuery(first=20, is_archived=True)))
        devin.get_session(added["session_id"])
        devin.archive_session(added["session_id"])
        devin.unarchive_session(added["session_id"])

    assert [s.session_id for page in pages for s in page.items] == [added["session_id"]]
    assert len(walked) > 1  # the cursor (`after`) was sent too
    assert {line.split("?")[0] for line in SENT.seen} == {
        "GET /v3/self",
        f"GET {sessions_url()}",
        f"GET {sessions_url('devin-%C3%A4%20b%2Fc%3F%23%25')}",
        f"POST {sessions_url('devin-%C3%A4%20b%2Fc%3F%23%25', 'archive')}",
        f"POST {sessions_url('devin-%C3%A4%20b%2Fc%3F%23%25', 'unarchive')}",
    }
    # Arrays as repeated keys, as the spec's exploded form style says.
    assert any("tags=x&tags=y+z" in line for line in SENT.seen)


@pytest.mark.bad_request
@pytest.mark.parametrize(
    "params",
    [
        {"first": "0"},
        {"is_archived": "perhaps"},
        {"updated_after": "1.5"},
        {"tags": "a", "sort": "new"},
    ],
)
def test_the_request_check_catches_what_the_spec_refuses(
    client: httpx.Client, params: dict[str, str]
) -> None:
    client.get(sessions_url(), params=params)


# -- a session's messages, tags and attachments ---------------------------------------------


@cache
def request_validator(path: str, method: str) -> Draft202012Validator:
    """The validator for the JSON body the spec declares for this operation's request."""
    assert "requestBody" in SPEC["paths"][path][method], f"spec has no body for {method} {path}"
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ["", "paths", path, method, "requestBody", "content", "application/json"]
        + ["schema"]
    )
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{quote(pointer)}"}, registry=REGISTRY)


def query_validators(path: str, method: str) -> dict[str, Draft202012Validator]:
    """The spec's query parameters of an operation, each with the validator of its schema."""
    return {
        param["name"]: Draft202012Validator(param["schema"])
        for param in SPEC["paths"][path][method].get("parameters", [])
        if param["in"] == "query"
    }


def walk_messages(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    """Every message of a session, each page validated against the spec."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"first": 200}
    while True:
        url = sessions_url(session_id, "messages")
        page = assert_valid(client.get(url, params=params), MESSAGES, 200)
        items.extend(page["items"])
        if not page["has_next_page"]:
            return items
        params["after"] = page["end_cursor"]


def test_every_featured_and_a_sample_of_ordinary_conversations_validate(
    fake: FakeDevin, client: httpx.Client
) -> None:
    featured = fake.featured[ORG]
    sample = [s["session_id"] for s in fake.sessions(ORG)[:: len(fake.sessions(ORG)) // 40]]
    messages: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    for session_id in [*featured.values(), *sample]:
        messages += walk_messages(client, session_id)
        url = sessions_url(session_id, "attachments")
        attachments += assert_valid(client.get(url), ATTACHMENTS, 200)
    assert len(messages) > 2_000
    assert {m["source"] for m in messages} == spec_enum("SessionMessage", "source")
    assert {a["source"] for a in attachments} == spec_enum("SessionAttachment", "source")
    assert {a["content_type"] is None for a in attachments} == {True, False}


def test_sending_validates_for_every_status_combination(
    fake: FakeDevin, client: httpx.Client
) -> None:
    for status, detail, _ in STATUS_COMBOS:
        session_id = fake.add_session(ORG, status=status, status_detail=detail)["session_id"]
        response = client.post(
            sessions_url(session_id, "messages"),
            json={"message": "Please go on.", "attachment_urls": ["https://x.example/a.log"]},
        )
        expected = 409 if status in ("exit", "error") else 200
        assert_valid(response, MESSAGES, expected)
        listed = assert_valid(client.get(sessions_url(session_id, "messages")), MESSAGES, 200)
        assert len(listed["items"]) == (expected == 200)
        files = assert_valid(client.get(sessions_url(session_id, "attachments")), ATTACHMENTS, 200)
        assert len(files) == (expected == 200)


def test_tags_validate(fake: FakeDevin, client: httpx.Client) -> None:
    session_id = fake.add_session(ORG, tags=["backend"])["session_id"]
    url = sessions_url(session_id, "tags")
    assert assert_valid(client.get(url), TAGS, 200) == {"tags": ["backend"]}
    appended = assert_valid(client.post(url, json={"tags": ["ci", "backend"]}), TAGS, 200)
    replaced = assert_valid(client.put(url, json={"tags": ["docs"]}), TAGS, 200)
    assert (appended["tags"], replaced["tags"]) == (["backend", "ci"], ["docs"])


def test_terminate_validates_with_and_without_archive(
    fake: FakeDevin, client: httpx.Client
) -> None:
    for archive in ("true", "false"):
        session_id = fake.add_session(ORG)["session_id"]
        response = client.delete(sessions_url(session_id), params={"archive": archive})
        body = assert_valid(response, ONE, 200)
        assert (body["status"], body["is_archived"]) == ("exit", archive == "true")


# Request bodies, each with what the spec says of it; the fake must agree (422 for the others).
MESSAGE_BODIES: list[object] = [
    {"message": "hi"},
    {"message": ""},
    {"message": "hi", "attachment_urls": None, "message_as_user_id": None},
    {"message": "hi", "attachment_urls": ["https://x.example/a"], "message_as_user_id": "u-1"},
    {"message": "hi", "attachment_urls": [""]},
    {"message": "hi", "attachment_urls": ["https://x.example/" + "a" * 2_100]},
    {},
    {"message": None},
    {"message": ["hi"]},
    {"message": "hi", "message_as_user_id": 5},
    ["hi"],
]
TAG_BODIES: list[object] = [
    {"tags": []},
    {"tags": ["a", "a", "<b>"]},
    {"tags": [f"t{n}" for n in range(50)]},
    {"tags": [f"t{n}" for n in range(51)]},
    {"tags": "a"},
    {"tags": [1]},
    {"tags": None},
    {},
    "tags",
]


@pytest.mark.parametrize(
    ("method", "spec_path", "part", "body"),
    [("post", MESSAGES, "messages", body) for body in MESSAGE_BODIES]
    + [(method, TAGS, "tags", body) for method in ("post", "put") for body in TAG_BODIES],
)
def test_the_fake_accepts_exactly_the_bodies_the_spec_accepts(
    fake: FakeDevin,
    client: httpx.Client,
    method: str,
    spec_path: str,
    part: str,
    body: object,
) -> None:
    session_id = fake.add_session(ORG)["session_id"]
    response = client.request(method.upper(), sessions_url(session_id, part), json=body)
    assert response.status_code == (
        200 if request_validator(spec_path, method).is_valid(body) else 422
    )


def test_the_clients_requests_follow_the_spec_and_the_fake_answers_them(fake: FakeDevin) -> None:
    """DevinClient against the fake over HTTP: each request it sends is an operation of the
    spec with parameters and body the spec accepts, and each answer parses."""
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    client = DevinClient(base_url=fake.url, org_id=ORG, token=fake.tokens[ORG]["manage"], http=http)
    session_id = fake.add_session(ORG, status="suspended", status_detail="inactivity")["session_id"]
    long = fake.featured[ORG]["long"]
    with http:
        first = client.list_messages(long, first=200)
        second = client.list_messages(long, after=first.end_cursor, first=200)
        client.send_message(session_id, "Please continue.")
        client.append_tags(session_id, ["ci", "ci"])
        tags = client.replace_tags(session_id, ["docs", "urgent"])
        assert client.get_tags(session_id) == tags == ("docs", "urgent")
        attachments = client.list_attachments(fake.featured[ORG]["hostile"])
        ended = client.terminate_session(session_id, archive=True)
    assert [m.event_id for m in first.items + second.items] == [
        m["event_id"] for m in fake.messages(ORG, long)[:400]
    ]
    assert (first.skipped, second.skipped, attachments.skipped) == (0, 0, 0)
    assert [a.url.split(":")[0] for a in attachments.items] == ["javascript", "data", "https"]
    assert (ended.status, ended.is_archived) == ("exit", True)

    templates = [re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", p) + "$") for p in SPEC["paths"]]
    for request in sent:
        method = request.method.lower()
        (path,) = (
            p for p, t in zip(SPEC["paths"], templates, strict=True) if t.match(request.url.path)
        )
        assert method in SPEC["paths"][path], f"{request.method} {path} is not in the spec"
        params = query_validators(path, method)
        for name, value in request.url.params.multi_items():
            assert name in params, f"{name} is not a parameter of {request.method} {path}"
            # Query values are text; read them as the schema's type, as the server would.
            typed: object = {"true": True, "false": False}.get(value, value)
            if params[name].schema.get("type") == "integer":
                typed = int(value)
            assert params[name].is_valid(typed), (name, value)
        if request.content:
            assert request.headers["content-type"] == "application/json"
            assert request_validator(path, method).is_valid(json.loads(request.content))
        else:
            assert "requestBody" not in SPEC["paths"][path][method]
    assert {(r.method, r.url.path.rsplit("/", 1)[-1]) for r in sent} >= {
        ("GET", "messages"),
        ("POST", "messages"),
        ("GET", "tags"),
        ("POST", "tags"),
        ("PUT", "tags"),
        ("GET", "attachments"),
        ("DELETE", session_id),
    }


@pytest.mark.parametrize(
    ("part", "spec_path"), [("messages", MESSAGES), ("attachments", ATTACHMENTS), ("tags", TAGS)]
)
def test_body_faults_break_the_new_shapes_past_the_spec(
    fake: FakeDevin, client: httpx.Client, part: str, spec_path: str
) -> None:
    # The checks above can fail: each body fault that promises to, does.
    session_id = fake.featured[ORG]["hostile"]
    url = sessions_url(session_id, part)
    assert is_valid(client.get(url).json(), spec_path, "get", 200)
    kinds = ["missing_fields"] if part == "tags" else ["missing_fields", "unknown_enum"]
    for kind in kinds:
        fake.inject(kind)
        assert not is_valid(client.get(url).json(), spec_path, "get", 200), kind
