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


@pytest.mark.parametrize(
    ("make_client", "method", "spec_path", "url", "status"),
    [
        pytest.param(*case[1:], id=case[0], marks=[pytest.mark.bad_request] * (case[-1] == 422))
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


def test_every_request_the_dashboards_client_sends_follows_the_spec(fake: FakeDevin) -> None:
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
        walked = list(devin.list_sessions(SessionQuery(first=200, is_archived=True)))
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
